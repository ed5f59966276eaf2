//! `--metrics-file`: what each command reports, written once the command has returned.
//!
//! Commands note what they know ([`Ctx::note_metrics`], [`Ctx::note_inventory`]);
//! [`Ctx::write_metrics`] writes the file after the command, successful or not, for the commands
//! that report metrics (backup, drill, check, status, copy, prune, forget, guard). A failed
//! command that noted nothing still updates its `last_run_success` to 0, so an alert sees it.
//! A run that changes nothing (a dry run, `guard --status`) writes nothing
//! ([`Ctx::skip_metrics`]): it must not stand in for the last real run.
//!
//! One command can note runs of others: `forget --prune` notes a `prune` run too, and
//! `backup --copy` a `copy` run, so "when did the repository last reclaim space" or "reach the
//! remote" has one answer whichever command did it.

use std::collections::BTreeMap;

use super::Ctx;
use lockstep::Result;
use lockstep::ops::backup::BackupReport;
use lockstep::ops::copy::CopyReport;
use lockstep::ops::guard::GuardReport;
use lockstep::ops::metrics::{InventoryInfo, RunMetrics, record};
use lockstep::ops::prune::PruneReport;
use lockstep::repo::manifest::Verdict;
use lockstep::repo::{OpenRepo, SetSnapshot, find_snapshot, set_snapshots};

/// The commands that write metrics.
const REPORTING: [&str; 8] = [
    "backup", "drill", "check", "status", "copy", "prune", "forget", "guard",
];

/// What a command noted for the metrics file.
#[derive(Debug, Default)]
pub struct Noted {
    /// Runs, at most one per command (the last note of a command wins).
    runs: Vec<RunMetrics>,
    /// Inventories of the snapshots the command made.
    inventories: Vec<InventoryInfo>,
    /// The run writes nothing.
    skip: bool,
}

/// A count as a sample's value.
fn count(n: impl TryInto<u64>) -> f64 {
    n.try_into().unwrap_or(u64::MAX) as f64
}

/// The snapshot's time, Unix seconds.
fn taken(s: &SetSnapshot) -> f64 {
    s.snapshot.time.timestamp().as_second() as f64
}

impl Ctx {
    /// Notes `run` for the metrics file (the last note of its command wins).
    pub fn note_metrics(&self, run: RunMetrics) {
        let mut noted = self.metrics.borrow_mut();
        noted.runs.retain(|r| r.command != run.command);
        noted.runs.push(run);
    }

    /// Notes the inventory of a snapshot just made, for `lockstep_inventory_info`.
    pub fn note_inventory(&self, info: InventoryInfo) {
        let mut noted = self.metrics.borrow_mut();
        noted
            .inventories
            .retain(|i| i.set != info.set || i.host != info.host);
        noted.inventories.push(info);
    }

    /// This run writes no metrics (it changed nothing: a dry run, a look at a guarded run).
    pub fn skip_metrics(&self) {
        self.metrics.borrow_mut().skip = true;
    }

    /// Whether `--metrics-file` was given.
    #[must_use]
    pub fn wants_metrics(&self) -> bool {
        self.global.metrics_file.is_some()
    }

    /// Labels `set` and `host`.
    #[must_use]
    pub fn set_labels(set: &str, host: &str) -> BTreeMap<String, String> {
        [
            ("set".to_owned(), set.to_owned()),
            ("host".to_owned(), host.to_owned()),
        ]
        .into()
    }

    /// Label `repository`: the repository as messages name it (an object store by its bucket
    /// and endpoint, never its credentials). A copy is labelled by the repository it copies
    /// from alone: a remote that is missing or renamed in the configuration must not leave a
    /// failed copy behind as a series of its own.
    fn repository_labels(&self) -> BTreeMap<String, String> {
        let repo = self
            .repo_spec()
            .map(|s| s.describe())
            .unwrap_or_else(|_| "unknown".into());
        [("repository".to_owned(), repo)].into()
    }

    /// Notes a successful backup: bytes added and stored, files and bytes in the set, the
    /// set's snapshot count and newest snapshot's time, that the host is in sync with the new
    /// snapshot, and the snapshot's inventory.
    pub fn note_backup_metrics(&self, o: &BackupReport) {
        if !self.wants_metrics() {
            return;
        }
        let mut values: BTreeMap<String, f64> = BTreeMap::new();
        values.insert("backup_added_bytes".into(), count(o.bytes_added));
        values.insert("backup_stored_bytes".into(), count(o.bytes_stored));
        values.insert(
            "backup_files".into(),
            count(o.files_new + o.files_changed + o.files_unmodified),
        );
        values.insert("backup_bytes".into(), count(o.bytes_total));
        values.insert(
            "in_sync".into(),
            if o.consistency.verdict == Verdict::Consistent {
                1.0
            } else {
                0.0
            },
        );
        if let Ok(snaps) = self
            .open_repo()
            .and_then(|repo| set_snapshots(&repo, Some(&o.set), Some(&o.host)))
        {
            values.insert("snapshots".into(), count(snaps.len()));
            if let Some(newest) = snaps.last() {
                values.insert("latest_snapshot_timestamp_seconds".into(), taken(newest));
            }
            if let Some(m) = snaps
                .iter()
                .find(|s| s.id() == o.snapshot)
                .and_then(|s| s.manifest.as_ref())
            {
                self.note_inventory(InventoryInfo::new(&o.set, &o.host, &m.inventory));
            }
        }
        self.note_metrics(RunMetrics {
            command: "backup".into(),
            labels: Self::set_labels(&o.set, &o.host),
            success: true,
            seconds: 0.0,
            values,
        });
    }

    /// Notes a copy that is about to start as failed, so that a copy that fails inside another
    /// command (`backup --copy`) still shows as a failed copy.
    pub fn note_copy_started(&self) {
        self.note_metrics(RunMetrics {
            command: "copy".into(),
            labels: self.repository_labels(),
            success: false,
            seconds: 0.0,
            values: BTreeMap::new(),
        });
    }

    /// Notes a copy: snapshots copied and already on the remote.
    pub fn note_copy_metrics(&self, r: &CopyReport) {
        self.note_metrics(RunMetrics {
            command: "copy".into(),
            labels: self.repository_labels(),
            success: true,
            seconds: 0.0,
            values: [
                ("copy_copied_snapshots".to_owned(), count(r.copied)),
                (
                    "copy_present_snapshots".to_owned(),
                    count(r.already_present),
                ),
            ]
            .into(),
        });
    }

    /// Notes a prune that is about to start as failed, so that a prune that fails inside
    /// another command (`forget --prune`) still shows as a failed prune.
    pub fn note_prune_started(&self) {
        self.note_metrics(RunMetrics {
            command: "prune".into(),
            labels: self.repository_labels(),
            success: false,
            seconds: 0.0,
            values: BTreeMap::new(),
        });
    }

    /// Notes a prune that took `seconds`: the repository's data, what was marked, repacked and
    /// deleted, what is left unused and what waits for a later prune.
    pub fn note_prune_metrics(&self, r: &PruneReport, seconds: f64) {
        self.note_metrics(RunMetrics {
            command: "prune".into(),
            labels: self.repository_labels(),
            success: true,
            seconds,
            values: [
                ("prune_repository_bytes".to_owned(), count(r.bytes_total)),
                ("prune_unused_bytes".to_owned(), count(r.bytes_unused_after)),
                ("prune_marked_bytes".to_owned(), count(r.bytes_marked)),
                ("prune_repacked_bytes".to_owned(), count(r.bytes_repacked)),
                ("prune_deleted_bytes".to_owned(), count(r.bytes_deleted)),
                ("prune_waiting_packs".to_owned(), count(r.packs_waiting)),
            ]
            .into(),
        });
    }

    /// Notes a forget: snapshots removed, and kept when a policy chose them.
    pub fn note_forget_metrics(&self, removed: usize, kept: Option<usize>) {
        let mut values: BTreeMap<String, f64> =
            [("forget_removed_snapshots".to_owned(), count(removed))].into();
        if let Some(kept) = kept {
            values.insert("forget_kept_snapshots".into(), count(kept));
        }
        self.note_metrics(RunMetrics {
            command: "forget".into(),
            labels: self.repository_labels(),
            success: true,
            seconds: 0.0,
            values,
        });
    }

    /// Notes a guarded maintenance: success only when the command succeeded and verified;
    /// whether it was rolled back, the changes to IM's records and the problems found; and the
    /// inventory the host is now at — the post-maintenance snapshot's, or the pre-maintenance
    /// one's after a rollback (a host left as a failed command left it matches no snapshot, and
    /// its last known inventory stays).
    pub fn note_guard_metrics(&self, r: &GuardReport) {
        if !self.wants_metrics() {
            return;
        }
        let repo = self.open_repo().ok();
        let find = |id: &str| -> Option<SetSnapshot> {
            repo.as_ref()
                .and_then(|repo: &OpenRepo| find_snapshot(repo, id, None, None).ok())
        };
        let pre = find(&r.pre_snapshot);
        // The set as the snapshots record it, as backup labels it.
        let labels = match pre.as_ref().and_then(|s| s.manifest.as_ref()) {
            Some(m) => Self::set_labels(&m.set, &m.host),
            None => self.fallback_labels("guard"),
        };
        // The newest snapshot of the set is the guard's own: the post-maintenance one, else the
        // pre-maintenance one, whatever the maintenance did.
        let post = r.post_snapshot.as_deref().and_then(find);
        let newest = post.as_ref().or(pre.as_ref());
        let now_at = match (&post, r.verdict.as_str()) {
            (Some(post), _) => Some(post),
            (None, "rolled-back") => pre.as_ref(),
            _ => None,
        };
        let mut values: BTreeMap<String, f64> = [
            (
                "guard_rolled_back".to_owned(),
                if r.verdict == "rolled-back" { 1.0 } else { 0.0 },
            ),
            (
                "guard_inventory_changes".to_owned(),
                count(r.inventory_changes.len()),
            ),
            ("guard_problems".to_owned(), count(r.problems.len())),
        ]
        .into();
        if let Some(snap) = newest {
            values.insert("latest_snapshot_timestamp_seconds".into(), taken(snap));
        }
        if let Some(m) = now_at.and_then(|s| s.manifest.as_ref()) {
            self.note_inventory(InventoryInfo::new(&m.set, &m.host, &m.inventory));
        }
        self.note_metrics(RunMetrics {
            command: "guard".into(),
            labels,
            success: r.exit_code() == 0,
            seconds: 0.0,
            values,
        });
    }

    /// Writes the metrics file after `command` returned `result` in `seconds`.
    ///
    /// # Errors
    /// When the file cannot be written and the command itself succeeded.
    pub(super) fn write_metrics(
        &self,
        command: &str,
        result: &Result<i32>,
        seconds: f64,
    ) -> Result<()> {
        let Some(path) = &self.global.metrics_file else {
            return Ok(());
        };
        let noted = std::mem::take(&mut *self.metrics.borrow_mut());
        if noted.skip || !REPORTING.contains(&command) {
            return Ok(());
        }
        let mut runs = noted.runs;
        if !runs.iter().any(|r| r.command == command) {
            runs.push(RunMetrics {
                command: command.into(),
                labels: self.fallback_labels(command),
                success: false,
                seconds: 0.0,
                values: BTreeMap::new(),
            });
        }
        for run in runs.iter_mut().filter(|r| r.command == command) {
            if result.is_err() {
                run.success = false;
            }
            run.seconds = seconds;
        }
        match record(path, &runs, &noted.inventories) {
            Ok(()) => Ok(()),
            // The command's own error is the one to show.
            Err(_) if result.is_err() => Ok(()),
            // The command did its work (a snapshot saved is safe): a metrics file that cannot
            // be written is worth a warning, not a failure that makes a scheduler retry a
            // backup that succeeded.
            Err(e) => {
                eprintln!(
                    "lockstep: warning: {command} succeeded, but the metrics were not written: {e}"
                );
                Ok(())
            }
        }
    }

    /// The labels of a run that failed before noting its own.
    fn fallback_labels(&self, command: &str) -> BTreeMap<String, String> {
        match command {
            "check" | "copy" | "prune" | "forget" => self.repository_labels(),
            _ => {
                let set = self
                    .global
                    .instance
                    .clone()
                    .or_else(|| self.instance().ok().map(|i| i.name))
                    .unwrap_or_else(|| "unknown".into());
                Self::set_labels(&set, &self.host_name())
            }
        }
    }
}
