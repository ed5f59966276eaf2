//! Drill results, recorded in the repository itself.
//!
//! lockstep writes no storage format of its own, so a drill's result is kept as an ordinary
//! restic-format snapshot file: a **drill record**. It is tagged `lockstep-drill` (never
//! `lockstep`, so nothing treats it as a set snapshot: [`crate::repo::set_snapshots`] selects
//! the tag `lockstep` exactly), has the drilled snapshot's host, `set=` tag, paths and root
//! tree, and carries the result as JSON in its `description`, which restic and rustic keep and
//! ignore. Reusing the drilled snapshot's tree means a record adds no data to the repository and
//! `restic check` finds nothing dangling; the price is that plain `restic snapshots` lists the
//! records too (filter with `--tag lockstep`).
//!
//! The drilled snapshot is never rewritten (its id stays what the administrator wrote down).
//! lockstep keeps, per drilled snapshot, the newest record and the newest successful one;
//! `forget` removes the records of the snapshots it removes.

use std::collections::BTreeMap;

use rustic_core::SnapshotOptions;
use rustic_core::repofile::{SnapshotFile, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::repo::manifest::set_tag;
use crate::repo::{OpenRepo, SetSnapshot};
use crate::{Error, Result};

/// The tag of every drill record.
pub const DRILL_TAG: &str = "lockstep-drill";

/// The schema of a drill record's description this lockstep writes.
pub const RECORD_SCHEMA: u32 = 1;

/// A drill's result, as recorded and as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillResult {
    /// Schema of this document.
    pub schema_version: u32,
    /// The drilled snapshot's id.
    pub snapshot: String,
    /// Its set.
    #[serde(default)]
    pub set: Option<String>,
    /// Its host.
    #[serde(default)]
    pub host: String,
    /// Whether the snapshot was restored and every entry verified.
    pub ok: bool,
    /// When the drill finished (RFC 3339).
    pub time: String,
    /// Wall time of the whole drill, seconds.
    pub seconds: f64,
    /// Time spent restoring, seconds.
    #[serde(default)]
    pub restore_seconds: f64,
    /// Time spent verifying, seconds.
    #[serde(default)]
    pub verify_seconds: f64,
    /// Bytes restored.
    #[serde(default)]
    pub bytes: u64,
    /// Restore throughput, bytes per second.
    #[serde(default)]
    pub throughput_bytes_per_second: f64,
    /// Regular files restored.
    #[serde(default)]
    pub files: u64,
    /// Entries (files, directories, links …) verified against the snapshot.
    #[serde(default)]
    pub entries_verified: u64,
    /// Whether the restored agent data's records gave the manifest's inventory (`None` when
    /// the snapshot has no manifest or the restore failed before).
    #[serde(default)]
    pub inventory_ok: Option<bool>,
    /// How many problems were found.
    #[serde(default)]
    pub problem_count: usize,
    /// The first problems, one line each.
    #[serde(default)]
    pub problems: Vec<String>,
    /// The lockstep version that ran the drill.
    #[serde(default)]
    pub lockstep_version: String,
}

/// A drill record found in the repository.
#[derive(Debug, Clone)]
pub struct DrillRecord {
    /// The record's own snapshot-file id.
    pub id: SnapshotId,
    /// The result it carries.
    pub result: DrillResult,
}

impl DrillRecord {
    /// The record's own snapshot-file id.
    #[must_use]
    pub fn record_id(&self) -> SnapshotId {
        self.id
    }
}

/// Every drill record in the repository, oldest first. Records whose description this
/// lockstep cannot read are skipped.
///
/// # Errors
/// When the repository cannot be read.
pub fn all(repo: &OpenRepo) -> Result<Vec<DrillRecord>> {
    Ok(among(&crate::repo::all_snapshots(repo)?))
}

/// [`all`] among snapshot files already read ([`crate::repo::all_snapshots`]).
#[must_use]
pub fn among(files: &[SnapshotFile]) -> Vec<DrillRecord> {
    let mut records: Vec<(&SnapshotFile, DrillResult)> = files
        .iter()
        .filter(|s| s.tags.contains(DRILL_TAG))
        .filter_map(|s| {
            let result: DrillResult = serde_json::from_str(s.description.as_deref()?).ok()?;
            Some((s, result))
        })
        .collect();
    records.sort_by(|a, b| a.0.time.cmp(&b.0.time));
    records
        .into_iter()
        .map(|(s, result)| DrillRecord { id: s.id, result })
        .collect()
}

/// The latest drill of a snapshot, and its latest successful one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrillHistory {
    /// The newest drill's result.
    pub last: Option<DrillResult>,
    /// When the snapshot was last proven restorable (RFC 3339).
    pub proven_at: Option<String>,
}

/// Drill history per drilled snapshot id.
#[must_use]
pub fn history(records: &[DrillRecord]) -> BTreeMap<String, DrillHistory> {
    let mut out: BTreeMap<String, DrillHistory> = BTreeMap::new();
    for r in records {
        let h = out.entry(r.result.snapshot.clone()).or_default();
        if r.result.ok {
            h.proven_at = Some(r.result.time.clone());
        }
        h.last = Some(r.result.clone());
    }
    out
}

/// Records `result` for the drilled snapshot `of`, then removes the snapshot's older records
/// except the newest successful one.
///
/// # Errors
/// When the record cannot be written (an append-only repository keeps the older records).
pub fn save(repo: &OpenRepo, of: &SetSnapshot, result: &DrillResult) -> Result<()> {
    let description = serde_json::to_string(result)
        .map_err(|e| Error::Other(format!("cannot encode the drill result: {e}")))?;
    let mut tags = DRILL_TAG.to_owned();
    if let Some(set) = of.set_name() {
        tags.push(',');
        tags.push_str(&set_tag(&set));
    }
    let mut record: SnapshotFile = SnapshotOptions::default()
        .host(of.snapshot.hostname.clone())
        .label(
            if result.ok {
                "drill ok"
            } else {
                "drill FAILED"
            }
            .to_owned(),
        )
        .description(description)
        .add_tags(&tags)?
        .to_snapshot()?;
    record.tree = of.snapshot.tree;
    record.paths = of.snapshot.paths.clone();
    record.summary = None;
    let before: Vec<DrillRecord> = all(repo)?
        .into_iter()
        .filter(|r| r.result.snapshot == result.snapshot)
        .collect();
    repo.save_snapshots(vec![record])?;

    // Keep the newest successful record when this drill failed; drop every other older one.
    let keep_ok = if result.ok {
        None
    } else {
        before.iter().rev().find(|r| r.result.ok).map(|r| r.id)
    };
    let stale: Vec<SnapshotId> = before
        .iter()
        .map(|r| r.id)
        .filter(|id| Some(*id) != keep_ok)
        .collect();
    if !stale.is_empty() {
        // Losing old records is harmless (the new one is written); an append-only repository
        // simply keeps them.
        let _ = repo.delete_snapshots(&stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(snapshot: &str, time: &str, ok: bool) -> DrillResult {
        DrillResult {
            schema_version: RECORD_SCHEMA,
            snapshot: snapshot.into(),
            set: Some("admin".into()),
            host: "dx1".into(),
            ok,
            time: time.into(),
            seconds: 1.0,
            restore_seconds: 0.5,
            verify_seconds: 0.5,
            bytes: 10,
            throughput_bytes_per_second: 20.0,
            files: 1,
            entries_verified: 3,
            inventory_ok: Some(ok),
            problem_count: 0,
            problems: Vec::new(),
            lockstep_version: "0.1.0".into(),
        }
    }

    #[test]
    fn history_keeps_last_and_last_proven() {
        let records = vec![
            DrillRecord {
                id: SnapshotId::default(),
                result: result("a", "2026-01-01T00:00:00+00:00", true),
            },
            DrillRecord {
                id: SnapshotId::default(),
                result: result("a", "2026-01-02T00:00:00+00:00", false),
            },
            DrillRecord {
                id: SnapshotId::default(),
                result: result("b", "2026-01-03T00:00:00+00:00", true),
            },
        ];
        let h = history(&records);
        assert_eq!(
            h["a"].proven_at.as_deref(),
            Some("2026-01-01T00:00:00+00:00")
        );
        assert!(!h["a"].last.as_ref().unwrap().ok);
        assert!(h["b"].last.as_ref().unwrap().ok);
    }

    #[test]
    fn the_description_round_trips() {
        let r = result("a", "2026-01-01T00:00:00+00:00", true);
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<DrillResult>(&text).unwrap(), r);
    }
}
