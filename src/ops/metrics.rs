//! Prometheus textfile-collector output (`--metrics-file PATH`).
//!
//! node_exporter's textfile collector reads `*.prom` files from a directory; a scheduled
//! lockstep run writes its results there. One file can serve several commands and sets: each
//! run replaces only its own samples (same metric name and labels) and keeps the others, so a
//! nightly backup and a weekly drill can share `lockstep.prom`. The file is written to a
//! temporary file beside it and renamed over it, so the collector never reads half a file.
//!
//! Every run writes `lockstep_last_run_timestamp_seconds`, `lockstep_last_run_success` and
//! `lockstep_duration_seconds`; a successful one also `lockstep_last_success_timestamp_seconds`
//! (a failure keeps the previous success time, so "no success for 2 days" is one alert rule).
//! Commands add what they know: bytes added and files (backup), snapshots of the set, whether
//! the host is in sync with its latest snapshot, a drill's bytes and throughput, a check's
//! errors and hit snapshots.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// One run's labels and values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMetrics {
    /// The command (`backup`, `drill`, `check`, `status`).
    pub command: String,
    /// Further labels (`set`, `host`, `repository`).
    pub labels: BTreeMap<String, String>,
    /// Whether the run succeeded.
    pub success: bool,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Command-specific values: metric name (without `lockstep_`) → value.
    pub values: BTreeMap<String, f64>,
}

/// The help text of each metric lockstep writes.
const HELP: &[(&str, &str)] = &[
    (
        "last_run_timestamp_seconds",
        "When lockstep last ran the command (Unix time).",
    ),
    (
        "last_run_success",
        "1 when the command's last run succeeded, 0 otherwise.",
    ),
    (
        "last_success_timestamp_seconds",
        "When the command last succeeded (Unix time).",
    ),
    ("duration_seconds", "Wall time of the command's last run."),
    (
        "backup_added_bytes",
        "New data the last backup added to the repository, before compression.",
    ),
    (
        "backup_stored_bytes",
        "New data the last backup added to the repository, as stored.",
    ),
    ("backup_files", "Files in the set at the last backup."),
    ("backup_bytes", "Bytes in the set at the last backup."),
    (
        "snapshots",
        "Snapshots of the set and host in the repository.",
    ),
    (
        "in_sync",
        "1 when the live host is in step with its latest snapshot, 0 on drift or without a snapshot.",
    ),
    ("drill_bytes", "Bytes restored by the last drill."),
    (
        "drill_throughput_bytes_per_second",
        "Restore throughput of the last drill.",
    ),
    ("drill_problems", "Problems the last drill found."),
    ("check_errors", "Errors the last check found."),
    (
        "check_hit_snapshots",
        "Snapshots the damage found by the last check hits.",
    ),
];

/// A sample's key: metric name and rendered labels.
type Key = (String, String);

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels_text(command: &str, labels: &BTreeMap<String, String>) -> String {
    let mut all = labels.clone();
    all.insert("command".into(), command.into());
    let inner: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Parses the samples of an existing file (comments and unparsable lines are dropped).
fn parse(text: &str) -> BTreeMap<Key, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.find('{') {
            Some(i) => (&series[..i], &series[i..]),
            None => (series, ""),
        };
        out.insert((name.to_owned(), labels.to_owned()), value.to_owned());
    }
    out
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// The file's new text: `existing` with `run`'s samples replaced, at time `now` (Unix seconds).
#[must_use]
pub fn merge(existing: &str, run: &RunMetrics, now: f64) -> String {
    let mut samples = parse(existing);
    let labels = labels_text(&run.command, &run.labels);
    let mut put = |name: &str, value: f64| {
        samples.insert((format!("lockstep_{name}"), labels.clone()), number(value));
    };
    put("last_run_timestamp_seconds", now.floor());
    put("last_run_success", if run.success { 1.0 } else { 0.0 });
    put("duration_seconds", (run.seconds * 1000.0).round() / 1000.0);
    if run.success {
        put("last_success_timestamp_seconds", now.floor());
    }
    for (name, value) in &run.values {
        put(name, *value);
    }
    let mut text = String::new();
    let mut current = "";
    for ((name, labels), value) in &samples {
        if name != current {
            let short = name.strip_prefix("lockstep_").unwrap_or(name);
            if let Some((_, help)) = HELP.iter().find(|(n, _)| *n == short) {
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
            }
            current = name;
        }
        text.push_str(&format!("{name}{labels} {value}\n"));
    }
    text
}

/// Updates the metrics file at `path` with `run`'s samples, atomically.
///
/// # Errors
/// When the file's directory cannot be written.
pub fn record(path: &Path, run: &RunMetrics) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let text = merge(&existing, run, now);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".lockstep-metrics-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot write the metrics file in", dir, e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
    // The collector runs as another user: the file must be readable like any .prom file.
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path)
        .map_err(|e| Error::io("cannot replace", path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: &str, success: bool) -> RunMetrics {
        RunMetrics {
            command: command.into(),
            labels: [
                ("set".to_owned(), "admin".to_owned()),
                ("host".to_owned(), "dx\"1".to_owned()),
            ]
            .into(),
            success,
            seconds: 2.5,
            values: [("backup_added_bytes".to_owned(), 1024.0)].into(),
        }
    }

    #[test]
    fn a_failure_keeps_the_last_success_time() {
        let first = merge("", &run("backup", true), 1000.0);
        assert!(first.contains(
            "lockstep_last_success_timestamp_seconds{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 1000\n"
        ), "{first}");
        assert!(first.contains("# TYPE lockstep_last_run_success gauge"));
        let second = merge(&first, &run("backup", false), 2000.0);
        assert!(second.contains("lockstep_last_success_timestamp_seconds{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 1000\n"), "{second}");
        assert!(second.contains("lockstep_last_run_timestamp_seconds{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 2000\n"));
        assert!(second.contains(
            "lockstep_last_run_success{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 0\n"
        ));
    }

    #[test]
    fn other_commands_samples_are_kept() {
        let backup = merge("", &run("backup", true), 1000.0);
        let both = merge(&backup, &run("drill", true), 3000.0);
        assert!(both.contains("{command=\"backup\""));
        assert!(both.contains("{command=\"drill\""));
        assert_eq!(both.matches("# HELP lockstep_last_run_success ").count(), 1);
    }

    #[test]
    fn written_atomically_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lockstep.prom");
        record(&path, &run("backup", true)).unwrap();
        record(&path, &run("check", true)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("command=\"check\"") && text.contains("command=\"backup\""));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }
}
