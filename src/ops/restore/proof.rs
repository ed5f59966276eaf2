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
//!
//! Checking the entries of the middle case against the snapshot means reading its trees along
//! their paths — thousands for a fix pack's rollback, most of the proof's time. The restore has
//! those nodes in hand, so it checks them itself right after the swap ([`settle`]): each entry it
//! changed, by the same rules, and each directory's names against the snapshot's. It records a
//! digest of what it checked: every such entry's path, inode and ctime (the *settled* digest).
//! The next backup computes the same digest over the entries its fingerprint finds changed
//! between the two readings ([`window_digest`]); when they are equal, each of those entries is
//! the one the restore checked and unchanged since (any change sets a new ctime), so no tree is
//! read. Any difference — an entry the restore did not change, touched while it ran, or a
//! restore that could not check everything — falls back to the trees.
//!
//! A restore interrupted in its swap is completed by `recover`, which has no repository. So the
//! restore keeps what the check needs beside its journal before the first rename ([`Pending`]),
//! and the recovery, once it has swapped everything in, checks with that ([`settle_kept`]),
//! its window reaching to the end of the recovery.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustic_core::repofile::{Metadata, Node, NodeType, SnapshotFile, Tree};
use rustic_core::{IndexedTree, Repository, TreeId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::host::fingerprint::{Fingerprint, Seen};
use crate::host::root::HostRoot;
use crate::host::set::SyncSet;
use crate::host::state::{RestoreProof, StateDir, boot_id};

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
    let mut changed: Vec<(usize, PathBuf, Seen)> = fingerprints
        .iter()
        .enumerate()
        .flat_map(|(i, fp)| {
            fp.changed_after(proof.planned)
                .into_iter()
                .map(move |(path, seen)| (i, path, seen))
        })
        .collect();
    // The entries the restore changed, as it checked them: none of their trees is needed.
    let window = || {
        changed
            .iter()
            .filter(|(_, _, seen)| seen.ctime <= proof.swapped)
            .map(|(_, path, seen)| (path.as_path(), seen.inode, seen.ctime))
    };
    if proof
        .settled
        .as_ref()
        .is_some_and(|settled| *settled == window_digest(window()))
    {
        changed.retain(|(_, _, seen)| seen.ctime > proof.swapped);
    }
    // Reading and decoding a snapshot tree per changed directory is most of the rest: the
    // changed entries are proved in runs on the I/O pool, each run in path order with trees of
    // its own (a run reads its first entry's ancestors again: a few trees a run).
    let _t = (!changed.is_empty())
        .then(|| crate::util::timing::phase("backup: read the restored snapshot's trees"));
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

/// A digest of the names in a directory (in any order).
pub type Names = [u8; 32];

/// The [`Names`] digest of `names`.
#[must_use]
pub fn names_digest<N: AsRef<OsStr>>(names: impl IntoIterator<Item = N>) -> Names {
    use sha2::{Digest, Sha256};
    let mut names: Vec<N> = names.into_iter().collect();
    names.sort_by(|a, b| a.as_ref().as_bytes().cmp(b.as_ref().as_bytes()));
    let mut h = Sha256::new();
    for name in &names {
        // A name never holds a NUL byte: the names are delimited, not length-prefixed.
        h.update(name.as_ref().as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

/// The [`Names`] digest of each of the directories `dirs`, from `entries` (a listing, paths
/// relative to its root, `""` being the root): what names it holds.
#[must_use]
pub fn dir_names<'d>(
    entries: &[(PathBuf, Node)],
    dirs: impl IntoIterator<Item = &'d Path>,
) -> HashMap<PathBuf, Names> {
    let mut names: HashMap<&Path, Vec<&OsStr>> =
        dirs.into_iter().map(|d| (d, Vec::new())).collect();
    for (path, _) in entries {
        if let (Some(parent), Some(name)) = (path.parent(), path.file_name())
            && let Some(names) = names.get_mut(parent)
        {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|(dir, names)| (dir.to_path_buf(), names_digest(names)))
        .collect()
}

/// What every entry of a unit restored whole must be: its own `node` at `member` and each of
/// its `entries`.
#[must_use]
pub fn expected_of_tree(member: &Path, node: &Node, entries: &[(PathBuf, Node)]) -> Vec<Expected> {
    let dirs = std::iter::once(Path::new(""))
        .filter(|_| node.is_dir())
        .chain(
            entries
                .iter()
                .filter(|(_, n)| n.is_dir())
                .map(|(p, _)| p.as_path()),
        );
    let names = dir_names(entries, dirs);
    std::iter::once((Path::new(""), node))
        .chain(entries.iter().map(|(p, n)| (p.as_path(), n)))
        .map(|(rel, node)| Expected {
            path: logical(member, rel),
            node: node.clone(),
            children: names.get(rel).copied(),
        })
        .collect()
}

/// The path of `rel` under `member` (`""`: the member itself; `Path::join` would add a
/// trailing slash, which no fingerprint holds).
#[must_use]
pub fn logical(member: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        member.to_path_buf()
    } else {
        member.join(rel)
    }
}

/// An entry the restore changed, as [`settle`] found it: logical path, inode, ctime.
type Settled<'p> = (&'p Path, u64, (i64, i64));

/// The settled digest of `entries` (logical path, inode, ctime) in any order: what [`settle`]
/// records and [`prove`] compares.
fn window_digest<'p>(entries: impl Iterator<Item = Settled<'p>>) -> String {
    use sha2::{Digest, Sha256};
    let mut entries: Vec<_> = entries.collect();
    entries.sort_unstable_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let mut h = Sha256::new();
    for (path, inode, (secs, nanos)) in entries {
        let path = path.as_os_str().as_bytes();
        h.update((path.len() as u64).to_le_bytes());
        h.update(path);
        h.update(inode.to_le_bytes());
        h.update(secs.to_le_bytes());
        h.update(nanos.to_le_bytes());
    }
    crate::util::report::hex(&h.finalize())
}

/// An entry an in-place restore changed, as the snapshot has it: what [`settle`] checks.
pub struct Expected {
    /// Its logical path.
    pub path: PathBuf,
    /// The snapshot's node.
    pub node: Node,
    /// For a directory, the digest of the names the snapshot's directory holds (`None`: not
    /// known, and the restore cannot settle).
    pub children: Option<Names>,
}

/// Checks, right after an in-place restore's swap, every entry it changed against the
/// snapshot (`expected`) and returns the settled digest of those whose ctime lies in the window
/// `(planned, swapped]`: their paths, inodes and ctimes (see the module documentation). `None`
/// when an entry does not match or cannot be read, or a directory's names (less what the
/// snapshot's set and the set's exclude `patterns` leave out) are not the snapshot's: the next
/// backup then reads the trees.
#[must_use]
pub fn settle(
    expected: &[Expected],
    host: &HostRoot,
    (set, patterns): (&SyncSet, &[String]),
    (planned, swapped): ((i64, i64), (i64, i64)),
) -> Option<String> {
    let _t = crate::util::timing::phase("restore: settle");
    let excludes = crate::host::excludes::set_excludes(set, patterns).ok()?;
    let checked: Option<Vec<Option<Settled<'_>>>> = crate::util::par::io(|| {
        use rayon::prelude::*;
        expected
            .par_iter()
            .map(|e| {
                let physical = host.physical(&e.path);
                let meta = std::fs::symlink_metadata(&physical).ok()?;
                let ctime = (meta.ctime(), meta.ctime_nsec());
                if ctime <= planned || ctime > swapped {
                    // Not the restore's change as the backup will see it: the backup proves it
                    // another way.
                    return Some(None);
                }
                let (differences, _) =
                    crate::ops::restore::verify::entry_metadata_of(&e.node, &physical, &meta, true);
                if !differences.is_empty() {
                    return None;
                }
                if meta.is_dir() {
                    let names: Vec<OsString> = std::fs::read_dir(&physical)
                        .ok()?
                        .map(|d| d.map(|d| d.file_name()))
                        .collect::<std::io::Result<_>>()
                        .ok()?;
                    let names = names
                        .into_iter()
                        .filter(|n| !excludes.excludes(&e.path.join(n)));
                    if Some(names_digest(names)) != e.children {
                        return None;
                    }
                }
                Some(Some((e.path.as_path(), meta.ino(), ctime)))
            })
            .collect()
    });
    let mut checked: Vec<_> = checked?.into_iter().flatten().collect();
    // An entry expected twice would be counted twice: the backup's fingerprint has it once.
    // (Sorted by bytes, as the digest sorts them: comparing paths by components took a third
    // of this check.)
    checked.sort_unstable_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let twice = checked.windows(2).any(|w| w[0].0 == w[1].0);
    (!twice).then(|| window_digest(checked.into_iter()))
}

/// What [`settle`] needs, kept in the state directory from before an in-place restore's first
/// rename until its journal closes: when the restore is interrupted, `recover` completes the
/// swap and settles with it ([`settle_kept`]), so the backup after a recovered rollback reads no
/// tree either. Best effort: a missing or unreadable file only means that backup reads the
/// trees.
#[derive(Serialize, Deserialize)]
pub struct Pending<'a> {
    /// The journal's run: a file another restore left is not this one's.
    run: String,
    /// The snapshot restored.
    snapshot: String,
    /// The host root the logical paths are under.
    root: PathBuf,
    /// The snapshot's members: with `excludes`, what a directory's names are compared without.
    set: SyncSet,
    /// The set's exclude patterns.
    excludes: Vec<String>,
    /// Every entry the swap changes, as the snapshot has it.
    expected: Vec<Kept<'a>>,
}

/// An [`Expected`] as [`Pending`] keeps it: the node's type and the metadata [`settle`]
/// compares (mode, mtime, owner, size, extended attributes), without content ids, times,
/// names or inode.
#[derive(Serialize, Deserialize)]
struct Kept<'a> {
    path: Cow<'a, Path>,
    node_type: Cow<'a, NodeType>,
    meta: Cow<'a, Metadata>,
    children: Option<Names>,
}

impl<'a> Pending<'a> {
    /// What the restore of `snapshot` in run `run` on the host under `root` keeps of `expected`,
    /// for the set of `members` and `excludes`.
    #[must_use]
    pub fn new(
        (run, snapshot): (&str, &str),
        root: &Path,
        set: SyncSet,
        excludes: &[String],
        expected: &'a [Expected],
    ) -> Self {
        Self {
            run: run.to_owned(),
            snapshot: snapshot.to_owned(),
            root: root.to_path_buf(),
            set,
            excludes: excludes.to_vec(),
            expected: expected
                .iter()
                .map(|e| Kept {
                    path: Cow::Borrowed(&e.path),
                    node_type: Cow::Borrowed(&e.node.node_type),
                    // only what `settle` compares: half the file, which the swap's `syncfs`
                    // writes out
                    meta: Cow::Owned(Metadata {
                        mode: e.node.meta.mode,
                        mtime: e.node.meta.mtime,
                        uid: e.node.meta.uid,
                        gid: e.node.meta.gid,
                        size: e.node.meta.size,
                        extended_attributes: e.node.meta.extended_attributes.clone(),
                        ..Metadata::default()
                    }),
                    children: e.children,
                })
                .collect(),
        }
    }

    /// Writes it to its place in `state` (not synced: the swap's `syncfs` or nothing makes it
    /// durable; a torn file does not parse). Never fails the restore: a file that cannot be
    /// written is left out.
    pub fn keep(&self, state: &StateDir) {
        use std::io::Write;
        let _t = crate::util::timing::phase("restore: keep what to settle");
        let path = state.pending_settle();
        let written = crate::host::state::private_file(&path).and_then(|file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            serde_json::to_writer(&mut out, self)?;
            out.flush()
        });
        if written.is_err() {
            // (a path that is not UTF-8 has no JSON form, for one)
            std::fs::remove_file(&path).ok();
        }
    }

    /// Removes what [`Pending::keep`] wrote, if anything.
    pub fn forget(state: &StateDir) {
        std::fs::remove_file(state.pending_settle()).ok();
    }
}

/// [`settle`] for the restore of `snapshot` in run `run`, after `recover` completed its swap, with
/// what the restore kept ([`Pending`]); `None` when it kept nothing usable.
#[must_use]
pub fn settle_kept(
    state: &StateDir,
    run: &str,
    snapshot: &str,
    window: ((i64, i64), (i64, i64)),
) -> Option<String> {
    let text = std::fs::read(state.pending_settle()).ok()?;
    let pending: Pending<'static> = serde_json::from_slice(&text).ok()?;
    if pending.run != run || pending.snapshot != snapshot {
        return None;
    }
    let host = HostRoot::new(&pending.root).ok()?;
    let expected: Vec<Expected> = pending
        .expected
        .into_iter()
        .map(|k| {
            let name = k.path.file_name().unwrap_or_default();
            Expected {
                node: Node::new_node(name, k.node_type.into_owned(), k.meta.into_owned()),
                path: k.path.into_owned(),
                children: k.children,
            }
        })
        .collect();
    settle(&expected, &host, (&pending.set, &pending.excludes), window)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use rustic_core::repofile::{Metadata, NodeType};

    fn entry(path: &str, node_type: NodeType) -> (PathBuf, Node) {
        let path = PathBuf::from(path);
        let name = path.file_name().unwrap().to_owned();
        (path, Node::new_node(&name, node_type, Metadata::default()))
    }

    #[test]
    fn a_directorys_names_are_those_directly_in_it_in_any_order() {
        let entries = [
            entry("a", NodeType::Dir),
            entry("a/y", NodeType::File),
            entry("a/x", NodeType::File),
            entry("a/x.d", NodeType::Dir),
            entry("a/x.d/deep", NodeType::File),
            entry("b", NodeType::File),
        ];
        let names = dir_names(&entries, ["", "a", "a/x.d", "c"].map(Path::new));
        assert_eq!(names[Path::new("")], names_digest(["b", "a"]));
        assert_eq!(names[Path::new("a")], names_digest(["x", "x.d", "y"]));
        assert_eq!(names[Path::new("a/x.d")], names_digest(["deep"]));
        assert_eq!(names[Path::new("c")], names_digest(Vec::<&str>::new()));
        assert_ne!(names[Path::new("a")], names_digest(["x", "y"]));
        // Names are delimited: "ab" is not "a" and "b".
        assert_ne!(names_digest(["ab"]), names_digest(["a", "b"]));
    }

    #[test]
    fn the_settled_digest_is_of_the_entries_not_their_order() {
        let a = (Path::new("/m/a"), 7, (100, 5));
        let b = (Path::new("/m/b"), 8, (100, 6));
        let digest = window_digest([a, b].into_iter());
        assert_eq!(digest, window_digest([b, a].into_iter()));
        for other in [
            vec![a],
            vec![a, (Path::new("/m/b"), 9, (100, 6))],
            vec![a, (Path::new("/m/b"), 8, (100, 7))],
            vec![a, (Path::new("/m/c"), 8, (100, 6))],
            vec![a, b, b],
        ] {
            assert_ne!(digest, window_digest(other.iter().copied()), "{other:?}");
        }
    }

    /// What a restore keeps for `recover` settles the entries it names, for that restore only.
    #[test]
    fn what_a_restore_keeps_settles_that_restore_only() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host");
        std::fs::create_dir_all(host.join("m")).unwrap();
        std::fs::write(host.join("m/f"), b"x").unwrap();
        let state = StateDir::at(dir.path().join("state"));
        crate::host::state::create_private_dir(state.path()).unwrap();
        let meta = std::fs::symlink_metadata(host.join("m/f")).unwrap();
        let node_meta = Metadata {
            mode: Some(meta.mode()),
            mtime: Some(
                rustic_core::jiff::Timestamp::new(meta.mtime(), meta.mtime_nsec() as i32).unwrap(),
            ),
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
            size: meta.size(),
            ..Metadata::default()
        };
        let expected = vec![Expected {
            path: PathBuf::from("/m/f"),
            node: Node::new_node(OsStr::new("f"), NodeType::File, node_meta),
            children: None,
        }];
        let ctime = (meta.ctime(), meta.ctime_nsec());
        let window = ((ctime.0 - 1, 0), (ctime.0 + 1, 0));
        let root = HostRoot::new(&host).unwrap();
        let own = settle(&expected, &root, (&SyncSet::default(), &[]), window);
        assert!(own.is_some());
        Pending::new(("run1", "snap1"), &host, SyncSet::default(), &[], &expected).keep(&state);
        assert_eq!(settle_kept(&state, "run1", "snap1", window), own);
        assert_eq!(settle_kept(&state, "run2", "snap1", window), None);
        assert_eq!(settle_kept(&state, "run1", "snap2", window), None);
        Pending::forget(&state);
        assert_eq!(settle_kept(&state, "run1", "snap1", window), None);
    }
}
