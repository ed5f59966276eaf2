//! The writer: every byte of a sample host goes through it, so it can count files and bytes,
//! keep names unique, remember jars for the shared resources, and hold explicit mtimes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::PathBuf;

use crate::disk::{mkdir_all, parent_of, phys, set_mode};
use crate::facts::ZIP_MAGIC;
use crate::rng::{Rng, blob};
use crate::text::gen_text;

/// A jar written into a product or IM dir, kept so shared payloads can repeat it byte-for-byte.
pub(crate) struct Jar {
    pub(crate) logical: String,
    pub(crate) data: Vec<u8>,
}

pub(crate) struct Writer {
    pub(crate) root: PathBuf,
    pub(crate) rng: Rng,
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    pub(crate) taken: BTreeSet<String>,
    pub(crate) jars: Vec<Jar>,
    /// Explicit mtimes (IM logs carry their time in their name, records their last update).
    pub(crate) stamps: BTreeMap<String, i64>,
}

impl Writer {
    pub(crate) fn stamp(&mut self, logical: &str, t: i64) {
        self.stamps.insert(logical.to_string(), t);
    }
    pub(crate) fn dir(&mut self, logical: &str) -> io::Result<()> {
        mkdir_all(&self.root, logical).map(|_| ())
    }
    pub(crate) fn dir_mode(&mut self, logical: &str, mode: u32) -> io::Result<()> {
        self.dir(logical)?;
        set_mode(&phys(&self.root, logical), mode)
    }
    pub(crate) fn write(&mut self, logical: &str, data: &[u8], mode: u32) -> io::Result<()> {
        if let Some(parent) = parent_of(logical) {
            self.dir(parent)?;
        }
        let path = phys(&self.root, logical);
        fs::write(&path, data)?;
        set_mode(&path, mode)?;
        self.files += 1;
        self.bytes += data.len() as u64;
        self.taken.insert(logical.to_string());
        Ok(())
    }
    pub(crate) fn text(&mut self, logical: &str, text: &str) -> io::Result<()> {
        self.write(logical, text.as_bytes(), 0o644)
    }
    pub(crate) fn script(&mut self, logical: &str, text: &str) -> io::Result<()> {
        self.write(logical, text.as_bytes(), 0o755)
    }
    pub(crate) fn generated(&mut self, logical: &str, ext: &str, size: usize) -> io::Result<()> {
        let text = gen_text(&mut self.rng, ext, size);
        self.text(logical, &text)
    }
    pub(crate) fn binary(
        &mut self,
        logical: &str,
        magic: &[u8],
        size: usize,
        mode: u32,
    ) -> io::Result<()> {
        let data = blob(&mut self.rng, magic, size);
        self.write(logical, &data, mode)
    }
    pub(crate) fn jar(&mut self, logical: &str, size: usize) -> io::Result<()> {
        let data = blob(&mut self.rng, ZIP_MAGIC, size);
        self.write(logical, &data, 0o644)?;
        self.jars.push(Jar {
            logical: logical.to_string(),
            data,
        });
        Ok(())
    }
    pub(crate) fn symlink(&mut self, logical: &str, target: &str) -> io::Result<()> {
        if let Some(parent) = parent_of(logical) {
            self.dir(parent)?;
        }
        std::os::unix::fs::symlink(target, phys(&self.root, logical))?;
        self.taken.insert(logical.to_string());
        Ok(())
    }
    pub(crate) fn hardlink(&mut self, existing: &str, logical: &str) -> io::Result<()> {
        fs::hard_link(phys(&self.root, existing), phys(&self.root, logical))?;
        self.files += 1;
        self.taken.insert(logical.to_string());
        Ok(())
    }
    /// `dir/stem.ext`, or `dir/stem_N.ext` when that name is already used.
    pub(crate) fn fresh(&self, dir: &str, stem: &str, ext: &str) -> String {
        let mut candidate = format!("{dir}/{stem}.{ext}");
        let mut n = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{dir}/{stem}_{n}.{ext}");
            n += 1;
        }
        candidate
    }
}
