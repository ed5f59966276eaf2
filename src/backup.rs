//! Backup: the whole sync set as ONE restic-format snapshot.
//!
//! Every member (registry file, IM install, agent data, shared resources, package groups,
//! profiles) goes into a single snapshot tree at its logical path, so the snapshot is one
//! moment of the whole set. The snapshot carries the manifest and the tags `lockstep` and
//! `set=<name>`; its parent is the previous snapshot of the same set and host, so unchanged
//! files are not read again.
//!
//! rustic_core *skips* entries it cannot read (with a log line) and still writes the snapshot.
//! A set with a hole in it is not a backup an administrator can trust, so [`SetSource`] records
//! every walk, open and read error, and [`backup`] removes such a snapshot and fails.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustic_core::repofile::SnapshotSummary;
use rustic_core::{
    BackupOptions, Excludes, LocalSource, LocalSourceFilterOptions, LocalSourceSaveOptions,
    ReadSource, ReadSourceEntry, ReadSourceOpen, RusticResult, SnapshotOptions,
};
use serde::Serialize;

use crate::hostfs::HostRoot;
use crate::im::discover::Instance;
use crate::manifest::{Manifest, SCHEMA_VERSION, TAG, set_tag};
use crate::repo::{OpenRepo, set_snapshots};
use crate::tree::dir_node;
use crate::{Error, Result};

/// What to back up and how to label it.
#[derive(Debug, Clone)]
pub struct BackupRequest<'a> {
    /// The host's filesystem.
    pub host: &'a HostRoot,
    /// The discovered instance whose set is backed up.
    pub instance: &'a Instance,
    /// The set's name (tags and parent selection).
    pub set_name: String,
    /// The host name recorded in the snapshot.
    pub host_name: String,
    /// A free-text label (`--label`).
    pub label: Option<String>,
}

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupOutcome {
    /// The new snapshot's id.
    pub snapshot: String,
    /// The parent snapshot used for change detection, if any.
    pub parent: Option<String>,
    /// The set name.
    pub set: String,
    /// The host name.
    pub host: String,
    /// Files seen for the first time.
    pub files_new: u64,
    /// Files changed since the parent.
    pub files_changed: u64,
    /// Files unchanged since the parent (not read again).
    pub files_unmodified: u64,
    /// Bytes in all files of the set.
    pub bytes_total: u64,
    /// New data added to the repository, before compression.
    pub bytes_added: u64,
    /// New data added to the repository, as stored (compressed, encrypted).
    pub bytes_stored: u64,
    /// Wall time of the snapshot, in seconds.
    pub seconds: f64,
}

impl BackupOutcome {
    fn from_summary(
        id: String,
        parent: Option<String>,
        req: &BackupRequest<'_>,
        s: &SnapshotSummary,
    ) -> Self {
        Self {
            snapshot: id,
            parent,
            set: req.set_name.clone(),
            host: req.host_name.clone(),
            files_new: s.files_new,
            files_changed: s.files_changed,
            files_unmodified: s.files_unmodified,
            bytes_total: s.total_bytes_processed,
            bytes_added: s.data_added,
            bytes_stored: s.data_added_packed,
            seconds: s.total_duration,
        }
    }
}

/// Backs up the instance's set as one snapshot.
///
/// # Errors
/// Refused when a member is missing; an error when any file of the set could not be read (the
/// incomplete snapshot is removed) or the repository fails.
pub fn backup(repo: OpenRepo, req: &BackupRequest<'_>) -> Result<BackupOutcome> {
    let set = &req.instance.set;
    if let Some(m) = set.missing().next() {
        return Err(Error::Refused(format!(
            "set member {} {} does not exist on the host; nothing was backed up (restore it first, or check IM's records with `lockstep discover`)",
            m.role,
            m.path.display()
        )));
    }
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        lockstep_version: env!("CARGO_PKG_VERSION").into(),
        set: req.set_name.clone(),
        host: req.host_name.clone(),
        mode: req.instance.mode.as_str().into(),
        im_version: req.instance.inventory.im_version.clone(),
        members: set.members.clone(),
        inventory: req.instance.inventory.clone(),
    };
    let parent = set_snapshots(&repo, Some(&req.set_name), Some(&req.host_name))?
        .pop()
        .map(|s| s.id());

    let mut snap_opts = SnapshotOptions::default()
        .host(req.host_name.clone())
        .label(req.label.clone().unwrap_or_default())
        .description(
            manifest
                .to_description()
                .map_err(|e| Error::Other(format!("cannot encode the manifest: {e}")))?,
        );
    snap_opts = snap_opts
        .add_tags(&format!("{TAG},{}", set_tag(&req.set_name)))
        .map_err(Error::from)?;
    let snap = snap_opts.to_snapshot()?;

    let mut opts = BackupOptions::default();
    opts.no_scan = true;
    match &parent {
        Some(id) => opts.parent_opts.parents = vec![id.clone()],
        // Never let rustic pick a parent from another set by its own grouping.
        None => opts.parent_opts.force = true,
    }

    let paths = set.top_level_paths();
    let source = SetSource::new(req.host.clone(), paths.clone());
    let problems = source.problems();
    let repo = repo.to_indexed_ids()?;
    let snap = repo.archive(&opts, &source, snap, &paths)?;

    let problems = problems.lock().map(|p| p.clone()).unwrap_or_default();
    if let Some(first) = problems.first() {
        repo.delete_snapshots(&[snap.id])?;
        return Err(Error::Other(format!(
            "backup incomplete: {} entr{} of the set could not be read (first: {first}); the snapshot was discarded — fix the cause and run the backup again",
            problems.len(),
            if problems.len() == 1 { "y" } else { "ies" }
        )));
    }
    let summary = snap.summary.clone().unwrap_or_default();
    Ok(BackupOutcome::from_summary(
        snap.id.to_hex().as_str().to_owned(),
        parent,
        req,
        &summary,
    ))
}

/// Shared list of problems met while reading the set.
type Problems = Arc<Mutex<Vec<String>>>;

fn record(problems: &Problems, msg: String) {
    if let Ok(mut p) = problems.lock() {
        p.push(msg);
    }
}

/// A `ReadSource` over the set's members that presents every entry at its *logical* path (so a
/// host under `--root` is stored as the host sees itself), records the metadata of member roots
/// and their parent directories, and records every error instead of skipping it silently.
pub struct SetSource {
    host: HostRoot,
    members: Vec<PathBuf>,
    problems: Problems,
}

impl SetSource {
    /// A source over `members` (logical data paths; nested ones already removed).
    #[must_use]
    pub fn new(host: HostRoot, mut members: Vec<PathBuf>) -> Self {
        members.sort();
        Self {
            host,
            members,
            problems: Arc::default(),
        }
    }

    /// The problems recorded so far (shared with the running backup).
    #[must_use]
    pub fn problems(&self) -> Problems {
        Arc::clone(&self.problems)
    }
}

type LocalOpen = <LocalSource as ReadSource>::Open;
type Entry = RusticResult<ReadSourceEntry<TrackedOpen>>;

impl ReadSource for SetSource {
    type Open = TrackedOpen;
    type Iter = Box<dyn Iterator<Item = Entry> + Send>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(None)
    }

    fn entries(&self) -> Self::Iter {
        let mut parts: Vec<Box<dyn Iterator<Item = Entry> + Send>> = Vec::new();
        let mut emitted: BTreeSet<PathBuf> = BTreeSet::new();
        for member in &self.members {
            let physical = self.host.physical(member);
            // Parent directories first, each once, with their real metadata.
            let mut ancestors: Vec<&Path> = member.ancestors().skip(1).collect();
            ancestors.reverse();
            let mut heads = Vec::new();
            for dir in ancestors {
                if dir == Path::new("/") || !emitted.insert(dir.to_path_buf()) {
                    continue;
                }
                heads.push(self.dir_entry(dir));
            }
            let is_dir = std::fs::symlink_metadata(&physical).is_ok_and(|m| m.is_dir());
            if is_dir {
                heads.push(self.dir_entry(member));
            }
            parts.push(Box::new(heads.into_iter().flatten()));
            parts.push(self.walk(member.clone(), physical));
        }
        Box::new(parts.into_iter().flatten())
    }
}

impl SetSource {
    /// The entry for directory `logical` itself (not its contents).
    fn dir_entry(&self, logical: &Path) -> Option<Entry> {
        let name = logical.file_name().unwrap_or(OsStr::new("/"));
        match dir_node(name, &self.host.physical(logical)) {
            Ok(node) => Some(Ok(ReadSourceEntry {
                path: logical.to_path_buf(),
                node,
                open: None,
            })),
            Err(e) => {
                record(&self.problems, format!("{}: {e}", logical.display()));
                None
            }
        }
    }

    /// The member's contents, renamed from physical to logical paths.
    fn walk(&self, logical: PathBuf, physical: PathBuf) -> Box<dyn Iterator<Item = Entry> + Send> {
        let source = match LocalSource::new(
            LocalSourceSaveOptions::default(),
            &Excludes::default(),
            &LocalSourceFilterOptions::default(),
            std::slice::from_ref(&physical),
        ) {
            Ok(s) => s,
            Err(e) => {
                record(
                    &self.problems,
                    format!(
                        "{}: {}",
                        logical.display(),
                        crate::error::rustic_message(&e)
                    ),
                );
                return Box::new(std::iter::empty());
            }
        };
        let problems = Arc::clone(&self.problems);
        Box::new(source.entries().filter_map(move |item| match item {
            Ok(ReadSourceEntry { path, node, open }) => {
                let rel = path.strip_prefix(&physical).unwrap_or(Path::new(""));
                let logical_path = if rel.as_os_str().is_empty() {
                    logical.clone()
                } else {
                    logical.join(rel)
                };
                let open = open.map(|inner| TrackedOpen {
                    inner,
                    path: logical_path.clone(),
                    problems: Arc::clone(&problems),
                });
                Some(Ok(ReadSourceEntry {
                    path: logical_path,
                    node,
                    open,
                }))
            }
            Err(e) => {
                record(
                    &problems,
                    format!(
                        "under {}: {}",
                        logical.display(),
                        crate::error::rustic_message(&e)
                    ),
                );
                None
            }
        }))
    }
}

/// Opens a file of the set, recording failures.
pub struct TrackedOpen {
    inner: LocalOpen,
    path: PathBuf,
    problems: Problems,
}

impl ReadSourceOpen for TrackedOpen {
    type Reader = TrackedReader<<LocalOpen as ReadSourceOpen>::Reader>;

    fn open(self) -> RusticResult<Self::Reader> {
        match self.inner.open() {
            Ok(reader) => Ok(TrackedReader {
                inner: reader,
                path: self.path,
                problems: self.problems,
            }),
            Err(e) => {
                record(
                    &self.problems,
                    format!(
                        "{}: {}",
                        self.path.display(),
                        crate::error::rustic_message(&e)
                    ),
                );
                Err(e)
            }
        }
    }
}

/// Reads a file of the set, recording read errors.
pub struct TrackedReader<R> {
    inner: R,
    path: PathBuf,
    problems: Problems,
}

impl<R: Read> Read for TrackedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            record(&self.problems, format!("{}: {e}", self.path.display()));
        })
    }
}
