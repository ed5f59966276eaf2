//! Fault-suite rows: the first mistakes every administrator makes — no repository yet, `init`
//! twice, no password, a typo in the configuration or a snapshot id, a set directory deleted, a
//! file the user cannot read, a restore target that is not empty.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::common::{self, Env};
use crate::harness::{Area, Fault, State, one_line};
use lockstep_sample::{SampleOptions, Shape};

pub fn rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "no_repository_yet",
            area: Area::Repository,
            fault: "`backup`, `snapshots` or `restore` before `lockstep init`",
            outcome: "Exit 1, one line saying to run `lockstep init`; no repository is created \
                      by accident.",
            test: no_repository_yet,
        },
        Fault {
            id: "init_twice",
            area: Area::Repository,
            fault: "`lockstep init` where a repository already exists",
            outcome: "Refused (exit 3): the existing repository is left exactly as it was.",
            test: init_twice,
        },
        Fault {
            id: "no_password_source",
            area: Area::Usage,
            fault: "No password given (no `LOCKSTEP_PASSWORD_FILE`, configuration or terminal)",
            outcome: "Exit 2, one line naming `LOCKSTEP_PASSWORD_FILE`.",
            test: no_password_source,
        },
        Fault {
            id: "command_line_mistakes",
            area: Area::Usage,
            fault: "A missing argument, an unknown flag, a bad value or an unknown command on the \
                    command line",
            outcome: "Exit 2, one line saying what is wrong and which `--help` to read (not \
                      clap's usage block); nothing runs.",
            test: command_line_mistakes,
        },
        Fault {
            id: "misspelt_configuration_key",
            area: Area::Usage,
            fault: "A misspelt key in the configuration file (`repositry = …`)",
            outcome: "Exit 2, one line naming the key; lockstep never guesses what was meant.",
            test: misspelt_configuration_key,
        },
        Fault {
            id: "unknown_snapshot_id",
            area: Area::Usage,
            fault: "`restore` of a snapshot id the repository does not have",
            outcome: "Exit 2, one line naming the id; nothing is restored.",
            test: unknown_snapshot_id,
        },
        Fault {
            id: "damaged_record_named_as_the_host_sees_it",
            area: Area::ImRecords,
            fault: "A damaged `installed.xml` on a host mounted under `--root`",
            outcome: "The line names the record by the path the host knows it by, never by the \
                      mount point's physical path; `discover` names it too (exit 1).",
            test: damaged_record_named_as_the_host_sees_it,
        },
        Fault {
            id: "set_directory_deleted",
            area: Area::ImRecords,
            fault: "A member directory of the set (the shared resources) deleted",
            outcome: "Refused (exit 3), naming the role and the path; no snapshot is written. \
                      `--allow-missing ROLE` accepts it.",
            test: set_directory_deleted,
        },
        Fault {
            id: "file_the_user_cannot_read",
            area: Area::Machine,
            fault: "A product file the backing-up user cannot read",
            outcome: "Exit 1, one line saying it could not be read and that the snapshot was \
                      discarded: no incomplete snapshot is left to restore from.",
            test: file_the_user_cannot_read,
        },
        Fault {
            id: "restore_target_not_empty",
            area: Area::Restore,
            fault: "`restore --target DIR` into a directory that already holds files",
            outcome: "Refused (exit 3): nothing in DIR is touched.",
            test: restore_target_not_empty,
        },
    ]
}

fn no_repository_yet() {
    let env = Env::bare(SampleOptions::default());
    let before = State::of(&env);
    for cmd in [
        &["backup"][..],
        &["snapshots"],
        &["restore", "latest", "--target", "/nonexistent-x"],
    ] {
        one_line(&env.run(cmd), 1, &["lockstep init"]);
    }
    assert!(
        !env.repo().exists(),
        "a failed command created the repository"
    );
    before.assert_unchanged(&env);
}

fn init_twice() {
    let env = Env::new(Shape::Admin);
    let before = State::of(&env);
    one_line(&env.run(&["init"]), 3, &["already exists"]);
    before.assert_unchanged(&env);
}

fn no_password_source() {
    let env = Env::new(Shape::Admin);
    let mut cmd = env.command();
    cmd.env_remove("LOCKSTEP_PASSWORD_FILE").arg("snapshots");
    one_line(&common::run(&mut cmd), 2, &["LOCKSTEP_PASSWORD_FILE"]);
}

fn command_line_mistakes() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let before = State::of(&env);
    for (args, needles) in [
        (
            &["restore"][..],
            &["<SNAPSHOT>", "lockstep restore --help"][..],
        ),
        (
            &["restore", "latest", "--bogus"],
            &["--bogus", "lockstep restore --help"],
        ),
        // in place is said, never assumed
        (&["restore", "latest"], &["--target", "--in-place"]),
        (
            &[
                "restore",
                "latest",
                "--in-place",
                "--target",
                "/nonexistent-x",
            ],
            &["--in-place", "lockstep restore --help"],
        ),
        (
            &["backup", "--retries", "x"],
            &["--retries", "lockstep backup --help"],
        ),
        (
            &["forget", "--keep-last", "-1"],
            &["-1", "lockstep forget --help"],
        ),
        (&["frobnicate"], &["frobnicate", "lockstep --help"]),
    ] {
        one_line(&env.run(args), 2, needles);
        before.assert_unchanged(&env);
    }
}

fn misspelt_configuration_key() {
    let env = Env::new(Shape::Admin);
    std::fs::write(env.path("lockstep.toml"), "repositry = '/x'\n").unwrap();
    let before = State::of(&env);
    one_line(&env.run(&["snapshots"]), 2, &["repositry"]);
    one_line(&env.run(&["backup"]), 2, &["repositry"]);
    before.assert_unchanged(&env);
}

fn unknown_snapshot_id() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let before = State::of(&env);
    let target = env.path("restored");
    one_line(
        &env.run(&["restore", "deadbeef", "--target", target.to_str().unwrap()]),
        2,
        &["deadbeef"],
    );
    assert!(!target.exists());
    before.assert_unchanged(&env);
}

fn damaged_record_named_as_the_host_sees_it() {
    let env = Env::new(Shape::Admin);
    let agent = env.host.instances[0].agent_data.clone();
    let file = env.physical(&format!("{agent}/installed.xml"));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, &text[..text.len() / 2]).unwrap();
    let before = State::of(&env);
    let physical = env.root().display().to_string();
    for (args, code) in [(&["backup"][..], 3), (&["discover"], 1)] {
        let line = one_line(&env.run(args), code, &[&format!("{agent}/installed.xml")]);
        assert!(!line.contains(&physical), "physical path shown: {line}");
    }
    before.assert_unchanged(&env);
}

fn set_directory_deleted() {
    let env = Env::new(Shape::Admin);
    let shared = env.host.instances[0].shared.clone();
    std::fs::remove_dir_all(env.physical(&shared)).unwrap();
    let before = State::of(&env);
    one_line(&env.run(&["backup"]), 3, &[&shared, "im-shared"]);
    before.assert_unchanged(&env);
    env.run(&["backup", "--allow-missing", "im-shared"]).ok();
    assert_eq!(env.snapshot_count(), 1);
}

fn file_the_user_cannot_read() {
    let env = Env::new(Shape::Admin);
    let product = env.host.instances[0].products[0].clone();
    let file = env.physical(&format!("{product}/properties/sas.client.props"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = env.command_for_another_user();
    cmd.arg("backup");
    if common::is_root() {
        // root reads everything: the backup runs as `nobody`, who may use the repository but
        // cannot read the file.
        const NOBODY: u32 = 65534;
        std::fs::set_permissions(env.path("password"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        for entry in walkdir::WalkDir::new(env.repo()) {
            std::os::unix::fs::lchown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
        }
        cmd.uid(NOBODY).gid(NOBODY);
    }
    one_line(
        &common::run(&mut cmd),
        1,
        &["could not be read", "the snapshot was discarded"],
    );
    assert_eq!(env.snapshot_count(), 0);
}

fn restore_target_not_empty() {
    let env = Env::new(Shape::Admin);
    let id = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    let target = env.path("occupied");
    std::fs::create_dir_all(target.join("opt")).unwrap();
    std::fs::write(target.join("keep.txt"), "mine").unwrap();
    let all = [PathBuf::from("/")];
    let before = common::listing(&target, &all);
    one_line(
        &env.run(&["restore", &id, "--target", target.to_str().unwrap()]),
        3,
        &["not empty"],
    );
    assert_eq!(common::listing(&target, &all), before);
}
