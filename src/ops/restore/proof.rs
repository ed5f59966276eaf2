//! The backup right after an in-place restore: proving, from metadata alone, that the live set
//! is still the snapshot restored.
//!
//! After a rollback the live set *is* the restored snapshot — the restore verified every entry
//! it staged before swapping it in, and left alone only what its plan proved to be the
//! snapshot's already — but the restored entries have new inodes and ctimes. Neither the set's
//! state digest nor the engine's parent comparison recognises them, so the next backup would
//! read them all again. The restore therefore records two readings of the clock the kernel
//! stamps ctimes with ([`RestoreProof`]): before it looked at the live set, and after its last
//! entry was swapped in. The next backup, when no snapshot of the set was taken since, proves
//! the live set is the restored snapshot entry by entry:
//!
//! - an entry whose ctime is not later than `planned` has not changed since the restore
//!   planned, and the plan established it was the snapshot's already;
//! - an entry changed after `planned` and not after `swapped` was put there by the restore (or
//!   touched while it ran): its type, mode, mtime, size, owner, link target and extended
//!   attributes must be the snapshot node's, and a directory must hold exactly the names the
//!   snapshot's directory holds;
//! - an entry changed after `swapped`, an entry that could not be read, or another boot (whose
//!   clock may have been set back) disproves it.
//!
//! What this cannot see is content rewritten *while the restore ran*, with its size and mtime
//! put back — the window in which the restore itself cannot see it either.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rustic_core::repofile::{Node, SnapshotFile, Tree};
use rustic_core::{IndexedTree, Repository, TreeId};

use crate::Result;
use crate::host::fingerprint::{Fingerprint, Seen};
use crate::host::root::HostRoot;
use crate::host::state::{RestoreProof, boot_id};

/// Proves that the live set, whose members' fingerprints are `fingerprints`, is `snap` as the
/// in-place restore recorded by `proof` left it, but for the entries changed since (see the
/// module documentation). Returns those entries (empty: the live set is exactly `snap`), or
/// `None` when the proof fails. A file changed since that has the snapshot's mtime and size
/// fails it too: the engine, told to take files by mtime and size, would take it as unchanged.
/// Reads the snapshot's trees only along the paths of the entries the restore changed.
///
/// # Errors
/// When the repository fails to give a tree.
pub fn prove<S: IndexedTree + Sync>(
    repo: &Repository<S>,
    snap: &SnapshotFile,
    proof: &RestoreProof,
    host: &HostRoot,
    fingerprints: [&Fingerprint; 2],
) -> Result<Option<Vec<PathBuf>>> {
    if boot_id().as_deref() != Some(proof.boot.as_str())
        || fingerprints.iter().any(|f| !f.complete())
    {
        return Ok(None);
    }
    // Reading and decoding a snapshot tree per changed directory is most of a proof's time:
    // the changed entries are proved in runs on the I/O pool, each run in path order with
    // trees of its own (a run reads its first entry's ancestors again: a few trees a run).
    let changed: Vec<(usize, PathBuf, Seen)> = fingerprints
        .iter()
        .enumerate()
        .flat_map(|(i, fp)| {
            fp.changed_after(proof.planned)
                .into_iter()
                .map(move |(path, seen)| (i, path, seen))
        })
        .collect();
    let runs: Vec<Result<Option<Vec<PathBuf>>>> = crate::util::par::io(|| {
        use rayon::prelude::*;
        changed
            .par_chunks(RUN)
            .map(|run| prove_run(repo, snap, proof, host, fingerprints, run))
            .collect()
    });
    let mut since = Vec::new();
    for run in runs {
        match run? {
            Some(changed) => since.extend(changed),
            None => return Ok(None),
        }
    }
    Ok(Some(since))
}

/// Entries a run of [`prove`] takes.
const RUN: usize = 512;

/// [`prove`] for the changed entries `run` (fingerprint, path, what it saw), in path order.
fn prove_run<S: IndexedTree>(
    repo: &Repository<S>,
    snap: &SnapshotFile,
    proof: &RestoreProof,
    host: &HostRoot,
    fingerprints: [&Fingerprint; 2],
    run: &[(usize, PathBuf, Seen)],
) -> Result<Option<Vec<PathBuf>>> {
    let mut trees = Trees::new(repo, snap.tree);
    let mut since = Vec::new();
    for (fp, path, stamp) in run {
        let node = trees.node(path)?;
        if stamp.ctime > proof.swapped {
            // Changed after the restore: the engine reads it unless its mtime and size are
            // the snapshot's, which only a rewrite that put them back gives.
            let looks_unchanged = node.as_ref().is_some_and(|n| {
                n.is_file()
                    && stamp.is_file
                    && n.meta.size == stamp.size
                    && n.meta.mtime.is_some_and(|t| {
                        (t.as_second(), i64::from(t.subsec_nanosecond())) == stamp.mtime
                    })
            });
            if looks_unchanged {
                return Ok(None);
            }
            since.push(path.clone());
            continue;
        }
        let Some(node) = node else {
            return Ok(None);
        };
        let (differences, _) =
            crate::ops::restore::verify::entry_metadata(&node, &host.physical(path), true);
        if !differences.is_empty() {
            return Ok(None);
        }
        if stamp.is_dir {
            // (A tree naming one entry twice is no directory a restore leaves.)
            let Some(dir) = trees
                .dir(path)?
                .filter(|d| d.by_name.len() == d.tree.nodes.len())
            else {
                return Ok(None);
            };
            let mut want: Vec<&OsString> = dir.by_name.keys().collect();
            want.sort();
            let mut have = fingerprints[*fp].children(path);
            have.sort();
            if !want.iter().copied().eq(have.iter()) {
                return Ok(None);
            }
        }
    }
    Ok(Some(since))
}

/// A snapshot's directories, read from the repository as they are asked for.
struct Trees<'r, S> {
    repo: &'r Repository<S>,
    root: TreeId,
    /// Logical directory path → its tree (`None`: not a directory in the snapshot).
    dirs: HashMap<PathBuf, Option<Dir>>,
}

/// A directory of the snapshot, with its nodes by name (a rollback changes thousands of entries
/// of one directory: a scan of its nodes for each would grow with the square of its size).
struct Dir {
    tree: Tree,
    by_name: HashMap<OsString, usize>,
}

impl Dir {
    fn new(tree: Tree) -> Self {
        let by_name = tree
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name().into_owned(), i))
            .collect();
        Self { tree, by_name }
    }

    fn get(&self, name: &std::ffi::OsStr) -> Option<&Node> {
        self.by_name.get(name).map(|&i| &self.tree.nodes[i])
    }
}

impl<'r, S: IndexedTree> Trees<'r, S> {
    fn new(repo: &'r Repository<S>, root: TreeId) -> Self {
        Self {
            repo,
            root,
            dirs: HashMap::new(),
        }
    }

    /// The tree of the logical directory `path`, `None` when the snapshot has no directory
    /// there.
    fn dir(&mut self, path: &Path) -> Result<Option<&Dir>> {
        // The entries come in path order: only the directories on the way to this one are
        // needed again, so the others are dropped (a large rollback touches thousands).
        self.dirs.retain(|dir, _| path.starts_with(dir));
        // Load every missing ancestor first, from the root down.
        let missing: Vec<PathBuf> = path
            .ancestors()
            .take_while(|a| !self.dirs.contains_key(*a))
            .map(Path::to_path_buf)
            .collect();
        for dir in missing.into_iter().rev() {
            let tree = match (dir.parent(), dir.file_name()) {
                (None, _) => Some(self.repo.get_tree(&self.root)?),
                (Some(parent), Some(name)) => {
                    let subtree = self
                        .dirs
                        .get(parent)
                        .and_then(Option::as_ref)
                        .and_then(|d| d.get(name))
                        .and_then(|n| n.subtree);
                    match subtree {
                        Some(id) => Some(self.repo.get_tree(&id)?),
                        None => None,
                    }
                }
                (Some(_), None) => None,
            };
            self.dirs.insert(dir, tree.map(Dir::new));
        }
        Ok(self.dirs.get(path).and_then(Option::as_ref))
    }

    /// The snapshot's node at the logical `path`.
    fn node(&mut self, path: &Path) -> Result<Option<Node>> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        Ok(self.dir(parent)?.and_then(|d| d.get(name)).cloned())
    }
}
