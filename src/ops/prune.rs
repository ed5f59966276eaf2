//! Reclaiming space: rustic_core's prune over the repository.
//!
//! After `forget` removes snapshot files, the data only they used is still in the pack files.
//! [`prune`] runs rustic's two-phase prune with its default limits: pack files nothing uses any
//! more are first only *marked* for deletion (in the index) and deleted by a later prune once
//! they have been marked for 23 hours; partly used pack files are repacked (at most 10 % of the
//! repository per run, tolerating 5 % unused data). Because nothing is deleted that a backup
//! running at the same time could still reference, prune never has to lock out backups. The
//! space therefore comes back on the *second* prune, a day later; a nightly schedule does that.
//!
//! [`Deletion::Instant`] (`prune --instant-delete`, for a full disk) deletes the unused pack
//! files at once, those marked by earlier prunes included, as restic's prune does. It is safe
//! only while nothing else writes to the repository: lockstep takes no lock (restic's lock files
//! are what keeps a restic backup out of a restic prune), so a backup running at the same time,
//! from this host or another, may reference data this prune deletes, and its snapshot is then
//! damaged (`lockstep check` finds it). The report says that it was used.
use serde::Serialize;

use rustic_core::PruneOptions;

use crate::Result;
use crate::repo::OpenRepo;

/// When a prune deletes the pack files nothing uses any more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deletion {
    /// Marked now, deleted by a prune 23 hours or more later: safe beside running backups.
    #[default]
    TwoPhase,
    /// Deleted now (`--instant-delete`): only while no backup runs against the repository.
    Instant,
}

/// What a prune did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Unused pack files were deleted at once ([`Deletion::Instant`]), not marked: safe only
    /// if no backup ran against the repository meanwhile.
    pub instant_delete: bool,
    /// Bytes in the repository's pack files before the prune (blobs, used and unused).
    pub bytes_total: u64,
    /// Bytes no snapshot uses, before the prune.
    pub bytes_unused: u64,
    /// Unused bytes left after the prune (within the tolerated limit).
    pub bytes_unused_after: u64,
    /// Unused pack files newly marked for deletion (0 with `instant_delete`: they are counted
    /// in `packs_deleted`).
    pub packs_marked: u64,
    /// Unused bytes in them.
    pub bytes_marked: u64,
    /// Partly used pack files repacked.
    pub packs_repacked: u64,
    /// Bytes rewritten by repacking.
    pub bytes_repacked: u64,
    /// Pack files deleted now: those marked by an earlier prune whose time has come; with
    /// `instant_delete` every unused one (marked earlier or not, in an index or not).
    pub packs_deleted: u64,
    /// Bytes freed by deleting them (the repacked pack files' are not counted).
    pub bytes_deleted: u64,
    /// Pack files still waiting for their deletion time (0 with `instant_delete`).
    pub packs_waiting: u64,
    /// Pack files lockstep found in the repository but in no index (left by an interrupted
    /// backup); they are marked too, or deleted with `instant_delete`.
    pub packs_unindexed: u64,
}

/// Prunes the repository (see the module documentation); `deletion` says when unused pack
/// files go.
///
/// # Errors
/// When the repository is append-only or fails.
pub fn prune(repo: &OpenRepo, dry_run: bool, deletion: Deletion) -> Result<PruneReport> {
    let instant = deletion == Deletion::Instant;
    let opts = PruneOptions::default().instant_delete(instant);
    let plan = repo.prune_plan(&opts)?;
    let s = &plan.stats;
    let size = s.size_sum();
    let mut report = PruneReport {
        dry_run,
        instant_delete: instant,
        bytes_total: size.total(),
        bytes_unused: size.unused,
        bytes_unused_after: size.unused_after_prune(),
        packs_marked: s.packs.unused,
        bytes_marked: size.remove,
        packs_repacked: s.packs.repack,
        bytes_repacked: size.repack,
        packs_deleted: s.packs_to_delete.remove,
        bytes_deleted: s.size_to_delete.remove,
        packs_waiting: s.packs_to_delete.keep,
        packs_unindexed: s.packs_unref,
    };
    if instant {
        // Nothing is marked: what two phases would mark, and what earlier prunes marked, goes now.
        report.packs_deleted += report.packs_marked + report.packs_waiting + s.packs_unref;
        report.bytes_deleted += report.bytes_marked + s.size_to_delete.keep + s.size_unref;
        report.packs_marked = 0;
        report.bytes_marked = 0;
        report.packs_waiting = 0;
    }
    if !dry_run {
        // Where the concurrency tests step in: planned from the index as it was, not yet
        // carried out (backups finishing here are what the two phases protect).
        crate::util::fault::point("prune-planned");
        repo.prune(&opts, plan)?;
    }
    Ok(report)
}
