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

use crate::host::root::HostRoot;
use crate::im::discover::{Instance, RecordProblem};
use crate::im::drift::InventoryDiff;
use crate::ops::compare::{FileChanges, compare, live_tree, snapshot_tree, union_members};
use crate::repo::manifest::Manifest;
use crate::repo::{OpenRepo, SetSnapshot};
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
pub enum SyncState {
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
    pub verdict: SyncState,
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

/// A snapshot restored in place on this host, and when that restore finished.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The snapshot restored.
    pub snap: SetSnapshot,
    /// When the restore finished.
    pub when: Timestamp,
}

/// The snapshot the live host should equal: the newest of its set on this host (`latest`, as
/// every command means it: [`crate::repo::resolve_latest`]) — or the snapshot last restored in
/// place, when that restore is newer (or the host has no snapshot of its own yet: a machine
/// rebuilt from another host's): after rolling back to an older snapshot, that snapshot is
/// what the host should equal. `None` when there is neither.
#[must_use]
pub fn compared_with(
    latest: Option<SetSnapshot>,
    restored: Option<Restored>,
) -> Option<SetSnapshot> {
    match (latest, restored) {
        (Some(latest), Some(r)) if latest.snapshot.time.timestamp() >= r.when => Some(latest),
        (_, Some(r)) => Some(r.snap),
        (latest, None) => latest,
    }
}

/// Compares the live host with `compared` (see [`compared_with`]), a snapshot of `instance`'s
/// set, for the host recorded as `host_name`; with none, the verdict is
/// [`SyncState::NoSnapshot`]. `problems` are the live records' problems found by lenient
/// discovery: each is drift.
///
/// # Errors
/// When the repository or the live set cannot be read, or the snapshot has no manifest lockstep
/// can read.
pub fn status(
    repo: OpenRepo,
    (host, excludes): (&HostRoot, &[String]),
    instance: &Instance,
    host_name: &str,
    compared: Option<&SetSnapshot>,
    problems: &[RecordProblem],
) -> Result<StatusReport> {
    let unreadable_records: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    let Some(latest) = compared else {
        return Ok(StatusReport {
            set: instance.name.clone(),
            host: host_name.to_owned(),
            verdict: SyncState::NoSnapshot,
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
    let d = diff_live(repo, latest, (host, excludes), instance)?;
    let verdict = if d.inventory_diff.is_empty()
        && !d.files.im_changed()
        && vanished.is_empty()
        && unreadable_records.is_empty()
    {
        SyncState::InSync
    } else {
        SyncState::Drift
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
    (host, excludes): (&HostRoot, &[String]),
    instance: &Instance,
) -> Result<SetDiff> {
    let a = manifest_of(from)?;
    // When the live set's state digest is the one the snapshot recorded, the live set *is* the
    // snapshot, entry by entry: no tree needs reading (a large host's tree takes seconds).
    if a.members == instance.set.members
        && crate::ops::restore::delta::Proven::check(host, from, excludes).is_some()
    {
        return Ok(SetDiff {
            from: SnapshotRef::of(from),
            to: None,
            inventory_diff: InventoryDiff::between(&a.inventory, &instance.inventory),
            files: FileChanges::default(),
        });
    }
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

#[cfg(test)]
mod tests {
    use rustic_core::jiff::tz::TimeZone;
    use rustic_core::repofile::SnapshotFile;

    use super::*;

    fn at(time: &str) -> Timestamp {
        time.parse().unwrap()
    }

    fn snap(label: &str, time: &str) -> SetSnapshot {
        SetSnapshot {
            snapshot: SnapshotFile {
                label: label.to_owned(),
                time: at(time).to_zoned(TimeZone::UTC),
                ..SnapshotFile::default()
            },
            manifest: None,
        }
    }

    fn restored(label: &str, taken: &str, when: &str) -> Option<Restored> {
        Some(Restored {
            snap: snap(label, taken),
            when: at(when),
        })
    }

    fn label(s: Option<SetSnapshot>) -> String {
        s.map_or_else(|| "none".to_owned(), |s| s.snapshot.label)
    }

    #[test]
    fn the_host_is_compared_with_latest_or_what_was_restored_in_place_since() {
        let (t1, t2, t3) = (
            "2026-01-01T00:00:00Z",
            "2026-01-02T00:00:00Z",
            "2026-01-03T00:00:00Z",
        );
        // no restore: latest, or nothing
        assert_eq!(label(compared_with(Some(snap("s2", t2)), None)), "s2");
        assert_eq!(label(compared_with(None, None)), "none");
        // rolled back to s1 after s2 was taken: s1
        assert_eq!(
            label(compared_with(Some(snap("s2", t2)), restored("s1", t1, t3))),
            "s1"
        );
        // a backup after the restore: that backup
        assert_eq!(
            label(compared_with(Some(snap("s3", t3)), restored("s1", t1, t2))),
            "s3"
        );
        // rebuilt from another host's snapshot, none of its own yet: what was restored
        assert_eq!(label(compared_with(None, restored("old", t1, t2))), "old");
    }
}
