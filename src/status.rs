//! Where a set stands against its snapshots: `status` (the live host against the latest
//! snapshot of its set) and `diff` (a snapshot against another one, or against the live host).
//!
//! Both combine the two comparisons lockstep knows: IM's records ([`InventoryDiff`], from the
//! manifests and the live records) and the files ([`FileChanges`], by metadata, from the
//! snapshot trees and the live host). Nothing is restored and no file data is read.
//!
//! The verdict of `status` is *drift* when IM's inventory changed, or when any file in IM's own
//! roles (registry, install, agent data, shared resources) changed: either means the snapshot no
//! longer holds IM and the products at the state the host is in. Changed product or extra files
//! alone (logs, configuration edits) are reported but are not drift. So is a set that shrank
//! (rule 6 of the design): a member the snapshot holds and the live set has lost, or an IM
//! record that cannot be read, is drift, named in the report.

use rustic_core::jiff::Timestamp;
use serde::Serialize;

use crate::compare::{FileChanges, compare, live_tree, snapshot_tree, union_members};
use crate::drift::InventoryDiff;
use crate::hostfs::HostRoot;
use crate::im::discover::{Instance, RecordProblem};
use crate::manifest::Manifest;
use crate::repo::{OpenRepo, SetSnapshot, set_snapshots};
use crate::{Error, Result};

/// A snapshot as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    /// The full id.
    pub id: String,
    /// When it was taken (RFC 3339).
    pub time: String,
    /// Seconds between then and now (negative when the clocks disagree).
    pub age_seconds: i64,
    /// Its label, possibly empty.
    pub label: String,
    /// Its inventory in one line.
    pub summary: String,
}

impl SnapshotRef {
    /// The reference for `snap`.
    #[must_use]
    pub fn of(snap: &SetSnapshot) -> Self {
        let taken = snap.snapshot.time.timestamp();
        Self {
            id: snap.id(),
            time: taken.to_string(),
            age_seconds: Timestamp::now().as_second() - taken.as_second(),
            label: snap.snapshot.label.clone(),
            summary: snap
                .manifest
                .as_ref()
                .map_or_else(|| "(no manifest)".to_owned(), |m| m.inventory.summary()),
        }
    }
}

/// The verdict of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// IM's records and IM's files are as in the latest snapshot.
    InSync,
    /// IM's records or IM's files changed since the latest snapshot.
    Drift,
    /// The set has no snapshot from this host yet.
    NoSnapshot,
}

/// The live host against the latest snapshot of its set.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The set's name.
    pub set: String,
    /// The host name the snapshots are recorded under.
    pub host: String,
    /// In sync, drift, or no snapshot.
    pub verdict: Verdict,
    /// The snapshot compared with (`None` when there is none).
    pub snapshot: Option<SnapshotRef>,
    /// What changed in IM's records since the snapshot.
    pub inventory_diff: InventoryDiff,
    /// What changed in the files since the snapshot, per role.
    pub files: FileChanges,
    /// Members the snapshot holds that the live set no longer has (`role path`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vanished: Vec<String>,
    /// IM's records that cannot be read, each naming the file and what is wrong with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_records: Vec<String>,
}

/// Compares the live host with the latest snapshot of `instance`'s set taken on `host_name` —
/// or with the snapshot last restored in place (`restored`), when that restore is newer: after
/// rolling back to an older snapshot, that snapshot is what the host should equal.
/// `problems` are the live records' problems found by lenient discovery: each is drift.
///
/// # Errors
/// When the repository or the live set cannot be read, or the snapshot has no manifest lockstep
/// can read.
pub fn status(
    repo: OpenRepo,
    host: &HostRoot,
    instance: &Instance,
    host_name: &str,
    restored: Option<&crate::state::RestoreRecord>,
    problems: &[RecordProblem],
) -> Result<StatusReport> {
    let unreadable_records: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    let snaps = set_snapshots(&repo, Some(&instance.name), Some(host_name))?;
    let restored_snap = restored.and_then(|r| {
        let when: rustic_core::jiff::Timestamp = r.time.parse().ok()?;
        let snap = snaps.iter().find(|s| s.id() == r.snapshot)?;
        snaps
            .last()
            .is_some_and(|latest| latest.snapshot.time.timestamp() < when)
            .then(|| snap.clone())
    });
    let Some(latest) = restored_snap.or_else(|| snaps.last().cloned()) else {
        return Ok(StatusReport {
            set: instance.name.clone(),
            host: host_name.to_owned(),
            verdict: Verdict::NoSnapshot,
            snapshot: None,
            inventory_diff: InventoryDiff::default(),
            files: FileChanges::default(),
            vanished: Vec::new(),
            unreadable_records,
        });
    };
    let vanished: Vec<String> = latest
        .manifest
        .as_ref()
        .map(|m| {
            instance
                .set
                .vanished_since(&m.members)
                .iter()
                .map(|m| format!("{} {}", m.role, m.path.display()))
                .collect()
        })
        .unwrap_or_default();
    let d = diff_live(repo, &latest, host, instance)?;
    let verdict = if d.inventory_diff.is_empty()
        && !d.files.im_changed()
        && vanished.is_empty()
        && unreadable_records.is_empty()
    {
        Verdict::InSync
    } else {
        Verdict::Drift
    };
    Ok(StatusReport {
        set: instance.name.clone(),
        host: host_name.to_owned(),
        verdict,
        snapshot: Some(d.from),
        inventory_diff: d.inventory_diff,
        files: d.files,
        vanished,
        unreadable_records,
    })
}

/// A snapshot against another snapshot or the live host.
#[derive(Debug, Clone, Serialize)]
pub struct SetDiff {
    /// The earlier side.
    pub from: SnapshotRef,
    /// The later side; `None` for the live host.
    pub to: Option<SnapshotRef>,
    /// What changed in IM's records.
    pub inventory_diff: InventoryDiff,
    /// What changed in the files, per role.
    pub files: FileChanges,
}

fn manifest_of(snap: &SetSnapshot) -> Result<&Manifest> {
    snap.manifest.as_ref().ok_or_else(|| {
        Error::Other(format!(
            "snapshot {} has no lockstep manifest this lockstep can read, so its inventory is unknown; compare lockstep snapshots only (see `lockstep snapshots`), or upgrade lockstep",
            snap.id().get(..8).unwrap_or_default()
        ))
    })
}

/// What changed from snapshot `from` to snapshot `to`.
///
/// # Errors
/// When the repository cannot be read or a snapshot has no readable manifest.
pub fn diff_snapshots(repo: OpenRepo, from: &SetSnapshot, to: &SetSnapshot) -> Result<SetDiff> {
    let (a, b) = (manifest_of(from)?, manifest_of(to)?);
    let members = union_members(&a.members, &b.members);
    let repo = repo.to_indexed_ids()?;
    let old = snapshot_tree(&repo, &from.snapshot, &members)?;
    let new = snapshot_tree(&repo, &to.snapshot, &members)?;
    Ok(SetDiff {
        from: SnapshotRef::of(from),
        to: Some(SnapshotRef::of(to)),
        inventory_diff: InventoryDiff::between(&a.inventory, &b.inventory),
        files: compare(&old, &new, &members),
    })
}

/// What changed from snapshot `from` to the live host's set of `instance`.
///
/// # Errors
/// When the repository or the live set cannot be read, or the snapshot has no readable manifest.
pub fn diff_live(
    repo: OpenRepo,
    from: &SetSnapshot,
    host: &HostRoot,
    instance: &Instance,
) -> Result<SetDiff> {
    let a = manifest_of(from)?;
    let members = union_members(&a.members, &instance.set.members);
    let repo = repo.to_indexed_ids()?;
    let old = snapshot_tree(&repo, &from.snapshot, &members)?;
    let new = live_tree(host, &members)?;
    Ok(SetDiff {
        from: SnapshotRef::of(from),
        to: None,
        inventory_diff: InventoryDiff::between(&a.inventory, &instance.inventory),
        files: compare(&old, &new, &members),
    })
}
