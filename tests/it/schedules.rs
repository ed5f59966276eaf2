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
    assert_eq!(
        paths.len(),
        5,
        "a service and a timer for backup and drill, and the failure report"
    );
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
        page.contains(".SH \"EXIT STATUS\""),
        "the man page documents the exit codes"
    );
    let dir = env.path("man");
    env.run(&["man", "--dir", dir.to_str().unwrap()]).ok();
    for page in [
        "lockstep.1",
        "lockstep-drill.1",
        "lockstep-forget.1",
        "lockstep-check.1",
        "lockstep.toml.5",
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
    std::fs::write(env.physical("/opt/IBM/InstallationManager/new.txt"), "new").unwrap();
    let lines = env.run(&["--progress", "backup"]).ok();
    eprintln!("{}", lines.stderr);
    assert!(lines.stderr.lines().count() >= 2, "{}", lines.stderr);
    // Every line says which step it belongs to; the backup's own bookkeeping (replacing the
    // unsealed snapshot by the sealed one) is not shown; the engine's bar has its total.
    assert!(
        lines
            .stderr
            .lines()
            .all(|l| l.starts_with("lockstep backup: ")),
        "{}",
        lines.stderr
    );
    assert!(!lines.stderr.contains("removing"), "{}", lines.stderr);
    assert!(
        lines
            .stderr
            .lines()
            .any(|l| l.contains("backing up") && l.contains("(100%)")),
        "{}",
        lines.stderr
    );
    let json = env.run(&["--progress", "--json", "drill"]).ok();
    json.json();
    for line in json.stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("progress line is not JSON ({e}): {line}"));
        assert!(v["progress"].is_string(), "{line}");
        assert_eq!(v["step"], "drill", "{line}");
    }
    assert!(
        json.stderr.contains("verifying restored files"),
        "{}",
        json.stderr
    );
}

/// A restore shows one bar for the whole run, not one per member and pass: its progress
/// lines end once, at the snapshot's size.
#[test]
fn a_restore_shows_one_bar_for_the_whole_run() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let target = env.path("restored");
    let r = env
        .run(&[
            "--progress",
            "restore",
            "latest",
            "--target",
            target.to_str().unwrap(),
        ])
        .ok();
    let ends: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("restoring file contents") && l.contains("done in"))
        .collect();
    assert_eq!(ends.len(), 1, "{}", r.stderr);
    assert!(ends[0].starts_with("lockstep restore: "), "{}", ends[0]);
    assert!(ends[0].contains("(100%)"), "{}", ends[0]);
}

/// Under a terminal (a pty, through `script`), a backup's bar has its total from the start:
/// lockstep knows the set's size from its fingerprint before the engine reads a file.
#[test]
fn a_backup_on_a_terminal_shows_its_total_and_eta() {
    if !crate::common::require("script") {
        return;
    }
    let env = Env::with(lockstep_sample::SampleOptions {
        files: 3000,
        bytes: 192 << 20,
        ..lockstep_sample::SampleOptions::default()
    });
    let mut cmd = env.command();
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_lockstep"));
    cmd.arg("backup");
    let line = std::iter::once(program.as_os_str())
        .chain(cmd.get_args())
        .map(|a| shell_escape::unix::escape(a.to_string_lossy().into_owned().into()).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = std::process::Command::new("script");
    script.args(["-q", "-e", "-c", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = crate::common::run(&mut script).ok();
    let screen = out.stdout;
    let total = shows_a_total(&screen);
    assert!(total, "no bar with a total: {screen:?}");
    assert!(screen.contains("ETA"), "{screen:?}");
}

/// Whether the terminal output shows a byte count out of a total (`12.00 MiB/192.00 MiB`).
fn shows_a_total(screen: &str) -> bool {
    screen.split("iB/").skip(1).any(|rest| {
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        !digits.is_empty()
            && rest[digits.len()..]
                .trim_start()
                .starts_with(['K', 'M', 'G'])
    })
}
