//! Reclaiming space: rustic_core's prune over the repository.
//!
//! After `forget` removes snapshot files, the data only they used is still in the pack files.
//! [`prune`] runs rustic's two-phase prune with its default limits: pack files nothing uses any
//! more are first only *marked* for deletion (in the index) and deleted by a later prune once
//! they have been marked for 23 hours; partly used pack files are repacked (at most 10 % of the
//! repository per run, tolerating 5 % unused data). Because nothing is deleted that a backup
//! running at the same time could still reference, prune never has to lock out backups. The
//! space therefore comes back on the *second* prune, a day later; a nightly schedule does that.

use serde::Serialize;

use rustic_core::PruneOptions;

use crate::Result;
use crate::repo::OpenRepo;

/// What a prune did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Bytes in the repository's pack files before the prune (blobs, used and unused).
    pub bytes_total: u64,
    /// Bytes no snapshot uses, before the prune.
    pub bytes_unused: u64,
    /// Unused bytes left after the prune (within the tolerated limit).
    pub bytes_unused_after: u64,
    /// Unused pack files newly marked for deletion.
    pub packs_marked: u64,
    /// Unused bytes in them.
    pub bytes_marked: u64,
    /// Partly used pack files repacked.
    pub packs_repacked: u64,
    /// Bytes rewritten by repacking.
    pub bytes_repacked: u64,
    /// Pack files marked by an earlier prune and deleted now.
    pub packs_deleted: u64,
    /// Bytes freed by deleting them.
    pub bytes_deleted: u64,
    /// Pack files still waiting for their deletion time.
    pub packs_waiting: u64,
    /// Pack files lockstep found in the repository but in no index (left by an interrupted
    /// backup); they are marked too.
    pub packs_unindexed: u64,
}

/// Prunes the repository (see the module documentation).
///
/// # Errors
/// When the repository is append-only or fails.
pub fn prune(repo: &OpenRepo, dry_run: bool) -> Result<PruneReport> {
    let opts = PruneOptions::default();
    let plan = repo.prune_plan(&opts)?;
    let s = &plan.stats;
    let size = s.size_sum();
    let report = PruneReport {
        dry_run,
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
    if !dry_run {
        // Where the concurrency tests step in: planned from the index as it was, not yet
        // carried out (backups finishing here are what the two phases protect).
        crate::util::fault::point("prune-planned");
        repo.prune(&opts, plan)?;
    }
    Ok(report)
}
