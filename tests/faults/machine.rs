//! Fault-suite rows: the machine under lockstep — a repository whose disk is full or read-only,
//! a user without the permissions, a state directory that cannot be written, and the special
//! files a product directory may hold.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::common::{self, Env, assert_restored, listing};
use crate::harness::{Area, Fault, SmallFs, State, no_internals, one_line};
use lockstep_sample::{SampleOptions, Shape};

pub fn rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "backup_onto_a_full_repository_disk",
            area: Area::Machine,
            fault: "`backup` into a local repository whose pack files' volume fills up while \
                    the backup writes",
            outcome: "Exit 1, one line saying the repository's filesystem is full and what to \
                      do; no snapshot is saved, and the repository still passes `check` (the \
                      data already written is reclaimed by `prune`).",
            test: backup_onto_a_full_repository_disk,
        },
        Fault {
            id: "backup_refused_without_room_in_the_repository",
            area: Area::Machine,
            fault: "`backup` into a local repository whose filesystem has less room than the \
                    set may need",
            outcome: "Refused before anything is read or written (exit 3): one line with the \
                      room available, the room needed and what to do.",
            test: backup_refused_without_room_in_the_repository,
        },
        Fault {
            id: "backup_onto_a_read_only_repository",
            area: Area::Machine,
            fault: "`backup` into a local repository on a read-only filesystem",
            outcome: "Exit 1, one line naming the read-only repository; `snapshots` still \
                      lists what it holds.",
            test: backup_onto_a_read_only_repository,
        },
        Fault {
            id: "repository_the_user_cannot_read",
            area: Area::Machine,
            fault: "A user who may not read the repository (root's 0700 repository, run as \
                    `nobody`) runs `snapshots` or `backup`",
            outcome: "Exit 1, one line saying permission to the repository was denied and to \
                      run as its owner; nothing changes.",
            test: repository_the_user_cannot_read,
        },
        Fault {
            id: "state_directory_cannot_be_written",
            area: Area::Machine,
            fault: "An in-place restore whose state directory (the journal's home) cannot be \
                    created",
            outcome: "Exit 1 before anything on the host is touched, one line naming the state \
                      directory and `LOCKSTEP_STATE_DIR`.",
            test: state_directory_cannot_be_written,
        },
        Fault {
            id: "special_files_in_a_member",
            area: Area::Machine,
            fault: "A product directory holding a FIFO, a socket, a device node, setuid, \
                    setgid and sticky modes, a sparse file and hard links",
            outcome: "The backup never blocks on the FIFO, and a restore brings every entry \
                      back exactly (type, mode, owner, times, links).",
            test: special_files_in_a_member,
        },
    ]
}

fn backup_refused_without_room_in_the_repository() {
    let env = Env::bare(SampleOptions::default());
    let Some(_fs) = SmallFs::mount(&env.repo(), "4m") else {
        return;
    };
    env.run(&["init"]).ok();
    let before = State::of(&env);
    one_line(
        &env.run(&["backup"]),
        3,
        &["not enough free space", "available"],
    );
    before.assert_unchanged(&env);
}

fn backup_onto_a_full_repository_disk() {
    let env = Env::new(Shape::Admin);
    // The repository's pack files live on a volume of their own that is nearly full: the free
    // space of the repository's directory says nothing about it, and writing fails half-way.
    let data = env.repo().join("data");
    let Some(_fs) = SmallFs::mount(&data, "512k") else {
        return;
    };
    for i in 0..=255_u8 {
        std::fs::create_dir(data.join(format!("{i:02x}"))).unwrap();
    }
    let run = env.run(&["backup"]);
    one_line(&run, 1, &["full"]);
    assert_eq!(env.snapshot_count(), 0);
    env.run(&["check"]).ok();
}

fn backup_onto_a_read_only_repository() {
    let env = Env::bare(SampleOptions::default());
    let Some(fs) = SmallFs::mount(&env.repo(), "64m") else {
        return;
    };
    env.run(&["init"]).ok();
    env.backup(&[]);
    fs.remount_read_only();
    let before = State::of(&env);
    one_line(&env.run(&["backup"]), 1, &["read-only"]);
    before.assert_unchanged(&env);
    assert_eq!(env.snapshot_count(), 1);
}

const NOBODY: u32 = 65534;

fn repository_the_user_cannot_read() {
    if !common::is_root() {
        eprintln!("SKIPPED: running as another user needs root");
        return;
    }
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    for p in [env.path("password"), env.path("lockstep.toml")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(env.repo(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let before = State::of(&env);
    for args in [&["snapshots"][..], &["backup"]] {
        let mut cmd = env.command_for_another_user();
        cmd.args(args).uid(NOBODY).gid(NOBODY);
        one_line(&common::run(&mut cmd), 1, &["ermission denied"]);
    }
    std::fs::remove_file(env.path("lockstep-bin")).unwrap();
    before.assert_unchanged(&env);
}

fn state_directory_cannot_be_written() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    // the state directory's parent is a file: it cannot be created
    std::fs::write(env.path("not-a-dir"), "").unwrap();
    let before = State::of(&env);
    let mut cmd = env.command();
    cmd.env("LOCKSTEP_STATE_DIR", env.path("not-a-dir/state"))
        .args(["restore", "latest", "--in-place"]);
    one_line(&common::run(&mut cmd), 1, &["not-a-dir/state"]);
    before.assert_unchanged(&env);
}

fn special_files_in_a_member() {
    let env = Env::new(Shape::Admin);
    let product = env.host.instances[0].products[0].clone();
    let dir = env.physical(&format!("{product}/special"));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("socket")).unwrap();
    if common::is_root() {
        assert!(
            std::process::Command::new("mknod")
                .arg(dir.join("null"))
                .args(["c", "1", "3"])
                .status()
                .unwrap()
                .success()
        );
    }
    for (name, mode) in [("setuid", 0o4755), ("setgid", 0o2750), ("sticky", 0o1777)] {
        let path = dir.join(name);
        if name == "sticky" {
            std::fs::create_dir(&path).unwrap();
        } else {
            std::fs::write(&path, name).unwrap();
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let sparse = std::fs::File::create(dir.join("sparse")).unwrap();
    sparse.set_len(64 * 1024 * 1024).unwrap();
    drop(sparse);
    std::fs::write(dir.join("linked"), "one inode, two names").unwrap();
    std::fs::hard_link(dir.join("linked"), dir.join("linked-too")).unwrap();

    let members: Vec<PathBuf> = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    let out = env.run(&["backup"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    no_internals(&out.stderr);
    let target = env.path("restored");
    env.run(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert_restored(&before, &target, &members);
}
