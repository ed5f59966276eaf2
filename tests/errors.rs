//! Bad input: each case exits non-zero with one clear line and changes nothing.

mod common;

use common::{Env, Run, listing};
use lockstep::sample::{SampleOptions, Shape};

/// One line on stderr, starting with `lockstep:`.
#[track_caller]
fn one_line(run: &Run, code: i32, needle: &str) {
    assert_eq!(
        run.code, code,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{}", run.stderr);
    assert!(lines[0].starts_with("lockstep: "), "{}", lines[0]);
    assert!(lines[0].contains(needle), "'{needle}' not in: {}", lines[0]);
}

#[test]
fn missing_repository_says_to_run_init() {
    let env = Env::bare(SampleOptions::default());
    for cmd in [
        &["backup"][..],
        &["snapshots"],
        &["restore", "latest", "--target", "/nonexistent-x"],
    ] {
        one_line(&env.run(cmd), 1, "lockstep init");
    }
    assert!(
        !env.repo().exists(),
        "a failed command created the repository"
    );
}

#[test]
fn init_twice_is_refused() {
    let env = Env::new(Shape::Admin);
    let config = std::fs::read(env.repo().join("config")).unwrap();
    one_line(&env.run(&["init"]), 3, "already exists");
    assert_eq!(std::fs::read(env.repo().join("config")).unwrap(), config);
}

#[test]
fn wrong_password() {
    let env = Env::new(Shape::Admin);
    std::fs::write(env.path("password"), "not-the-password\n").unwrap();
    one_line(&env.run(&["backup"]), 1, "wrong password");
    std::fs::write(env.path("password"), "test-password\n").unwrap();
    assert_eq!(env.snapshot_count(), 0);
}

#[test]
fn no_password_source_is_a_usage_error() {
    let env = Env::new(Shape::Admin);
    let mut cmd = env.command();
    cmd.env_remove("LOCKSTEP_PASSWORD_FILE").arg("snapshots");
    one_line(&common::run(&mut cmd), 2, "LOCKSTEP_PASSWORD_FILE");
}

#[test]
fn corrupt_installed_xml_names_the_file() {
    let env = Env::new(Shape::Admin);
    let agent = env.host.instances[0].agent_data.clone();
    let file = env.physical(&format!("{agent}/installed.xml"));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, &text[..text.len() / 2]).unwrap();
    let run = env.run(&["backup"]);
    // A backup is refused by rule 6 (its set would lose what the record names); `discover`
    // reports the damage as an error.
    one_line(&run, 3, &format!("{agent}/installed.xml"));
    assert!(
        !run.stderr.contains(&env.root().display().to_string()),
        "physical path shown: {}",
        run.stderr
    );
    assert_eq!(env.snapshot_count(), 0);
    one_line(&env.run(&["discover"]), 1, "installed.xml");
}

#[test]
fn missing_set_directory_is_refused() {
    let env = Env::new(Shape::Admin);
    let shared = env.host.instances[0].shared.clone();
    std::fs::remove_dir_all(env.physical(&shared)).unwrap();
    let run = env.run(&["backup"]);
    one_line(&run, 3, &shared);
    assert!(run.stderr.contains("im-shared"), "{}", run.stderr);
    assert_eq!(env.snapshot_count(), 0);
}

#[test]
fn unreadable_file_discards_the_snapshot() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new(Shape::Admin);
    let product = env.host.instances[0].products[0].clone();
    let file = env.physical(&format!("{product}/properties/sas.client.props"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = env.command_for_another_user();
    cmd.arg("backup");
    if common::is_root() {
        // root reads everything: run the backup as `nobody`, who may use the repository but
        // cannot read the file.
        const NOBODY: u32 = 65534;
        std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(env.path("password"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        for entry in walkdir::WalkDir::new(env.repo()) {
            std::os::unix::fs::lchown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
        }
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let run = common::run(&mut cmd);
    one_line(&run, 1, "could not be read");
    assert!(
        run.stderr.contains("the snapshot was discarded"),
        "{}",
        run.stderr
    );
    assert_eq!(env.snapshot_count(), 0);
}

#[test]
fn non_empty_restore_target_is_refused() {
    let env = Env::new(Shape::Admin);
    let id = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    let target = env.path("occupied");
    std::fs::create_dir_all(target.join("opt")).unwrap();
    std::fs::write(target.join("keep.txt"), "mine").unwrap();
    let before = listing(&target, &[std::path::PathBuf::from("/")]);
    one_line(
        &env.run(&["restore", &id, "--target", target.to_str().unwrap()]),
        3,
        "not empty",
    );
    assert_eq!(listing(&target, &[std::path::PathBuf::from("/")]), before);
}

#[test]
fn unknown_snapshot_and_bad_config() {
    let env = Env::new(Shape::Admin);
    one_line(
        &env.run(&["restore", "deadbeef", "--target", "/nonexistent-y"]),
        2,
        "deadbeef",
    );
    std::fs::write(env.path("lockstep.toml"), "repositry = '/x'\n").unwrap();
    one_line(&env.run(&["snapshots"]), 2, "repositry");
}
