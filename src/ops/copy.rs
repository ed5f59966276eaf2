//! Copies lockstep snapshots from one repository to another: the fast local tier to the
//! disaster-recovery remote.
//!
//! Only snapshots the destination lacks are copied (rustic_core's `relevant_copy_snapshots`
//! compares the snapshot files without their ids), so running it again copies nothing. A copy
//! carries the snapshot's tags, label and description — the lockstep manifest — so the remote
//! snapshot is findable by set and host and restorable on its own. Only the blobs the
//! destination lacks are uploaded; the snapshot file is written last, so an interrupted copy
//! leaves no snapshot behind. Drill records stay where the drill ran: a drill proves a
//! restore from *that* repository.

use serde::Serialize;

use crate::repo::manifest::TAG;
use crate::repo::{OpenRepo, find_snapshot, set_snapshots};
use crate::{Error, Result};

/// One snapshot considered by a copy.
#[derive(Debug, Clone, Serialize)]
pub struct CopiedSnapshot {
    /// The snapshot's id in the source repository.
    pub id: String,
    /// Its host.
    pub host: String,
    /// Its set, from its tag.
    pub set: Option<String>,
    /// When it was taken.
    pub time: String,
    /// Whether it was copied now (`false`: the destination already had it).
    pub copied: bool,
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// The source repository, as described in messages.
    pub from: String,
    /// The destination repository.
    pub to: String,
    /// Every snapshot considered, oldest first.
    pub snapshots: Vec<CopiedSnapshot>,
    /// How many were copied now.
    pub copied: usize,
    /// How many the destination already had.
    pub already_present: usize,
}

/// Copies `ids` (id prefixes or `latest`; every lockstep snapshot when empty) from `source` to
/// `dest`, skipping those `dest` already holds.
///
/// # Errors
/// When an id matches no snapshot, or either repository fails (then nothing new is visible in
/// the destination: a snapshot file is written only after its data).
pub fn copy(
    source: OpenRepo,
    dest: OpenRepo,
    ids: &[String],
    from: &str,
    to: &str,
) -> Result<CopyReport> {
    let chosen: Vec<_> = if ids.is_empty() {
        set_snapshots(&source, None, None)?
    } else {
        let mut v = Vec::new();
        for id in ids {
            let s = find_snapshot(&source, id, None, None)?;
            if !v
                .iter()
                .any(|x: &crate::repo::SetSnapshot| x.id() == s.id())
            {
                v.push(s);
            }
        }
        v.sort_by(|a, b| a.snapshot.time.cmp(&b.snapshot.time));
        v
    };
    let files: Vec<_> = chosen.iter().map(|s| s.snapshot.clone()).collect();
    let relevant = dest
        .relevant_copy_snapshots(|s| s.tags.contains(TAG), &files)
        .map_err(|e| {
            Error::Repo(format!(
                "cannot list the snapshots of {to}: {}",
                crate::repo::explain(&e)
            ))
        })?;
    let report_rows: Vec<CopiedSnapshot> = chosen
        .iter()
        .zip(&relevant)
        .map(|(s, r)| CopiedSnapshot {
            id: s.id(),
            host: s.snapshot.hostname.clone(),
            set: s.set_name(),
            time: s.snapshot.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            copied: r.relevant,
        })
        .collect();
    let to_copy: Vec<_> = relevant
        .into_iter()
        .filter(|r| r.relevant)
        .map(|r| r.sn)
        .collect();
    if !to_copy.is_empty() {
        let source = source.to_indexed().map_err(|e| {
            Error::Repo(format!(
                "cannot read the index of {from}: {}",
                crate::repo::explain(&e)
            ))
        })?;
        let dest = dest.to_indexed_ids().map_err(|e| {
            Error::Repo(format!(
                "cannot read the index of {to}: {}",
                crate::repo::explain(&e)
            ))
        })?;
        source.copy(&dest, &to_copy).map_err(|e| {
            Error::Repo(format!(
                "copying to {to} failed: {}; no incomplete snapshot is visible there, run the copy again",
                crate::repo::explain(&e)
            ))
        })?;
    }
    let copied = to_copy.len();
    Ok(CopyReport {
        from: from.to_owned(),
        to: to.to_owned(),
        already_present: report_rows.len() - copied,
        snapshots: report_rows,
        copied,
    })
}
