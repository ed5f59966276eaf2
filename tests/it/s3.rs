//! Against a real S3 server (Garage): `./scripts/test.sh` starts one (scripts/garage.sh) and
//! exports LOCKSTEP_TEST_S3_*. Without those variables these tests say SKIPPED and pass — except
//! when LOCKSTEP_REQUIRE_S3 is set, where their absence is a failure.

use crate::common::s3::{Garage, S3, command, configure, prefix, server as s3};
use crate::common::{self, Env, Run, listing, run};
use lockstep_sample::{SampleOptions, Shape};

fn lockstep(env: &Env, s3: &S3, args: &[&str]) -> Run {
    run(&mut command(env, s3, &env.root(), "dx-test", args))
}

#[test]
fn s3_init_backup_snapshots_restore_check() {
    let Some(s3) = s3() else { return };
    let env = Env::bare(SampleOptions::default());
    configure(&env, &s3, &prefix("roundtrip"), "");
    lockstep(&env, &s3, &["init"]).ok();
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    let out = lockstep(&env, &s3, &["backup", "--json"]).ok().json();
    let id = out["snapshot"].as_str().unwrap().to_owned();
    let snaps = lockstep(&env, &s3, &["snapshots", "--json"]).ok().json();
    assert_eq!(snaps["snapshots"].as_array().unwrap().len(), 1);
    let target = env.path("restored");
    lockstep(
        &env,
        &s3,
        &["restore", &id, "--target", target.to_str().unwrap()],
    )
    .ok();
    common::assert_restored(&before, &target, &members);
    lockstep(&env, &s3, &["check", "--read-data"]).ok();
}

#[test]
fn garage_stopped_mid_backup_leaves_no_snapshot_and_the_next_backup_succeeds() {
    // Runs where the suite's Garage runs (the binary is then installed).
    if s3().is_none() {
        return;
    }
    let garage = Garage::single();
    let s3 = &garage.s3;
    let env = Env::bare(SampleOptions {
        files: 3000,
        bytes: 256 << 20,
        ..SampleOptions::default()
    });
    configure(&env, s3, &prefix("outage"), "");
    // Fewer retries of each request than the default, so the outage is reported sooner.
    std::fs::write(
        env.path("lockstep.toml"),
        std::fs::read_to_string(env.path("lockstep.toml")).unwrap() + "retry = '2'\n",
    )
    .unwrap();
    lockstep(&env, s3, &["init"]).ok();
    // Garage stops once the backup has read the index and fingerprinted the set, just before
    // the first file is read and uploaded (the fault point `backup-reading`).
    let stop = format!("run:{}", garage.kill_command(1));
    let out = command(&env, s3, &env.root(), "dx-test", &["backup"])
        .env("LOCKSTEP_FAULT_BACKUP_READING", stop)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the backup succeeded although Garage was stopped: {stderr}"
    );
    eprintln!("backup with Garage stopped: {}", stderr.trim());
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "not one clear line: {stderr}"
    );
    assert!(
        stderr.contains(&s3.bucket) && stderr.contains(&s3.endpoint),
        "{stderr}"
    );
    garage.restart(1);
    // Wait (bounded) until the restarted server answers.
    let mut snaps = None;
    for _ in 0..100 {
        let r = lockstep(&env, s3, &["snapshots", "--json"]);
        if r.code == 0 {
            snaps = Some(r.json());
            break;
        }
    }
    let snaps = snaps.expect("Garage came back");
    assert_eq!(snaps["snapshots"].as_array().unwrap().len(), 0, "{snaps}");
    lockstep(&env, s3, &["backup"]).ok();
    lockstep(&env, s3, &["check"]).ok();
}

#[test]
fn local_to_s3_copy_is_idempotent_and_restores_identically() {
    let Some(s3) = s3() else { return };
    let env = Env::new(Shape::Admin);
    let root = prefix("copy");
    // The local repository is the tier for rollback; the remote is S3, with the credentials in
    // the configuration's [remote-options].
    std::fs::write(env.path("lockstep.toml"), s3.toml("remote", &root, true)).unwrap();
    s3.init(&env, &root);
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    env.backup(&[]);
    assert_eq!(env.run(&["copy", "--json"]).ok().json()["copied"], 1);
    assert_eq!(env.run(&["copy", "--json"]).ok().json()["copied"], 0);
    let target = env.path("from-s3");
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
}

/// Every file of the repository at `root` in the bucket, with its size (the raw backend, no
/// password): what "nothing was written" is checked against.
fn stored_files(s3: &S3, root: &str) -> Vec<(String, u32)> {
    use rustic_core::FileType;
    let spec = lockstep::repo::RepoSpec {
        location: "opendal:s3".into(),
        options: [
            ("bucket", s3.bucket.as_str()),
            ("endpoint", s3.endpoint.as_str()),
            ("region", s3.region.as_str()),
            ("root", root),
            ("access_key_id", s3.key_id.as_str()),
            ("secret_access_key", s3.secret.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    };
    let backend = spec.raw_backend().unwrap();
    let mut files = Vec::new();
    for kind in [
        FileType::Config,
        FileType::Key,
        FileType::Snapshot,
        FileType::Index,
        FileType::Pack,
    ] {
        for (id, size) in backend.list_with_size(kind).unwrap() {
            files.push((format!("{kind:?}/{id}"), size));
        }
    }
    files.sort();
    files
}

#[test]
fn an_s3_remote_with_its_own_password_is_created_copied_to_and_restored_from() {
    let Some(s3) = s3() else { return };
    let env = Env::new(Shape::Admin);
    let root = prefix("remote-key");
    std::fs::write(env.path("lockstep.toml"), s3.toml("remote", &root, true)).unwrap();
    let remote_password = env.path("remote-password");
    std::fs::write(&remote_password, "another-custody\n").unwrap();
    let remote = |args: &[&str]| {
        run(env
            .command()
            .env("LOCKSTEP_REMOTE_PASSWORD_FILE", &remote_password)
            .args(args))
    };
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);

    remote(&["init", "--remote"]).ok();
    assert!(
        stored_files(&s3, &root)
            .iter()
            .any(|(f, _)| f.starts_with("Config")),
        "init --remote created the remote"
    );
    // The repository's password does not open it: the remote has a key of its own.
    let r = env.run(&["status", "--from", "remote"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("wrong password for the remote repository"),
        "{}",
        r.stderr
    );

    env.backup(&[]);
    assert_eq!(remote(&["copy", "--json"]).ok().json()["copied"], 1);
    let target = env.path("from-s3");
    remote(&[
        "restore",
        "latest",
        "--from",
        "remote",
        "--target",
        target.to_str().unwrap(),
    ])
    .ok();
    common::assert_restored(&before, &target, &members);

    // With a wrong remote password, `copy` writes nothing to the remote, and its one line
    // names the remote's bucket and prefix.
    let stored = stored_files(&s3, &root);
    env.backup(&["--label", "two"]);
    let local = env.snapshot_count();
    let wrong = env.path("wrong-password");
    std::fs::write(&wrong, "not-the-remote-password\n").unwrap();
    let r = run(env
        .command()
        .env("LOCKSTEP_REMOTE_PASSWORD_FILE", &wrong)
        .arg("copy"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].contains("wrong password for the remote repository")
            && lines[0].contains(&format!("bucket {}", s3.bucket))
            && lines[0].contains(&root),
        "{}",
        lines[0]
    );
    assert_eq!(
        stored_files(&s3, &root),
        stored,
        "nothing written to the remote"
    );
    assert_eq!(env.snapshot_count(), local, "the repository is unchanged");
}
