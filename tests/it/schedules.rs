//! Running unattended: systemd units, completions and man pages, metrics files, progress on
//! a non-terminal, and the documented exit codes.

use std::path::Path;

use crate::common::{Env, have};
use lockstep_sample::Shape;

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        eprintln!(
            "SKIPPED: systemd-analyze is not installed; the units in contrib/systemd were not verified"
        );
        return;
    }
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(&units).unwrap() {
        let path = entry.unwrap().path();
        // verify checks that ExecStart's binary exists: point it at the one under test.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/lockstep", env!("CARGO_BIN_EXE_lockstep"));
        let copy = dir.path().join(path.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        paths.push(copy);
    }
    paths.sort();
    assert_eq!(paths.len(), 4, "a service and a timer for backup and drill");
    // The man page is generated (`lockstep man`), not installed here: don't look it up.
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definitions() {
    let env = Env::new(Shape::Admin);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = env.run(&["completions", shell]).ok().stdout;
        assert!(out.contains("drill") && out.contains("forget"), "{shell}");
    }
    if have("bash") {
        let script = env.path("lockstep.bash");
        std::fs::write(&script, env.run(&["completions", "bash"]).ok().stdout).unwrap();
        let status = std::process::Command::new("bash")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "the bash completion script does not parse"
        );
    }
    let page = env.run(&["man"]).ok().stdout;
    assert!(
        page.starts_with(".ie") || page.contains(".TH lockstep 1"),
        "{page}"
    );
    assert!(
        page.contains("Exit codes"),
        "the man page documents the exit codes"
    );
    let dir = env.path("man");
    env.run(&["man", "--dir", dir.to_str().unwrap()]).ok();
    for page in [
        "lockstep.1",
        "lockstep-drill.1",
        "lockstep-forget.1",
        "lockstep-check.1",
    ] {
        assert!(dir.join(page).is_file(), "{page}");
    }
    assert!(env.run(&["completions", "tcsh"]).code == 2);
}

#[test]
fn help_documents_every_exit_code() {
    let env = Env::new(Shape::Admin);
    let help = env.run(&["--help"]).ok().stdout;
    for needle in ["0  ok", "1  error", "2  usage", "3  refused", "141"] {
        assert!(
            help.contains(needle),
            "'{needle}' missing from --help:\n{help}"
        );
    }
}

fn sample(text: &str, metric: &str, command: &str) -> Option<f64> {
    text.lines()
        .find(|l| {
            l.starts_with(&format!("{metric}{{")) && l.contains(&format!("command=\"{command}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_files_record_backup_drill_check_and_status() {
    let env = Env::new(Shape::Admin);
    let prom = env.path("textfile/lockstep.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let m = prom.to_str().unwrap();
    env.run(&["--metrics-file", m, "backup"]).ok();
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        sample(&text, "lockstep_last_run_success", "backup"),
        Some(1.0)
    );
    assert!(sample(&text, "lockstep_backup_added_bytes", "backup").unwrap() > 0.0);
    assert!(sample(&text, "lockstep_backup_files", "backup").unwrap() > 100.0);
    assert_eq!(sample(&text, "lockstep_snapshots", "backup"), Some(1.0));
    assert_eq!(sample(&text, "lockstep_in_sync", "backup"), Some(1.0));
    assert!(
        text.contains("set=\"admin\"") && text.contains("host=\"dx-test\""),
        "{text}"
    );
    assert!(text.contains("# TYPE lockstep_last_run_success gauge"));
    let success_time = sample(&text, "lockstep_last_success_timestamp_seconds", "backup").unwrap();

    env.run(&["--metrics-file", m, "drill"]).ok();
    env.run(&["--metrics-file", m, "check", "--read-data"]).ok();
    env.run(&["--metrics-file", m, "status"]).ok();
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        sample(&text, "lockstep_last_run_success", "drill"),
        Some(1.0)
    );
    assert!(sample(&text, "lockstep_drill_throughput_bytes_per_second", "drill").unwrap() > 0.0);
    assert_eq!(sample(&text, "lockstep_check_errors", "check"), Some(0.0));
    assert_eq!(sample(&text, "lockstep_in_sync", "status"), Some(1.0));
    // The backup's samples are still there.
    assert_eq!(
        sample(&text, "lockstep_last_run_success", "backup"),
        Some(1.0)
    );

    // A refused backup: last run failed, the last success time stays.
    let shared = env.host.instances[0].shared.clone();
    std::fs::remove_dir_all(env.physical(&shared)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(env.run(&["--metrics-file", m, "backup"]).code, 3);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        sample(&text, "lockstep_last_run_success", "backup"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "lockstep_last_success_timestamp_seconds", "backup"),
        Some(success_time)
    );
    assert!(sample(&text, "lockstep_last_run_timestamp_seconds", "backup").unwrap() > success_time);
    // Nothing but the metrics file is left in its directory (written by rename).
    assert_eq!(
        std::fs::read_dir(prom.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn progress_shows_on_a_non_terminal_only_when_asked() {
    let env = Env::new(Shape::Admin);
    let quiet = env.run(&["backup"]).ok();
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
    let lines = env.run(&["--progress", "backup"]).ok();
    assert!(lines.stderr.lines().count() >= 2, "{}", lines.stderr);
    assert!(
        lines.stderr.lines().all(|l| l.starts_with("lockstep: ")),
        "{}",
        lines.stderr
    );
    let json = env.run(&["--progress", "--json", "drill"]).ok();
    json.json();
    for line in json.stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("progress line is not JSON ({e}): {line}"));
        assert!(v["progress"].is_string(), "{line}");
    }
    assert!(
        json.stderr.contains("verifying restored files"),
        "{}",
        json.stderr
    );
}
