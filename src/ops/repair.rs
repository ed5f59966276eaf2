//! Repairs of a damaged repository: its index, and its snapshots (`lockstep repair`).
//!
//! Both are rustic_core's (the same as `restic repair index` / `restic repair snapshots`);
//! lockstep adds what the engine does not say — *what* a repair changes, before (`--dry-run`)
//! and after — and keeps lockstep's meaning on the snapshots it rewrites.
//!
//! 1. [`repair_index`] makes the index describe the pack files that are there: a pack the
//!    index lists and the repository lost is removed from it (its blobs are then missing, and
//!    the next backup stores again whatever the host still has — which also makes the older
//!    snapshots that used them whole again); a pack of another size is read again; a pack no
//!    index lists is added; an index file that cannot be read is removed and its packs are read
//!    again from their headers. It never removes a pack file. A lockstep snapshot that uses
//!    missing data loses its "unchanged set" mark (saved again under a new id), so the next
//!    backup reads the set instead of reusing that snapshot's tree.
//! 2. [`repair_snapshots`] rewrites each snapshot whose trees or file contents are missing:
//!    a new snapshot without the lost files (a file whose content is gone keeps the name with
//!    `.repaired` appended and what content is left), with the snapshot's set, host, label,
//!    tags and manifest, tagged `repaired`; the damaged original is removed. A snapshot whose
//!    root tree is lost has nothing left to keep and is removed. A repaired lockstep snapshot
//!    no longer claims to be a consistent moment of the set — it lost files — so its manifest's
//!    verdict becomes `unverified` (a restore wants `--force`) and it is never a backup's
//!    parent. Snapshot files that cannot be read at all are removed too.
//!
//! Run the index repair first, then a backup, then the snapshot repair for what is lost for
//! good: `check`'s advice says so.

use std::collections::{BTreeMap, BTreeSet};

use rustic_core::repofile::{IndexFile, IndexId, SnapshotFile, SnapshotId};
use rustic_core::{FileType, RepairIndexOptions, RepairSnapshotsOptions, StringList};
use serde::Serialize;

use crate::ops::check::HitSnapshot;
use crate::ops::drill::record::DRILL_TAG;
use crate::repo::manifest::{Manifest, Verdict};
use crate::repo::{DamagedSnapshot, OpenRepo, RepoSpec};
use crate::{Error, Result};

/// The tag a repaired snapshot carries besides its own.
pub const REPAIRED_TAG: &str = "repaired";

const ADVICE: &str =
    "nothing more was changed; keep a copy of the repository and run `restic check` on the copy";

/// What [`repair_index`] changed (or, with `dry_run`, would change).
#[derive(Debug, Clone, Serialize)]
pub struct IndexRepair {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Pack files the index lists that the repository does not have (full ids): removed from
    /// the index.
    pub lost_packs: Vec<String>,
    /// Blobs those packs held: missing from the repository now.
    pub lost_blobs: usize,
    /// Packs whose size differs from the index's (cut short, replaced): their headers are read
    /// again, and what cannot be read is removed from the index.
    pub resized_packs: Vec<String>,
    /// Packs no readable index file lists: added from their headers.
    pub unindexed_packs: Vec<String>,
    /// Index files that cannot be read (full ids): removed; their packs are read again.
    pub damaged_index_files: Vec<String>,
    /// Snapshots that use data the repository no longer has. After a real repair, from the
    /// repaired index; with `dry_run`, those that use the lost packs.
    pub hit_snapshots: Vec<HitSnapshot>,
    /// Hit snapshots saved again without their "unchanged set" mark, so that the next backup
    /// reads the set and stores the missing data again (ids change: old → new).
    pub reopened: Vec<Rewritten>,
}

impl IndexRepair {
    /// Whether the index was (or would be) changed.
    #[must_use]
    pub fn changes(&self) -> bool {
        !(self.lost_packs.is_empty()
            && self.resized_packs.is_empty()
            && self.unindexed_packs.is_empty()
            && self.damaged_index_files.is_empty())
    }
}

/// Repairs the index of the repository at `spec` (opened as `repo`); see the module.
///
/// # Errors
/// When the repository cannot be read, or the engine's repair fails.
pub fn repair_index(spec: &RepoSpec, repo: OpenRepo, dry_run: bool) -> Result<IndexRepair> {
    let raw = spec.raw_backend()?;
    let on_disk: BTreeMap<String, u32> = raw
        .list_with_size(FileType::Pack)?
        .into_iter()
        .map(|(id, size)| (id.to_hex().as_str().to_owned(), size))
        .collect();
    let ids: Vec<IndexId> = repo.list::<IndexId>()?.collect();
    let mut read: BTreeMap<IndexId, IndexFile> = BTreeMap::new();
    for file in repo.stream_files_list::<IndexFile>(ids.clone())?.flatten() {
        read.insert(file.0, file.1);
    }
    let damaged_index: Vec<IndexId> = ids
        .into_iter()
        .filter(|id| !read.contains_key(id))
        .collect();

    let Packs {
        lost,
        lost_blobs,
        resized,
        unindexed,
    } = compare_packs(&on_disk, &read);
    let mut report = IndexRepair {
        dry_run,
        lost_packs: lost.iter().cloned().collect(),
        lost_blobs,
        resized_packs: resized.into_iter().collect(),
        unindexed_packs: unindexed,
        damaged_index_files: damaged_index
            .iter()
            .map(|id| id.to_hex().as_str().to_owned())
            .collect(),
        hit_snapshots: Vec::new(),
        reopened: Vec::new(),
    };
    if dry_run {
        // the snapshots the lost packs take data from; an index that cannot be loaded as a
        // whole (a damaged index file) cannot say
        if !lost.is_empty() {
            let snapshots = snapshots_to_walk(&repo)?;
            if let Ok(indexed) = repo.to_indexed() {
                report.hit_snapshots = crate::ops::check::hits(&indexed, snapshots, &lost);
            }
        }
        return Ok(report);
    }
    if !report.changes() {
        return Ok(report);
    }
    crate::repo::contain::engine("repairing the index", ADVICE, || {
        for id in &damaged_index {
            raw.remove(FileType::Index, id, true)?;
        }
        repo.repair_index(&RepairIndexOptions::default(), false)?;
        Ok(())
    })?;
    let snapshots = snapshots_to_walk(&repo)?;
    let indexed = repo.to_indexed()?;
    let hit = crate::ops::check::hits(&indexed, snapshots.clone(), &BTreeSet::new());
    report.reopened = reopen(&indexed, &snapshots, &hit)?;
    report.hit_snapshots = hit;
    Ok(report)
}

/// How the pack files the index lists compare with those the repository has.
struct Packs {
    /// Listed, not there (full ids).
    lost: BTreeSet<String>,
    /// Blobs the lost packs held.
    lost_blobs: usize,
    /// There, at another size than listed.
    resized: BTreeSet<String>,
    /// There, listed by no readable index file.
    unindexed: Vec<String>,
}

/// Compares the packs the readable index files `read` list (packs to delete included) with
/// `on_disk` (full id → size): what [`repair_index`] reports it changes or would change.
fn compare_packs(on_disk: &BTreeMap<String, u32>, read: &BTreeMap<IndexId, IndexFile>) -> Packs {
    let mut indexed = BTreeSet::new();
    let (mut lost, mut resized, mut lost_blobs) = (BTreeSet::new(), BTreeSet::new(), 0);
    for index in read.values() {
        for pack in index.packs.iter().chain(&index.packs_to_delete) {
            let id = pack.id.to_hex().as_str().to_owned();
            match on_disk.get(&id) {
                None => {
                    if lost.insert(id.clone()) {
                        lost_blobs += pack.blobs.len();
                    }
                }
                Some(size) if *size != pack.pack_size() => {
                    resized.insert(id.clone());
                }
                Some(_) => {}
            }
            indexed.insert(id);
        }
    }
    let unindexed: Vec<String> = on_disk
        .keys()
        .filter(|id| !indexed.contains(*id))
        .cloned()
        .collect();
    Packs {
        lost,
        lost_blobs,
        resized,
        unindexed,
    }
}

/// Withdraws the "unchanged set" mark (the manifest's `set_state`) from the snapshots `hit`:
/// it lets a backup that finds the set unchanged reuse the snapshot's tree without reading a
/// file, which would carry the missing data into the new snapshot. Without it, the next
/// backup reads the files whose data is missing and stores them again. Each such snapshot is
/// saved again with only that change (a new id; the old file is removed).
fn reopen<S: rustic_core::IndexedFull>(
    repo: &rustic_core::Repository<S>,
    snapshots: &[SnapshotFile],
    hit: &[HitSnapshot],
) -> Result<Vec<Rewritten>> {
    let hit: BTreeSet<&str> = hit.iter().map(|h| h.id.as_str()).collect();
    let mut marked = Vec::new();
    for snap in snapshots {
        if !hit.contains(snap.id.to_hex().as_str()) {
            continue;
        }
        let Ok(Some(mut manifest)) = Manifest::from_description(snap.description.as_deref()) else {
            continue;
        };
        if manifest.consistency.set_state.take().is_none() {
            continue;
        }
        let mut copy = snap.clone();
        copy.description = Some(
            manifest
                .to_description()
                .map_err(|e| Error::Other(format!("cannot encode the manifest: {e}")))?,
        );
        marked.push((snap.clone(), copy));
    }
    if marked.is_empty() {
        return Ok(Vec::new());
    }
    let before: BTreeSet<SnapshotId> = snapshots.iter().map(|s| s.id).collect();
    repo.save_snapshots(marked.iter().map(|(_, copy)| copy.clone()).collect())?;
    let old: Vec<SnapshotId> = marked.iter().map(|(old, _)| old.id).collect();
    repo.delete_snapshots(&old)?;
    let after = crate::repo::load_snapshots(repo)?.intact;
    Ok(marked
        .iter()
        .filter_map(|(old, copy)| {
            let new = after.iter().find(|s| {
                !before.contains(&s.id)
                    && s.time == old.time
                    && s.original == old.original
                    && s.description == copy.description
            })?;
            Some(Rewritten {
                from: old.id.to_hex().as_str().to_owned(),
                to: new.id.to_hex().as_str().to_owned(),
            })
        })
        .collect())
}

/// Every snapshot but drill records (which record a drill of a snapshot, and share its tree).
fn snapshots_to_walk(repo: &OpenRepo) -> Result<Vec<SnapshotFile>> {
    Ok(crate::repo::load_snapshots(repo)?
        .intact
        .into_iter()
        .filter(|s| !s.tags.contains(DRILL_TAG))
        .collect())
}

/// One snapshot rewritten by [`repair_snapshots`].
#[derive(Debug, Clone, Serialize)]
pub struct Rewritten {
    /// The damaged snapshot.
    pub from: String,
    /// The repaired one that replaces it.
    pub to: String,
}

/// What [`repair_snapshots`] changed (or, with `dry_run`, would change).
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRepair {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Snapshots whose trees or file contents are missing.
    pub damaged: Vec<HitSnapshot>,
    /// Each damaged snapshot and the repaired one written in its place.
    pub rewritten: Vec<Rewritten>,
    /// Damaged snapshots removed (every one that was rewritten, and those with nothing left).
    pub removed: Vec<String>,
    /// Drill records of damaged snapshots, removed (they recorded a drill of what is gone).
    pub drill_records_removed: usize,
    /// Snapshot files that cannot be read.
    pub unreadable: Vec<DamagedSnapshot>,
    /// Those removed (full ids).
    pub unreadable_removed: Vec<String>,
}

/// Repairs the snapshots of the repository at `spec` (opened as `repo`); see the module.
///
/// # Errors
/// When the repository or its index cannot be read (repair the index first), or the engine's
/// repair fails.
pub fn repair_snapshots(spec: &RepoSpec, repo: OpenRepo, dry_run: bool) -> Result<SnapshotRepair> {
    let loaded = crate::repo::load_snapshots(&repo)?;
    let _ = crate::repo::take_damaged();
    let unreadable = loaded.damaged;
    let repo = repo.to_indexed().map_err(|e| {
        Error::Repo(format!(
            "cannot load the index ({}): run `lockstep repair index` first",
            crate::repo::explain(&e)
        ))
    })?;
    let (records, sets): (Vec<SnapshotFile>, Vec<SnapshotFile>) = loaded
        .intact
        .into_iter()
        .partition(|s| s.tags.contains(DRILL_TAG));
    let damaged = crate::ops::check::hits(&repo, sets.clone(), &BTreeSet::new());
    let hit: BTreeSet<&str> = damaged.iter().map(|h| h.id.as_str()).collect();
    let hit_records: Vec<SnapshotId> = records
        .iter()
        .filter(|r| hit.contains(r.id.to_hex().as_str()) || tree_of_hit(r, &sets, &hit))
        .map(|r| r.id)
        .collect();
    let mut report = SnapshotRepair {
        dry_run,
        damaged: damaged.clone(),
        rewritten: Vec::new(),
        removed: Vec::new(),
        drill_records_removed: hit_records.len(),
        unreadable: unreadable.clone(),
        unreadable_removed: Vec::new(),
    };
    if dry_run {
        return Ok(report);
    }
    let before: BTreeSet<SnapshotId> = sets.iter().map(|s| s.id).collect();
    let to_repair: Vec<SnapshotFile> = sets
        .into_iter()
        .filter(|s| hit.contains(s.id.to_hex().as_str()))
        .collect();
    crate::repo::contain::engine("repairing the snapshots", ADVICE, || {
        for snap in &to_repair {
            let (snap, tags) = marked(snap.clone());
            let mut opts = RepairSnapshotsOptions::default();
            opts.tag = tags;
            repo.repair_snapshots(&opts, vec![snap], false)?;
        }
        if !hit_records.is_empty() {
            repo.delete_snapshots(&hit_records)?;
        }
        Ok(())
    })?;
    let raw = spec.raw_backend()?;
    for d in &unreadable {
        let id: rustic_core::Id =
            d.id.parse()
                .map_err(|_| Error::Other(format!("internal: snapshot id {} is not hex", d.id)))?;
        raw.remove(FileType::Snapshot, &id, true)?;
        report.unreadable_removed.push(d.id.clone());
    }
    // the new snapshots, found by the original each one names
    let after = crate::repo::load_snapshots(&repo)?.intact;
    let ids: BTreeSet<SnapshotId> = after.iter().map(|s| s.id).collect();
    for old in &to_repair {
        let old_id = old.id.to_hex().as_str().to_owned();
        if !ids.contains(&old.id) {
            report.removed.push(old_id.clone());
        }
        if let Some(new) = after.iter().find(|s| {
            !before.contains(&s.id)
                && s.original == old.original
                && s.time == old.time
                && s.tags.contains(REPAIRED_TAG)
        }) {
            report.rewritten.push(Rewritten {
                from: old_id,
                to: new.id.to_hex().as_str().to_owned(),
            });
        }
    }
    Ok(report)
}

/// Whether a drill record shares its tree with a damaged snapshot.
fn tree_of_hit(record: &SnapshotFile, sets: &[SnapshotFile], hit: &BTreeSet<&str>) -> bool {
    sets.iter()
        .any(|s| s.tree == record.tree && hit.contains(s.id.to_hex().as_str()))
}

/// The snapshot as its repaired copy is saved: the manifest no longer claims a consistent
/// moment of the set (nor the set's state, which lets a backup reuse the tree), and the tags
/// to set (the engine *replaces* the tags of a repaired snapshot): its own and `repaired`.
fn marked(mut snap: SnapshotFile) -> (SnapshotFile, Vec<StringList>) {
    if let Ok(Some(mut manifest)) = Manifest::from_description(snap.description.as_deref()) {
        manifest.consistency.verdict = Verdict::Unverified;
        manifest.consistency.set_state = None;
        if let Ok(text) = manifest.to_description() {
            snap.description = Some(text);
        }
    }
    let mut tags = vec![snap.tags.clone()];
    if let Ok(repaired) = REPAIRED_TAG.parse::<StringList>() {
        tags.push(repaired);
    }
    (snap, tags)
}
