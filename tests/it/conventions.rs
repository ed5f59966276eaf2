//! restic's conventions, as a restic user expects them: a password command (a vault client)
//! instead of a password file, and a prune that frees the space at once on a full disk.

use std::path::Path;

use crate::common::{Env, run};
use lockstep_sample::Shape;

/// A command that prints the test password as a vault client would, with noise on stderr.
fn vault(env: &Env) -> String {
    format!(
        "echo 'vault: token ok' >&2; cat '{}'",
        env.path("password").display()
    )
}

#[test]
fn a_password_command_alone_backs_up_and_lists() {
    let env = Env::new(Shape::Admin);
    // only LOCKSTEP_PASSWORD_COMMAND: no file, no variable, no configuration
    let only_command = || {
        let mut cmd = env.command();
        cmd.env_remove("LOCKSTEP_PASSWORD_FILE")
            .env("LOCKSTEP_PASSWORD_COMMAND", vault(&env));
        cmd
    };
    let backup = run(only_command().args(["backup", "--json"])).ok().json();
    let id = backup["snapshot"].as_str().unwrap().to_owned();
    let listed = run(only_command().args(["snapshots", "--json"]))
        .ok()
        .json();
    assert_eq!(listed["snapshots"][0]["id"], id.as_str());

    // the configuration's `password-command`, with nothing in the environment
    std::fs::write(
        env.path("lockstep.toml"),
        format!(
            "password-command = \"{}\"\n",
            vault(&env).replace('"', "\\\"")
        ),
    )
    .unwrap();
    let mut cmd = env.command();
    cmd.env_remove("LOCKSTEP_PASSWORD_FILE");
    run(cmd.args(["backup", "--json"])).ok();
    let mut cmd = env.command();
    cmd.env_remove("LOCKSTEP_PASSWORD_FILE");
    let listed = run(cmd.args(["snapshots", "--json"])).ok().json();
    assert_eq!(listed["snapshots"].as_array().unwrap().len(), 2);

    // the environment's command comes before the configuration's: a broken configured command
    // is never run when LOCKSTEP_PASSWORD_COMMAND is set …
    std::fs::write(env.path("lockstep.toml"), "password-command = \"exit 9\"\n").unwrap();
    run(only_command().arg("snapshots")).ok();
    // … and LOCKSTEP_PASSWORD_FILE comes before any command
    let mut cmd = env.command();
    cmd.env("LOCKSTEP_PASSWORD_COMMAND", "exit 9");
    run(cmd.arg("snapshots")).ok();
}

#[test]
fn a_failing_password_command_is_one_line_with_its_source_and_what_it_said() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let mut cmd = env.command();
    cmd.env_remove("LOCKSTEP_PASSWORD_FILE").env(
        "LOCKSTEP_PASSWORD_COMMAND",
        "echo 'vault: connection refused' >&2; exit 2",
    );
    let r = run(cmd.args(["backup"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("LOCKSTEP_PASSWORD_COMMAND")
            && r.stderr.contains("exited 2: vault: connection refused"),
        "{}",
        r.stderr
    );
    // a configured command that prints nothing
    std::fs::write(env.path("lockstep.toml"), "password-command = \"true\"\n").unwrap();
    let mut cmd = env.command();
    cmd.env_remove("LOCKSTEP_PASSWORD_FILE");
    let r = run(cmd.args(["snapshots"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("`password-command` in the configuration")
            && r.stderr.contains("printed no password"),
        "{}",
        r.stderr
    );
    assert_eq!(env.snapshot_count(), 1, "nothing was written");
}

/// Bytes in the repository's pack files.
fn pack_bytes(repo: &Path) -> u64 {
    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let meta = e.metadata().unwrap();
                if meta.is_dir() {
                    walk(&e.path())
                } else {
                    meta.len()
                }
            })
            .sum()
    }
    walk(&repo.join("data"))
}

/// A host with three snapshots, the middle one holding 4 MiB of data no other snapshot has;
/// the two older snapshots are forgotten (without a prune).
fn forgotten_data(env: &Env, prune: &[&str]) -> serde_json::Value {
    env.backup(&[]);
    let product = env.host.instances[0].products[0].clone();
    let big = env.physical(&format!("{product}/fixpack-download.bin"));
    // incompressible, so it takes its room in the repository
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let data: Vec<u8> = (0..4 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(&big, data).unwrap();
    env.backup(&[]);
    std::fs::remove_file(&big).unwrap();
    env.backup(&[]);
    let mut args = vec!["forget", "--keep-last", "1", "--json"];
    args.extend_from_slice(prune);
    env.run(&args).ok().json()
}

#[test]
fn prune_instant_delete_frees_the_space_of_forgotten_snapshots_in_one_run() {
    let env = Env::new(Shape::Admin);
    forgotten_data(&env, &[]);
    let before = pack_bytes(&env.repo());

    // two phases: the unused pack files are only marked
    let marked = env.run(&["prune", "--json"]).ok().json();
    assert_eq!(marked["instant_delete"], false);
    assert!(marked["packs_marked"].as_u64() > Some(0), "{marked}");
    let marked_bytes = pack_bytes(&env.repo());
    assert!(
        marked_bytes + (3 << 20) > before,
        "a two-phase prune deleted the forgotten data at once: {before} -> {marked_bytes}"
    );

    // --instant-delete: deleted now, those the first prune marked included
    let help = env.run(&["prune", "--help"]).ok().stdout;
    assert!(
        help.contains("--instant-delete") && help.contains("UNSAFE while any backup runs"),
        "{help}"
    );
    let report = env
        .run(&["prune", "--instant-delete", "--json"])
        .ok()
        .json();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["instant_delete"], true);
    assert_eq!(report["packs_marked"], 0);
    assert_eq!(report["packs_waiting"], 0);
    assert!(report["packs_deleted"].as_u64() > Some(0), "{report}");
    let after = pack_bytes(&env.repo());
    assert!(
        after + (3 << 20) < before,
        "pack bytes {before} -> {after}: the forgotten 4 MiB are still there ({report})"
    );
    env.run(&["check", "--read-data"]).ok();
    assert_eq!(env.snapshot_count(), 1);
    // a restic user's habit: the text says what happened
    let text = env.run(&["prune", "--instant-delete"]).ok().stdout;
    assert!(text.contains("at once (--instant-delete)"), "{text}");
}

#[test]
fn forget_prune_instant_delete_frees_the_space_and_says_so() {
    let env = Env::new(Shape::Admin);
    let plain = env.run(&["forget", "--keep-last", "9", "--instant-delete"]);
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(plain.stderr.contains("add --prune"), "{}", plain.stderr);

    let out = forgotten_data(&env, &["--prune", "--instant-delete"]);
    assert_eq!(out["prune"]["instant_delete"], true, "{out}");
    assert!(
        out["prune"]["bytes_deleted"].as_u64() > Some(3 << 20),
        "{out}"
    );
    env.run(&["check", "--read-data"]).ok();
}
