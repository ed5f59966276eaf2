//! Delta staging: a rollback that restores only what differs.
//!
//! Rolling a fix pack back touches a few percent of a member's files. lockstep plans three
//! lists: entries to *put* (restored from the repository into a staging directory beside the
//! member, then verified), live entries to *remove* (moved aside, not replaced) and directories
//! whose metadata is set last. There are two ways to find them:
//!
//! - **By proof** ([`Proven`], [`compare_trees`]): when the live set's state digest is the one
//!   the newest snapshot recorded, the live set *is* that snapshot, so the lists are the
//!   difference between the newest snapshot's tree and the target's, found by decoding only
//!   the subtrees whose ids differ. No live file is read.
//! - **File by file** ([`plan_by_walk`]): otherwise each live member is walked and compared
//!   with the target tree; a file is kept when its metadata matches and its content is proven
//!   (see `same_as_target` in [`crate::ops::restore`]).
//!
//! Either way the result is a [`Planned`] delta, for which nothing has been written: a dry run
//! reports it, and the run stages exactly that plan ([`Planned::build`]).
//!
//! Staged entries are numbered in a flat staging directory, and the swap moves each replaced
//! or surplus live entry into a flat `old` directory beside the member and each staged entry
//! into its place ([`Delta`]). The [`journal`](crate::ops::restore::journal) holds the plan before the first
//! rename, so a crash rolls forward as it does for a whole-member swap. Unchanged files are
//! never touched: their inode and ctime stay, so the next backup does not read them again
//! either.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustic_core::TreeId;
use rustic_core::repofile::{Node, NodeType, SnapshotFile};

use crate::config::is_root;
use crate::host::excludes::Excludes;
use crate::host::fingerprint::Fingerprint;
use crate::host::root::HostRoot;
use crate::ops::restore::journal::Delta;
use crate::ops::restore::proof::{self, Expected, Names};
use crate::ops::restore::{
    Counts, FullRepo, RestoreUnit, UnitTree, content_bytes, list, list_skipping, live_xattrs, rel,
    restore_tree, same_as_target, stays_inside, verify_entries, xattrs_of,
};
use crate::repo::SetSnapshot;
use crate::repo::manifest::Verdict;
use crate::repo::tree::posix_perm;
use crate::{Error, Result};

/// A delta planned for one unit and not yet staged: the swap's lists, the target's entries to
/// stage, and what stays.
pub struct Planned {
    plan: Plan,
    /// The target's entries to stage: each put entry and everything under it.
    staged: Vec<(PathBuf, Node)>,
    /// The names in each of the target's directories whose metadata the swap sets, by path
    /// (those known: the restore checks the swapped set against them, [`proof::settle`]).
    children: HashMap<PathBuf, Names>,
    /// The unit's bytes in the target snapshot.
    pub size: u64,
}

impl Planned {
    /// What staging will do: the files, directories and bytes it restores from the
    /// repository, and the live files it leaves in place.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            carried_files: self.plan.kept_files,
            carried_bytes: self.plan.kept_bytes,
            removed: self.removed(),
            ..Counts::default()
        };
        for (_, n) in &self.staged {
            match n.node_type {
                NodeType::File => counts.files += 1,
                NodeType::Dir => counts.dirs += 1,
                _ => {}
            }
        }
        counts.bytes = content_bytes(self.staged.iter().map(|(_, n)| n));
        counts
    }

    /// The target's entries to stage (paths relative to the member).
    #[must_use]
    pub fn entries(&self) -> &[(PathBuf, Node)] {
        &self.staged
    }

    /// The live entries the swap moves aside because the target lacks them.
    #[must_use]
    pub fn removed(&self) -> u64 {
        self.plan.delta.remove.len() as u64
    }

    /// The room staging takes: the staged bytes, and some for every entry (directories and
    /// inodes) and the staging directory itself.
    #[must_use]
    pub fn space_needed(&self) -> u64 {
        self.staged
            .iter()
            .map(|(_, n)| n.meta.size + 4096)
            .sum::<u64>()
            + 4096
    }

    /// Restores the planned entries into the staging directory `stage` (verify them with
    /// [`Staging::verify`]).
    ///
    /// # Errors
    /// When the repository or the staging directory fails.
    pub fn build(self, repo: &FullRepo, unit: &RestoreUnit, stage: &Path) -> Result<Staging> {
        let mut staging = build(repo, self.plan, self.staged, unit, stage)?;
        staging.children = self.children;
        Ok(staging)
    }
}

/// Plans the entries of `tree` that the live member at `live` does not already hold exactly
/// (`walked`: its entries). `None` when a delta cannot be planned safely (the live member is
/// not a directory or cannot be read completely, or, without root, a directory the swap must
/// change is not the user's own and writable): the caller restores the whole member. Reads
/// live files (to prove their content) but writes nothing.
///
/// # Errors
/// When the repository fails.
pub fn plan_by_walk(
    repo: &FullRepo,
    tree: &UnitTree,
    unit: &RestoreUnit,
    live: &Path,
    newest: Option<&SnapshotFile>,
    walked: Option<Walked>,
) -> Result<Option<Planned>> {
    if !tree.node.is_dir() || !std::fs::symlink_metadata(live).is_ok_and(|m| m.is_dir()) {
        return Ok(None);
    }
    let Some(live_entries) = walked else {
        return Ok(None);
    };
    let listing =
        crate::util::timing::phase(format!("restore: list newest {}", unit.path.display()));
    let newest = match newest.and_then(|snap| {
        repo.node_from_snapshot_and_path(snap, &rel(&unit.path))
            .ok()
    }) {
        Some(n) if n.is_dir() => Newest::load(repo, &n, tree)?,
        _ => Newest::default(),
    };
    drop(listing);
    let plan = {
        let _t = crate::util::timing::phase(format!("restore: compare {}", unit.path.display()));
        plan(repo, tree, live, &live_entries, &newest)
    };
    let roots: HashSet<&Path> = plan.delta.put.iter().map(PathBuf::as_path).collect();
    let staged: Vec<(PathBuf, Node)> = tree
        .entries
        .iter()
        .filter(|(path, _)| path.ancestors().any(|a| roots.contains(a)))
        .cloned()
        .collect();
    if !is_root() && !plan.swappable(live, &staged) {
        return Ok(None);
    }
    let size = tree.node.meta.size + tree.entries.iter().map(|(_, n)| n.meta.size).sum::<u64>();
    let children = proof::dir_names(
        &tree.entries,
        plan.delta.dirs.iter().map(|(p, _)| p.as_path()),
    );
    Ok(Some(Planned {
        plan,
        staged,
        children,
        size,
    }))
}

/// The live set, proven to be exactly the newest snapshot's: the set's state digest now is the
/// one that snapshot recorded (every entry's type, size, mtime, ctime, inode, mode and owner,
/// and the set's members and excludes).
pub struct Proven {
    /// The id of the snapshot the live set is.
    newest: String,
    /// The live set's fingerprints (IM and product members), to count what is kept.
    fingerprints: [Fingerprint; 2],
}

impl Proven {
    /// Fingerprints the live set of `newest` (a consistent snapshot that recorded its state)
    /// with `excludes`; `None` unless the digest is the recorded one.
    #[must_use]
    pub fn check(host: &HostRoot, newest: &SetSnapshot, excludes: &[String]) -> Option<Self> {
        let _t = crate::util::timing::phase("restore: prove the live set");
        let manifest = newest.manifest.as_ref()?;
        if manifest.consistency.verdict != Verdict::Consistent {
            return None;
        }
        let recorded = manifest.consistency.set_state.as_ref()?;
        let set = manifest.set();
        let fingerprints = crate::host::digest::walk_set(host, &set, excludes).ok()?;
        let [im, other] = &fingerprints;
        let digest = crate::host::digest::state_digest(host, &set, excludes, [im, other]).ok()?;
        (digest.as_ref() == Some(recorded)).then(|| Proven {
            newest: newest.id(),
            fingerprints,
        })
    }

    /// The id of the snapshot the live set is.
    #[must_use]
    pub fn snapshot_id(&self) -> String {
        self.newest.clone()
    }

    /// The regular files at or under the logical `path` on the live set: count and bytes.
    fn files_under(&self, path: &Path) -> (u64, u64) {
        self.fingerprints
            .iter()
            .find_map(|f| f.files_under(path))
            .unwrap_or_default()
    }
}

/// What `unit` of a target snapshot differs in from the newest snapshot's, found from the two
/// trees alone (see [`compare_trees`]).
pub struct TreeDiff {
    plan: Plan,
    /// The target's entries to stage: each put entry and everything under it.
    staged: Vec<(PathBuf, Node)>,
    /// The names in the target's directories that were compared, by path.
    children: HashMap<PathBuf, Names>,
}

/// Compares `unit` of the `target` snapshot with the `newest` snapshot's: only subtrees whose
/// ids differ between the two are decoded and compared, node by node. Needs no live file, so it
/// runs while the live set is being proven to be `newest` ([`Proven`]). `None` when the unit is
/// not a directory in both snapshots (the caller goes the per-file way).
///
/// # Errors
/// When the repository fails or a snapshot path would leave the member.
pub fn compare_trees(
    repo: &FullRepo,
    target: &SnapshotFile,
    newest: &SnapshotFile,
    unit: &RestoreUnit,
) -> Result<Option<TreeDiff>> {
    let path = rel(&unit.path);
    let _t = crate::util::timing::phase(format!("restore: compare trees {}", unit.path.display()));
    let node = repo.node_from_snapshot_and_path(target, &path)?;
    let Ok(was) = repo.node_from_snapshot_and_path(newest, &path) else {
        return Ok(None);
    };
    if !node.is_dir() || !was.is_dir() {
        return Ok(None);
    }
    let diff = crate::util::par::io(|| diff_dirs(repo, &node, &was, Path::new("")))?;
    let plan = diff.plan(node);
    let mut staged: Vec<(PathBuf, Node)> = Vec::new();
    for (path, n) in &diff.put {
        staged.push((path.clone(), n.clone()));
        if n.is_dir() {
            let under = list(repo, n)?;
            staged.reserve(under.len());
            staged.extend(under.into_iter().map(|(p, n)| (path.join(p), n)));
        }
    }
    Ok(Some(TreeDiff {
        plan,
        staged,
        children: diff.children.into_iter().collect(),
    }))
}

/// Plans `diff` of `unit` when the live member is the newest snapshot's ([`Proven`]). `None`
/// when the live member is not a directory or, without root, the swap could not do every
/// change (the caller goes the per-file way). Reads and writes nothing but metadata.
#[must_use]
pub fn plan_by_proof(
    diff: TreeDiff,
    proven: &Proven,
    unit: &RestoreUnit,
    live: &Path,
) -> Option<Planned> {
    let TreeDiff {
        plan,
        staged,
        children,
    } = diff;
    if !std::fs::symlink_metadata(live).is_ok_and(|m| m.is_dir())
        || (!is_root() && !plan.swappable(live, &staged))
    {
        return None;
    }
    // What stays: the member's live files but those replaced or removed.
    let (files, bytes) = proven.files_under(&unit.path);
    let (gone_files, gone_bytes) = plan
        .delta
        .put
        .iter()
        .chain(&plan.delta.remove)
        .map(|p| proven.files_under(&unit.path.join(p)))
        .fold((0, 0), |(f, b), (f2, b2)| (f + f2, b + b2));
    let plan = Plan {
        kept_files: files.saturating_sub(gone_files),
        kept_bytes: bytes.saturating_sub(gone_bytes),
        ..plan
    };
    let size = plan.kept_bytes
        + staged
            .iter()
            .filter(|(_, n)| n.node_type == NodeType::File)
            .map(|(_, n)| n.meta.size)
            .sum::<u64>();
    Some(Planned {
        plan,
        staged,
        children,
        size,
    })
}

/// Restores the `staged` entries of `plan` into the staging directory `stage`, each put entry
/// under its number ([`Delta::staged`]).
fn build(
    repo: &FullRepo,
    plan: Plan,
    staged: Vec<(PathBuf, Node)>,
    unit: &RestoreUnit,
    stage: &Path,
) -> Result<Staging> {
    let _t = crate::util::timing::phase(format!("restore: engine {}", unit.path.display()));
    std::fs::create_dir_all(stage).map_err(|e| Error::io("cannot create", stage, e))?;
    // Each put entry is staged under its number (`Delta::staged`), with what is under it.
    let number: HashMap<&Path, usize> = plan
        .delta
        .put
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_path(), i))
        .collect();
    let staged = staged
        .into_iter()
        .map(|(path, node)| {
            let (root, i) = path
                .ancestors()
                .find_map(|a| number.get(a).map(|i| (a, *i)))
                .ok_or_else(|| {
                    Error::Other(format!(
                        "internal error: {} is staged but not planned; nothing was changed",
                        path.display()
                    ))
                })?;
            let at = plan.delta.staged(Path::new(""), i);
            let at = match path.strip_prefix(root) {
                Ok(rest) if !rest.as_os_str().is_empty() => at.join(rest),
                _ => at,
            };
            Ok((at, node))
        })
        .collect::<Result<Vec<_>>>()?;
    drop(number);
    let restored = restore_tree(repo, &staged, stage, &HashSet::new())?;
    Ok(Staging {
        counts: Counts {
            carried_files: plan.kept_files,
            carried_bytes: plan.kept_bytes,
            removed: plan.delta.remove.len() as u64,
            ..restored
        },
        delta: plan.delta,
        staged,
        children: HashMap::new(),
    })
}

/// What differs between a target directory and the newest snapshot's at the same path.
#[derive(Default)]
struct Diff {
    /// Target entries the live set lacks or holds differently (whole subtrees for directories).
    put: Vec<(PathBuf, Node)>,
    /// Live entries the target lacks.
    remove: Vec<PathBuf>,
    /// Directories in both whose own metadata differs (target node).
    dirs: Vec<(PathBuf, Node)>,
    /// Directories in both whose contents differ (target node): the ones entries move in and
    /// out of.
    visited: Vec<(PathBuf, Node)>,
    /// The names in each target directory compared (the member's own included).
    children: Vec<(PathBuf, Names)>,
}

impl Diff {
    /// The swap's plan; `root` is the member's target node.
    fn plan(&self, root: Node) -> Plan {
        let mut put: Vec<PathBuf> = self.put.iter().map(|(p, _)| p.clone()).collect();
        put.sort();
        let mut remove = self.remove.clone();
        remove.sort();
        let dirs = dirs_to_set(&put, &remove, self.dirs.clone(), &self.visited, root);
        Plan {
            delta: Delta {
                put,
                remove,
                dirs,
                flat: true,
            },
            kept_files: 0,
            kept_bytes: 0,
        }
    }
}

/// Compares the target's directory `target` with the newest snapshot's `newest` (whose subtree
/// ids differ), descending in parallel only into subdirectories whose ids differ too. Paths are
/// under `prefix`, relative to the member.
///
/// A node whose JSON text is the same in both trees is the same node, so only the nodes whose
/// text differs (or that one tree lacks) are decoded: decoding every node of every compared
/// tree was three fifths of the comparison's time (FINDINGS.md F35). A node written twice with
/// a different text for the same value is decoded and compared as before.
fn diff_dirs(repo: &FullRepo, target: &Node, newest: &Node, prefix: &Path) -> Result<Diff> {
    use rayon::prelude::*;
    let text = |n: &Node| -> Result<Option<bytes::Bytes>> {
        match n.subtree {
            // (not `get_blob_cached`: the comparison reads each tree once, and the cache would
            // hold 32 MiB of them for the rest of the restore)
            Some(id) => Ok(Some(
                repo.cat_blob(rustic_core::repofile::BlobType::Tree, &id.to_hex())?,
            )),
            None => Ok(None),
        }
    };
    // The two trees' texts are dropped before descending: held down every level of the
    // recursion on every thread, they were the comparison's peak memory.
    let (mut diff, deeper) = {
        // Both trees at once: on a cold cache each read waits on the disk.
        let (was, now) = rayon::join(|| text(newest), || text(target));
        let (was, now) = (was?, now?);
        let mut old: HashMap<Cow<'_, OsStr>, RawNode<'_>> = RawNode::all(was.as_deref(), newest)?
            .into_iter()
            .map(|n| Ok((n.name()?, n)))
            .collect::<Result<_>>()?;
        let now = RawNode::all(now.as_deref(), target)?;
        let names = now.iter().map(RawNode::name).collect::<Result<Vec<_>>>()?;
        let mut diff = Diff {
            children: vec![(prefix.to_path_buf(), proof::names_digest(&names))],
            ..Diff::default()
        };
        let mut deeper: Vec<(PathBuf, Node, Node)> = Vec::new();
        for (raw, name) in now.iter().zip(names) {
            let path = prefix.join(&name);
            stays_inside(&path)?;
            let Some(was) = old.remove(&name) else {
                diff.put.push((path, raw.decode()?));
                continue;
            };
            // (the same text without an mtime is compared decoded: no mtime is never the same)
            if raw.text.get() == was.text.get() && raw.head.mtime.is_some() {
                match raw.head.kind.as_ref() {
                    // (a hard-linked file is always restored, with its partners)
                    "dir" | "symlink" => continue,
                    "file" if raw.head.links <= 1 => continue,
                    _ => {}
                }
            }
            let (node, was) = (raw.decode()?, was.decode()?);
            match (&node.node_type, &was.node_type) {
                (NodeType::Dir, NodeType::Dir) => {
                    if !same_dir_meta(&node, &was) {
                        diff.dirs.push((path.clone(), node.clone()));
                    }
                    if node.subtree != was.subtree {
                        deeper.push((path, node, was));
                    }
                }
                (NodeType::File, NodeType::File) if same_file(&node, &was) => {}
                (NodeType::Symlink { .. }, NodeType::Symlink { .. })
                    if node.node_type.to_link() == was.node_type.to_link()
                        && same_owner_and_mtime(&node, &was) => {}
                _ => diff.put.push((path, node)),
            }
        }
        diff.remove
            .extend(old.into_keys().map(|name| prefix.join(name)));
        (diff, deeper)
    };
    let subs: Vec<Result<Diff>> = deeper
        .par_iter()
        .map(|(path, t, was)| diff_dirs(repo, t, was, path))
        .collect();
    for ((path, node, _), sub) in deeper.into_iter().zip(subs) {
        let sub = sub?;
        diff.visited.push((path, node));
        diff.put.extend(sub.put);
        diff.remove.extend(sub.remove);
        diff.dirs.extend(sub.dirs);
        diff.visited.extend(sub.visited);
        diff.children.extend(sub.children);
    }
    Ok(diff)
}

/// A node of a snapshot tree as the tree's JSON holds it, with the fields [`diff_dirs`] looks
/// at before it decodes a node.
struct RawNode<'a> {
    text: &'a serde_json::value::RawValue,
    head: Head<'a>,
}

/// A tree's JSON, node by node.
#[derive(serde::Deserialize)]
struct RawTree<'a> {
    #[serde(borrow)]
    nodes: Vec<&'a serde_json::value::RawValue>,
}

/// What [`diff_dirs`] reads of a node before deciding to decode it.
#[derive(serde::Deserialize)]
struct Head<'a> {
    /// The name, escaped as the tree stores it (see [`Node::name`]).
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    links: u64,
    #[serde(default)]
    mtime: Option<serde::de::IgnoredAny>,
}

impl<'a> RawNode<'a> {
    /// The nodes of the tree whose JSON is `text` (none: a directory without a subtree), the
    /// tree of `dir`.
    fn all(text: Option<&'a [u8]>, dir: &Node) -> Result<Vec<Self>> {
        let Some(text) = text else {
            return Ok(Vec::new());
        };
        let unreadable = |e: serde_json::Error| {
            crate::Error::Other(format!(
                "the snapshot tree of {} cannot be read ({e}); run `lockstep check`",
                dir.name().to_string_lossy()
            ))
        };
        let tree: RawTree<'a> = serde_json::from_slice(text).map_err(unreadable)?;
        tree.nodes
            .into_iter()
            .map(|text| {
                let head = serde_json::from_str(text.get()).map_err(unreadable)?;
                Ok(Self { text, head })
            })
            .collect()
    }

    /// The node, decoded.
    fn decode(&self) -> Result<Node> {
        serde_json::from_str(self.text.get()).map_err(|e| {
            crate::Error::Other(format!(
                "the snapshot tree entry {} cannot be read ({e}); run `lockstep check`",
                self.head.name
            ))
        })
    }

    /// Its name: the stored one, unless escaped (only a decoded node unescapes it).
    fn name(&self) -> Result<Cow<'a, OsStr>> {
        if self.head.name.contains('\\') {
            return Ok(Cow::Owned(self.decode()?.name().into_owned()));
        }
        Ok(match &self.head.name {
            Cow::Borrowed(name) => Cow::Borrowed(OsStr::new(*name)),
            Cow::Owned(name) => Cow::Owned(OsString::from(name)),
        })
    }
}

/// Whether a file recorded as `was` (the live file, proven unchanged since) already is the
/// target's `node`: same content, size, mtime, mode, owner (as root) and extended attributes,
/// and neither is hard-linked (a hard link is always restored, with its partners).
fn same_file(node: &Node, was: &Node) -> bool {
    node.meta.links <= 1
        && was.meta.links <= 1
        && node.content == was.content
        && node.meta.size == was.meta.size
        && same_owner_and_mtime(node, was)
        && node.meta.mode.map(posix_perm) == was.meta.mode.map(posix_perm)
        && xattrs_of(node) == xattrs_of(was)
}

/// Whether two directory nodes have the same mode, owner (as root), mtime and attributes.
fn same_dir_meta(node: &Node, was: &Node) -> bool {
    node.meta.mode.map(posix_perm) == was.meta.mode.map(posix_perm)
        && same_owner_and_mtime(node, was)
        && xattrs_of(node) == xattrs_of(was)
}

fn same_owner_and_mtime(node: &Node, was: &Node) -> bool {
    (!is_root() || (node.meta.uid, node.meta.gid) == (was.meta.uid, was.meta.gid))
        && node.meta.mtime.is_some()
        && node.meta.mtime == was.meta.mtime
}

/// A staged delta, to be verified before anything is swapped.
pub struct Staging {
    /// The plan of the swap.
    pub delta: Delta,
    /// What was restored and kept.
    pub counts: Counts,
    /// The entries restored into the staging directory, by their paths there.
    staged: Vec<(PathBuf, Node)>,
    /// The names in the target's directories whose metadata the swap sets (those known).
    children: HashMap<PathBuf, Names>,
}

impl Staging {
    /// Checks every staged entry against the snapshot (metadata and every chunk's hash), and
    /// that the staging directory holds nothing else.
    ///
    /// # Errors
    /// The first difference.
    pub fn verify(&self, repo: &FullRepo, unit: &RestoreUnit, stage: &Path) -> Result<()> {
        let _t = crate::util::timing::phase(format!("restore: verify {}", unit.path.display()));
        let expected: Vec<&(PathBuf, Node)> = self.staged.iter().collect();
        verify_entries(
            repo,
            &unit.path,
            stage,
            &expected,
            &HashSet::new(),
            // The staging directory holds the numbered entries and nothing else.
            Some(&HashSet::from([PathBuf::new()])),
        )
        .map(|_| ())
    }

    /// The swap's plan, and what every entry the swap changes must be once it is done (its
    /// logical path under `member`): the staged entries and the directories whose metadata it
    /// sets, for [`proof::settle`].
    #[must_use]
    pub fn into_swap(self, member: &Path) -> (Delta, Vec<Expected>) {
        let Self {
            delta,
            staged,
            children,
            ..
        } = self;
        // The names in each staged directory: everything under a put entry is staged.
        let names = proof::dir_names(
            &staged,
            staged
                .iter()
                .filter(|(_, n)| n.is_dir())
                .map(|(p, _)| p.as_path()),
        );
        let mut expected = Vec::with_capacity(staged.len() + delta.dirs.len());
        for (at, node) in staged {
            let children = names.get(&at).copied();
            // An entry the delta does not name cannot be checked: the backup reads the trees.
            let Some(rel) = delta.unstaged(&at) else {
                continue;
            };
            expected.push(Expected {
                path: proof::logical(member, &rel),
                node,
                children,
            });
        }
        for (rel, node) in &delta.dirs {
            expected.push(Expected {
                path: proof::logical(member, rel),
                node: node.clone(),
                children: children.get(rel).copied(),
            });
        }
        (delta, expected)
    }
}

/// Every entry of a live member, by path relative to it, with its metadata.
pub type Walked = HashMap<PathBuf, std::fs::Metadata>;

/// Walks the live members `lives` (each a live path and its logical path) in order on a thread
/// of its own, each result sent as soon as it is ready (`None` for a member that is not a
/// directory or cannot be read completely). What the backups exclude is not walked, so a
/// rollback leaves it in place. On a cold cache the walk waits on the disk while the trees are
/// decoded on the CPU, so the two overlap instead of adding up.
#[must_use]
pub fn prefetch(
    lives: Vec<(PathBuf, PathBuf)>,
    excludes: Excludes,
) -> std::sync::mpsc::Receiver<Option<Walked>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (live, logical) in lives {
            let walked = std::fs::symlink_metadata(&live)
                .is_ok_and(|m| m.is_dir())
                .then(|| walk(&live, &logical, &excludes))
                .flatten();
            if tx.send(walked).is_err() {
                break;
            }
        }
    });
    rx
}

/// Every entry under `dir` (not following symlinks; the member at logical path `logical`) but
/// those `excludes` leaves out, by path relative to it, with its metadata; the top-level
/// subtrees are walked in parallel on the I/O pool. `None` when any entry cannot be read: a
/// delta needs the whole live picture.
fn walk(dir: &Path, logical: &Path, excludes: &Excludes) -> Option<Walked> {
    use rayon::prelude::*;
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .ok()?;
    let parts: Option<Vec<Vec<(PathBuf, std::fs::Metadata)>>> = crate::util::par::io(|| {
        children
            .par_iter()
            .map(|child| {
                walkdir::WalkDir::new(child)
                    .follow_root_links(false)
                    .into_iter()
                    .filter_entry(|e| {
                        e.path()
                            .strip_prefix(dir)
                            .is_ok_and(|rel| !excludes.excludes(&logical.join(rel)))
                    })
                    .map(|entry| {
                        let entry = entry.ok()?;
                        let m = entry.metadata().ok()?;
                        Some((entry.path().strip_prefix(dir).ok()?.to_path_buf(), m))
                    })
                    .collect()
            })
            .collect()
    });
    Some(parts?.into_iter().flatten().collect())
}

/// The newest snapshot's view of a member, as far as it can differ from the target's.
#[derive(Default)]
struct Newest {
    /// Its files outside the subtrees it shares with the target.
    files: HashMap<PathBuf, Node>,
    /// Directories whose subtree is the target's (same tree id): their files are the target's.
    shared: HashSet<PathBuf>,
}

impl Newest {
    /// Decodes the newest snapshot's member `node`, leaving out every subtree whose id is the
    /// target's at the same path (a fix pack changes a few directories; the rest is shared).
    fn load(repo: &FullRepo, node: &Node, target: &UnitTree) -> Result<Self> {
        let mut out = Newest::default();
        if node.subtree.is_some() && node.subtree == target.node.subtree {
            out.shared.insert(PathBuf::new());
            return Ok(out);
        }
        let target_ids: HashMap<&Path, &TreeId> = target
            .entries
            .iter()
            .filter_map(|(p, n)| Some((p.as_path(), n.subtree.as_ref()?)))
            .collect();
        let same = |path: &Path, id: &TreeId| target_ids.get(path) == Some(&id);
        for (path, n) in list_skipping(repo, node, &same)? {
            match n.node_type {
                NodeType::File => {
                    out.files.insert(path, n);
                }
                NodeType::Dir if n.subtree.is_some_and(|id| same(&path, &id)) => {
                    out.shared.insert(path);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The newest snapshot's node for the file at `path`, whose target node is `target`.
    fn node<'a>(&'a self, path: &Path, target: &'a Node) -> Option<&'a Node> {
        self.files.get(path).or_else(|| {
            path.ancestors()
                .skip(1)
                .any(|a| self.shared.contains(a))
                .then_some(target)
        })
    }
}

/// A planned delta and what it leaves in place.
struct Plan {
    delta: Delta,
    kept_files: u64,
    kept_bytes: u64,
}

impl Plan {
    /// Whether a non-root user can do every rename and metadata change the swap needs: each
    /// directory entries move into or out of, and each directory whose metadata is set, must
    /// be the user's own and writable; a directory that moves must be writable itself (its
    /// `..` entry changes).
    fn swappable(&self, live: &Path, staged: &[(PathBuf, Node)]) -> bool {
        let uid = rustix::process::geteuid().as_raw();
        let own_writable = |m: &std::fs::Metadata| m.uid() == uid && m.mode() & 0o300 == 0o300;
        let meta_of = |rel: &Path| {
            if rel.as_os_str().is_empty() {
                std::fs::symlink_metadata(live).ok()
            } else {
                std::fs::symlink_metadata(live.join(rel)).ok()
            }
        };
        let parents_ok = self
            .delta
            .put
            .iter()
            .chain(&self.delta.remove)
            .filter_map(|p| p.parent())
            .chain(self.delta.dirs.iter().map(|(p, _)| p.as_path()))
            .collect::<HashSet<_>>()
            .into_iter()
            .all(|dir| meta_of(dir).is_some_and(|m| own_writable(&m)));
        let moved_live_dirs_ok = self
            .delta
            .put
            .iter()
            .chain(&self.delta.remove)
            .filter_map(|p| meta_of(p))
            .filter(std::fs::Metadata::is_dir)
            .all(|m| own_writable(&m));
        let put: HashSet<&PathBuf> = self.delta.put.iter().collect();
        let staged_dirs_ok = staged
            .iter()
            .filter(|(p, n)| n.is_dir() && put.contains(p))
            .all(|(_, n)| n.meta.mode.is_some_and(|m| posix_perm(m) & 0o300 == 0o300));
        parents_ok && moved_live_dirs_ok && staged_dirs_ok
    }
}

/// Compares the live member with the target tree.
fn plan(
    repo: &FullRepo,
    tree: &UnitTree,
    live: &Path,
    live_entries: &HashMap<PathBuf, std::fs::Metadata>,
    newest: &Newest,
) -> Plan {
    let FirstPass {
        mut put,
        dirs,
        candidates,
    } = walk_target(tree, live, live_entries);
    let (kept_files, kept_bytes) = prove_files(repo, live, newest, &candidates, &mut put);
    let removed = surplus(tree, live_entries, &put);
    put.sort();
    let dirs = dirs_to_set(&put, &removed, dirs, &tree.entries, tree.node.clone());
    Plan {
        delta: Delta {
            put,
            remove: removed,
            dirs,
            flat: true,
        },
        kept_files,
        kept_bytes,
    }
}

/// The first pass of [`plan`] over the target tree, before any file's content is looked at.
struct FirstPass<'t> {
    /// Entries to restore: missing, of another kind, a symlink that differs, and everything
    /// under a directory restored whole.
    put: Vec<PathBuf>,
    /// Live directories whose own metadata differs from the target's.
    dirs: Vec<(PathBuf, Node)>,
    /// Live files of the target's kind whose content is yet to be compared.
    candidates: Vec<(&'t PathBuf, &'t Node, &'t std::fs::Metadata)>,
}

/// Walks the target tree in order against the live entries: what surely differs is put, what
/// surely matches is skipped, and regular files are left as candidates for [`prove_files`].
fn walk_target<'t>(
    tree: &'t UnitTree,
    live: &Path,
    live_entries: &'t HashMap<PathBuf, std::fs::Metadata>,
) -> FirstPass<'t> {
    let mut put: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<(PathBuf, Node)> = Vec::new();
    let mut candidates: Vec<(&PathBuf, &Node, &std::fs::Metadata)> = Vec::new();
    // Entries arrive in tree order: everything under a put directory follows it directly.
    let mut under: Option<&PathBuf> = None;
    for (path, node) in &tree.entries {
        if under.is_some_and(|p| path.starts_with(p)) {
            continue;
        }
        under = None;
        let now = live_entries.get(path);
        let same_kind = now.is_some_and(|m| kind_matches(node, m));
        match &node.node_type {
            NodeType::Dir if same_kind => {
                if now.is_some_and(|m| !dir_meta_matches(&live.join(path), node, m)) {
                    dirs.push((path.clone(), node.clone()));
                }
                continue;
            }
            NodeType::File if same_kind && node.meta.links <= 1 => {
                if let Some(m) = now {
                    candidates.push((path, node, m));
                }
                continue;
            }
            NodeType::Symlink { .. }
                if same_kind
                    && std::fs::read_link(live.join(path))
                        .is_ok_and(|t| t == node.node_type.to_link())
                    && now.is_some_and(|m| owner_and_mtime_match(node, m)) =>
            {
                continue;
            }
            NodeType::Dir => under = Some(path),
            _ => {}
        }
        put.push(path.clone());
    }
    FirstPass {
        put,
        dirs,
        candidates,
    }
}

/// Compares the candidate files on the I/O pool: metadata first, content proven by the newest
/// snapshot or by hashing. A file that differs joins `put`; returns the count and bytes of the
/// files kept.
fn prove_files(
    repo: &FullRepo,
    live: &Path,
    newest: &Newest,
    candidates: &[(&PathBuf, &Node, &std::fs::Metadata)],
    put: &mut Vec<PathBuf>,
) -> (u64, u64) {
    use rayon::prelude::*;
    let differing: Vec<(PathBuf, bool, u64)> = crate::util::par::io(|| {
        candidates
            .par_iter()
            .map(|(path, node, m)| {
                let old = newest.node(path, node);
                let same = same_as_target(repo, &live.join(path), m, node, old);
                ((*path).clone(), same, node.meta.size)
            })
            .collect()
    });
    let (mut kept_files, mut kept_bytes) = (0, 0);
    for (path, same, size) in differing {
        if same {
            kept_files += 1;
            kept_bytes += size;
        } else {
            put.push(path);
        }
    }
    (kept_files, kept_bytes)
}

/// Live entries the target lacks, outside anything already moved as a whole: what the swap
/// removes (sorted, so a directory comes before what is in it).
fn surplus(
    tree: &UnitTree,
    live_entries: &HashMap<PathBuf, std::fs::Metadata>,
    put: &[PathBuf],
) -> Vec<PathBuf> {
    let target: HashSet<&PathBuf> = tree.entries.iter().map(|(p, _)| p).collect();
    let put_set: HashSet<PathBuf> = put.iter().cloned().collect();
    let mut surplus: Vec<&PathBuf> = live_entries
        .keys()
        .filter(|p| !target.contains(p))
        .collect();
    surplus.sort();
    let mut removed_set: HashSet<PathBuf> = HashSet::new();
    let mut removed: Vec<PathBuf> = Vec::new();
    for path in surplus {
        let covered = path
            .ancestors()
            .skip(1)
            .any(|a| put_set.contains(a) || removed_set.contains(a));
        if !covered {
            removed_set.insert(path.clone());
            removed.push(path.clone());
        }
    }
    removed
}

/// The directories whose metadata the swap sets last, deepest first: `dirs` (their own
/// metadata differs), every directory an entry of `put` or `remove` moves into or out of (the
/// swap changes its mtime; its target node is found among `target`), and the member `root`.
fn dirs_to_set(
    put: &[PathBuf],
    remove: &[PathBuf],
    mut dirs: Vec<(PathBuf, Node)>,
    target: &[(PathBuf, Node)],
    root: Node,
) -> Vec<(PathBuf, Node)> {
    let touched: HashSet<&Path> = put
        .iter()
        .chain(remove)
        .filter_map(|p| p.parent())
        .collect();
    let listed: HashSet<PathBuf> = dirs.iter().map(|(p, _)| p.clone()).collect();
    for (path, node) in target {
        if node.is_dir() && touched.contains(path.as_path()) && !listed.contains(path) {
            dirs.push((path.clone(), node.clone()));
        }
    }
    dirs.push((PathBuf::new(), root));
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    dirs
}

/// Whether the live entry has the node's type.
fn kind_matches(node: &Node, m: &std::fs::Metadata) -> bool {
    let ft = m.file_type();
    match node.node_type {
        NodeType::Dir => ft.is_dir(),
        NodeType::File => ft.is_file(),
        NodeType::Symlink { .. } => ft.is_symlink(),
        _ => false,
    }
}

fn owner_and_mtime_match(node: &Node, m: &std::fs::Metadata) -> bool {
    (!is_root() || (Some(m.uid()), Some(m.gid())) == (node.meta.uid, node.meta.gid))
        && node.meta.mtime.is_some_and(|t| {
            (t.as_second(), i64::from(t.subsec_nanosecond())) == (m.mtime(), m.mtime_nsec())
        })
}

/// Whether a live directory already has the node's mode, owner, mtime and extended attributes.
fn dir_meta_matches(path: &Path, node: &Node, m: &std::fs::Metadata) -> bool {
    node.meta
        .mode
        .is_none_or(|mode| posix_perm(mode) == m.mode() & 0o7777)
        && owner_and_mtime_match(node, m)
        && live_xattrs(path) == xattrs_of(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustic_core::repofile::{Metadata, Tree};
    use std::os::unix::ffi::OsStrExt;

    /// Names read from a tree's text are the names its decoded nodes give, escaped or not, and
    /// a node's text decodes to the node.
    #[test]
    fn a_raw_node_is_the_node_its_tree_holds() {
        let names: [&OsStr; 5] = [
            OsStr::new("plain.jar"),
            OsStr::new("back\\slash"),
            OsStr::new("new\nline \"quoted\""),
            OsStr::from_bytes(b"latin1-\xe9"),
            OsStr::new("ünïcode"),
        ];
        let tree = Tree {
            nodes: names
                .iter()
                .map(|n| {
                    let meta = Metadata {
                        links: 1,
                        ..Metadata::default()
                    };
                    Node::new_node(n, NodeType::File, meta)
                })
                .collect(),
        };
        let text = serde_json::to_vec(&tree).unwrap();
        let dir = Node::new_node(OsStr::new("d"), NodeType::Dir, Metadata::default());
        let raw = RawNode::all(Some(&text), &dir).unwrap();
        assert_eq!(raw.len(), names.len());
        for ((raw, name), node) in raw.iter().zip(names).zip(&tree.nodes) {
            assert_eq!(raw.name().unwrap(), name);
            assert_eq!(&raw.decode().unwrap(), node);
            assert_eq!(raw.head.kind, "file");
            assert_eq!(raw.head.links, 1);
            assert!(raw.head.mtime.is_none());
        }
        assert!(RawNode::all(None, &dir).unwrap().is_empty());
        let err = RawNode::all(Some(b"{\"nodes\": [{\"name\": 1}]}"), &dir).err();
        assert!(err.is_some_and(|e| e.to_string().contains("cannot be read")));
    }
}
