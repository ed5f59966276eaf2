//! The README's second set-up command: `lockstep demo` tells the whole story and exits 0.

use crate::common::{self, run};
use std::process::Command;

#[test]
fn demo_succeeds_and_keeps_what_it_built() {
    // Reads the machine's configuration, which the package test installs (common::machine).
    let _machine = common::machine();
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("kept");
    let out = run(Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .env("HOME", dir.path())
        .args(["demo", "--keep"])
        .arg(&keep))
    .ok();
    assert!(out.stdout.contains("identical"), "{}", out.stdout);
    assert!(
        out.stdout.contains("9.0.5.18"),
        "the fix pack is shown: {}",
        out.stdout
    );

    // What was kept is a real host and repository the user can explore.
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let snaps = run(Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .env("LOCKSTEP_PASSWORD_FILE", keep.join("password"))
        .env("LOCKSTEP_CONFIG", &config)
        .args(["--json", "--root"])
        .arg(keep.join("host"))
        .arg("--repo")
        .arg(keep.join("repo"))
        .arg("snapshots"))
    .ok()
    .json();
    assert_eq!(snaps["snapshots"].as_array().unwrap().len(), 2);

    // The hint it prints, followed verbatim in a shell, works: every command exits 0, and
    // `status` finds the host's snapshot.
    let hint: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("kept in"))
        .skip(1)
        .map(str::trim)
        .collect();
    assert!(
        hint.len() >= 4 && hint[0].starts_with("export "),
        "{}",
        out.stdout
    );
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_lockstep"))
        .parent()
        .unwrap();
    for command in &hint[1..] {
        let script = format!(
            "{}
{command}
",
            hint[0]
        );
        let r = run(Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("HOME", dir.path())
            .env("LOCKSTEP_CONFIG", &config)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            ));
        assert_eq!(r.code, 0, "{command}:\n{}\n{}", r.stdout, r.stderr);
        if *command == "lockstep status" {
            assert!(r.stdout.contains("in sync"), "{}", r.stdout);
        }
    }

    // A second demo into the same directory refuses rather than mixing two runs.
    let again = run(Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .env("HOME", dir.path())
        .args(["demo", "--keep"])
        .arg(&keep));
    assert_eq!(again.code, 3, "{}", again.stderr);
}
