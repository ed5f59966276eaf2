//! In place, all or nothing: plan, then execute.
//!
//! 1. **Baseline** ([`Baseline`]): what proves live files unchanged — nothing (`--full` and
//!    `--keep-replaced` restore every byte), content hashes alone (the set has no consistent
//!    snapshot yet), or the set's newest consistent snapshot.
//! 2. **Evidence** ([`gather`]): while the repository's index is read, the live set is
//!    fingerprinted; when its state digest is the one the newest snapshot recorded, the live set
//!    *is* that snapshot and the two snapshots' trees tell what differs
//!    ([`crate::ops::restore::delta::Proven`]); otherwise every live member is walked.
//! 3. **Plan** ([`plan`]): per unit, a delta ([`crate::ops::restore::delta::Planned`]) or a whole copy with
//!    the live files it carries over; what is restored from the repository, kept and removed;
//!    the space each filesystem needs. Nothing is written. A dry run, and the question on a
//!    terminal, stop here.
//! 4. **Execute** ([`execute`]): the journal first, then every unit staged exactly as planned
//!    and verified against the snapshot, then the swap and the cleanup ([`crate::ops::restore::journal`]).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustic_core::repofile::NodeType;
use serde::Serialize;

use super::owners::{MissingOwner, Owners};
use super::{
    Carried, Counts, FullRepo, RestoreReport, RestoreUnit, UnitTree, content_bytes, disk_full,
    is_disk_full, plan_carry, recreate_links, rel, restore_unit, verify_unit,
};
use crate::config::is_root;
use crate::host::root::HostRoot;
use crate::host::set::Role;
use crate::host::state::{ClockMark, RestoreProof, RestoreRecord, StateDir};
use crate::ops::restore::journal::{HandOff, Journal, JournalPhase, Unit};
use crate::repo::manifest::Manifest;
use crate::repo::{OpenRepo, SetSnapshot};
use crate::util::fault;
use crate::{Error, Result};

/// In-place restore options.
#[derive(Debug, Clone)]
pub struct InPlace<'a> {
    /// The live host.
    pub host: &'a HostRoot,
    /// lockstep's state directory (journal, restore records).
    pub state: &'a StateDir,
    /// The set and host name the restore is recorded under.
    pub set: String,
    /// The host name (whose snapshots prove live files unchanged).
    pub host_name: String,
    /// This machine's own name, when the snapshot's host was named otherwise (a new machine
    /// rebuilt from the old host's snapshot with `--host OLD`): the restore is recorded under
    /// both names, so `status` here compares the host with the snapshot it was rebuilt from.
    pub this_host: Option<String>,
    /// Keep the replaced live copies.
    pub keep_replaced: bool,
    /// Remove the replaced live copies in a background process after returning
    /// ([`crate::ops::restore::journal::Journal::hand_off_cleanup`]); only for the lockstep binary itself,
    /// which that process runs again.
    pub background_cleanup: bool,
    /// Only plan; change nothing ([`restore_in_place`]).
    pub dry_run: bool,
    /// Restore every byte from the repository (no carrying over of unchanged live files).
    pub full: bool,
    /// The excludes the set's backups use: part of the state a snapshot records, which proves
    /// the live set unchanged since.
    pub excludes: &'a [String],
}

/// Space a restore needs in one filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpaceNeed {
    /// A directory in that filesystem.
    pub path: PathBuf,
    /// Bytes the staging copies need there.
    pub needed: u64,
    /// Bytes available.
    pub available: u64,
}

/// How a unit is staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Only the entries that differ from the target are staged and swapped; the rest of the
    /// live member stays where it is.
    Difference,
    /// The whole member is staged (live files that already are the target's hard-linked into
    /// it) and swapped for the live one.
    WholeCopy,
}

/// One unit's part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitPlan {
    /// The unit.
    #[serde(flatten)]
    pub unit: RestoreUnit,
    /// How it is staged.
    pub method: Method,
    /// Its bytes in the snapshot.
    pub size: u64,
    /// Whether a live copy exists that the restore replaces (a rebuilt host has none).
    pub replaces_live: bool,
    /// What it restores, keeps and removes.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The plan of an in-place restore: what a dry run shows, a terminal confirms, and the run
/// executes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InPlacePlan {
    /// The snapshot.
    pub snapshot: String,
    /// The snapshot the live set was proven to be exactly (its recorded state digest): the
    /// differences come from the two snapshots' trees, and no live file is read.
    pub live_was: Option<String>,
    /// The units, in the order they are staged.
    pub units: Vec<UnitPlan>,
    /// The totals over the units.
    #[serde(flatten)]
    pub counts: Counts,
    /// Space per filesystem.
    pub space: Vec<SpaceNeed>,
    /// Owners of the entries to restore that have no account on this host (when running as
    /// root, which restores owners).
    pub missing_owners: Vec<MissingOwner>,
}

impl InPlacePlan {
    /// Whether `other` restores, keeps and removes the same (free space aside): a plan made
    /// again after a question must be the one that was answered.
    #[must_use]
    pub fn same_work(&self, other: &InPlacePlan) -> bool {
        (&self.snapshot, &self.live_was, &self.units, &self.counts)
            == (
                &other.snapshot,
                &other.live_was,
                &other.units,
                &other.counts,
            )
    }
}

/// What proves live files unchanged.
enum Baseline {
    /// Nothing: every byte comes from the repository (`--full`, `--keep-replaced`).
    Whole,
    /// The set has no consistent snapshot: a live file is kept when its content hashes to the
    /// target's.
    NoSnapshot,
    /// The set's newest consistent snapshot: a live file unchanged since (inode, ctime) holds
    /// that snapshot's content.
    Newest(Box<SetSnapshot>),
}

impl Baseline {
    /// The newest consistent snapshot of the set on this host, unless every byte is restored.
    fn find(repo: &OpenRepo, opts: &InPlace<'_>) -> Self {
        if opts.full || opts.keep_replaced {
            return Baseline::Whole;
        }
        let _t = crate::util::timing::phase("restore: newest snapshot");
        crate::repo::newest_consistent(repo, &opts.set, &opts.host_name)
            .ok()
            .flatten()
            .map_or(Baseline::NoSnapshot, |s| Baseline::Newest(Box::new(s)))
    }

    fn newest(&self) -> Option<&SetSnapshot> {
        match self {
            Baseline::Newest(s) => Some(s),
            _ => None,
        }
    }

    /// Whether live files may be kept at all.
    fn keeps_live(&self) -> bool {
        !matches!(self, Baseline::Whole)
    }
}

/// What is known of the live set before planning: the proof that it is the newest snapshot
/// with each unit's tree difference, or else the live members' walks.
struct Evidence {
    proven: Option<crate::ops::restore::delta::Proven>,
    compared: Option<std::vec::IntoIter<Result<Option<crate::ops::restore::delta::TreeDiff>>>>,
    walks: Option<Walks>,
}

impl Evidence {
    /// The evidence from the proof's result: proven (with the trees' comparisons), disproved
    /// (with the walks it started), or not attempted (`walk`: the walks, when live files may
    /// be kept at all).
    fn of(
        proof: Option<std::result::Result<crate::ops::restore::delta::Proven, Walks>>,
        compared: Vec<Result<Option<crate::ops::restore::delta::TreeDiff>>>,
        walk: impl FnOnce() -> Option<Walks>,
    ) -> Self {
        match proof {
            Some(Ok(proven)) => Evidence {
                proven: Some(proven),
                compared: Some(compared.into_iter()),
                walks: None,
            },
            Some(Err(walks)) => Evidence {
                proven: None,
                compared: None,
                walks: Some(walks),
            },
            None => Evidence {
                proven: None,
                compared: None,
                walks: walk(),
            },
        }
    }
}

/// The live members' walks, each sent as it is ready.
type Walks = std::sync::mpsc::Receiver<Option<crate::ops::restore::delta::Walked>>;

/// Reads the index while the live set is proven to be the newest snapshot (and, meanwhile,
/// every unit's trees are compared); when the proof fails, the live members are walked
/// instead, starting as soon as it fails (on a cache the fingerprint has just warmed), and the
/// trees' comparison stops.
fn gather(
    repo: OpenRepo,
    snap: &SetSnapshot,
    selected: &[RestoreUnit],
    baseline: &Baseline,
    opts: &InPlace<'_>,
) -> Result<(FullRepo, Evidence)> {
    let lives = || -> Vec<(PathBuf, PathBuf)> {
        selected
            .iter()
            .map(|u| (opts.host.physical(&u.path), u.path.clone()))
            .collect()
    };
    // What the set's backups leave out, a rollback by difference leaves in place (the
    // file-by-file walk does not see it; the snapshots' trees do not hold it). A whole copy
    // does not need the patterns, so a restore with `--full` never depends on them.
    let excludes = match snap.manifest.as_ref().filter(|_| baseline.keeps_live()) {
        Some(m) => crate::host::excludes::set_excludes(&m.set(), opts.excludes)?,
        None => crate::host::excludes::Excludes::default(),
    };
    let disproved = std::sync::atomic::AtomicBool::new(false);
    let newest = baseline.newest();
    let (proof, repo, compared) = std::thread::scope(|scope| {
        let proof = newest.map(|n| {
            scope.spawn(|| {
                match crate::ops::restore::delta::Proven::check(opts.host, n, opts.excludes) {
                    Some(proven) => Ok(proven),
                    None => {
                        let walks = crate::ops::restore::delta::prefetch(lives(), excludes.clone());
                        disproved.store(true, std::sync::atomic::Ordering::Relaxed);
                        Err(walks)
                    }
                }
            })
        });
        let t = crate::util::timing::phase("restore: index");
        let repo = repo.to_indexed();
        drop(t);
        // Every unit's trees at once: each comparison waits on cold reads of tree blobs. Once
        // the proof fails, units not yet compared are not (the comparisons are then unused).
        let compared: Vec<Result<Option<crate::ops::restore::delta::TreeDiff>>> =
            match (&repo, newest) {
                (Ok(repo), Some(newest)) => crate::util::par::io(|| {
                    use rayon::prelude::*;
                    selected
                        .par_iter()
                        .map(|unit| {
                            (!disproved.load(std::sync::atomic::Ordering::Relaxed)).then(|| {
                                crate::ops::restore::delta::compare_trees(
                                    repo,
                                    &snap.snapshot,
                                    &newest.snapshot,
                                    unit,
                                )
                            })
                        })
                        .collect::<Option<Vec<_>>>()
                        .unwrap_or_default()
                }),
                _ => Vec::new(),
            };
        // A proof that ended in a panic proves nothing: the members are compared file by file.
        let proof = proof.and_then(|p| p.join().ok());
        (proof, repo, compared)
    });
    let repo = repo?;
    let evidence = Evidence::of(proof, compared, || {
        baseline
            .keeps_live()
            .then(|| crate::ops::restore::delta::prefetch(lives(), excludes.clone()))
    });
    Ok((repo, evidence))
}

/// How planning decided to stage a unit.
enum Decided {
    Delta(crate::ops::restore::delta::Planned),
    Whole(Box<UnitTree>, Option<Carried>),
}

/// How one unit will be staged.
enum Work {
    /// Only what differs.
    Delta(crate::ops::restore::delta::Planned),
    /// The whole member; `tree` is `None` when it was let go after planning to bound memory
    /// (it is listed again to stage it).
    Whole {
        tree: Option<Box<UnitTree>>,
        carried: Option<Carried>,
    },
}

/// Whole-copy trees held between planning and staging, in entries: beyond this, a unit's tree
/// is listed again when it is staged, so a large host's plan does not hold every listing.
const HELD_ENTRIES: usize = 250_000;

/// A planned in-place restore, ready to execute.
pub struct Prepared<'s> {
    /// The plan.
    pub plan: InPlacePlan,
    repo: FullRepo,
    snap: &'s SetSnapshot,
    selected: Vec<RestoreUnit>,
    work: Vec<(Work, u64)>,
    start: Instant,
    /// The ctime clock before the live set was looked at (the restore's [`RestoreProof`]).
    planned: Option<ClockMark>,
}

/// Plans an in-place restore of `selected` units of `snap`: how each unit is staged, what it
/// restores, keeps and removes, and the space each filesystem needs. Live files are read (to
/// prove them unchanged) but nothing is written.
///
/// # Errors
/// Refused when a member's live path was replaced by a symlink or is a file mounted on its
/// own, or when a filesystem lacks the space for the staging copies; an error when the
/// repository fails.
pub fn plan<'s>(
    repo: OpenRepo,
    snap: &'s SetSnapshot,
    selected: &[RestoreUnit],
    opts: &InPlace<'_>,
) -> Result<Prepared<'s>> {
    let _step = crate::repo::progress::step("restore");
    let start = Instant::now();
    // Before anything live is looked at (a dry run writes nothing, not even the state dir).
    let planned = (!opts.dry_run).then(|| opts.state.clock_mark()).flatten();
    let manifest = snap
        .manifest
        .as_ref()
        .ok_or_else(|| Error::Refused("an in-place restore needs a lockstep manifest".into()))?;
    for unit in selected {
        check_live_path(opts.host, manifest, unit)?;
    }
    let baseline = Baseline::find(&repo, opts);
    let (repo, mut evidence) = gather(repo, snap, selected, &baseline, opts)?;
    let mut space = SpaceCheck::new(opts.host);
    let mut units = Vec::new();
    let mut work = Vec::new();
    let mut counts = Counts::default();
    let mut held = 0;
    let mut owners = Owners::default();
    for unit in selected {
        let live = opts.host.physical(&unit.path);
        let failed = |e: Error| match e {
            Error::Refused(_) => e,
            e => Error::Other(format!(
                "planning the restore of {} failed, nothing was changed: {e}",
                unit.path.display()
            )),
        };
        let (summary, need, w) =
            match plan_unit(&repo, snap, unit, &live, &baseline, &mut evidence).map_err(failed)? {
                Decided::Delta(planned) => {
                    owners.note_tree(&unit.path, planned.entries());
                    let (summary, need) = summarize_delta(unit, &planned, &live);
                    (summary, need, Work::Delta(planned))
                }
                Decided::Whole(tree, carried) => {
                    owners.note(&unit.path, &tree.node);
                    owners.note_tree(&unit.path, &tree.entries);
                    let (summary, need) = summarize_whole(unit, &tree, carried.as_ref(), &live);
                    held += tree.entries.len();
                    let tree = (held <= HELD_ENTRIES).then_some(tree);
                    (summary, need, Work::Whole { tree, carried })
                }
            };
        space.plan(unit, need)?;
        counts.add(&summary.counts);
        units.push(summary);
        work.push((w, need));
    }
    Ok(Prepared {
        plan: InPlacePlan {
            snapshot: snap.id(),
            live_was: evidence
                .proven
                .as_ref()
                .map(crate::ops::restore::delta::Proven::snapshot_id),
            units,
            counts,
            space: space.per_fs.into_values().collect(),
            missing_owners: if is_root() {
                owners.missing()
            } else {
                Vec::new()
            },
        },
        repo,
        snap,
        selected: selected.to_vec(),
        work,
        start,
        planned,
    })
}

/// Decides how `unit` is staged: by the trees' difference when the live set is proven to be
/// the newest snapshot, else by comparing the live member file by file, else as a whole copy
/// that carries over the live files proven to be the target's.
fn plan_unit(
    repo: &FullRepo,
    snap: &SetSnapshot,
    unit: &RestoreUnit,
    live: &Path,
    baseline: &Baseline,
    evidence: &mut Evidence,
) -> Result<Decided> {
    let diff = evidence.compared.as_mut().and_then(Iterator::next);
    if let (Some(proven), Some(diff)) = (&evidence.proven, diff)
        && let Some(diff) = diff?
        && let Some(planned) = crate::ops::restore::delta::plan_by_proof(diff, proven, unit, live)
    {
        return Ok(Decided::Delta(planned));
    }
    let t = crate::util::timing::phase(format!("restore: list {}", unit.path.display()));
    let tree = UnitTree::load(repo, snap, unit)?;
    drop(t);
    let walked = evidence.walks.as_ref().and_then(|w| {
        let _t =
            crate::util::timing::phase(format!("restore: wait for live {}", unit.path.display()));
        w.recv().ok().flatten()
    });
    let newest = baseline.newest();
    if baseline.keeps_live()
        && let Some(planned) = crate::ops::restore::delta::plan_by_walk(
            repo,
            &tree,
            unit,
            live,
            newest.map(|s| &s.snapshot),
            walked,
        )?
    {
        return Ok(Decided::Delta(planned));
    }
    let carried = if baseline.keeps_live() && tree.node.is_dir() {
        let _t = crate::util::timing::phase(format!("restore: carry {}", unit.path.display()));
        let newest_node = newest.and_then(|s| {
            repo.node_from_snapshot_and_path(&s.snapshot, &rel(&unit.path))
                .ok()
        });
        Some(plan_carry(repo, &tree.entries, live, newest_node.as_ref())?)
    } else {
        None
    };
    Ok(Decided::Whole(Box::new(tree), carried))
}

/// `unit`'s part of the plan when only what differs is staged, and the bytes that needs.
fn summarize_delta(
    unit: &RestoreUnit,
    planned: &crate::ops::restore::delta::Planned,
    live: &Path,
) -> (UnitPlan, u64) {
    let summary = UnitPlan {
        unit: unit.clone(),
        method: Method::Difference,
        size: planned.size,
        replaces_live: std::fs::symlink_metadata(live).is_ok(),
        counts: planned.counts(),
    };
    (summary, planned.space_needed())
}

/// `unit`'s part of the plan when it is staged whole (`carried`: the live files hard-linked
/// into the copy), and the bytes that needs.
fn summarize_whole(
    unit: &RestoreUnit,
    tree: &UnitTree,
    carried: Option<&Carried>,
    live: &Path,
) -> (UnitPlan, u64) {
    let mut counts = Counts {
        carried_files: carried.map_or(0, |c| c.paths.len() as u64),
        carried_bytes: carried.map_or(0, |c| c.bytes),
        ..Counts::default()
    };
    if tree.node.node_type == NodeType::File {
        counts.files = 1;
        counts.bytes = tree.node.meta.size;
    }
    let restored = || {
        tree.entries
            .iter()
            .filter(|(path, _)| !carried.is_some_and(|c| c.paths.contains(path)))
            .map(|(_, n)| n)
    };
    counts.dirs = restored().filter(|n| n.is_dir()).count() as u64;
    counts.files += restored().filter(|n| n.node_type == NodeType::File).count() as u64;
    counts.bytes += content_bytes(restored());
    let size = tree.node.meta.size + tree.entries.iter().map(|(_, n)| n.meta.size).sum::<u64>();
    // Directories and inodes take room too; carried files are links, not data.
    let need = counts.bytes + (tree.entries.len() as u64 + 1) * 4096;
    let summary = UnitPlan {
        unit: unit.clone(),
        method: Method::WholeCopy,
        size,
        replaces_live: std::fs::symlink_metadata(live).is_ok(),
        counts,
    };
    (summary, need)
}

/// The filesystem (device) `unit` is staged in, and `needed` bytes there with what is available
/// now.
fn space_need(host: &HostRoot, unit: &RestoreUnit, needed: u64) -> (u64, SpaceNeed) {
    let physical = host.physical(&unit.path);
    // A mount point is staged inside itself, on its own filesystem.
    let anchor = if is_mounted_dir(&physical) {
        physical.clone()
    } else {
        physical
            .ancestors()
            .skip(1)
            .find(|p| p.exists())
            .unwrap_or(host.root())
            .to_path_buf()
    };
    let dev = std::fs::metadata(&anchor).map(|m| m.dev()).unwrap_or(0);
    let available = crate::ops::preflight::free_space(&anchor).map_or(u64::MAX, |(_, a)| a);
    // The filesystem is named by where it is mounted (within the host), not by whichever
    // member was planned first in it.
    let mount = anchor
        .ancestors()
        .take_while(|p| p.starts_with(host.root()))
        .take_while(|p| std::fs::metadata(p).is_ok_and(|m| m.dev() == dev))
        .last()
        .unwrap_or(&anchor)
        .to_path_buf();
    (
        dev,
        SpaceNeed {
            path: host.logical(&mount).unwrap_or(mount),
            needed,
            available,
        },
    )
}

/// The space check of a restore. Planning adds each unit's need to its filesystem's and
/// refuses when a filesystem's total exceeds what it has free; staging checks each unit again
/// against what is free at that moment, before anything of it is written (something else may
/// have used the space since).
struct SpaceCheck<'a> {
    host: &'a HostRoot,
    skip: bool,
    per_fs: BTreeMap<u64, SpaceNeed>,
}

impl<'a> SpaceCheck<'a> {
    fn new(host: &'a HostRoot) -> Self {
        Self {
            host,
            // The fault suite fills a filesystem *during* staging.
            skip: std::env::var_os("LOCKSTEP_FAULT_SKIP_SPACE_CHECK").is_some()
                && cfg!(feature = "fault-injection"),
            per_fs: BTreeMap::new(),
        }
    }

    /// Adds `unit`'s need to the plan.
    fn plan(&mut self, unit: &RestoreUnit, needed: u64) -> Result<()> {
        let (dev, need) = space_need(self.host, unit, needed);
        let total = self
            .per_fs
            .entry(dev)
            .and_modify(|n| n.needed += need.needed)
            .or_insert(need);
        if total.needed > total.available && !self.skip {
            return Err(space_refusal(total));
        }
        Ok(())
    }

    /// Checks `unit`'s need against what is free now, just before it is staged.
    fn check(&self, unit: &RestoreUnit, needed: u64) -> Result<()> {
        let (_, need) = space_need(self.host, unit, needed);
        if need.needed > need.available && !self.skip {
            return Err(space_refusal(&need));
        }
        Ok(())
    }
}

fn space_refusal(s: &SpaceNeed) -> Error {
    Error::Refused(format!(
        "not enough space to stage the restore: {} needed in the filesystem of {}, {} available; free space there (nothing was changed)",
        crate::util::report::bytes(s.needed),
        s.path.display(),
        crate::util::report::bytes(s.available)
    ))
}

/// The live path must still be what the snapshot's member was: not a symlink now, not a file
/// mounted on its own (a rename cannot swap it; a directory that is a mount point is swapped
/// inside itself).
fn check_live_path(host: &HostRoot, manifest: &Manifest, unit: &RestoreUnit) -> Result<()> {
    for m in manifest
        .members
        .iter()
        .filter(|m| m.data_path() == unit.path)
    {
        let now = host.resolve(&m.path)?;
        // Nothing at the recorded path (a rebuilt host lost the link): the data goes where the
        // snapshot holds it and `recreate_links` puts the link back after the swap.
        let gone = std::fs::symlink_metadata(host.physical(&now)).is_err();
        if now != unit.path && !gone {
            return Err(Error::Refused(format!(
                "{} now leads to {} (a symlink changed since the backup); lockstep will not write through it — restore with --target and move the data by hand",
                m.path.display(),
                now.display()
            )));
        }
    }
    let physical = host.physical(&unit.path);
    if let Ok(m) = std::fs::symlink_metadata(&physical) {
        if m.file_type().is_symlink() {
            return Err(Error::Refused(format!(
                "{} is now a symlink; lockstep will not replace it — restore with --target and move the data by hand",
                unit.path.display()
            )));
        }
        // A directory that is a mount point is restored inside it ([`crate::ops::restore::journal::Inside`]);
        // a file mounted on its own (a bind mount) has no inside.
        if !m.is_dir() && crate::host::root::is_mount_point(&physical) {
            return Err(Error::Refused(format!(
                "{} is a file mounted on its own, which cannot be swapped atomically; restore with --target and copy the data in by hand",
                unit.path.display()
            )));
        }
    }
    Ok(())
}

/// Whether the live member at `physical` is a directory that is a mount point: it is then
/// staged and swapped inside itself, on its own filesystem ([`crate::ops::restore::journal::Inside`]).
fn is_mounted_dir(physical: &Path) -> bool {
    std::fs::symlink_metadata(physical).is_ok_and(|m| m.is_dir())
        && crate::host::root::is_mount_point(physical)
}

/// The names in directory `dir`, sorted.
fn top_level_names(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut names = std::fs::read_dir(dir)
        .and_then(|d| {
            d.map(|e| e.map(|e| PathBuf::from(e.file_name())))
                .collect::<std::io::Result<Vec<_>>>()
        })
        .map_err(|e| Error::io("cannot read", dir, e))?;
    names.sort();
    Ok(names)
}

/// Plans and, unless `opts.dry_run`, executes an in-place restore of `selected` units of
/// `snap`, all or nothing. The guard and preflight must have passed.
///
/// # Errors
/// As [`plan`] and [`execute`].
pub fn restore_in_place(
    repo: OpenRepo,
    snap: &SetSnapshot,
    selected: &[RestoreUnit],
    opts: &InPlace<'_>,
) -> Result<(InPlacePlan, Option<RestoreReport>)> {
    let prepared = plan(repo, snap, selected, opts)?;
    if opts.dry_run {
        return Ok((prepared.plan, None));
    }
    let plan = prepared.plan.clone();
    let outcome = execute(prepared, opts)?;
    Ok((plan, Some(outcome)))
}

/// The journal of a run restoring `selected` units of `snap`: where each unit is staged and
/// where its live copy goes (a mount point is staged inside itself, on its own filesystem: a
/// rename cannot cross it).
fn journal_for(
    repo: &FullRepo,
    snap: &SetSnapshot,
    selected: &[RestoreUnit],
    opts: &InPlace<'_>,
) -> Result<Journal> {
    let run = run_id();
    let units = selected
        .iter()
        .map(|u| {
            let live = opts.host.physical(&u.path);
            let name = live
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let inside = if is_mounted_dir(&live) {
                let node = repo.node_from_snapshot_and_path(&snap.snapshot, &rel(&u.path))?;
                Some(crate::ops::restore::journal::Inside {
                    staged: Vec::new(),
                    node: Some(node),
                })
            } else {
                None
            };
            let (stage, old) = if inside.is_some() {
                (
                    live.join(format!(".lockstep-stage-{run}")),
                    live.join(format!(".lockstep-old-{run}")),
                )
            } else {
                (
                    live.with_file_name(format!("{name}.lockstep-stage-{run}")),
                    live.with_file_name(format!("{name}.lockstep-old-{run}")),
                )
            };
            let mut unit = Unit {
                logical: u.path.clone(),
                stage,
                old,
                existed: std::fs::symlink_metadata(&live).is_ok(),
                live,
                parent_times: None,
                delta: None,
                inside,
            };
            unit.capture_parent_times();
            Ok(unit)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut journal = Journal {
        version: crate::ops::restore::journal::VERSION,
        run,
        pid: std::process::id(),
        snapshot: snap.id(),
        set: opts.set.clone(),
        host: opts.host_name.clone(),
        keep_replaced: opts.keep_replaced,
        phase: JournalPhase::Staging,
        units,
        planned: None,
    };
    journal.version = crate::ops::restore::journal::version_for(&journal.units);
    Ok(journal)
}

/// Executes a plan: the journal, every unit staged as planned and verified, the swap, the
/// cleanup.
///
/// # Errors
/// Refused when space is short; an error when staging or verification fails (the live set is
/// untouched, staging copies removed) or a swap fails (the journal lets `recover` finish).
pub fn execute(prepared: Prepared<'_>, opts: &InPlace<'_>) -> Result<RestoreReport> {
    let _step = crate::repo::progress::step("restore");
    let Prepared {
        plan,
        repo,
        snap,
        selected,
        work,
        start,
        planned,
    } = prepared;
    let mut journal = journal_for(&repo, snap, &selected, opts)?;
    journal.planned = planned;
    Journal::create(opts.state, &journal)?;
    // One bar for every unit's staging, from 0 to what the plan restores.
    let bar =
        crate::repo::progress::run_bytes(&repo, "restoring file contents...", plan.counts.bytes);
    let staged = stage_for_swap(&repo, snap, &selected, &mut journal, work, opts);
    drop(bar);
    let (counts, expected) = match staged {
        Ok(staged) => staged,
        Err(e) => {
            let e = staging_error(e, &selected, &plan, opts.host);
            let cleaned = journal.discard_stages().and_then(|()| {
                journal.restore_parent_times();
                Journal::close(opts.state)
            });
            return Err(match cleaned {
                Ok(()) => e,
                Err(c) => Error::Other(format!(
                    "{e}; cleaning up the staging copies also failed ({c}): run `lockstep recover`"
                )),
            });
        }
    };
    let (kept, background, swapped) = swap_and_clean(&mut journal, opts)?;
    // A rebuilt host may lack the link IM's recorded path was (the data went to its target).
    if let Some(manifest) = &snap.manifest {
        let roles: Vec<Role> = selected.iter().map(|u| u.role).collect();
        recreate_links(manifest, Some(&roles), opts.host.root())?;
    }
    let proof = RestoreProof::of(journal.planned.as_ref(), swapped.as_ref()).map(|proof| {
        let settled = expected.and_then(|expected| {
            crate::ops::restore::proof::settle(
                &expected,
                opts.host,
                (&snap.manifest.as_ref()?.set(), opts.excludes),
                (proof.planned, proof.swapped),
            )
        });
        RestoreProof { settled, ..proof }
    });
    record(snap, opts, proof)?;
    Ok(RestoreReport {
        snapshot: snap.id(),
        target: PathBuf::from("/"),
        units: selected,
        files: counts.files,
        dirs: counts.dirs,
        bytes: counts.bytes,
        carried_files: counts.carried_files,
        carried_bytes: counts.carried_bytes,
        removed: counts.removed,
        missing_owners: plan.missing_owners,
        ownership_restored: is_root(),
        kept_replaced: kept,
        cleanup_in_background: background,
        live_was: plan.live_was,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Stages every unit ([`stage_all`]), makes the staged data durable, and completes the
/// journal with what each unit's swap moves (a delta's entries, a mount point's staged top
/// level) — all before the first rename. Returns the totals and what the swap's changes must
/// be ([`crate::ops::restore::proof::settle`]).
fn stage_for_swap(
    repo: &FullRepo,
    snap: &SetSnapshot,
    selected: &[RestoreUnit],
    journal: &mut Journal,
    work: Vec<(Work, u64)>,
    opts: &InPlace<'_>,
) -> Result<(Counts, Option<Vec<crate::ops::restore::proof::Expected>>)> {
    let space = SpaceCheck::new(opts.host);
    let (counts, deltas, expected) = stage_all(repo, snap, selected, journal, work, &space)?;
    // What the check after the swap needs is kept for `recover` (written while the staged data
    // is flushed), so that a recovered swap is checked too.
    let pending = match (&expected, &snap.manifest) {
        (Some(expected), Some(manifest)) => Some(crate::ops::restore::proof::Pending::new(
            (&journal.run, &journal.snapshot),
            opts.host.root(),
            manifest.set(),
            opts.excludes,
            expected,
        )),
        _ => None,
    };
    std::thread::scope(|scope| {
        if let Some(pending) = &pending {
            scope.spawn(|| pending.keep(opts.state));
        }
        // The staged data must be on disk before anything is swapped: the swap's renames are
        // made durable, and cleanup then removes the replaced copies for good.
        let _t = crate::util::timing::phase("restore: flush");
        journal
            .units
            .iter()
            .try_for_each(|unit| crate::ops::restore::journal::flush(&unit.stage))
    })?;
    drop(pending);
    for (unit, delta) in journal.units.iter_mut().zip(deltas) {
        // A delta swaps its own list of entries; a whole copy, the staged top level.
        if let (Some(inside), None) = (&mut unit.inside, &delta) {
            inside.staged = top_level_names(&unit.stage)?;
        }
        unit.delta = delta;
    }
    Ok((counts, expected))
}

/// A staging failure as the administrator needs it: a full filesystem named as such, else the
/// error with what staging needed where.
fn staging_error(e: Error, selected: &[RestoreUnit], plan: &InPlacePlan, host: &HostRoot) -> Error {
    if matches!(e, Error::Refused(_)) || is_disk_full(&e) {
        return e;
    }
    if let Some(full) = selected
        .first()
        .and_then(|u| disk_full(&e, &host.physical(&u.path), host))
    {
        return full;
    }
    let needs: Vec<String> = plan
        .space
        .iter()
        .map(|s| {
            format!(
                "{} in the filesystem of {} ({} available)",
                crate::util::report::bytes(s.needed),
                s.path.display(),
                crate::util::report::bytes(s.available)
            )
        })
        .collect();
    if needs.is_empty() {
        return e;
    }
    Error::Other(format!("{e} (staging needs {})", needs.join(", ")))
}

/// Swaps every staged unit in under the journal, then removes the replaced copies — now, or
/// after lockstep returns in a background process (the new set is in place; every later
/// command waits for that removal). Returns the copies kept, whether removal went to the
/// background and the ctime clock right after the swap.
fn swap_and_clean(
    journal: &mut Journal,
    opts: &InPlace<'_>,
) -> Result<(Vec<PathBuf>, bool, Option<ClockMark>)> {
    fault::point("restore-staged");
    let t = crate::util::timing::phase("restore: swap");
    journal.set_phase(opts.state, JournalPhase::Swapping)?;
    journal.swap_all()?;
    let swapped = opts.state.clock_mark();
    journal.set_phase(opts.state, JournalPhase::Cleanup)?;
    drop(t);
    fault::point("restore-cleanup");
    let _t = crate::util::timing::phase("restore: cleanup");
    // When nothing was replaced (a rebuilt host), there is nothing to remove and nothing to
    // say about it.
    let replaced = journal
        .units
        .iter()
        .any(|u| std::fs::symlink_metadata(&u.old).is_ok());
    let handed = if opts.background_cleanup && !journal.keep_replaced && replaced {
        journal.hand_off_cleanup(opts.state)?
    } else {
        HandOff::NotStarted
    };
    let kept = if handed == HandOff::NotStarted {
        journal.finish(opts.state)?
    } else {
        Vec::new()
    };
    Ok((kept, handed == HandOff::Background, swapped))
}

/// Records the restore in lockstep's state, under the host name and this machine's own:
/// `status` compares the host with the snapshot last restored in place.
fn record(snap: &SetSnapshot, opts: &InPlace<'_>, proof: Option<RestoreProof>) -> Result<()> {
    let time = rustic_core::jiff::Timestamp::now().to_string();
    for host in std::iter::once(&opts.host_name).chain(&opts.this_host) {
        opts.state.record_restore(&RestoreRecord {
            set: opts.set.clone(),
            host: host.clone(),
            snapshot: snap.id(),
            time: time.clone(),
            proof: proof.clone(),
        })?;
    }
    Ok(())
}

/// The most entries a unit restored whole may have for the restore to check them after the
/// swap ([`crate::ops::restore::proof::settle`]).
const WHOLE_SETTLED: usize = 4096;

/// The totals of [`stage_all`], each unit's delta (`None`: the unit was staged whole) and what
/// every entry the swap changes must be after it (`None` when a unit was staged whole).
type Staged = (
    Counts,
    Vec<Option<crate::ops::restore::journal::Delta>>,
    Option<Vec<crate::ops::restore::proof::Expected>>,
);

/// Stages and verifies every unit as planned.
fn stage_all(
    repo: &FullRepo,
    snap: &SetSnapshot,
    selected: &[RestoreUnit],
    journal: &Journal,
    work: Vec<(Work, u64)>,
    space: &SpaceCheck<'_>,
) -> Result<Staged> {
    let host = space.host;
    let mut total = Counts::default();
    let mut deltas = Vec::new();
    let mut expected = Some(Vec::new());
    for (i, ((unit, ju), (work, need))) in selected.iter().zip(&journal.units).zip(work).enumerate()
    {
        let failed = |e: Error| match e {
            Error::Refused(_) => e,
            e => disk_full(&e, &host.physical(&unit.path), host)
                .map(|full| Error::Other(format!("{full} (the live set was not changed)")))
                .unwrap_or_else(|| {
                    Error::Other(format!(
                        "staging {} failed, the live set was not changed: {e}",
                        unit.path.display()
                    ))
                }),
        };
        space.check(unit, need)?;
        match work {
            Work::Delta(planned) => {
                let staging = planned.build(repo, unit, &ju.stage).map_err(failed)?;
                total.add(&staging.counts);
                fault::point(&format!("restore-stage-{i}"));
                staging.verify(repo, unit, &ju.stage)?;
                // The staged data goes to disk while the next unit is staged; the flush before
                // the swap then has little left to write.
                let stage = ju.stage.clone();
                std::thread::spawn(move || crate::ops::restore::journal::flush(&stage));
                let (delta, changed) = staging.into_swap(&unit.path);
                if let Some(expected) = &mut expected {
                    expected.extend(changed);
                }
                deltas.push(Some(delta));
            }
            Work::Whole { tree, carried } => {
                let tree = match tree {
                    Some(tree) => tree,
                    None => {
                        let _t = crate::util::timing::phase(format!(
                            "restore: list {} again",
                            unit.path.display()
                        ));
                        Box::new(UnitTree::load(repo, snap, unit)?)
                    }
                };
                let carry = carried.as_ref().map(|c| (ju.live.as_path(), c));
                let (counts, linked) =
                    restore_unit(repo, &tree, unit, &ju.stage, carry).map_err(failed)?;
                total.add(&Counts {
                    carried_files: linked.paths.len() as u64,
                    carried_bytes: linked.bytes,
                    ..counts
                });
                deltas.push(None);
                fault::point(&format!("restore-stage-{i}"));
                let _t =
                    crate::util::timing::phase(format!("restore: verify {}", unit.path.display()));
                verify_unit(repo, &tree, unit, &ju.stage, &linked.paths)?;
                // A whole copy changes every entry: a small one (a member that is a file) is
                // checked after the swap like a delta; checking a large one would be another
                // restore's work, and holding its listing until then, its memory.
                expected = expected
                    .filter(|_| tree.entries.len() <= WHOLE_SETTLED)
                    .map(|mut e| {
                        e.extend(crate::ops::restore::proof::expected_of_tree(
                            &unit.path,
                            &tree.node,
                            &tree.entries,
                        ));
                        e
                    });
            }
        }
    }
    Ok((total, deltas, expected))
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:08x}",
        (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) as u32
    )
}
