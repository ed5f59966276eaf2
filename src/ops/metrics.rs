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
//! errors and hit snapshots, what a copy copied, what a prune reclaimed, how a guarded
//! maintenance ended.
//!
//! Besides the runs, a file carries the host's *inventory* as info series
//! (`lockstep_inventory_info{host,set,package_group,offering,version,display_version} 1`, one per
//! installed offering, and `lockstep_inventory_fix_info` per fix), taken from the snapshot a
//! backup or a guard just made. They stand for a state, not a run: they carry no `command`
//! label, and a new inventory of a set and host replaces every info series of that set and host,
//! so an offering updated or removed leaves no stale series behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::im::inventory::Inventory;
use crate::{Error, Result};

/// One run's labels and values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMetrics {
    /// The command (`backup`, `drill`, `check`, `status`, `copy`, `prune`, `forget`, `guard`).
    pub command: String,
    /// Further labels (`set`, `host`, `repository`, `remote`).
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
    (
        "latest_snapshot_timestamp_seconds",
        "When the set's newest snapshot of the host was taken (Unix time).",
    ),
    (
        "copy_copied_snapshots",
        "Snapshots the last copy copied to the remote.",
    ),
    (
        "copy_present_snapshots",
        "Snapshots the last copy found already on the remote.",
    ),
    (
        "prune_repository_bytes",
        "Pack data in the repository when the last prune started.",
    ),
    (
        "prune_unused_bytes",
        "Data no snapshot uses left in the repository after the last prune.",
    ),
    (
        "prune_marked_bytes",
        "Unused data the last prune marked for deletion.",
    ),
    (
        "prune_repacked_bytes",
        "Data the last prune repacked out of partly used pack files.",
    ),
    ("prune_deleted_bytes", "Data the last prune deleted."),
    (
        "prune_waiting_packs",
        "Marked pack files waiting to be deleted by a later prune.",
    ),
    (
        "forget_removed_snapshots",
        "Snapshots the last forget removed.",
    ),
    ("forget_kept_snapshots", "Snapshots the last forget kept."),
    (
        "guard_rolled_back",
        "1 when the last guarded maintenance was rolled back, 0 otherwise.",
    ),
    (
        "guard_inventory_changes",
        "Changes to IM's records during the last guarded maintenance.",
    ),
    (
        "guard_problems",
        "Problems verification found after the last guarded maintenance.",
    ),
    (
        "inventory_info",
        "An offering installed in the set, as of the host's latest snapshot (always 1).",
    ),
    (
        "inventory_fix_info",
        "A fix installed in the set, as of the host's latest snapshot (always 1).",
    ),
];

/// The info families an [`InventoryInfo`] replaces.
const INVENTORY_FAMILIES: [&str; 2] = ["lockstep_inventory_info", "lockstep_inventory_fix_info"];

/// IM itself in `lockstep_inventory_info`: the inventory keeps IM out of its package groups and
/// records its version apart, but an administrator reading a host's levels wants IM's among them
/// (a fix pack names the IM level it needs).
const IM_GROUP: &str = "IBM Installation Manager";
const IM_OFFERING: &str = "com.ibm.cic.agent";

/// A host's inventory as info series: one sample per installed offering and per fix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryInfo {
    /// The set.
    pub set: String,
    /// The host.
    pub host: String,
    /// Labels of each `lockstep_inventory_info` sample (without `set` and `host`).
    pub offerings: Vec<BTreeMap<String, String>>,
    /// Labels of each `lockstep_inventory_fix_info` sample (without `set` and `host`).
    pub fixes: Vec<BTreeMap<String, String>>,
}

impl InventoryInfo {
    /// The info series of `inventory`, recorded for `set` on `host`: each offering with its
    /// package group, IM's version and the version as people write it (IM's version when IM
    /// records none), each fix with its package group, and IM itself when its version is known.
    #[must_use]
    pub fn new(set: &str, host: &str, inventory: &Inventory) -> Self {
        let row = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let mut offerings = Vec::new();
        let mut fixes = Vec::new();
        if let Some(v) = &inventory.im_version {
            offerings.push(row(&[
                ("package_group", IM_GROUP),
                ("offering", IM_OFFERING),
                ("version", v),
                ("display_version", v),
            ]));
        }
        for group in &inventory.package_groups {
            for o in &group.offerings {
                offerings.push(row(&[
                    ("package_group", &group.id),
                    ("offering", &o.id),
                    ("version", &o.version),
                    (
                        "display_version",
                        o.display_version.as_deref().unwrap_or(&o.version),
                    ),
                ]));
            }
            for f in &group.fixes {
                fixes.push(row(&[
                    ("package_group", &group.id),
                    ("fix", &f.id),
                    ("version", &f.version),
                ]));
            }
        }
        Self {
            set: set.to_owned(),
            host: host.to_owned(),
            offerings,
            fixes,
        }
    }
}

/// A sample's key: metric name and rendered labels.
type Key = (String, String);

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders labels in the text format, sorted by name (the same labels always render alike, so
/// a sample's key finds the sample it replaces).
fn render_labels(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn labels_text(command: &str, labels: &BTreeMap<String, String>) -> String {
    let mut all = labels.clone();
    all.insert("command".into(), command.into());
    render_labels(&all)
}

/// Reads rendered labels (`{a="x",b="y\"z"}`) back into names and values.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or("");
    let mut chars = inner.chars().peekable();
    loop {
        let name: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_owned();
        if name.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => {}
                },
                other => value.push(other),
            }
        }
        out.insert(name, value);
    }
    out
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

/// Puts one run's samples into `samples`, at time `now`.
fn put_run(samples: &mut BTreeMap<Key, String>, run: &RunMetrics, now: f64) {
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
}

/// Replaces the info series of `info`'s set and host with `info`'s.
fn put_inventory(samples: &mut BTreeMap<Key, String>, info: &InventoryInfo) {
    samples.retain(|(name, labels), _| {
        if !INVENTORY_FAMILIES.contains(&name.as_str()) {
            return true;
        }
        let labels = parse_labels(labels);
        labels.get("set") != Some(&info.set) || labels.get("host") != Some(&info.host)
    });
    for (family, rows) in INVENTORY_FAMILIES
        .iter()
        .zip([&info.offerings, &info.fixes])
    {
        for row in rows {
            let mut labels = row.clone();
            labels.insert("set".into(), info.set.clone());
            labels.insert("host".into(), info.host.clone());
            samples.insert(((*family).to_owned(), render_labels(&labels)), "1".into());
        }
    }
}

/// The file's new text: `existing` with the samples of `runs` and `inventories` replaced, at
/// time `now` (Unix seconds).
#[must_use]
pub fn merge(
    existing: &str,
    runs: &[RunMetrics],
    inventories: &[InventoryInfo],
    now: f64,
) -> String {
    let mut samples = parse(existing);
    for run in runs {
        put_run(&mut samples, run, now);
    }
    for info in inventories {
        put_inventory(&mut samples, info);
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

/// Updates the metrics file at `path` with the samples of `runs` and `inventories`, atomically.
///
/// # Errors
/// When the file's directory cannot be written.
pub fn record(path: &Path, runs: &[RunMetrics], inventories: &[InventoryInfo]) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let text = merge(&existing, runs, inventories, now);
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
        let first = merge("", &[run("backup", true)], &[], 1000.0);
        assert!(first.contains(
            "lockstep_last_success_timestamp_seconds{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 1000\n"
        ), "{first}");
        assert!(first.contains("# TYPE lockstep_last_run_success gauge"));
        let second = merge(&first, &[run("backup", false)], &[], 2000.0);
        assert!(second.contains("lockstep_last_success_timestamp_seconds{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 1000\n"), "{second}");
        assert!(second.contains("lockstep_last_run_timestamp_seconds{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 2000\n"));
        assert!(second.contains(
            "lockstep_last_run_success{command=\"backup\",host=\"dx\\\"1\",set=\"admin\"} 0\n"
        ));
    }

    #[test]
    fn other_commands_samples_are_kept() {
        let backup = merge("", &[run("backup", true)], &[], 1000.0);
        let both = merge(&backup, &[run("drill", true)], &[], 3000.0);
        assert!(both.contains("{command=\"backup\""));
        assert!(both.contains("{command=\"drill\""));
        assert_eq!(both.matches("# HELP lockstep_last_run_success ").count(), 1);
    }

    #[test]
    fn written_atomically_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lockstep.prom");
        record(&path, &[run("backup", true)], &[]).unwrap();
        record(&path, &[run("check", true)], &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("command=\"check\"") && text.contains("command=\"backup\""));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }

    fn inventory(version: &str, with_portal: bool) -> Inventory {
        use crate::im::inventory::{Fix, Offering, PackageGroup};
        let offering = |id: &str, version: &str, display: &str| Offering {
            id: id.into(),
            version: version.into(),
            display_version: Some(display.into()),
            name: None,
        };
        let mut groups = vec![PackageGroup {
            id: "IBM WebSphere Application Server V9.0".into(),
            path: "/opt/IBM/WebSphere/AppServer".into(),
            offerings: vec![offering("com.ibm.websphere.ND.v90", version, "9.0.5.17")],
            fixes: vec![Fix {
                id: "9.0.5.17-WS-WAS-IFPH12345".into(),
                version: "9.0.5017.20230601_1200".into(),
            }],
        }];
        if with_portal {
            groups.push(PackageGroup {
                id: "HCL Portal \"DX\"".into(),
                path: "/opt/HCL/PortalServer".into(),
                offerings: vec![offering(
                    "com.ibm.websphere.PORTAL.SERVER.v95",
                    "9.5.0.20230101_0000",
                    "9.5 CF219",
                )],
                fixes: vec![],
            });
        }
        Inventory {
            im_version: Some("1.9.2.5".into()),
            mode: Some("admin".into()),
            shared_location: None,
            package_groups: groups,
        }
    }

    #[test]
    fn an_inventory_replaces_only_its_own_set_and_hosts_info_series() {
        let old = InventoryInfo::new("cell1", "dx1", &inventory("9.0.5016.20221010_0000", true));
        let other = InventoryInfo::new("cell1", "dx2", &inventory("9.0.5016.20221010_0000", true));
        let text = merge("", &[run("backup", true)], &[old, other], 1000.0);
        assert!(text.contains(
            "lockstep_inventory_info{display_version=\"9.5 CF219\",host=\"dx1\",offering=\"com.ibm.websphere.PORTAL.SERVER.v95\",package_group=\"HCL Portal \\\"DX\\\"\",set=\"cell1\",version=\"9.5.0.20230101_0000\"} 1\n"
        ), "{text}");
        assert!(
            text.contains("offering=\"com.ibm.cic.agent\""),
            "IM is among the levels: {text}"
        );
        assert!(
            text.contains(
                "lockstep_inventory_fix_info{fix=\"9.0.5.17-WS-WAS-IFPH12345\",host=\"dx1\""
            ),
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE lockstep_inventory_info gauge").count(),
            1
        );

        // dx1 updated WAS and removed Portal: its old series go, dx2's and the runs' stay.
        let new = InventoryInfo::new("cell1", "dx1", &inventory("9.0.5017.20230404_1425", false));
        let after = merge(&text, &[], &[new], 2000.0);
        let dx1: Vec<&str> = after
            .lines()
            .filter(|l| l.starts_with("lockstep_inventory_info{") && l.contains("host=\"dx1\""))
            .collect();
        assert_eq!(dx1.len(), 2, "WAS and IM: {after}");
        assert!(
            dx1.iter()
                .any(|l| l.contains("version=\"9.0.5017.20230404_1425\""))
        );
        assert!(!dx1.iter().any(|l| l.contains("PORTAL")), "{after}");
        let dx2 = after
            .lines()
            .filter(|l| l.starts_with("lockstep_inventory_info{") && l.contains("host=\"dx2\""))
            .count();
        assert_eq!(dx2, 3, "{after}");
        assert!(after.contains("lockstep_last_run_success{command=\"backup\""));
    }

    #[test]
    fn rendered_labels_read_back() {
        let labels: BTreeMap<String, String> = [
            ("a".to_owned(), "x, y=\"z\"\\\n".to_owned()),
            ("b".to_owned(), String::new()),
            ("c".to_owned(), "}".to_owned()),
        ]
        .into();
        assert_eq!(parse_labels(&render_labels(&labels)), labels);
        assert!(parse_labels("").is_empty());
    }
}
