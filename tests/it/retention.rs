//! Retention: `forget` keeps exactly what each keep option says, per set and host, on
//! snapshots with synthetic times; labels and the latest pre-maintenance snapshot survive.

use std::collections::BTreeSet;

use crate::common::{Env, run};
use lockstep::repo::{OpenRepo, RepoSpec};
use lockstep_sample::Shape;
use rustic_core::jiff::Zoned;

/// The synthetic series: name → time (UTC). Newest last.
const SERIES: [(&str, &str); 11] = [
    ("S1", "2024-03-15T10:00:00"),
    ("S2", "2025-06-01T10:00:00"),
    ("S3", "2025-12-20T10:00:00"),
    ("S4", "2026-01-05T09:00:00"),
    ("S5", "2026-01-05T18:00:00"),
    ("S6", "2026-01-12T08:00:00"),
    ("S7", "2026-02-02T07:00:00"),
    ("S8", "2026-02-02T07:30:00"),
    ("S9", "2026-02-03T12:00:00"),
    ("S10", "2026-02-03T12:45:00"),
    ("S11", "2026-02-03T13:15:00"),
];

fn open(env: &Env) -> OpenRepo {
    RepoSpec {
        location: env.repo().to_string_lossy().into_owned(),
        options: Default::default(),
    }
    .open("test-password")
    .unwrap()
}

/// Replaces the one real snapshot by copies at the series' times on `hosts`, labelled by
/// `label(name)`.
fn synthesize(env: &Env, hosts: &[&str], label: impl Fn(&str) -> String) {
    env.backup(&[]);
    let repo = open(env);
    let base = repo.get_all_snapshots().unwrap().pop().unwrap();
    let mut copies = Vec::new();
    for host in hosts {
        for (name, time) in SERIES {
            let mut s = base.clone();
            s.time = format!("{time}[UTC]").parse::<Zoned>().unwrap();
            s.hostname = (*host).to_owned();
            s.label = label(name);
            copies.push(s);
        }
    }
    repo.save_snapshots(copies).unwrap();
    repo.delete_snapshots(&[base.id]).unwrap();
}

fn name_of(time: &str) -> &'static str {
    SERIES
        .iter()
        .find(|(_, t)| time.starts_with(t))
        .map(|(n, _)| *n)
        .unwrap_or_else(|| panic!("unknown time {time}"))
}

/// The names `forget --dry-run` keeps for `host` with `flags`.
fn kept(env: &Env, host: &str, flags: &[&str]) -> BTreeSet<&'static str> {
    let mut args = vec!["forget", "--dry-run", "--json"];
    args.extend_from_slice(flags);
    // `--host` limits forget to that host's snapshots, as in restic.
    let out = run(env
        .bare_command(std::path::Path::new(env!("CARGO_BIN_EXE_lockstep")))
        .arg("--root")
        .arg(env.root())
        .arg("--host")
        .arg(host)
        .args(&args))
    .ok()
    .json();
    assert_eq!(out["schema_version"], 1);
    assert_eq!(out["dry_run"], true);
    assert!(
        out["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["host"] == host),
        "{out}"
    );
    let group = out["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["host"] == host)
        .unwrap_or_else(|| panic!("no group for {host}: {out}"));
    assert_eq!(group["set"], "admin");
    group["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| name_of(d["time"].as_str().unwrap()))
        .collect()
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

#[test]
fn each_keep_option_and_their_combination_keep_exactly_the_expected() {
    let env = Env::new(Shape::Admin);
    synthesize(&env, &["dx-test", "dx-other"], |_| String::new());
    let cases: [(&[&str], &[&'static str]); 8] = [
        (&["--keep-last", "3"], &["S11", "S10", "S9"]),
        // The newest of each of the 3 newest hours: 13h and 12h on Feb 3, 07h on Feb 2.
        (&["--keep-hourly", "3"], &["S11", "S10", "S8"]),
        (&["--keep-daily", "3"], &["S11", "S8", "S6"]),
        // ISO week 6 (Feb 2-8) and week 3 (Jan 12-18).
        (&["--keep-weekly", "2"], &["S11", "S6"]),
        (&["--keep-monthly", "3"], &["S11", "S6", "S3"]),
        (&["--keep-yearly", "3"], &["S11", "S3", "S1"]),
        // Within a day of the newest snapshot (Feb 3 13:15).
        (&["--keep-within", "1d"], &["S11", "S10", "S9"]),
        (
            &[
                "--keep-last",
                "1",
                "--keep-daily",
                "2",
                "--keep-monthly",
                "2",
                "--keep-yearly",
                "2",
            ],
            &["S11", "S8", "S6", "S3"],
        ),
    ];
    for (flags, expected) in cases {
        for host in ["dx-test", "dx-other"] {
            assert_eq!(
                kept(&env, host, flags),
                set(expected),
                "{flags:?} on {host}"
            );
        }
    }
    // A dry run changed nothing.
    assert_eq!(env.snapshot_count(), 2 * SERIES.len());
}

#[test]
fn pre_maintenance_and_kept_labels_survive_keep_last_1() {
    let env = Env::new(Shape::Admin);
    synthesize(&env, &["dx-test"], |name| {
        match name {
            "S2" => "pre-maintenance CF229",
            "S4" => "pre-maintenance CF230",
            "S1" => "release",
            _ => "nightly",
        }
        .to_owned()
    });
    // Only the NEWEST pre-maintenance snapshot is protected.
    assert_eq!(
        kept(&env, "dx-test", &["--keep-last", "1"]),
        set(&["S11", "S4"])
    );
    assert_eq!(
        kept(
            &env,
            "dx-test",
            &["--keep-last", "1", "--keep-label", "release"]
        ),
        set(&["S11", "S4", "S1"])
    );

    // For real: exactly those remain, and the reasons say why.
    let out = env
        .run(&[
            "forget",
            "--keep-last",
            "1",
            "--keep-label",
            "release",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["removed"].as_array().unwrap().len(), SERIES.len() - 3);
    let reasons: Vec<String> = out["groups"][0]["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["reasons"].as_array().unwrap().clone())
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons.contains(&"latest pre-maintenance".to_owned()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"label release".to_owned()), "{reasons:?}");
    let left: BTreeSet<String> = env.run(&["snapshots", "--json"]).ok().json()["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        left,
        ["nightly", "pre-maintenance CF230", "release"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
}

#[test]
fn the_configuration_holds_the_policy_and_flags_override_it() {
    let env = Env::new(Shape::Admin);
    synthesize(&env, &["dx-test"], |_| String::new());
    std::fs::write(env.path("lockstep.toml"), "[forget]\nkeep-daily = 3\n").unwrap();
    assert_eq!(kept(&env, "dx-test", &[]), set(&["S11", "S8", "S6"]));
    assert_eq!(kept(&env, "dx-test", &["--keep-daily", "1"]), set(&["S11"]));

    // Without any rule, nothing is forgotten: a usage error.
    std::fs::write(env.path("lockstep.toml"), "").unwrap();
    let run = env.run(&["forget"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no retention policy"), "{}", run.stderr);
    let run = env.run(&["forget", "--keep-within", "fortnight"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(env.snapshot_count(), SERIES.len());
}

#[test]
fn forgetting_a_drilled_snapshot_removes_its_drill_record_and_prune_reclaims() {
    let env = Env::new(Shape::Admin);
    synthesize(&env, &["dx-test"], |_| String::new());
    let oldest = env.run(&["snapshots", "--json"]).ok().json()["snapshots"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.run(&["drill", &oldest]).ok();
    // The drill record is not a set snapshot.
    assert_eq!(env.snapshot_count(), SERIES.len());
    let out = env
        .run(&["forget", "--keep-last", "2", "--prune", "--json"])
        .ok()
        .json();
    assert_eq!(out["drill_records_removed"], 1);
    assert_eq!(out["kept"], 2);
    assert_eq!(out["prune"]["dry_run"], false);
    let repo = open(&env);
    assert_eq!(
        repo.get_all_snapshots().unwrap().len(),
        2,
        "record removed too"
    );
    let pruned = env.run(&["prune", "--json"]).ok().json();
    assert_eq!(pruned["schema_version"], 1);
    env.run(&["check"]).ok();
}
