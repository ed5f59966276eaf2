//! The fleet one can look at: `--metrics-file` after copy, prune, forget and guard, the host's
//! inventory as `lockstep_inventory_info`, and the Grafana dashboard in `contrib/grafana/`,
//! which must query only metrics lockstep writes (and, where promtool is installed, parse as
//! PromQL over a file Prometheus accepts).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{self, Env, have, run};
use lockstep_sample::Shape;

/// One sample of a metrics file: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads a Prometheus text file (label values may hold escaped quotes).
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut labels = BTreeMap::new();
        let mut chars = rest.strip_suffix('}').unwrap().chars();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            let key = key.trim_start_matches(',').to_owned();
            if key.is_empty() {
                break;
            }
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next().unwrap() {
                        'n' => v.push('\n'),
                        other => v.push(other),
                    },
                    other => v.push(other),
                }
            }
            labels.insert(key, v);
        }
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value: value.parse().unwrap(),
        });
    }
    out
}

/// The value of `name` for `command` (the first such sample).
fn value(all: &[Sample], name: &str, command: &str) -> Option<f64> {
    all.iter()
        .find(|s| s.name == name && s.labels.get("command").map(String::as_str) == Some(command))
        .map(|s| s.value)
}

/// (package group, offering, version, display version) of each offering `discover` shows, and
/// IM itself.
fn discovered_offerings(env: &Env) -> Vec<(String, String, String, String)> {
    let found = env.run(&["discover", "--json"]).ok().json();
    let inventory = &found["instances"][0]["inventory"];
    let mut out = Vec::new();
    let im = inventory["im_version"].as_str().unwrap().to_owned();
    out.push((
        "IBM Installation Manager".to_owned(),
        "com.ibm.cic.agent".to_owned(),
        im.clone(),
        im,
    ));
    for group in inventory["package_groups"].as_array().unwrap() {
        for o in group["offerings"].as_array().unwrap() {
            let version = o["version"].as_str().unwrap().to_owned();
            let display = o["display_version"]
                .as_str()
                .map_or_else(|| version.clone(), str::to_owned);
            out.push((
                group["id"].as_str().unwrap().to_owned(),
                o["id"].as_str().unwrap().to_owned(),
                version,
                display,
            ));
        }
    }
    out.sort();
    out
}

/// The `lockstep_inventory_info` series of `host` in `set`, as discovered_offerings lists them.
fn inventory_info(all: &[Sample], set: &str, host: &str) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = all
        .iter()
        .filter(|s| s.name == "lockstep_inventory_info")
        .filter(|s| s.labels["set"] == set && s.labels["host"] == host)
        .map(|s| {
            assert!((s.value - 1.0).abs() < f64::EPSILON, "{s:?}");
            (
                s.labels["package_group"].clone(),
                s.labels["offering"].clone(),
                s.labels["version"].clone(),
                s.labels["display_version"].clone(),
            )
        })
        .collect();
    out.sort();
    out
}

fn guard(env: &Env, metrics: &str, args: &[&str], script: &Path) -> crate::common::Run {
    let mut cmd = env.command();
    cmd.args(["--metrics-file", metrics, "guard"])
        .args(args)
        .arg("--")
        .arg("sh")
        .arg(script);
    run(&mut cmd)
}

/// Every metric name (`lockstep_…`) a dashboard's panels and variables query.
fn queried_metrics(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, exprs: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("expr" | "definition", serde_json::Value::String(s)) => {
                            exprs.push(s.clone());
                        }
                        _ => walk(v, exprs),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, exprs)),
            _ => {}
        }
    }
    let mut exprs = Vec::new();
    walk(&dashboard["panels"], &mut exprs);
    walk(&dashboard["templating"], &mut exprs);
    let mut names: Vec<String> = exprs
        .iter()
        .flat_map(|e| {
            let mut found = Vec::new();
            let mut rest = e.as_str();
            while let Some(i) = rest.find("lockstep_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                found.push(name);
            }
            found
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A day of a fleet host, every job writing one metrics file: backup --copy, a guarded fix pack,
/// status, drill, check, copy to the remote, `forget --prune`, prune. The file then holds the
/// host's offerings at the level the fix pack brought (the old level's series gone), every
/// job's last run as a success, what copy, prune, forget and guard did; and every metric the
/// Grafana dashboard queries is among its samples.
#[test]
fn the_dashboard_queries_what_a_fleet_hosts_jobs_write() {
    let env = Env::new(Shape::Admin);
    let remote = env.path("remote");
    std::fs::write(
        env.path("lockstep.toml"),
        format!("remote = '{}'\n", remote.display()),
    )
    .unwrap();
    env.run(&["--repo", remote.to_str().unwrap(), "init"]).ok();
    let prom = env.path("textfile/lockstep.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let m = prom.to_str().unwrap();
    let read = || samples(&std::fs::read_to_string(&prom).unwrap());

    // The backup writes the inventory it snapshotted: every offering with its version; its
    // copy to the remote counts as a copy.
    let before = discovered_offerings(&env);
    let backup = env
        .run(&["--metrics-file", m, "backup", "--copy", "--json"])
        .ok()
        .json();
    let set = backup["set"].as_str().unwrap().to_owned();
    let host = backup["host"].as_str().unwrap().to_owned();
    assert!(before.len() >= 3, "IM and the products: {before:?}");
    assert_eq!(inventory_info(&read(), &set, &host), before);
    assert_eq!(
        value(&read(), "lockstep_copy_copied_snapshots", "copy"),
        Some(1.0)
    );
    assert!(
        read()
            .iter()
            .any(|s| s.name == "lockstep_inventory_fix_info" && s.labels["host"] == host),
        "the sample's Portal carries an interim fix"
    );

    // A guarded fix pack: the levels move to what the host now runs, nothing stale is left.
    let imcl = common::fix_pack_script(&env);
    let out = guard(&env, m, &["--label", "CF220", "--expect-change"], &imcl);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let after = discovered_offerings(&env);
    assert_ne!(after, before, "the fix pack changed IM's records");
    let all = read();
    assert_eq!(inventory_info(&all, &set, &host), after);
    assert_eq!(value(&all, "lockstep_last_run_success", "guard"), Some(1.0));
    assert_eq!(
        value(&all, "lockstep_guard_rolled_back", "guard"),
        Some(0.0)
    );
    assert!(value(&all, "lockstep_guard_inventory_changes", "guard").unwrap() >= 2.0);

    for args in [&["status"][..], &["drill"], &["check"], &["copy"]] {
        let mut all_args = vec!["--metrics-file", m];
        all_args.extend_from_slice(args);
        env.run(&all_args).ok();
    }
    let forget = env
        .run(&[
            "--metrics-file",
            m,
            "forget",
            "--keep-last",
            "1",
            "--prune",
            "--json",
        ])
        .ok()
        .json();
    env.run(&["--metrics-file", m, "prune"]).ok();
    let all = read();
    for command in [
        "backup", "guard", "status", "drill", "check", "copy", "forget", "prune",
    ] {
        assert_eq!(
            value(&all, "lockstep_last_run_success", command),
            Some(1.0),
            "{command}"
        );
    }
    // The pre- and post-maintenance snapshots went to the remote beside the backup's copy;
    // forget counts as it reports (the pre-maintenance snapshot stays with the newest).
    assert_eq!(
        value(&all, "lockstep_copy_copied_snapshots", "copy"),
        Some(2.0)
    );
    assert_eq!(
        value(&all, "lockstep_copy_present_snapshots", "copy"),
        Some(1.0)
    );
    let removed = forget["removed"].as_array().unwrap().len();
    assert!(removed >= 1, "{forget}");
    assert_eq!(
        value(&all, "lockstep_forget_removed_snapshots", "forget"),
        Some(removed as f64)
    );
    assert_eq!(
        value(&all, "lockstep_forget_kept_snapshots", "forget"),
        Some((3 - removed) as f64)
    );
    assert!(value(&all, "lockstep_prune_repository_bytes", "prune").unwrap() > 0.0);
    let repo = env.repo().display().to_string();
    assert!(
        all.iter()
            .filter(|s| ["copy", "prune", "forget"]
                .contains(&s.labels.get("command").map_or("", String::as_str)))
            .all(|s| s.labels.get("repository") == Some(&repo)),
        "copy, prune and forget are labelled with their repository"
    );

    // The dashboard is valid JSON and queries nothing lockstep does not write.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/lockstep.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let queried = queried_metrics(&dashboard);
    assert!(
        queried.contains(&"lockstep_inventory_info".to_owned()),
        "{queried:?}"
    );
    let written: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    let missing: Vec<&String> = queried
        .iter()
        .filter(|q| !written.contains(&q.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics lockstep does not write: {missing:?}"
    );
    // Every panel that queries reads the Prometheus data source the importer chooses.
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{panel}");
        }
    }
    promtool_checks(&env, &prom, &dashboard);
}

/// Prometheus's own checks, where promtool is installed (Debian's `prometheus`): the file
/// parses and passes its lint, and every query of the dashboard parses as PromQL (each one as
/// a recording rule; a rules file may be JSON, which is YAML).
fn promtool_checks(env: &Env, prom: &Path, dashboard: &serde_json::Value) {
    if !have("promtool") {
        eprintln!(
            "SKIPPED: promtool is not installed; the metrics file and the dashboard's PromQL were not checked by Prometheus"
        );
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(prom).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rules = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            rules.push(serde_json::json!({
                "record": format!("lockstep:panel_{}_{}", panel["id"], target["refId"].as_str().unwrap()),
                "expr": target["expr"],
            }));
        }
    }
    assert!(rules.len() > 10, "{rules:?}");
    let file = env.path("dashboard-rules.json");
    let groups = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(&file, groups.to_string()).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules (the dashboard's queries):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fix pack that fails and is rolled back: the guard's last run is a failure, marked rolled
/// back, and the host's levels stay those of the pre-maintenance snapshot, the state it is in.
#[test]
fn a_rolled_back_maintenance_is_a_failed_guard_and_keeps_the_levels() {
    let env = Env::new(Shape::Admin);
    let prom = env.path("lockstep.prom");
    let m = prom.to_str().unwrap();
    let before = discovered_offerings(&env);
    let imcl = common::fix_pack_script(&env);
    let failing = common::script(
        &env,
        "imcl-fails",
        &format!("sh '{}'\necho 'CRIMA1217E' >&2\nexit 1", imcl.display()),
    );
    let out = guard(&env, m, &["--rollback", "auto"], &failing);
    assert_eq!(out.code, 20, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(discovered_offerings(&env), before);
    let all = samples(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(value(&all, "lockstep_last_run_success", "guard"), Some(0.0));
    assert_eq!(
        value(&all, "lockstep_guard_rolled_back", "guard"),
        Some(1.0)
    );
    assert!(value(&all, "lockstep_guard_problems", "guard").unwrap() >= 1.0);
    assert_eq!(
        value(&all, "lockstep_last_success_timestamp_seconds", "guard"),
        None
    );
    // The pre-maintenance snapshot is the set's newest, and the dashboard's snapshot age says so.
    assert!(value(&all, "lockstep_latest_snapshot_timestamp_seconds", "guard").is_some());
    let labels = &all
        .iter()
        .find(|s| s.name == "lockstep_guard_rolled_back")
        .unwrap()
        .labels;
    assert_eq!(inventory_info(&all, &labels["set"], "dx-test"), before);
}
