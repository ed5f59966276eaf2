//! Restore: a snapshot of the set into a scratch root, or in place onto the live host.
//!
//! 1. **The sync rule** ([`check_rules`], this file) runs first, for every target: a snapshot
//!    without a manifest or not verified consistent is refused without `--force`; a partial
//!    restore (`--only ROLE…`) is refused when, for the package groups involved, the snapshot's
//!    inventory differs from the live one — restoring product files without IM (or IM without
//!    the products) from another fix-pack level is the case HCL calls *not recoverable*. The IM
//!    roles count as one unit. `--force-desync` overrides after the live set is snapshotted
//!    ([`snapshot_before_forced`]).
//! 2. **Into a scratch root** ([`restore_to_target`], this file; `--target DIR`, empty or new):
//!    every selected member lands under DIR at its logical path, exactly.
//! 3. **In place, planned** ([`plan`], `in_place.rs`): the units
//!    ([`in_place_units`]), what proves live files unchanged, and per unit a difference
//!    ([`delta`]) or a whole copy; counts, bytes and space. A dry run stops here.
//! 4. **In place, executed** ([`execute`]): every unit staged beside its live path (same
//!    filesystem; a mount point inside itself), verified against the snapshot ([`verify`], the
//!    verifier drills use too), and only then swapped in with renames recorded in the
//!    [`journal`]. A crash leaves the old or the new set; `lockstep recover` finishes or rolls
//!    back. Nothing outside the members' paths is written, except missing parent directories of
//!    a member that no longer exists.
//! 5. **Owners** ([`MissingOwner`], `owners.rs`): owners are restored by number; those with no
//!    account on this host are named.
//!
//! The fast rollback (the default when the set has a consistent snapshot to prove live files
//! by) stages only the entries that differ and swaps them in one by one under the same
//! journal; unchanged files stay where they are. Where a difference cannot be planned safely,
//! unchanged files are hard-linked into a whole staging copy instead. `--full` and
//! `--keep-replaced` restore every byte into whole copies.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use rustic_core::repofile::{Node, NodeType};
use rustic_core::{IndexedFullStatus, LocalDestination, Repository, RestoreOptions};
use serde::Serialize;

pub mod delta;
mod in_place;
pub mod journal;
mod owners;
pub mod proof;
pub mod verify;

pub use in_place::{
    InPlace, InPlacePlan, Method, Prepared, SpaceNeed, UnitPlan, execute, plan, restore_in_place,
};
pub use owners::{Kind as OwnerKind, MissingOwner, describe as describe_missing_owner};

use crate::config::is_root;
use crate::host::root::{HostRoot, clean};
use crate::host::set::SyncSet;
use crate::host::set::{Member, Role};
use crate::im::defaults::Mode;
use crate::im::discover::Instance;
use crate::im::drift::InventoryDiff;
use crate::im::inventory::Inventory;
use crate::ops::preflight::{PreflightOptions, preflight};
use crate::repo::manifest::{Manifest, Verdict};
use crate::repo::tree::posix_perm;
use crate::repo::{OpenRepo, SetSnapshot};
use crate::{Error, Result};

/// The repository with its full index loaded, as a restore needs it.
pub(crate) type FullRepo = Repository<IndexedFullStatus>;

/// What a restore restores, keeps and removes — of one tree, one unit or the whole set: the one
/// counting type of restores (the engine's passes, a difference, a whole copy, a plan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Regular files restored from the repository.
    pub files: u64,
    /// Directories restored from the repository.
    pub dirs: u64,
    /// Bytes read from the repository.
    pub bytes: u64,
    /// Live files kept as they are because they already hold the target's content and
    /// metadata.
    pub carried_files: u64,
    /// Their bytes.
    pub carried_bytes: u64,
    /// Live entries moved aside because the target lacks them (a difference).
    pub removed: u64,
}

impl Counts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Counts) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.bytes += other.bytes;
        self.carried_files += other.carried_files;
        self.carried_bytes += other.carried_bytes;
        self.removed += other.removed;
    }
}

/// Which members to restore and how far the guard may be overridden.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only members of these roles (`--only`); `None` is the whole set.
    pub only: Option<Vec<Role>>,
    /// Accept a snapshot without a manifest or not verified consistent (`--force`).
    pub force: bool,
    /// Accept a partial restore that desyncs IM and the products (`--force-desync`).
    pub force_desync: bool,
}

/// What the guard decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncDecision {
    /// The inventory difference between the live host and the snapshot (what a restore changes).
    pub diff: Option<InventoryDiff>,
    /// The partial restore desyncs IM and products and goes ahead only because of
    /// `--force-desync`: the caller must snapshot the live set first.
    pub forced_desync: bool,
}

/// The sync guard. `live` is the live inventory (`None` when IM's live records cannot be read).
///
/// # Errors
/// Refused (exit 3) with the reason and, for a desync, the inventory differences.
pub fn check_rules(
    snap: &SetSnapshot,
    live: Option<&Inventory>,
    sel: &Selection,
) -> Result<SyncDecision> {
    let short = crate::util::report::short(&snap.id()).to_owned();
    let Some(manifest) = &snap.manifest else {
        if sel.force {
            return Ok(SyncDecision::default());
        }
        return Err(Error::Refused(format!(
            "snapshot {short} has no lockstep manifest, so lockstep cannot tell which set it holds; restore it with restic, or pass --force"
        )));
    };
    if manifest.consistency.verdict != Verdict::Consistent && !sel.force {
        return Err(Error::Refused(format!(
            "snapshot {short} was not verified consistent (its backup was interrupted or IM changed during it); choose another snapshot, or pass --force"
        )));
    }
    let diff = live.map(|l| InventoryDiff::between(l, &manifest.inventory));
    let Some(only) = &sel.only else {
        return Ok(SyncDecision {
            diff,
            forced_desync: false,
        });
    };
    let im_selected = only.iter().any(|r| r.is_im());
    let involved: Vec<String> = if im_selected || only.contains(&Role::Extra) {
        // IM's records cover every package group, and profiles belong to all of them.
        manifest
            .inventory
            .package_groups
            .iter()
            .map(|g| g.path.clone())
            .collect()
    } else {
        manifest
            .members
            .iter()
            .filter(|m| m.role == Role::Product && only.contains(&m.role))
            .map(|m| m.path.display().to_string())
            .collect()
    };
    let reason = match &diff {
        None => Some(
            "the live host's IM records cannot be read, so lockstep cannot prove the parts would match"
                .to_owned(),
        ),
        Some(d) => {
            let groups_differ = d
                .changed_group_paths()
                .iter()
                .any(|p| involved.contains(p));
            let im_differs =
                im_selected && (d.im_version.is_some() || d.shared_location.is_some());
            (groups_differ || im_differs).then(|| d.lines().join("; "))
        }
    };
    match reason {
        None => Ok(SyncDecision {
            diff,
            forced_desync: false,
        }),
        Some(_) if sel.force_desync => Ok(SyncDecision {
            diff,
            forced_desync: true,
        }),
        Some(reason) => Err(Error::Refused(format!(
            "restoring only {} from snapshot {short} would put IM and the products out of sync ({reason}); restore the whole set, or override with --force-desync (lockstep snapshots the live set first)",
            only.iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ))),
    }
}

/// One member (or member subtree) to restore, by logical path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreUnit {
    /// The role of the member.
    pub role: Role,
    /// The logical path the data lives at (symlinks resolved at backup time).
    pub path: PathBuf,
    /// Whether it is a single file (the registry).
    pub is_file: bool,
}

/// The units a selection restores: the top-level data paths of the selected members.
///
/// # Errors
/// When a member path in the manifest is not a clean absolute path (a crafted or damaged
/// manifest is never trusted to point elsewhere).
pub fn units(manifest: &Manifest, only: Option<&[Role]>) -> Result<Vec<RestoreUnit>> {
    let selected: Vec<&Member> = manifest
        .members
        .iter()
        .filter(|m| m.exists && only.is_none_or(|o| o.contains(&m.role)))
        .collect();
    let mut out: Vec<RestoreUnit> = Vec::new();
    let mut paths: Vec<(PathBuf, &Member)> = selected
        .iter()
        .map(|m| match clean(m.data_path()) {
            Ok(p) => Ok((p, *m)),
            Err(e) => Err(Error::Refused(format!(
                "the snapshot's manifest names a member path lockstep will not write to ({e}); nothing was restored"
            ))),
        })
        .collect::<Result<_>>()?;
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, m) in paths {
        if out.iter().any(|u| path.starts_with(&u.path)) {
            continue;
        }
        out.push(RestoreUnit {
            role: m.role,
            path,
            is_file: m.is_file,
        });
    }
    Ok(out)
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The snapshot restored.
    pub snapshot: String,
    /// Where it was restored (`/` for in place).
    pub target: PathBuf,
    /// The units restored.
    pub units: Vec<RestoreUnit>,
    /// Regular files written.
    pub files: u64,
    /// Directories created.
    pub dirs: u64,
    /// Bytes written from the repository.
    pub bytes: u64,
    /// Live files kept as they are because they already hold the target's content and metadata
    /// (fast rollback, in place): left untouched, or hard-linked into a whole staging copy.
    #[serde(default)]
    pub carried_files: u64,
    /// Their bytes.
    #[serde(default)]
    pub carried_bytes: u64,
    /// In place: live entries moved aside because the snapshot lacks them (a rollback by
    /// difference; a whole copy replaces the member instead).
    #[serde(default)]
    pub removed: u64,
    /// Owners (uid/gid) of restored entries with no account on this host (a rebuilt host whose
    /// accounts are not created yet); only when owners are restored.
    #[serde(default)]
    pub missing_owners: Vec<MissingOwner>,
    /// Whether owners were restored (numeric uid/gid) — only when running as root; otherwise the
    /// files belong to the user who ran the restore.
    pub ownership_restored: bool,
    /// Replaced live copies kept (`--keep-replaced`).
    pub kept_replaced: Vec<PathBuf>,
    /// In place: the replaced copies are being removed by a background lockstep process (the
    /// new set is already in place; every lockstep command waits for that to end).
    #[serde(default)]
    pub cleanup_in_background: bool,
    /// In place: the snapshot the live set was proven to be exactly (its recorded state digest),
    /// so only the two snapshots' trees were compared and no live file was read.
    #[serde(default)]
    pub live_was: Option<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The units an in-place restore of `snap` replaces (`only`: of these roles), once what it
/// needs holds: the snapshot's manifest (where each member belongs), and a live set that can
/// be replaced — nothing running from it, not even from a profile the snapshot does not hold
/// (`live`, the live instance, when it can be discovered).
///
/// # Errors
/// Refused without a manifest or when the live set cannot be replaced now (the first reason).
pub fn in_place_units(
    host: &HostRoot,
    snap: &SetSnapshot,
    live: Option<&Instance>,
    only: Option<&[Role]>,
) -> Result<Vec<RestoreUnit>> {
    let manifest = snap.manifest.as_ref().ok_or_else(|| {
        Error::Refused(
            "an in-place restore needs a lockstep manifest to know where each member belongs; restore with --target instead".into(),
        )
    })?;
    if let Some(first) = preflight_in_place_live(host, manifest, live).first() {
        return Err(Error::Refused(format!("{first}; nothing was restored")));
    }
    units(manifest, only)
}

/// Before a restore that `--force-desync` lets put IM and the products out of sync: the live
/// set (`live`) is snapshotted first, labelled `before-forced-restore`, so the restore can be
/// undone; members it lacks do not stop that snapshot. Returns its id.
///
/// # Errors
/// Refused when the live set cannot be discovered; an error when its backup fails (nothing
/// was restored).
pub fn snapshot_before_forced(
    repo: OpenRepo,
    host: &HostRoot,
    live: Option<&Instance>,
    discover: crate::im::discover::DiscoverOptions,
    host_name: String,
) -> Result<String> {
    let Some(live) = live else {
        return Err(Error::Refused(
            "--force-desync needs a snapshot of the live set first, but the live set cannot be discovered; restore the whole set instead".into(),
        ));
    };
    let mut req = crate::ops::backup::BackupRequest::new(host, live, discover, host_name);
    req.label = Some("before-forced-restore".into());
    req.preflight.allow_missing = Role::ALL.to_vec();
    let outcome = crate::ops::backup::backup(repo, &req).map_err(|f| {
        Error::Other(format!(
            "the live set could not be snapshotted before the forced restore ({}); nothing was restored",
            f.error
        ))
    })?;
    Ok(outcome.snapshot)
}

/// Checks that `target` is absent or an empty directory.
///
/// # Errors
/// Refused when it holds anything, or is not a directory.
pub fn check_empty_target(target: &Path) -> Result<()> {
    match std::fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Refused(format!(
                    "restore target {} is not empty; lockstep never restores over existing files: give an empty or new directory",
                    target.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Refused(format!(
            "restore target {} cannot be used: {e}; give an empty or new directory",
            target.display()
        ))),
    }
}

fn restore_options() -> RestoreOptions {
    let mut opts = RestoreOptions::default();
    if is_root() {
        opts.numeric_id = true;
    } else {
        opts.no_ownership = true;
    }
    opts
}

/// Restores the selected units under `target` (the whole snapshot tree, with the parents' own
/// metadata, when nothing is deselected).
///
/// # Errors
/// Refused for a non-empty target; an error when the repository or the target fails. The
/// directories this call created (the target, missing parents) are removed again after a
/// failure while they are empty; what was restored before a failure stays (see
/// [`left_behind`]).
pub fn restore_to_target(
    repo: OpenRepo,
    snap: &SetSnapshot,
    target: &Path,
    only: Option<&[Role]>,
) -> Result<RestoreReport> {
    let _step = crate::repo::progress::step("restore");
    check_empty_target(target)?;
    let start = Instant::now();
    // the directories this call creates (the target and any missing parents), deepest first
    let created: Vec<&Path> = target
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && std::fs::symlink_metadata(dir).is_err())
        .collect();
    let selected = match (&snap.manifest, only) {
        (Some(m), Some(only)) => Some(units(m, Some(only))?),
        _ => None,
    };
    let mut owners = owners::Owners::default();
    let restored = || -> Result<Counts> {
        let repo = repo.to_indexed()?;
        std::fs::create_dir_all(target).map_err(|e| Error::io("cannot create", target, e))?;
        let Some(list) = &selected else {
            return restore_whole(&repo, snap, target, &mut owners);
        };
        let mut counts = Counts::default();
        for unit in list {
            let dest = target.join(unit.path.strip_prefix("/").unwrap_or(&unit.path));
            let tree = UnitTree::load(&repo, snap, unit)?;
            owners.note(&unit.path, &tree.node);
            owners.note_tree(&unit.path, &tree.entries);
            counts.add(&restore_unit(&repo, &tree, unit, &dest, None)?.0);
        }
        Ok(counts)
    };
    let Counts {
        files, dirs, bytes, ..
    } = restored()
        .map_err(|e| disk_full(&e, target, &HostRoot::default()).unwrap_or(e))
        .inspect_err(|_| {
            for dir in &created {
                // remove_dir removes only an empty directory: nothing the restore wrote can go
                if std::fs::remove_dir(dir).is_err() {
                    break;
                }
            }
        })?;
    if let Some(manifest) = &snap.manifest {
        recreate_links(manifest, only, target)?;
    }
    Ok(RestoreReport {
        snapshot: snap.id(),
        target: target.to_path_buf(),
        units: selected.unwrap_or_default(),
        files,
        dirs,
        bytes,
        carried_files: 0,
        carried_bytes: 0,
        removed: 0,
        missing_owners: if is_root() {
            owners.missing()
        } else {
            Vec::new()
        },
        ownership_restored: is_root(),
        kept_replaced: Vec::new(),
        cleanup_in_background: false,
        live_was: None,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The error of a failed `restore --target` into `target`, which was empty or absent before it:
/// unchanged when the target is still empty or gone ([`restore_to_target`] removes a directory
/// it created while that is empty), otherwise naming the incomplete copy there. That copy is
/// kept — it may hold what a damaged repository can no longer give — and named, so nobody
/// mistakes it for a restored set.
#[must_use]
pub fn left_behind(error: Error, target: &Path) -> Error {
    let empty = std::fs::read_dir(target).map_or(true, |mut entries| entries.next().is_none());
    if empty {
        return error;
    }
    let message = format!(
        "{error}; {} holds an incomplete restore, kept as it is: remove it or give another --target before restoring again",
        target.display()
    );
    match error {
        Error::Refused(_) => Error::Refused(message),
        _ => Error::Other(message),
    }
}

/// Recreates, under `root` (the target, or the host's root in place), the path IM records for
/// each selected member whose data lived elsewhere (a symlink to a relocated disk: the
/// manifest's `path` and `resolved`): a link at `path` to the absolute logical `resolved`, which
/// resolves inside `root` as it did on the host. The snapshot holds the data at `resolved`;
/// without the link the restored host lacks the path IM records. Only a path with nothing at
/// it is created, and never through a link already in `root` (that could lead outside it).
/// Returns the links made (logical paths).
///
/// # Errors
/// When a directory above a link or the link itself cannot be created.
pub fn recreate_links(
    manifest: &Manifest,
    only: Option<&[Role]>,
    root: &Path,
) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for m in manifest
        .members
        .iter()
        .filter(|m| m.exists && only.is_none_or(|o| o.contains(&m.role)))
    {
        let (Some(resolved), Ok(path)) = (m.resolved.as_ref(), clean(&m.path)) else {
            continue;
        };
        let Ok(resolved) = clean(resolved) else {
            continue;
        };
        if resolved == path || made.contains(&path) {
            continue;
        }
        let dest = root.join(rel(&path));
        if std::fs::symlink_metadata(&dest).is_ok() {
            continue;
        }
        // Every directory above the link must be a real directory inside `root`.
        let mut dir = root.to_path_buf();
        let mut safe = true;
        let above = path.parent().map(|p| p.components().skip(1));
        for part in above.into_iter().flatten() {
            dir.push(part);
            match std::fs::symlink_metadata(&dir) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    safe = false;
                    break;
                }
                Err(_) => {
                    std::fs::create_dir(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
                }
            }
        }
        if !safe {
            continue;
        }
        std::os::unix::fs::symlink(&resolved, &dest)
            .map_err(|e| Error::io("cannot create the symlink", &dest, e))?;
        made.push(path);
    }
    Ok(made)
}

/// Restores the whole of `snap` into the empty directory `target`, one member at a time: each
/// member directory is listed and restored on its own, then the rest of the tree (the
/// directories above the members, file members, anything else the snapshot holds) with the
/// members' contents left out, so the directories' metadata is set after everything in them is
/// written. Only one member's listing is held at a time: the whole set's listing was a large share
/// of a restore's memory (figures: bench/FINDINGS.md, F12). A snapshot without a manifest is
/// restored
/// in one piece.
fn restore_whole(
    repo: &FullRepo,
    snap: &SetSnapshot,
    target: &Path,
    owners: &mut owners::Owners,
) -> Result<Counts> {
    let members: Vec<RestoreUnit> = match &snap.manifest {
        Some(m) => units(m, None)?.into_iter().filter(|u| !u.is_file).collect(),
        None => Vec::new(),
    };
    let mut counts = Counts::default();
    let mut split: HashSet<PathBuf> = HashSet::new();
    // One bar for the whole set, not one per member and pass.
    let total = snap
        .snapshot
        .summary
        .as_ref()
        .map_or(0, |s| s.total_bytes_processed);
    let _bar = crate::repo::progress::run_bytes(repo, "restoring file contents...", total);
    for unit in &members {
        let node = repo.node_from_snapshot_and_path(&snap.snapshot, &rel(&unit.path))?;
        if !node.is_dir() {
            // not a directory in this snapshot: restored with the rest of the tree
            continue;
        }
        let relative = PathBuf::from(rel(&unit.path));
        stays_inside(&relative)?;
        let dest = target.join(&relative);
        std::fs::create_dir_all(&dest).map_err(|e| Error::io("cannot create", &dest, e))?;
        counts.add(&restore_member(repo, &node, &unit.path, &dest, owners)?);
        split.insert(relative);
    }
    let root = repo.node_from_snapshot_and_path(&snap.snapshot, "")?;
    let rest = list_skipping(repo, &root, &|path, _| split.contains(path))?;
    owners.note_tree(Path::new("/"), &rest);
    counts.add(&restore_tree(repo, &rest, target, &HashSet::new())?);
    Ok(counts)
}

/// Restores the member directory `node` (logical path `path`) into `dest`, which exists: each
/// directory directly in it is listed and restored on its own, then the member's own entries
/// (those directories' nodes among them, so their metadata is set after their contents) with
/// the files hard-linked anywhere in the member, so the engine links them. Only one
/// directory's listing is held at a time: a whole member's was most of a restore's memory at
/// a large host's scale (322,000 entries, 116 MiB of listing for the largest; figures:
/// bench/FINDINGS.md, F31).
fn restore_member(
    repo: &FullRepo,
    node: &Node,
    path: &Path,
    dest: &Path,
    owners: &mut owners::Owners,
) -> Result<Counts> {
    let mut counts = Counts::default();
    let Some(id) = node.subtree else {
        return Ok(counts);
    };
    let mut inner: HashSet<PathBuf> = HashSet::new();
    let mut linked: Vec<(PathBuf, Node)> = Vec::new();
    for child in repo.get_tree(&id)?.nodes.iter().filter(|n| n.is_dir()) {
        let name = PathBuf::from(child.name().into_owned());
        stays_inside(&name)?;
        let child_dest = dest.join(&name);
        if child_dest.to_str().is_none() {
            // The engine takes only a UTF-8 destination: a directory whose name is not is
            // restored with the member's own entries, under the member's destination.
            continue;
        }
        std::fs::create_dir_all(&child_dest)
            .map_err(|e| Error::io("cannot create", &child_dest, e))?;
        let (mut entries, links): (Vec<_>, Vec<_>) = list(repo, child)?
            .into_iter()
            .partition(|(_, n)| n.node_type != NodeType::File || n.meta.links <= 1);
        owners.note_tree(&path.join(&name), &entries);
        counts.add(&restore_tree(repo, &entries, &child_dest, &HashSet::new())?);
        // The directories holding a hard-linked file get their metadata again after it is
        // written, with the member's own entries.
        let holding: HashSet<&Path> = links.iter().filter_map(|(p, _)| p.parent()).collect();
        entries.retain(|(p, n)| n.is_dir() && holding.contains(p.as_path()));
        linked.extend(
            entries
                .into_iter()
                .chain(links)
                .map(|(p, n)| (name.join(p), n)),
        );
        inner.insert(name);
    }
    let mut entries = list_skipping(repo, node, &|p, _| inner.contains(p))?;
    owners.note_tree(path, &entries);
    // (the linked files' directories are counted once, with their own listing)
    let again: HashSet<PathBuf> = linked
        .iter()
        .filter(|(_, n)| n.is_dir())
        .map(|(p, _)| p.clone())
        .collect();
    owners.note_tree(path, linked.iter().filter(|(_, n)| !n.is_dir()));
    entries.extend(linked);
    let mut member = restore_tree(repo, &entries, dest, &HashSet::new())?;
    member.dirs = member.dirs.saturating_sub(again.len() as u64);
    counts.add(&member);
    Ok(counts)
}

/// Most file content one engine pass restores. rustic_core's restorer keeps what it has read
/// until it is written, so its memory grows with the size of a pass; passes of this size keep a
/// restore's memory flat, whatever the size of the set (figures: bench/FINDINGS.md, F5).
const PASS_BYTES: u64 = 128 << 20;

/// Restores `entries` (a tree listed by [`list`]) into directory `dest`; returns (files, dirs,
/// bytes). Entries in `skip` (paths relative to the tree) are left to the caller (already in
/// place).
///
/// The engine runs in passes: first the tree's structure (directories, symlinks, special
/// files), then the files in batches of at most [`PASS_BYTES`] (hard-linked files together, so
/// their links are made), and last the directories again, so their times are the snapshot's
/// after their files were written.
pub(crate) fn restore_tree(
    repo: &FullRepo,
    entries: &[(PathBuf, Node)],
    dest: &Path,
    skip: &HashSet<PathBuf>,
) -> Result<Counts> {
    let dest_str = dest.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "restore path {} is not valid UTF-8; choose another path",
            dest.display()
        ))
    })?;
    let destination = LocalDestination::new(dest_str, true, false)?;
    let opts = restore_options();

    let wanted = entries.iter().filter(|(path, _)| !skip.contains(path));
    let (files, structure): (Vec<_>, Vec<_>) =
        wanted.partition(|(_, node)| node.node_type == NodeType::File);
    let (linked, single): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|(_, node)| node.meta.links > 1);
    let mut passes: Vec<Vec<&(PathBuf, Node)>> = vec![structure.clone()];
    let mut batch: Vec<&(PathBuf, Node)> = Vec::new();
    let mut batch_bytes = 0;
    for file in single {
        if !batch.is_empty() && batch_bytes + file.1.meta.size > PASS_BYTES {
            passes.push(std::mem::take(&mut batch));
            batch_bytes = 0;
        }
        batch_bytes += file.1.meta.size;
        batch.push(file);
    }
    batch.extend(linked);
    if !batch.is_empty() {
        passes.push(batch);
    }
    if passes.len() > 1 {
        passes.push(
            structure
                .iter()
                .copied()
                .filter(|(_, node)| node.is_dir())
                .collect(),
        );
    }

    // What this call restores, counted from the listing: the engine's own counts leave out a
    // file's second hard link and a directory that already exists (the member's root, or one
    // a staging step created).
    let count = |kind: NodeType| {
        let restored = entries.iter().filter(|(path, _)| !skip.contains(path));
        restored.filter(|(_, n)| n.node_type == kind).count() as u64
    };
    let (files, dirs) = (count(NodeType::File), count(NodeType::Dir));
    let mut bytes = 0;
    for pass in &passes {
        if pass.is_empty() {
            continue;
        }
        let nodes = || {
            pass.iter()
                .map(|(path, node)| rustic_core::RusticResult::Ok((path.clone(), node.clone())))
        };
        let plan = repo
            .prepare_restore(&opts, nodes(), &destination, false)
            .map_err(|e| written(e, dest))?;
        bytes += plan.restore_size;
        crate::repo::contain::engine("writing the restored files", "", || {
            repo.restore(plan, &opts, nodes(), &destination)
                .map_err(|e| written(e, dest))
        })?;
        crate::util::par::release_free_memory();
    }
    Ok(Counts {
        files,
        dirs,
        bytes,
        ..Counts::default()
    })
}

/// The bytes restoring the regular files among `files` reads from the repository: a file
/// hard-linked within them (same device and inode in the snapshot) is written once and linked,
/// as the engine does.
pub(crate) fn content_bytes<'a>(files: impl IntoIterator<Item = &'a Node>) -> u64 {
    let mut linked = HashSet::new();
    files
        .into_iter()
        .filter(|n| n.node_type == NodeType::File)
        .filter(|n| {
            n.meta.links <= 1
                || n.meta.device_id == 0
                || n.meta.inode == 0
                || linked.insert((n.meta.device_id, n.meta.inode))
        })
        .map(|n| n.meta.size)
        .sum()
}

/// Every entry under directory `node`, recursively, in the engine's order (paths relative to
/// `node`), each checked to stay inside its destination. Listed once per restore and reused:
/// decoding the trees is a good part of a restore's CPU time, so the subtrees are decoded in
/// parallel on the I/O pool (the engine's own listing decodes one tree at a time).
pub(crate) fn list(repo: &FullRepo, node: &Node) -> Result<Vec<(PathBuf, Node)>> {
    list_skipping(repo, node, &|_, _| false)
}

/// [`list`], leaving out what is under the subtrees for which `skip(path, subtree id)` holds
/// (those directories' own nodes are still listed).
pub(crate) fn list_skipping(
    repo: &FullRepo,
    node: &Node,
    skip: &(dyn Fn(&Path, &rustic_core::TreeId) -> bool + Sync),
) -> Result<Vec<(PathBuf, Node)>> {
    let Some(id) = node.subtree else {
        return Ok(Vec::new());
    };
    let decoded = crate::util::par::io(|| decode(repo, id, skip))?;
    let mut out = Vec::with_capacity(decoded.len());
    flatten(decoded, Path::new(""), &mut out)?;
    Ok(out)
}

/// A decoded tree: each node with, for a directory, its own decoded tree (`None` when the
/// directory has no subtree or was left out).
pub(crate) struct Decoded(Vec<(Node, Option<Decoded>)>);

impl Decoded {
    /// How many entries [`flatten`] gives: a listing is reserved at its exact size, because a
    /// doubling vector of a whole member's entries wastes up to half of it (figures:
    /// bench/FINDINGS.md, F12).
    pub(crate) fn len(&self) -> usize {
        self.0
            .iter()
            .map(|(_, sub)| 1 + sub.as_ref().map_or(0, Decoded::len))
            .sum()
    }
}

/// Decodes tree `id` and its subtrees in parallel, leaving out the subtrees for which
/// `skip(path, subtree id)` holds (paths relative to the tree decoded first).
pub(crate) fn decode(
    repo: &FullRepo,
    id: rustic_core::TreeId,
    skip: &(dyn Fn(&Path, &rustic_core::TreeId) -> bool + Sync),
) -> Result<Decoded> {
    decode_at(repo, id, Path::new(""), skip)
}

fn decode_at(
    repo: &FullRepo,
    id: rustic_core::TreeId,
    prefix: &Path,
    skip: &(dyn Fn(&Path, &rustic_core::TreeId) -> bool + Sync),
) -> Result<Decoded> {
    use rayon::prelude::*;
    let tree = repo.get_tree(&id)?;
    let subs: Vec<Option<Result<Decoded>>> = tree
        .nodes
        .par_iter()
        .map(|n| {
            let sub = n.subtree?;
            let path = prefix.join(n.name());
            (!skip(&path, &sub)).then(|| decode_at(repo, sub, &path, skip))
        })
        .collect();
    tree.nodes
        .into_iter()
        .zip(subs)
        .map(|(n, sub)| Ok((n, sub.transpose()?)))
        .collect::<Result<Vec<_>>>()
        .map(Decoded)
}

/// Appends every entry of `decoded` to `out` in the engine's order (a directory, then what is
/// in it), with paths under `prefix`, each checked to stay inside its destination.
pub(crate) fn flatten(
    decoded: Decoded,
    prefix: &Path,
    out: &mut Vec<(PathBuf, Node)>,
) -> Result<()> {
    for (node, sub) in decoded.0 {
        let path = prefix.join(node.name());
        stays_inside(&path)?;
        out.push((path.clone(), node));
        if let Some(sub) = sub {
            flatten(sub, &path, out)?;
        }
    }
    Ok(())
}

/// A unit's node in the snapshot and, for a directory, everything under it.
pub struct UnitTree {
    /// The unit's own node.
    pub node: Node,
    /// Everything under it (empty for a file), as [`list`] gives it.
    pub entries: Vec<(PathBuf, Node)>,
}

impl UnitTree {
    /// Loads `unit`'s tree from `snap`.
    ///
    /// # Errors
    /// When the snapshot lacks the unit or the repository fails.
    pub fn load(repo: &FullRepo, snap: &SetSnapshot, unit: &RestoreUnit) -> Result<Self> {
        let node = repo.node_from_snapshot_and_path(&snap.snapshot, &rel(&unit.path))?;
        let entries = if node.is_dir() {
            list(repo, &node)?
        } else {
            Vec::new()
        };
        Ok(Self { node, entries })
    }
}

/// Every path of a snapshot must stay inside the destination: no `..`, no absolute components.
pub(crate) fn stays_inside(path: &Path) -> Result<()> {
    if path.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "the snapshot contains the path '{}', which would leave the restore target; nothing was restored",
            path.display()
        )))
    }
}

/// The snapshot-relative path of a logical path.
pub(crate) fn rel(path: &Path) -> String {
    path.strip_prefix("/")
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Live files a whole-copy staging takes over instead of restoring them: hard-linked into the
/// staging copy (the fast rollback path where a delta cannot be planned), with their bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Carried {
    /// Paths relative to the unit.
    pub(crate) paths: HashSet<PathBuf>,
    /// Their bytes.
    pub(crate) bytes: u64,
}

/// Restores one unit into `dest` (which must not exist), with the unit root's own metadata.
/// With `carry` (the live member and the files of it planned to be carried over), those files
/// are hard-linked instead of restored; a file whose link fails is restored from the
/// repository instead. Returns the files, directories and bytes restored and what was carried.
pub(crate) fn restore_unit(
    repo: &FullRepo,
    tree: &UnitTree,
    unit: &RestoreUnit,
    dest: &Path,
    carry: Option<(&Path, &Carried)>,
) -> Result<(Counts, Carried)> {
    let node = &tree.node;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    let mut carried = Carried::default();
    let stats = match &node.node_type {
        NodeType::Dir => {
            if let Some((live, planned)) = carry {
                let _t =
                    crate::util::timing::phase(format!("restore: carry {}", unit.path.display()));
                carried = link_carried(live, &tree.entries, planned, dest)?;
            }
            let _t = crate::util::timing::phase(format!("restore: engine {}", unit.path.display()));
            restore_tree(repo, &tree.entries, dest, &carried.paths)?
        }
        NodeType::File => {
            let mut file =
                std::fs::File::create(dest).map_err(|e| Error::io("cannot create", dest, e))?;
            repo.dump(node, &mut file)?;
            file.sync_all()
                .map_err(|e| Error::io("cannot write", dest, e))?;
            Counts {
                files: 1,
                bytes: node.meta.size,
                ..Counts::default()
            }
        }
        other => {
            return Err(Error::Other(format!(
                "{} is a {other} in the snapshot, not a directory or file; restore it with --target and copy it by hand",
                unit.path.display()
            )));
        }
    };
    apply_metadata(dest, node)?;
    Ok((stats, carried))
}

/// Creates the staging tree's directories in `dest` (the engine gives them their metadata
/// afterwards) and hard-links each `planned` file of the live member `live` into it, on the
/// I/O pool. Returns what was linked: a file whose link fails is left to the engine.
fn link_carried(
    live: &Path,
    entries: &[(PathBuf, Node)],
    planned: &Carried,
    dest: &Path,
) -> Result<Carried> {
    use rayon::prelude::*;
    std::fs::create_dir_all(dest).map_err(|e| Error::io("cannot create", dest, e))?;
    let mut files = Vec::new();
    for (path, node) in entries {
        if node.is_dir() {
            let staged = dest.join(path);
            std::fs::create_dir_all(&staged).map_err(|e| Error::io("cannot create", &staged, e))?;
        } else if planned.paths.contains(path) {
            files.push((path, node.meta.size));
        }
    }
    let linked: Vec<(PathBuf, u64)> = crate::util::par::io(|| {
        files
            .into_par_iter()
            .filter_map(|(path, size)| {
                std::fs::hard_link(live.join(path), dest.join(path))
                    .ok()
                    .map(|()| (path.clone(), size))
            })
            .collect()
    });
    let mut out = Carried::default();
    for (path, size) in linked {
        out.bytes += size;
        out.paths.insert(path);
    }
    Ok(out)
}

/// The files of the target tree `entries` that the live member `live` holds exactly: same
/// size, mtime, mode, owner and extended attributes, one link, and content proven equal — by
/// the file being unchanged since the newest snapshot (`newest`: its node for the member; same
/// inode and ctime) whose content is the target's, or else by reading it and comparing every
/// chunk's hash. Unsure means restore. Nothing is written.
///
/// The live files are examined on the I/O pool ([`crate::util::par`]): on a cold cache the stat
/// calls wait on the disk, and many in flight finish far sooner than one at a time.
pub(crate) fn plan_carry(
    repo: &FullRepo,
    entries: &[(PathBuf, Node)],
    live: &Path,
    newest: Option<&Node>,
) -> Result<Carried> {
    use rayon::prelude::*;
    let mut newest_files: HashMap<PathBuf, Node> = HashMap::new();
    if let Some(n) = newest.filter(|n| n.is_dir()) {
        newest_files.extend(
            list(repo, n)?
                .into_iter()
                .filter(|(_, node)| node.node_type == NodeType::File),
        );
    }
    let files: Vec<(&PathBuf, &Node)> = entries
        .iter()
        .filter(|(_, n)| n.node_type == NodeType::File && n.meta.links <= 1)
        .map(|(p, n)| (p, n))
        .collect();
    let carried: Vec<(PathBuf, u64)> = crate::util::par::io(|| {
        files
            .into_par_iter()
            .filter_map(|(path, target)| {
                let at = live.join(path);
                let m = std::fs::symlink_metadata(&at).ok()?;
                same_as_target(repo, &at, &m, target, newest_files.get(path))
                    .then(|| (path.clone(), target.meta.size))
            })
            .collect()
    });
    let mut out = Carried::default();
    for (path, size) in carried {
        out.bytes += size;
        out.paths.insert(path);
    }
    Ok(out)
}

/// Whether the live file at `live` holds exactly the target node: metadata equal, and content
/// proven equal by `newest` (the newest snapshot's node for the same path, when the live file
/// is unchanged since then) or by hashing it.
pub(crate) fn same_as_target(
    repo: &FullRepo,
    live: &Path,
    m: &std::fs::Metadata,
    target: &Node,
    newest: Option<&Node>,
) -> bool {
    let same_meta = m.file_type().is_file()
        && m.nlink() == 1
        && m.size() == target.meta.size
        && target.meta.mtime.is_some_and(|t| {
            (t.as_second(), i64::from(t.subsec_nanosecond())) == (m.mtime(), m.mtime_nsec())
        })
        && target
            .meta
            .mode
            .is_none_or(|mode| posix_perm(mode) == m.mode() & 0o7777)
        && (!is_root() || (Some(m.uid()), Some(m.gid())) == (target.meta.uid, target.meta.gid))
        && live_xattrs(live) == xattrs_of(target);
    if !same_meta {
        return false;
    }
    let proven = newest.is_some_and(|old| {
        old.content == target.content
            && old.meta.inode == m.ino()
            && old.meta.ctime.is_some_and(|c| {
                (c.as_second(), i64::from(c.subsec_nanosecond())) == (m.ctime(), m.ctime_nsec())
            })
    });
    proven || verify::content(repo, target, live, None).is_ok()
}

/// The extended attributes of a live file, sorted like a node's.
pub(crate) fn live_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = names
        .filter_map(|n| {
            let value = xattr::get(path, &n).ok()??;
            Some((n.to_string_lossy().into_owned(), value))
        })
        .collect();
    out.sort();
    out
}

/// Gives an existing directory exactly the node's metadata: extended attributes the node lacks
/// are removed, then [`apply_metadata`].
///
/// # Errors
/// When the metadata cannot be changed.
pub(crate) fn set_dir_metadata(path: &Path, node: &Node) -> Result<()> {
    let wanted = xattrs_of(node);
    for (name, _) in live_xattrs(path) {
        if !wanted.iter().any(|(n, _)| *n == name) {
            xattr::remove(path, &name)
                .map_err(|e| Error::io("cannot remove extended attributes from", path, e))?;
        }
    }
    apply_metadata(path, node)
}

/// Applies a node's mode, owner (as root), extended attributes and times to `path`.
fn apply_metadata(path: &Path, node: &Node) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = &node.meta;
    if is_root() {
        std::os::unix::fs::lchown(path, meta.uid, meta.gid)
            .map_err(|e| Error::io("cannot set the owner of", path, e))?;
    }
    if let Some(mode) = meta.mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(posix_perm(mode)))
            .map_err(|e| Error::io("cannot set the mode of", path, e))?;
    }
    for (name, value) in xattrs_of(node) {
        xattr::set(path, &name, &value)
            .map_err(|e| Error::io("cannot set extended attributes on", path, e))?;
    }
    if let Some(mtime) = meta.mtime {
        let t = filetime::FileTime::from_unix_time(
            mtime.as_second(),
            mtime.subsec_nanosecond().unsigned_abs(),
        );
        let a = meta.atime.map_or(t, |a| {
            filetime::FileTime::from_unix_time(a.as_second(), a.subsec_nanosecond().unsigned_abs())
        });
        filetime::set_file_times(path, a, t)
            .map_err(|e| Error::io("cannot set the times of", path, e))?;
    }
    Ok(())
}

/// A node's extended attributes as (name, value) pairs (rustic_core does not export their type;
/// its serde form is name + base64 value).
pub(crate) fn xattrs_of(node: &Node) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let Ok(serde_json::Value::Array(list)) = serde_json::to_value(&node.meta.extended_attributes)
    else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = list
        .iter()
        .filter_map(|x| {
            let name = x.get("name")?.as_str()?.to_owned();
            let value = match x.get("value").and_then(|v| v.as_str()) {
                Some(v) => base64::engine::general_purpose::STANDARD.decode(v).ok()?,
                None => Vec::new(),
            };
            Some((name, value))
        })
        .collect();
    out.sort();
    out
}

/// Checks a staged copy against the snapshot: every entry's type, size, mode, owner (as root),
/// mtime, link target and — for files — every chunk's SHA-256; and no entry the snapshot lacks.
///
/// # Errors
/// The first difference found.
pub fn verify_unit(
    repo: &FullRepo,
    tree: &UnitTree,
    unit: &RestoreUnit,
    staged: &Path,
    proven: &HashSet<PathBuf>,
) -> Result<u64> {
    let root = [(PathBuf::new(), tree.node.clone())];
    let expected: Vec<&(PathBuf, Node)> = root.iter().chain(&tree.entries).collect();
    let containers = HashSet::new();
    verify_entries(
        repo,
        &unit.path,
        staged,
        &expected,
        proven,
        tree.node.is_dir().then_some(&containers),
    )
}

/// Checks `expected` entries (paths relative to `staged`, `""` being `staged` itself) as
/// [`verify_unit`] describes; with `extras`, every other entry under `staged` must be one of
/// those directories (plain containers), or it is an error.
pub(crate) fn verify_entries(
    repo: &FullRepo,
    unit_path: &Path,
    staged: &Path,
    expected: &[&(PathBuf, Node)],
    proven: &HashSet<PathBuf>,
    extras: Option<&HashSet<PathBuf>>,
) -> Result<u64> {
    let bad = |path: &Path, what: String| {
        Error::Other(format!(
            "the staged copy of {} does not match the snapshot at {}: {what}; the live set was not changed",
            unit_path.display(),
            unit_path.join(path).display()
        ))
    };
    let staged_path = |path: &Path| {
        if path.as_os_str().is_empty() {
            staged.to_path_buf()
        } else {
            staged.join(path)
        }
    };
    // Every entry on the I/O pool (stat calls and content hashing), the first difference wins.
    let checks = verify::Checks {
        owners: is_root(),
        content: true,
    };
    let check = |path: &Path, node: &Node| -> Result<u64> {
        let checks = verify::Checks {
            content: !proven.contains(path),
            ..checks
        };
        let (problems, _) = verify::entry(repo, node, &staged_path(path), checks, None);
        match problems.into_iter().next() {
            Some(what) => Err(bad(path, what)),
            None if node.node_type == NodeType::File => Ok(node.meta.size),
            None => Ok(0),
        }
    };
    let verified = crate::util::par::io(|| {
        use rayon::prelude::*;
        expected
            .par_iter()
            .map(|(path, node)| check(path, node))
            .try_reduce(|| 0, |a, b| Ok(a + b))
    })?;
    let seen: HashSet<PathBuf> = expected.iter().map(|(path, _)| staged_path(path)).collect();
    if let Some(containers) = extras {
        for entry in walkdir::WalkDir::new(staged).follow_root_links(false) {
            let entry = entry.map_err(|e| bad(Path::new(""), e.to_string()))?;
            let rel = entry.path().strip_prefix(staged).unwrap_or(entry.path());
            let container = entry.file_type().is_dir() && containers.contains(rel);
            if !container && !seen.contains(entry.path()) {
                return Err(bad(
                    entry.path().strip_prefix(staged).unwrap_or(entry.path()),
                    "not in the snapshot".into(),
                ));
            }
        }
    }
    Ok(verified)
}

/// Preflight for an in-place restore, over the snapshot's set: IM must not run, product servers
/// must be stopped. Returns the refusals (empty: go ahead).
#[must_use]
pub fn preflight_in_place(host: &HostRoot, manifest: &Manifest) -> Vec<String> {
    preflight_in_place_live(host, manifest, None)
}

/// [`preflight_in_place`] over the snapshot's set *and* the live set (`live`, as discovered now,
/// with `--extra`): a server runs from the live host, so a profile added since the backup (or
/// only given with `--extra`) is looked at as well as the members the restore writes.
#[must_use]
pub fn preflight_in_place_live(
    host: &HostRoot,
    manifest: &Manifest,
    live: Option<&Instance>,
) -> Vec<String> {
    let mut members = manifest.members.clone();
    for m in live.map(|i| i.set.members.as_slice()).unwrap_or_default() {
        if !members
            .iter()
            .any(|k| k.role == m.role && k.data_path() == m.data_path())
        {
            members.push(m.clone());
        }
    }
    let path_of = |role: Role| {
        manifest
            .members
            .iter()
            .find(|m| m.role == role)
            .map(|m| m.path.clone())
    };
    let instance = Instance {
        name: manifest.set.clone(),
        mode: Mode::from_access_rights(&manifest.mode).unwrap_or(Mode::Admin),
        registry: path_of(Role::ImRegistry),
        install: path_of(Role::ImInstall),
        agent_data: path_of(Role::ImAgentData).unwrap_or_default(),
        shared: path_of(Role::ImShared),
        set: SyncSet { members },
        inventory: manifest.inventory.clone(),
        origins: Vec::new(),
        notes: Vec::new(),
    };
    let report = preflight(
        host,
        &instance,
        &PreflightOptions {
            offline: true,
            allow_missing: Role::ALL.to_vec(),
            repository_dir: None,
            incremental: true,
            known_set_bytes: None,
        },
    );
    // The backup's wording about running servers (`--offline`) is not this command's.
    let mut refusals: Vec<String> = report
        .refusals
        .into_iter()
        .filter(|r| {
            !r.contains("cannot be read by this user") && !r.starts_with("product servers are")
        })
        .collect();
    if !report.servers_running.is_empty() {
        let names: Vec<String> = report
            .servers_running
            .iter()
            .map(|s| {
                format!(
                    "{} (pid {}, {})",
                    s.name,
                    s.pid,
                    crate::host::root::shown(&s.pid_file)
                )
            })
            .collect();
        refusals.push(format!(
            "product servers are running: {}; stop them (stopServer.sh) before restoring in place",
            names.join(", ")
        ));
    }
    refusals
}

/// What the engine and the OS say when a filesystem is full (ENOSPC) or a quota is reached
/// (EDQUOT), as it reaches lockstep: an `io::Error`, or the engine's debug form of one inside a
/// contained panic (`Os { code: 28, kind: StorageFull, … }`).
const FULL_SIGNS: &[(&str, &str)] = &[
    ("No space left on device", "no space left"),
    ("os error 28", "no space left"),
    ("code: 28,", "no space left"),
    ("StorageFull", "no space left"),
    ("Disk quota exceeded", "the disk quota is reached"),
    ("os error 122", "the disk quota is reached"),
    ("code: 122,", "the disk quota is reached"),
    ("QuotaExceeded", "the disk quota is reached"),
];

/// An engine error while writing restored files into `dest`: when it is the destination's
/// filesystem that is full, said so (the engine's own conversion would blame the repository's
/// disk), for [`disk_full`] to name the filesystem; any other error as the engine's.
fn written(e: Box<rustic_core::RusticError>, dest: &Path) -> Error {
    let mut text = format!("{e} {e:?}");
    let mut cause = std::error::Error::source(&*e);
    while let Some(c) = cause {
        text.push_str(&format!(" {c}"));
        cause = c.source();
    }
    match FULL_SIGNS.iter().find(|(sign, _)| text.contains(sign)) {
        Some((sign, _)) => Error::Other(format!(
            "writing the restored files into {} failed: {sign}",
            crate::host::root::shown(dest)
        )),
        None => Error::from(e),
    }
}

pub(crate) fn is_disk_full(e: &Error) -> bool {
    matches!(e, Error::DiskFull(_))
}

/// `e` as the one line an administrator needs when it is a full filesystem (or quota): which
/// filesystem (that of `dir`, shown as the host sees it) and what to do; `None` for any other
/// error. Free blocks and free inodes both count: a filesystem out of inodes is full too.
pub(crate) fn disk_full(e: &Error, dir: &Path, host: &HostRoot) -> Option<Error> {
    if is_disk_full(e) {
        return None;
    }
    let text = e.to_string();
    let (_, why) = FULL_SIGNS.iter().find(|(sign, _)| text.contains(sign))?;
    let anchor = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(host.root())
        .to_path_buf();
    let shown = host.logical(&anchor).unwrap_or(anchor);
    Some(Error::DiskFull(format!(
        "the filesystem of {} is full ({why}; `df -h` and `df -i` show its space and inodes): free space there, or restore into another filesystem, then run the restore again",
        crate::host::root::shown(&shown)
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rustic_core::LsOptions;

    use super::*;

    /// The listing decoded in parallel is the engine's own listing: same paths, same nodes,
    /// same order (the engine's restore relies on it).
    #[test]
    fn the_parallel_listing_is_the_engines_listing() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        for d in ["a/b/c", "a/d", "e/f/g/h", "empty"] {
            std::fs::create_dir_all(src.join(d)).unwrap();
        }
        for f in ["a/b/c/1", "a/b/2", "a/d/3", "e/f/g/h/4", "e/5", "6"] {
            std::fs::write(src.join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("../6", src.join("a/link")).unwrap();
        let spec = crate::repo::RepoSpec {
            location: dir.path().join("repo").display().to_string(),
            options: BTreeMap::new(),
        };
        let repo = spec.init("pw").unwrap().to_indexed_ids().unwrap();
        let paths = rustic_core::PathList::from_string(src.to_str().unwrap())
            .unwrap()
            .sanitize()
            .unwrap();
        let snap = repo
            .backup(
                &rustic_core::BackupOptions::default(),
                &paths,
                rustic_core::SnapshotOptions::default()
                    .to_snapshot()
                    .unwrap(),
            )
            .unwrap();
        let repo = spec.open("pw").unwrap().to_indexed().unwrap();
        let node = repo.node_from_snapshot_and_path(&snap, &rel(&src)).unwrap();
        let mut ls_opts = LsOptions::default();
        ls_opts.recursive = true;
        let engine: Vec<(PathBuf, Node)> = repo
            .ls(&node, &ls_opts)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(engine.len(), 16);
        assert_eq!(list(&repo, &node).unwrap(), engine);
    }
    use crate::im::inventory::{Offering, PackageGroup};
    use crate::repo::manifest::{Consistency, PreflightRecord, SCHEMA_VERSION};

    fn inventory(was: &str, dx: &str) -> Inventory {
        let group = |id: &str, path: &str, off: &str, v: &str| PackageGroup {
            id: id.into(),
            path: path.into(),
            offerings: vec![Offering {
                id: off.into(),
                version: v.into(),
                display_version: None,
                name: None,
            }],
            fixes: vec![],
        };
        Inventory {
            im_version: Some("1.9.2".into()),
            mode: Some("admin".into()),
            shared_location: Some("/opt/IBM/IMShared".into()),
            package_groups: vec![
                group(
                    "DX",
                    "/opt/HCL/WebSphere/PortalServer",
                    "com.ibm.websphere.PORTAL.SERVER.v95",
                    dx,
                ),
                group(
                    "WAS",
                    "/opt/HCL/WebSphere/AppServer",
                    "com.ibm.websphere.ND.v90",
                    was,
                ),
            ],
        }
    }

    fn snapshot(inv: Inventory, verdict: Verdict) -> SetSnapshot {
        let member = |role, path: &str| Member {
            role,
            path: path.into(),
            package_group: None,
            resolved: None,
            exists: true,
            is_file: false,
        };
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            lockstep_version: "t".into(),
            set: "admin".into(),
            host: "h".into(),
            mode: "admin".into(),
            im_version: None,
            members: vec![
                member(Role::ImAgentData, "/var/ibm/InstallationManager"),
                member(Role::Product, "/opt/HCL/WebSphere/AppServer"),
                member(Role::Product, "/opt/HCL/WebSphere/PortalServer"),
                member(Role::Extra, "/opt/HCL/WebSphere/AppServer/profiles/cw"),
            ],
            inventory: inv,
            excludes: None,
            consistency: Consistency {
                verdict,
                attempts: 1,
                ..Consistency::default()
            },
            preflight: PreflightRecord::default(),
            hooks: vec![],
        };
        SetSnapshot {
            snapshot: rustic_core::repofile::SnapshotFile::default(),
            manifest: Some(manifest),
        }
    }

    fn sel(only: &[Role]) -> Selection {
        Selection {
            only: Some(only.to_vec()),
            ..Selection::default()
        }
    }

    #[test]
    fn partial_restores_across_fix_pack_levels_are_refused() {
        let snap = snapshot(inventory("9.0.5017", "9.5.0.219"), Verdict::Consistent);
        let live = inventory("9.0.5018", "9.5.0.219");
        let err = check_rules(&snap, Some(&live), &sel(&[Role::Product])).unwrap_err();
        assert!(matches!(err, Error::Refused(_)));
        assert!(
            err.to_string().contains("com.ibm.websphere.ND.v90"),
            "{err}"
        );
        assert!(check_rules(&snap, Some(&live), &sel(&[Role::ImAgentData])).is_err());
        // The whole set is always allowed; --force-desync asks for a pre-restore snapshot.
        assert!(
            !check_rules(&snap, Some(&live), &Selection::default())
                .unwrap()
                .forced_desync
        );
        let mut forced = sel(&[Role::Product]);
        forced.force_desync = true;
        assert!(
            check_rules(&snap, Some(&live), &forced)
                .unwrap()
                .forced_desync
        );
        // Unreadable live records: a partial restore cannot be proven safe.
        assert!(check_rules(&snap, None, &sel(&[Role::Product])).is_err());
    }

    #[test]
    fn matching_inventories_allow_any_subset() {
        let snap = snapshot(inventory("9.0.5017", "9.5.0.219"), Verdict::Consistent);
        let live = inventory("9.0.5017", "9.5.0.219");
        assert!(check_rules(&snap, Some(&live), &sel(&[Role::Product])).is_ok());
        assert!(check_rules(&snap, Some(&live), &sel(&[Role::ImShared])).is_ok());
    }

    #[test]
    fn unverified_and_foreign_snapshots_need_force() {
        let snap = snapshot(inventory("1", "1"), Verdict::Unverified);
        assert!(check_rules(&snap, None, &Selection::default()).is_err());
        let forced = Selection {
            force: true,
            ..Selection::default()
        };
        assert!(check_rules(&snap, None, &forced).is_ok());
        let foreign = SetSnapshot {
            snapshot: rustic_core::repofile::SnapshotFile::default(),
            manifest: None,
        };
        assert!(check_rules(&foreign, None, &Selection::default()).is_err());
    }

    #[test]
    fn nested_members_restore_with_their_outer_member() {
        let snap = snapshot(inventory("1", "1"), Verdict::Consistent);
        let manifest = snap.manifest.unwrap();
        let all = units(&manifest, None).unwrap();
        assert_eq!(all.len(), 3);
        let extra = units(&manifest, Some(&[Role::Extra])).unwrap();
        assert_eq!(
            extra[0].path,
            PathBuf::from("/opt/HCL/WebSphere/AppServer/profiles/cw")
        );
        let mut bad = manifest.clone();
        bad.members[0].path = "/opt/../etc".into();
        assert!(units(&bad, None).is_err());
    }
}
