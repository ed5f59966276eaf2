//! `--metrics-file`: what each command reports, written once the command has returned.
//!
//! Commands note what they know ([`Ctx::note_metrics`]); [`Ctx::write_metrics`] writes the
//! file after the command, successful or not, for the commands that report metrics (backup,
//! drill, check, status). A failed command that noted nothing still updates its
//! `last_run_success` to 0, so an alert sees it.

use std::collections::BTreeMap;

use super::Ctx;
use lockstep::Result;
use lockstep::ops::backup::BackupReport;
use lockstep::ops::metrics::{RunMetrics, record};
use lockstep::repo::manifest::Verdict;
use lockstep::repo::set_snapshots;

/// The commands that write metrics.
const REPORTING: [&str; 4] = ["backup", "drill", "check", "status"];

impl Ctx {
    /// Notes `run` for the metrics file (the last note wins).
    pub fn note_metrics(&self, run: RunMetrics) {
        *self.metrics.borrow_mut() = Some(run);
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

    /// Notes a successful backup: bytes added and stored, files and bytes in the set, the
    /// set's snapshot count, and that the host is in sync with the new snapshot.
    pub fn note_backup_metrics(&self, o: &BackupReport) {
        if !self.wants_metrics() {
            return;
        }
        let mut values: BTreeMap<String, f64> = BTreeMap::new();
        #[allow(clippy::cast_precision_loss)]
        {
            values.insert("backup_added_bytes".into(), o.bytes_added as f64);
            values.insert("backup_stored_bytes".into(), o.bytes_stored as f64);
            values.insert(
                "backup_files".into(),
                (o.files_new + o.files_changed + o.files_unmodified) as f64,
            );
            values.insert("backup_bytes".into(), o.bytes_total as f64);
        }
        values.insert(
            "in_sync".into(),
            if o.consistency.verdict == Verdict::Consistent {
                1.0
            } else {
                0.0
            },
        );
        if let Ok(count) = self
            .open_repo()
            .and_then(|repo| set_snapshots(&repo, Some(&o.set), Some(&o.host)))
            .map(|s| s.len())
        {
            #[allow(clippy::cast_precision_loss)]
            values.insert("snapshots".into(), count as f64);
        }
        self.note_metrics(RunMetrics {
            command: "backup".into(),
            labels: Self::set_labels(&o.set, &o.host),
            success: true,
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
        if !REPORTING.contains(&command) {
            return Ok(());
        }
        let noted = self.metrics.borrow_mut().take();
        let mut run = noted.unwrap_or_else(|| RunMetrics {
            command: command.into(),
            labels: self.fallback_labels(command),
            success: false,
            seconds: 0.0,
            values: BTreeMap::new(),
        });
        if result.is_err() {
            run.success = false;
        }
        run.seconds = seconds;
        match record(path, &run) {
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
        if command == "check" {
            let repo = self
                .repo_spec()
                .map(|s| s.location)
                .unwrap_or_else(|_| "unknown".into());
            return [("repository".to_owned(), repo)].into();
        }
        let set = self
            .global
            .instance
            .clone()
            .or_else(|| self.instance().ok().map(|i| i.name))
            .unwrap_or_else(|| "unknown".into());
        Self::set_labels(&set, &self.host_name())
    }
}
