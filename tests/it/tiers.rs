//! Two tiers and many hosts on local repositories: `copy` to a remote, `backup --copy`,
//! `restore --from remote`, and `fleet` (the S3 versions of these live in tests/it/s3.rs).

use std::path::Path;
use std::process::Command;

use crate::common::{self, Env, Run, listing, run};
use lockstep_sample::{Shape, apply_fix_pack};

/// `lockstep` on `root`, recording `host`, with `env`'s repository, password and configuration.
fn lockstep(env: &Env, root: &Path, host: &str, args: &[&str]) -> Run {
    let mut cmd = env.bare_command(Path::new(env!("CARGO_BIN_EXE_lockstep")));
    cmd.env("LOCKSTEP_STATE_DIR", env.path(&format!("state-{host}")))
        .arg("--root")
        .arg(root);
    // An empty host: none named, so `fleet` and `snapshots` show every host.
    if !host.is_empty() {
        cmd.arg("--host").arg(host);
    }
    cmd.args(args);
    run(&mut cmd)
}

#[test]
fn copy_to_a_remote_is_idempotent_and_restores_identically() {
    let env = Env::new(Shape::Admin);
    let remote = env.path("remote");
    std::fs::write(
        env.path("lockstep.toml"),
        format!("remote = '{}'\n", remote.display()),
    )
    .unwrap();
    // Without a remote configured, copy says how to configure one.
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    env.run(&["--repo", remote.to_str().unwrap(), "init"]).ok();
    let first = env.backup(&["--label", "one"]);
    let id = first["snapshot"].as_str().unwrap().to_owned();

    let out = env.run(&["copy", "--json"]).ok().json();
    assert_eq!(out["schema_version"], 1);
    assert_eq!(out["copied"], 1, "{out}");
    let again = env.run(&["copy", "--json"]).ok().json();
    assert_eq!(again["copied"], 0, "copy is idempotent: {again}");
    assert_eq!(again["already_present"], 1);

    // `backup --copy` copies only the new snapshot.
    let second = env.backup(&["--copy"]);
    assert_eq!(second["copy"]["copied"], 1, "{second}");
    assert_eq!(second["copy"]["already_present"], 0);

    // The remote holds both, with their manifests (set, host, inventory).
    let listed = env
        .run(&["--repo", remote.to_str().unwrap(), "snapshots", "--json"])
        .ok()
        .json();
    let snaps = listed["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 2);
    assert!(
        snaps
            .iter()
            .all(|s| s["manifest"].is_object() && s["set"] == "admin")
    );

    // The remote copy of the first snapshot restores to exactly the host it came from.
    let remote_first = snaps.iter().find(|s| s["label"] == "one").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        remote_first, id,
        "a copy is a new snapshot file in the remote"
    );
    let target = env.path("from-remote");
    env.run(&[
        "restore",
        &remote_first,
        "--from",
        "remote",
        "--target",
        target.to_str().unwrap(),
    ])
    .ok();
    common::assert_restored(&before, &target, &members);
}

#[test]
fn copy_without_a_remote_says_how_to_configure_one() {
    let env = Env::new(Shape::Admin);
    let r = env.run(&["copy"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("remote") && r.stderr.contains("configuration"),
        "{}",
        r.stderr
    );
    // backup --copy refuses before backing up.
    let r = env.run(&["backup", "--copy"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(env.snapshot_count(), 0);
}

#[test]
fn fleet_flags_the_node_left_one_fix_pack_behind() {
    // Three nodes of one cluster: same products; node3 misses the fix pack the others got.
    let nodes: Vec<Env> = (0..3).map(|_| Env::bare(Default::default())).collect();
    let repo_env = &nodes[0];
    lockstep(repo_env, &nodes[0].root(), "node1", &["init"]).ok();
    apply_fix_pack(&nodes[0].host, 0).unwrap();
    apply_fix_pack(&nodes[1].host, 0).unwrap();
    for (i, node) in nodes.iter().enumerate() {
        let name = format!("node{}", i + 1);
        lockstep(repo_env, &node.root(), &name, &["backup"]).ok();
    }
    let out = lockstep(repo_env, &nodes[0].root(), "", &["fleet", "--json"])
        .ok()
        .json();
    assert_eq!(out["schema_version"], 1);
    let hosts = out["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{out}");
    for h in hosts {
        let expected = if h["host"] == "node3" {
            "differs"
        } else {
            "majority"
        };
        assert_eq!(h["agreement"], expected, "{h}");
        assert!(h["latest"].as_str().unwrap().len() == 64);
        assert!(h["age_seconds"].as_i64().unwrap() < 3600);
    }
    let behind = hosts.iter().find(|h| h["host"] == "node3").unwrap();
    assert!(!behind["differences"].as_array().unwrap().is_empty());
    assert_eq!(out["differing"], 1);
    // Dedup across the nodes: far less stored than three separate copies.
    let ratio = out["dedup"]["ratio"].as_f64().unwrap();
    eprintln!("fleet dedup: stored/referenced = {ratio:.3}");
    assert!(ratio > 0.0 && ratio < 0.6, "{out}");

    let text = lockstep(repo_env, &nodes[0].root(), "", &["fleet"]).ok();
    assert!(
        text.stdout.contains("DIFFERS") && text.stdout.contains("node3"),
        "{}",
        text.stdout
    );
}

#[test]
fn an_unreachable_object_store_is_one_line_naming_bucket_and_endpoint() {
    let env = Env::bare(Default::default());
    std::fs::write(
        env.path("lockstep.toml"),
        "repository = 'opendal:s3'\n[repository-options]\nbucket = 'dr-bucket'\nendpoint = 'http://127.0.0.1:1'\nregion = 'garage'\nretry = 'false'\naccess_key_id = 'k'\nsecret_access_key = 's'\n",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    cmd.env_clear()
        .env("HOME", env.dir.path())
        .env("LOCKSTEP_PASSWORD_FILE", env.path("password"))
        .env("LOCKSTEP_CONFIG", env.path("lockstep.toml"))
        .env("LOCKSTEP_STATE_DIR", env.path("state"))
        .arg("snapshots");
    let r = run(&mut cmd);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    for needle in ["dr-bucket", "http://127.0.0.1:1", "unreachable", "endpoint"] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("secret") || !r.stderr.contains("'s'"));
}

/// Every file under `dir` with its length and modification time: what "nothing was written"
/// is checked against.
fn files(
    dir: &Path,
) -> std::collections::BTreeMap<std::path::PathBuf, (u64, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let meta = e.metadata().unwrap();
            (e.into_path(), (meta.len(), meta.modified().unwrap()))
        })
        .collect()
}

/// One line on stderr, with exit code `code`, containing every one of `needles`.
fn one_line(r: &Run, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{}", r.stderr);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in: {}", lines[0]);
    }
}

#[test]
fn a_remote_with_its_own_password_is_created_copied_to_and_restored_from() {
    let env = Env::new(Shape::Admin);
    let remote = env.path("remote");
    let remote_str = remote.to_str().unwrap();
    let remote_password = env.path("remote-password");
    std::fs::write(&remote_password, "another-custody\n").unwrap();
    std::fs::write(
        env.path("lockstep.toml"),
        format!(
            "remote = '{}'\nremote-password-file = '{}'\n",
            remote.display(),
            remote_password.display()
        ),
    )
    .unwrap();
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);

    // `init --remote` creates the remote with the remote's password, not the repository's.
    let created = env.run(&["init", "--remote"]).ok();
    assert!(
        created.stdout.contains("created the remote repository")
            && created.stdout.contains(remote_str),
        "{}",
        created.stdout
    );
    one_line(
        &env.run(&["--repo", remote_str, "snapshots"]),
        1,
        &["wrong password", remote_str],
    );
    // Once it exists, `init --remote` refuses and leaves it as it is.
    let made = files(&remote);
    one_line(
        &env.run(&["init", "--remote"]),
        3,
        &["remote repository already exists", remote_str],
    );
    assert_eq!(
        files(&remote),
        made,
        "a refused init --remote writes nothing"
    );

    // `copy` opens the remote with its own password; the copy restores exactly.
    env.backup(&[]);
    assert_eq!(env.run(&["copy", "--json"]).ok().json()["copied"], 1);
    let target = env.path("from-remote");
    env.run(&[
        "restore",
        "latest",
        "--from",
        "remote",
        "--target",
        target.to_str().unwrap(),
    ])
    .ok();
    common::assert_restored(&before, &target, &members);

    // A wrong remote password (LOCKSTEP_REMOTE_PASSWORD_FILE wins over the configuration's
    // file) is one line naming the remote, and neither repository is written to.
    env.backup(&["--label", "two"]);
    let wrong = env.path("wrong-password");
    std::fs::write(&wrong, "not-the-remote-password\n").unwrap();
    let (remote_before, local_before) = (files(&remote), files(&env.repo()));
    for args in [
        &["copy"][..],
        &[
            "restore",
            "latest",
            "--from",
            "remote",
            "--target",
            env.path("nowhere").to_str().unwrap(),
        ],
        &["status", "--from", "remote"],
    ] {
        let r = run(env
            .command()
            .env("LOCKSTEP_REMOTE_PASSWORD_FILE", &wrong)
            .args(args));
        one_line(
            &r,
            1,
            &[
                "wrong password for the remote repository",
                remote_str,
                "LOCKSTEP_REMOTE_PASSWORD_FILE",
            ],
        );
        assert!(
            !r.stderr.contains(env.repo().to_str().unwrap()),
            "{}",
            r.stderr
        );
    }
    assert_eq!(
        files(&remote),
        remote_before,
        "nothing written to the remote"
    );
    assert_eq!(
        files(&env.repo()),
        local_before,
        "nothing written to the repository"
    );
    assert!(!env.path("nowhere").exists());
}

/// Sets are named by the administrator (`set` in the configuration, `--set`), not after IM's
/// install mode: `fleet` compares the hosts of a set with each other only, so a test node one fix
/// pack behind production is not flagged against it; `--host` limits what `snapshots`, `fleet`
/// and `forget` show, as restic's does.
#[test]
fn hosts_in_different_sets_are_not_compared_by_fleet() {
    let nodes: Vec<Env> = (0..3).map(|_| Env::bare(Default::default())).collect();
    let repo_env = &nodes[0];
    std::fs::write(repo_env.path("lockstep.toml"), "set = 'dx-prod-cell1'\n").unwrap();
    lockstep(repo_env, &nodes[0].root(), "prod1", &["init"]).ok();
    // Production got the fix pack; the test node did not.
    apply_fix_pack(&nodes[0].host, 0).unwrap();
    apply_fix_pack(&nodes[1].host, 0).unwrap();
    lockstep(repo_env, &nodes[0].root(), "prod1", &["backup"]).ok();
    lockstep(repo_env, &nodes[1].root(), "prod2", &["backup"]).ok();
    lockstep(
        repo_env,
        &nodes[2].root(),
        "test1",
        &["backup", "--set", "dx-test"],
    )
    .ok();

    let all = lockstep(repo_env, &nodes[0].root(), "", &["snapshots", "--json"])
        .ok()
        .json();
    let sets: Vec<(&str, &str)> = all["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["host"].as_str().unwrap(), s["set"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sets,
        vec![
            ("prod1", "dx-prod-cell1"),
            ("prod2", "dx-prod-cell1"),
            ("test1", "dx-test")
        ]
    );
    for s in all["snapshots"].as_array().unwrap() {
        assert_eq!(s["manifest"]["set"], s["set"], "{s}");
        // The mode stays what it is: a property of the instance.
        assert_eq!(s["manifest"]["mode"], "admin", "{s}");
    }

    let fleet = lockstep(repo_env, &nodes[0].root(), "", &["fleet", "--json"])
        .ok()
        .json();
    assert_eq!(fleet["differing"], 0, "{fleet}");
    for h in fleet["hosts"].as_array().unwrap() {
        let expected = if h["host"] == "test1" {
            "alone"
        } else {
            "majority"
        };
        assert_eq!(h["agreement"], expected, "{h}");
    }

    // --host limits what is shown.
    let mine = lockstep(
        repo_env,
        &nodes[0].root(),
        "prod2",
        &["snapshots", "--json"],
    )
    .ok()
    .json();
    let hosts: Vec<&str> = mine["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, vec!["prod2"]);
    let one = lockstep(repo_env, &nodes[0].root(), "test1", &["fleet", "--json"])
        .ok()
        .json();
    assert_eq!(one["hosts"].as_array().unwrap().len(), 1, "{one}");

    // `status` on a host compares it with its own set's snapshot.
    let status = lockstep(
        repo_env,
        &nodes[2].root(),
        "test1",
        &["status", "--set", "dx-test", "--json"],
    )
    .ok()
    .json();
    assert_eq!(status["verdict"], "in-sync", "{status}");
    assert_eq!(status["set"], "dx-test", "{status}");

    // A set name that cannot be a tag is one clear line.
    let bad = lockstep(
        repo_env,
        &nodes[2].root(),
        "test1",
        &["backup", "--set", "dx test,1"],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("set name") && bad.stderr.contains("--set"),
        "{}",
        bad.stderr
    );
    // The same name in the configuration stops preflight too, naming where it came from.
    let config = repo_env.path("bad-set.toml");
    std::fs::write(&config, "set = 'dx test'\n").unwrap();
    let bad = lockstep(
        repo_env,
        &nodes[2].root(),
        "test1",
        &["--config", config.to_str().unwrap(), "preflight"],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("configuration's `set`"),
        "{}",
        bad.stderr
    );
}
