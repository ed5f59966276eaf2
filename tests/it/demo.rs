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

    // A second demo into the same directory refuses rather than mixing two runs.
    let again = run(Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .env("HOME", dir.path())
        .args(["demo", "--keep"])
        .arg(&keep));
    assert_eq!(again.code, 3, "{}", again.stderr);
}
