//! Backup → restore round trips through the real binary, and incremental backups.

use crate::common::{Env, is_root, listing};
use lockstep_sample::listing::{Ignore, diff};
use lockstep_sample::{SampleOptions, Shape, apply_fix_pack};
use std::os::unix::fs::MetadataExt;

fn restore_and_compare(
    env: &Env,
    snapshot: &str,
    members: &[std::path::PathBuf],
    expected: &lockstep_sample::listing::Listing,
) {
    let target = env.path(&format!("restore-{snapshot}"));
    let out = env
        .run(&[
            "restore",
            snapshot,
            "--target",
            target.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    // Every file and directory of the set is counted once, whether the restore ran member by
    // member or in one piece.
    let files = expected.values().filter(|e| e.kind == "file").count() as u64;
    assert_eq!(out["files"].as_u64(), Some(files), "{out}");
    // The directories above the members are restored too (they are in the snapshot).
    let dirs = expected.values().filter(|e| e.kind == "dir").count() as u64;
    assert!(out["dirs"].as_u64().unwrap() > dirs, "{out}");
    let restored = listing(&target, members);
    let differences = diff(expected, &restored, Ignore { owner: !is_root() });
    assert!(
        differences.is_empty(),
        "restore differs in {} entries:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn whole_set_round_trip_is_exact() {
    for shape in [Shape::Admin, Shape::NonAdmin] {
        let env = Env::new(shape);
        let members = env.member_paths(&[]);
        let before = listing(&env.root(), &members);
        // The sample carries every kind of entry a restore can get wrong.
        let kinds: Vec<&str> = before.values().map(|e| e.kind).collect();
        assert!(kinds.contains(&"symlink") && kinds.contains(&"dir"));
        assert!(before.values().any(|e| e.hardlink_of.is_some()));
        assert!(before.values().any(|e| e.mode == 0o600));
        if is_root() && shape == Shape::NonAdmin {
            assert!(before.values().any(|e| e.uid == 1001));
        }

        let out = env.backup(&["--label", "first"]);
        let id = out["snapshot"].as_str().unwrap().to_owned();
        assert_eq!(
            out["set"],
            if shape == Shape::Admin {
                "admin"
            } else {
                "wasadm"
            }
        );
        restore_and_compare(&env, &id, &members, &before);
        // The directories above the members come back with their own metadata, set after
        // everything under them was written.
        let target = env.path(&format!("restore-{id}"));
        for member in &members {
            for above in member.ancestors().skip(1) {
                let rel = above.strip_prefix("/").unwrap();
                if rel.as_os_str().is_empty() {
                    break;
                }
                let (live, restored) = (
                    std::fs::symlink_metadata(env.root().join(rel)).unwrap(),
                    std::fs::symlink_metadata(target.join(rel)).unwrap(),
                );
                assert_eq!(
                    (live.mode(), live.mtime(), live.mtime_nsec()),
                    (restored.mode(), restored.mtime(), restored.mtime_nsec()),
                    "{}",
                    above.display()
                );
            }
        }
        // `latest` names the same snapshot.
        let latest = env.path("latest");
        env.run(&["restore", "latest", "--target", latest.to_str().unwrap()])
            .ok();
        assert!(
            diff(
                &before,
                &listing(&latest, &members),
                Ignore { owner: !is_root() }
            )
            .is_empty()
        );
    }
}

/// A member's directories are restored one at a time: a file hard-linked across two of them
/// (and the directories holding it) comes back as it was, one inode with both names.
#[test]
fn a_hard_link_across_a_members_directories_is_restored() {
    let env = Env::new(Shape::Admin);
    let members = env.member_paths(&[]);
    let subdirs = |member: &std::path::Path| -> Vec<std::path::PathBuf> {
        let physical = env.root().join(member.strip_prefix("/").unwrap());
        let Ok(entries) = std::fs::read_dir(&physical) else {
            return Vec::new(); // a member that is a file
        };
        let mut dirs: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() && !p.is_symlink())
            .collect();
        dirs.sort();
        dirs
    };
    let member = members
        .iter()
        .find(|m| subdirs(m).len() >= 2)
        .expect("a member with two directories");
    let dirs = subdirs(member);
    // one name directly in a directory, the other a level further down
    let (a, b) = (
        dirs[0].join("linked.properties"),
        dirs[1].join("nested/linked-too.properties"),
    );
    std::fs::create_dir(dirs[1].join("nested")).unwrap();
    std::fs::write(&a, "shared=1\n").unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    let before = listing(&env.root(), &members);
    let id = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    restore_and_compare(&env, &id, &members, &before);
    let target = env.path(&format!("restore-{id}"));
    let restored = |p: &std::path::Path| {
        std::fs::metadata(target.join(p.strip_prefix(env.root()).unwrap())).unwrap()
    };
    assert_eq!(restored(&a).ino(), restored(&b).ino());
    assert_eq!(restored(&a).nlink(), 2);
}

#[test]
fn incremental_backups_store_only_the_change() {
    let env = Env::with(SampleOptions {
        files: 600,
        bytes: 8 << 20,
        ..SampleOptions::default()
    });
    let first = env.backup(&[]);
    let total = first["bytes_total"].as_u64().unwrap();
    assert!(first["bytes_added"].as_u64().unwrap() > total / 2);

    let second = env.backup(&[]);
    assert_eq!(second["parent"], first["snapshot"]);
    assert_eq!(second["files_new"], 0);
    assert_eq!(second["files_changed"], 0);
    // Only the new tree metadata (a few KiB) is added; no file data is read again.
    assert!(
        second["bytes_added"].as_u64().unwrap() < 64 * 1024,
        "no-change backup added {}",
        second["bytes_added"]
    );

    let members = env.member_paths(&[]);
    let before_fix = listing(&env.root(), &members);
    let report = apply_fix_pack(&env.host, 0).unwrap();
    let third = env.backup(&["--label", "after fix pack"]);
    let added = third["bytes_added"].as_u64().unwrap();
    assert!(
        added >= report.bytes_written / 2 && added <= report.bytes_written * 2 + 256 * 1024,
        "fix pack wrote {} bytes, backup added {added}",
        report.bytes_written
    );
    assert!(third["files_changed"].as_u64().unwrap() + third["files_new"].as_u64().unwrap() > 0);

    // The first snapshot still restores the pre-fix-pack host exactly.
    restore_and_compare(
        &env,
        first["snapshot"].as_str().unwrap(),
        &members,
        &before_fix,
    );

    let listed = env.run(&["snapshots", "--json"]).ok().json();
    let snaps = listed["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 3);
    assert_eq!(snaps[2]["label"], "after fix pack");
    assert_ne!(
        snaps[0]["summary"], snaps[2]["summary"],
        "the inventory summary shows the fix pack"
    );
    assert_eq!(snaps[0]["manifest"]["schema_version"], 1);
    assert_eq!(snaps[0]["host"], "dx-test");
}

#[test]
fn snapshot_manifest_is_readable_without_restoring() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let out = env.run(&["snapshots", "--json"]).ok().json();
    let manifest = &out["snapshots"][0]["manifest"];
    let roles: Vec<&str> = manifest["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    for role in [
        "im-registry",
        "im-install",
        "im-agent-data",
        "im-shared",
        "product",
    ] {
        assert!(roles.contains(&role), "{role} missing: {roles:?}");
    }
    assert!(
        manifest["inventory"]["package_groups"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
    let text = env.run(&["snapshots"]).ok().stdout;
    assert!(text.contains("WAS ND 9.0.5.17"), "{text}");
}

/// A backup of a set whose metadata is exactly as the last snapshot recorded reuses that
/// snapshot's tree without reading anything; any change at all — content rewritten with its
/// size and mtime kept, a directory above a member — sends the backup through the engine.
#[test]
fn a_no_change_backup_reuses_the_tree_and_any_change_is_read() {
    let env = Env::with(SampleOptions {
        files: 300,
        bytes: 2 << 20,
        ..SampleOptions::default()
    });
    let members = env.member_paths(&[]);
    let first = env.backup(&[]);
    assert_eq!(first["unchanged"], false);
    assert!(first["consistency"]["set_state"].is_string());

    let second = env.backup(&[]);
    assert_eq!(second["unchanged"], true, "{second}");
    assert_eq!(second["parent"], first["snapshot"]);
    assert_eq!(second["files_unmodified"], first["files_new"]);
    assert_eq!(second["bytes_total"], first["bytes_total"]);
    assert_eq!(
        second["consistency"]["set_state"],
        first["consistency"]["set_state"]
    );
    let live = listing(&env.root(), &members);
    restore_and_compare(&env, second["snapshot"].as_str().unwrap(), &members, &live);

    // Same size, same mtime, different content: only the ctime says it changed.
    let product = env.host.instances[0].products[0].clone();
    let file = walkdir::WalkDir::new(env.physical(&product))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && e.metadata().unwrap().len() > 16)
        .unwrap()
        .into_path();
    let mtime = filetime::FileTime::from_last_modification_time(&std::fs::metadata(&file).unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    filetime::set_file_mtime(&file, mtime).unwrap();
    let third = env.backup(&[]);
    assert_eq!(third["unchanged"], false);
    assert_eq!(third["files_changed"], 1, "{third}");
    let live = listing(&env.root(), &members);
    restore_and_compare(&env, third["snapshot"].as_str().unwrap(), &members, &live);

    // A directory above a member is recorded in the tree too.
    let above = env.physical(&product).parent().unwrap().to_path_buf();
    let rel = above.strip_prefix(env.root()).unwrap().to_path_buf();
    std::fs::set_permissions(&above, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    let fourth = env.backup(&[]);
    assert_eq!(fourth["unchanged"], false);
    let target = env.path("fourth");
    env.run(&[
        "restore",
        fourth["snapshot"].as_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
    ])
    .ok();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(target.join(&rel)).unwrap().permissions(),
    );
    assert_eq!(mode & 0o7777, 0o750);
    env.run(&["check", "--read-data"]).ok();
}
