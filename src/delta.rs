//! Delta staging: a rollback that restores only what differs.
//!
//! Rolling a fix pack back touches a few percent of a member's files. When lockstep can prove
//! which live files already hold the target snapshot's content (see `same_as_target` in
//! [`crate::restore`]), it compares the live member with the target tree and plans three lists:
//! entries to *put* (restored from the repository into a sparse staging directory beside the
//! member, then verified), live entries to *remove* (moved aside, not replaced) and directories
//! whose metadata is set last. The swap moves each replaced or surplus live entry into a sparse
//! `old` directory beside the member and each staged entry into its place. The
//! [`journal`](crate::journal) holds the plan before the first rename, so a crash rolls forward
//! as it does for a whole-member swap. Unchanged files are never touched: their inode and ctime
//! stay, so the next backup does not read them again either.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustic_core::TreeId;
use rustic_core::repofile::{Node, NodeType, SnapshotFile};

use crate::config::is_root;
use crate::journal::Delta;
use crate::restore::{
    FullRepo, RestoreUnit, UnitTree, list_skipping, live_xattrs, rel, restore_tree, same_as_target,
    verify_entries, xattrs_of,
};
use crate::tree::posix_perm;
use crate::{Error, Result};

/// What a delta staging did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Files restored from the repository.
    pub files: u64,
    /// Directories restored from the repository.
    pub dirs: u64,
    /// Bytes restored from the repository.
    pub bytes: u64,
    /// Live files left in place because they already are the target's.
    pub kept_files: u64,
    /// Their bytes.
    pub kept_bytes: u64,
}

/// Stages the entries of `tree` that the live member at `live` does not already hold exactly,
/// into `stage` (verify them with [`Staging::verify`]). `None` when a delta cannot be planned
/// safely (the live member is not a directory or cannot be read completely, or, without root,
/// a directory the swap must change is not the user's own and writable): the caller restores
/// the whole member.
///
/// # Errors
/// When the repository or the staging directory fails.
pub fn stage(
    repo: &FullRepo,
    tree: &UnitTree,
    unit: &RestoreUnit,
    (live, stage): (&Path, &Path),
    newest: Option<&SnapshotFile>,
    walked: Option<Walked>,
    check_space: &mut dyn FnMut(u64) -> Result<()>,
) -> Result<Option<Staging>> {
    if !tree.node.is_dir() || !std::fs::symlink_metadata(live).is_ok_and(|m| m.is_dir()) {
        return Ok(None);
    }
    let Some(live_entries) = walked else {
        return Ok(None);
    };
    let _t = crate::timing::phase(format!("restore: list newest {}", unit.path.display()));
    let newest = match newest.and_then(|snap| {
        repo.node_from_snapshot_and_path(snap, &rel(&unit.path))
            .ok()
    }) {
        Some(n) if n.is_dir() => Newest::load(repo, &n, tree)?,
        _ => Newest::default(),
    };
    drop(_t);
    let plan = {
        let _t = crate::timing::phase(format!("restore: compare {}", unit.path.display()));
        plan(repo, tree, live, &live_entries, &newest)
    };
    if !is_root() && !plan.swappable(live, &live_entries, tree) {
        return Ok(None);
    }

    // The staging directory holds the entries to put, inside plain containers.
    let _t = crate::timing::phase(format!("restore: engine {}", unit.path.display()));
    std::fs::create_dir_all(stage).map_err(|e| Error::io("cannot create", stage, e))?;
    let mut containers: HashSet<PathBuf> = HashSet::from([PathBuf::new()]);
    for put in &plan.delta.put {
        for dir in put.ancestors().skip(1) {
            if containers.insert(dir.to_path_buf()) {
                let d = stage.join(dir);
                std::fs::create_dir_all(&d).map_err(|e| Error::io("cannot create", &d, e))?;
            }
        }
    }
    let roots: HashSet<&Path> = plan.delta.put.iter().map(PathBuf::as_path).collect();
    let staged: Vec<(PathBuf, Node)> = tree
        .entries
        .iter()
        .filter(|(path, _)| path.ancestors().any(|a| roots.contains(a)))
        .cloned()
        .collect();
    // Only what is staged needs room; directories and inodes take some too.
    check_space(
        staged.iter().map(|(_, n)| n.meta.size + 4096).sum::<u64>()
            + containers.len() as u64 * 4096,
    )?;
    let (files, dirs, bytes) = restore_tree(repo, &staged, stage, &HashSet::new())?;
    Ok(Some(Staging {
        delta: plan.delta,
        counts: Counts {
            files,
            dirs,
            bytes,
            kept_files: plan.kept_files,
            kept_bytes: plan.kept_bytes,
        },
        staged,
        containers,
    }))
}

/// A staged delta, to be verified before anything is swapped.
pub struct Staging {
    /// The plan of the swap.
    pub delta: Delta,
    /// What was restored and kept.
    pub counts: Counts,
    /// The entries restored into the staging directory.
    staged: Vec<(PathBuf, Node)>,
    /// The plain directories holding them.
    containers: HashSet<PathBuf>,
}

impl Staging {
    /// Checks every staged entry against the snapshot (metadata and every chunk's hash), and
    /// that the staging directory holds nothing else.
    ///
    /// # Errors
    /// The first difference.
    pub fn verify(&self, repo: &FullRepo, unit: &RestoreUnit, stage: &Path) -> Result<()> {
        let _t = crate::timing::phase(format!("restore: verify {}", unit.path.display()));
        let expected: Vec<&(PathBuf, Node)> = self.staged.iter().collect();
        verify_entries(
            repo,
            &unit.path,
            stage,
            &expected,
            &HashSet::new(),
            Some(&self.containers),
        )
        .map(|_| ())
    }
}

/// Every entry of a live member, by path relative to it, with its metadata.
pub type Walked = HashMap<PathBuf, std::fs::Metadata>;

/// Walks the live members `lives` in order on a thread of its own, each result sent as soon as
/// it is ready (`None` for a member that is not a directory or cannot be read completely).
/// On a cold cache the walk waits on the disk while the trees are decoded on the CPU, so the
/// two overlap instead of adding up.
#[must_use]
pub fn prefetch(lives: Vec<PathBuf>) -> std::sync::mpsc::Receiver<Option<Walked>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for live in lives {
            let walked = std::fs::symlink_metadata(&live)
                .is_ok_and(|m| m.is_dir())
                .then(|| walk(&live))
                .flatten();
            if tx.send(walked).is_err() {
                break;
            }
        }
    });
    rx
}

/// Every entry under `dir` (not following symlinks), by path relative to it, with its
/// metadata; the top-level subtrees are walked in parallel on the I/O pool. `None` when any
/// entry cannot be read: a delta needs the whole live picture.
fn walk(dir: &Path) -> Option<Walked> {
    use rayon::prelude::*;
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .ok()?;
    let parts: Option<Vec<Vec<(PathBuf, std::fs::Metadata)>>> = crate::par::io(|| {
        children
            .par_iter()
            .map(|child| {
                walkdir::WalkDir::new(child)
                    .follow_root_links(false)
                    .into_iter()
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
    fn swappable(
        &self,
        live: &Path,
        entries: &HashMap<PathBuf, std::fs::Metadata>,
        tree: &UnitTree,
    ) -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let own_writable = |m: &std::fs::Metadata| m.uid() == uid && m.mode() & 0o300 == 0o300;
        let meta_of = |rel: &Path| {
            if rel.as_os_str().is_empty() {
                std::fs::symlink_metadata(live).ok()
            } else {
                entries.get(rel).cloned()
            }
        };
        let parents_ok = self
            .delta
            .put
            .iter()
            .chain(&self.delta.remove)
            .filter_map(|p| p.parent())
            .chain(self.delta.dirs.iter().map(|(p, _)| p.as_path()))
            .all(|dir| meta_of(dir).is_some_and(|m| own_writable(&m)));
        let moved_live_dirs_ok = self
            .delta
            .put
            .iter()
            .chain(&self.delta.remove)
            .filter_map(|p| entries.get(p))
            .filter(|m| m.is_dir())
            .all(own_writable);
        let put: HashSet<&PathBuf> = self.delta.put.iter().collect();
        let staged_dirs_ok = tree
            .entries
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
    use rayon::prelude::*;
    let mut put: Vec<PathBuf> = Vec::new();
    let mut touched: HashSet<PathBuf> = HashSet::new();
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
    // Files: metadata first, content proven by the newest snapshot or by hashing, on the pool.
    let differing: Vec<(PathBuf, bool, u64)> = crate::par::io(|| {
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
    // Live entries the target lacks, outside anything already moved as a whole (sorted, so a
    // directory comes before what is in it).
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
    // Every directory an entry moves into or out of gets the target's times back, as does
    // the member root (the swap changes their mtime); deepest first.
    for p in put.iter().chain(&removed) {
        touched.insert(p.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    let listed: HashSet<PathBuf> = dirs.iter().map(|(p, _)| p.clone()).collect();
    for (path, node) in &tree.entries {
        if node.is_dir() && touched.contains(path) && !listed.contains(path) {
            dirs.push((path.clone(), node.clone()));
        }
    }
    dirs.push((PathBuf::new(), tree.node.clone()));
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    put.sort();
    Plan {
        delta: Delta {
            put,
            remove: removed,
            dirs,
        },
        kept_files,
        kept_bytes,
    }
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
