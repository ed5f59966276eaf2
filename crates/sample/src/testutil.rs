//! Helpers of the unit tests: a tree listing of the whole host and small options.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::disk::{phys, walk};
use crate::host::SampleHost;
use crate::options::{Layout, SampleOptions, Shape};
use crate::rng::fnv;

/// One line of a tree listing: everything a restore must reproduce (except ctime/inode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) kind: char,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) size: u64,
    pub(crate) hash: u64,
    pub(crate) mtime: (i64, u32),
    pub(crate) target: Option<String>,
}

pub(crate) fn listing(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk(root, "/", &mut |logical, meta| {
        let path = phys(root, logical);
        let ft = meta.file_type();
        let (kind, hash, target) = if ft.is_symlink() {
            let target = fs::read_link(&path)?.to_string_lossy().into_owned();
            ('l', 0, Some(target))
        } else if ft.is_dir() {
            ('d', 0, None)
        } else {
            ('f', fnv(&fs::read(&path)?), None)
        };
        out.insert(
            logical.to_string(),
            Entry {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                size: if kind == 'd' { 0 } else { meta.len() },
                hash,
                mtime: (meta.mtime(), meta.mtime_nsec() as u32),
                target,
            },
        );
        Ok(())
    })
    .unwrap();
    out
}

pub(crate) fn read(host: &SampleHost, logical: &str) -> String {
    fs::read_to_string(host.path(logical)).unwrap()
}

pub(crate) fn opts(shape: Shape, layout: Layout) -> SampleOptions {
    SampleOptions {
        shape,
        layout,
        ..SampleOptions::default()
    }
}

/// A smaller host for tests that do not depend on the size (the sample disk may be slow).
pub(crate) fn small(shape: Shape, layout: Layout) -> SampleOptions {
    SampleOptions {
        files: 150,
        bytes: 512 * 1024,
        ..opts(shape, layout)
    }
}
