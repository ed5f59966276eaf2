//! Fault-suite rows: see `harness::Area` for what this file covers. The repository: lost and
//! damaged files of every kind, a missing key, and who may read it.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::common::{Env, Run, is_root, listing, run};
use crate::harness::{Area, Fault, State, no_internals, one_line};
use lockstep_sample::{SampleOptions, Shape, apply_fix_pack};

pub fn rows() -> Vec<Fault> {
    use Area::{Machine, Repository};
    vec![
        Fault {
            id: "repository_lost_pack_check_names_the_repair",
            area: Repository,
            fault: "A pack file of the repository was deleted (a lost object, a bad disk sector, an administrator cleaning up).",
            outcome: "`check` exits 1 naming the snapshots hit and the repair: `lockstep repair index`, then `lockstep repair snapshots`; nothing is changed.",
            test: lost_pack_check_names_the_repair,
        },
        Fault {
            id: "repository_lost_pack_repair_index_then_backup_restores",
            area: Repository,
            fault: "A pack file was lost and the host still has the files whose data it held.",
            outcome: "`repair index --dry-run` says what it would remove and changes nothing; `repair index` removes the lost pack from the index and names the snapshots that used it; the next backup stores the missing data again, and its snapshot and the older one restore exactly.",
            test: lost_pack_repair_index_then_backup_restores,
        },
        Fault {
            id: "repository_lost_pack_repair_snapshots_rewrites_the_damaged_ones",
            area: Repository,
            fault: "A pack file was lost, with files that no longer exist anywhere else (the repository changed, the host too).",
            outcome: "`repair snapshots` (after `repair index`) writes each damaged snapshot again without the lost files, keeping its set, host and manifest but no longer claiming it is consistent, and removes the damaged original; `check` is clean afterwards.",
            test: lost_pack_repair_snapshots_rewrites_the_damaged_ones,
        },
        Fault {
            id: "repository_lost_tree_pack_check_never_panics",
            area: Repository,
            fault: "The pack holding a snapshot's directory trees was lost (the engine's tree loader panicked on some runs).",
            outcome: "`check` exits 1 with one line naming the damage and the repair, every time; no panic text.",
            test: lost_tree_pack_check_never_panics,
        },
        Fault {
            id: "repository_damaged_snapshot_file_is_skipped_by_listings",
            area: Repository,
            fault: "One snapshot file is damaged: ten flipped bytes, emptied, or replaced by garbage.",
            outcome: "`snapshots` and `status` list and use the intact snapshots and warn on stderr, one line naming the damaged file's id and how to remove it.",
            test: damaged_snapshot_file_is_skipped_by_listings,
        },
        Fault {
            id: "repository_damaged_snapshot_file_does_not_block_restore_or_backup",
            area: Repository,
            fault: "One snapshot file is damaged, and the administrator restores another snapshot and backs up.",
            outcome: "The intact snapshot restores exactly; a backup works (its parent is an intact snapshot); each warns once about the damaged file. A restore of the damaged one exits 1 with one line naming its file and the repair.",
            test: damaged_snapshot_file_does_not_block_restore_or_backup,
        },
        Fault {
            id: "repository_damaged_snapshot_file_is_named_by_check_and_removed_by_repair",
            area: Repository,
            fault: "One snapshot file is damaged and the administrator checks and repairs the repository.",
            outcome: "`check` exits 1 naming the damaged snapshot file and `lockstep repair snapshots`; `repair snapshots --dry-run` changes nothing; `repair snapshots` removes the unreadable file, after which `check` is clean.",
            test: damaged_snapshot_file_is_named_by_check_and_removed_by_repair,
        },
        Fault {
            id: "repository_damaged_snapshot_file_removed_by_forget",
            area: Repository,
            fault: "One snapshot file is damaged and the administrator forgets it by its id.",
            outcome: "`forget ID` removes the damaged file (and only it); an empty, unknown or \
                      ambiguous id is a usage error (exit 2) that removes nothing.",
            test: damaged_snapshot_file_removed_by_forget,
        },
        Fault {
            id: "repository_missing_key_is_not_a_wrong_password",
            area: Repository,
            fault: "The repository's keys/ directory was emptied.",
            outcome: "Exit 1: the repository has no key file (not 'wrong password'), restore keys/ from a copy of the repository; nothing is changed.",
            test: missing_key_is_not_a_wrong_password,
        },
        Fault {
            id: "repository_wrong_password",
            area: Repository,
            fault: "The password file holds another password.",
            outcome: "Exit 1: wrong password, naming the variables to check; nothing is changed.",
            test: wrong_password,
        },
        Fault {
            id: "repository_password_command_fails",
            area: Repository,
            fault: "The password command (`LOCKSTEP_PASSWORD_COMMAND` or `password-command`, a vault client) fails: it exits non-zero, prints nothing, or cannot be found.",
            outcome: "Exit 1, one line naming where the command was set and its exit status with the first line it wrote on stderr (never the command itself, which may carry a token); nothing is written.",
            test: password_command_fails,
        },
        Fault {
            id: "repository_missing_config_file",
            area: Repository,
            fault: "The repository's config file was deleted.",
            outcome: "Exit 1: no repository there, run `lockstep init` or point --repo at one; nothing is changed.",
            test: missing_config_file,
        },
        Fault {
            id: "repository_damaged_config_file",
            area: Repository,
            fault: "The repository's config file is damaged (flipped bytes).",
            outcome: "Exit 1: one line naming the config file as damaged; nothing is changed.",
            test: damaged_config_file,
        },
        Fault {
            id: "repository_damaged_index_file",
            area: Repository,
            fault: "An index file is damaged (flipped bytes).",
            outcome: "Commands that need the index exit 1 with one line naming the damaged index and `lockstep repair index`; `repair index` rebuilds it from the packs, after which `check` is clean and the snapshot restores.",
            test: damaged_index_file,
        },
        Fault {
            id: "repository_truncated_pack",
            area: Repository,
            fault: "A pack file was cut short (a copy interrupted, a full disk on the store).",
            outcome: "`check` exits 1 with one line naming the snapshots hit and the repair; nothing is changed.",
            test: truncated_pack,
        },
        Fault {
            id: "repository_pack_replaced_by_a_directory",
            area: Repository,
            fault: "A pack file was replaced by a directory of the same name.",
            outcome: "`check` exits 1 with one line naming the damage and the repair; nothing is changed.",
            test: pack_replaced_by_a_directory,
        },
        Fault {
            id: "repository_path_is_a_regular_file",
            area: Repository,
            fault: "The repository path names a regular file, not a directory.",
            outcome: "Exit 1: no repository there, one line; the file is untouched.",
            test: repository_path_is_a_regular_file,
        },
        Fault {
            id: "machine_repository_files_are_private_whatever_the_umask",
            area: Machine,
            fault: "The administrator's umask is 022 (files readable by every local user).",
            outcome: "The repository's directories are 0700 and its files 0600 after `init`, backups, `check`, `forget --prune` and `repair`, as restic makes them; the state directory (journal, records, guard logs) is 0700 and its files 0600.",
            test: repository_files_are_private_whatever_the_umask,
        },
        Fault {
            id: "machine_check_warns_about_a_repository_others_can_read",
            area: Machine,
            fault: "An existing repository (made by an older lockstep, or copied) is readable by other users.",
            outcome: "`check` exits 0 and warns, naming the repository and the `chmod` that closes it.",
            test: check_warns_about_a_repository_others_can_read,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// helpers

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    out.sort();
    out
}

fn packs(env: &Env) -> Vec<PathBuf> {
    files_under(&env.repo().join("data"))
}

fn snapshot_file(env: &Env, id: &str) -> PathBuf {
    env.repo().join("snapshots").join(id)
}

fn flip(path: &Path, at: usize, n: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = at.min(bytes.len().saturating_sub(n));
    for b in &mut bytes[at..at + n] {
        *b ^= 0xff;
    }
    std::fs::write(path, bytes).unwrap();
}

fn backup_id(env: &Env, extra: &[&str]) -> String {
    env.backup(extra)["snapshot"].as_str().unwrap().to_owned()
}

/// A repository with two snapshots: the second one's new packs hold only the fix pack's data.
/// Returns (first, second, the largest pack only the second uses).
fn two_snapshots(env: &Env) -> (String, String, PathBuf) {
    let first = backup_id(env, &[]);
    apply_fix_pack(&env.host, 0).unwrap();
    let before = packs(env);
    let second = backup_id(env, &[]);
    let victim = packs(env)
        .into_iter()
        .filter(|p| !before.contains(p))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("the second backup wrote a pack");
    (first, second, victim)
}

fn restore_and_compare(env: &Env, snapshot: &str, name: &str) {
    let target = env.path(name);
    env.run(&["restore", snapshot, "--target", target.to_str().unwrap()])
        .ok();
    let members = env.member_paths(&[]);
    let live = listing(&env.root(), &members);
    let restored = listing(&target, &members);
    let ignore = lockstep_sample::listing::Ignore { owner: !is_root() };
    let differences = lockstep_sample::listing::diff(&live, &restored, ignore);
    assert!(
        differences.is_empty(),
        "restore of {snapshot} differs from the host in {} entries:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// The warning lines on stderr; every one starts `lockstep: warning: `.
fn warnings(run: &Run) -> Vec<String> {
    no_internals(&run.stderr);
    run.stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            assert!(l.starts_with("lockstep: warning: "), "not a warning: {l}");
            l.to_owned()
        })
        .collect()
}

fn snapshot_ids(env: &Env) -> Vec<String> {
    let run = env.run(&["snapshots", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// a lost pack

fn lost_pack_check_names_the_repair() {
    let env = Env::new(Shape::Admin);
    let (first, second, victim) = two_snapshots(&env);
    std::fs::remove_file(&victim).unwrap();
    let state = State::of(&env);
    let run = env.run(&["check"]);
    let line = one_line(&run, 1, &["lockstep repair index", &second[..8]]);
    assert!(!line.contains(&first[..8]), "{line}");
    state.assert_unchanged(&env);
}

fn lost_pack_repair_index_then_backup_restores() {
    let env = Env::new(Shape::Admin);
    let (first, second, victim) = two_snapshots(&env);
    std::fs::remove_file(&victim).unwrap();
    let victim_id = victim.file_name().unwrap().to_str().unwrap().to_owned();

    let state = State::of(&env);
    let dry = env.run(&["repair", "index", "--dry-run"]).ok();
    assert!(dry.stdout.contains(&victim_id[..8]), "{}", dry.stdout);
    assert!(dry.stdout.contains("would"), "{}", dry.stdout);
    state.assert_unchanged(&env);

    let out = env.run(&["repair", "index", "--json"]).ok().json();
    assert_eq!(out["dry_run"], false, "{out}");
    let lost: Vec<&str> = out["lost_packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(lost, [victim_id.as_str()], "{out}");
    let hit: Vec<&str> = out["hit_snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(hit, [second.as_str()], "{out}");
    // It lost its "unchanged set" mark, so the next backup reads the set: a new id.
    assert_eq!(out["reopened"][0]["from"], second.as_str(), "{out}");
    let second = out["reopened"][0]["to"].as_str().unwrap().to_owned();
    assert!(snapshot_ids(&env).contains(&second));

    // The host still has the files: the next backup stores their data again.
    let third = backup_id(&env, &[]);
    env.run(&["check", "--read-data"]).ok();
    restore_and_compare(&env, &third, "restore-third");
    // The second snapshot's data is whole again too.
    restore_and_compare(&env, &second, "restore-second");
    let _ = first;
}

/// `repair index` on `env` after a lost pack; the damaged snapshot's id afterwards.
fn repair_index(env: &Env, damaged: &str) -> String {
    let out = env.run(&["repair", "index", "--json"]).ok().json();
    assert_eq!(out["reopened"][0]["from"], damaged, "{out}");
    out["reopened"][0]["to"].as_str().unwrap().to_owned()
}

fn lost_pack_repair_snapshots_rewrites_the_damaged_ones() {
    let env = Env::new(Shape::Admin);
    let (first, second, victim) = two_snapshots(&env);
    std::fs::remove_file(&victim).unwrap();
    let second = repair_index(&env, &second);

    let state = State::of(&env);
    let dry = env
        .run(&["repair", "snapshots", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true);
    let damaged: Vec<&str> = dry["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(damaged, [second.as_str()], "{dry}");
    state.assert_unchanged(&env);

    let out = env.run(&["repair", "snapshots", "--json"]).ok().json();
    let rewritten = out["rewritten"].as_array().unwrap();
    assert_eq!(rewritten.len(), 1, "{out}");
    assert_eq!(rewritten[0]["from"], second.as_str());
    let new = rewritten[0]["to"].as_str().unwrap().to_owned();
    assert_eq!(out["removed"], serde_json::json!([second]));

    let ids = snapshot_ids(&env);
    assert!(
        ids.contains(&first) && ids.contains(&new) && !ids.contains(&second),
        "{ids:?}"
    );
    let listed = env.run(&["snapshots", "--json"]).ok().json();
    let row = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == new.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["set"], "admin", "{row}");
    assert_eq!(row["host"], "dx-test", "{row}");
    let verdict = row["manifest"]["consistency"]["verdict"].as_str().unwrap();
    assert_ne!(
        verdict, "consistent",
        "a repaired snapshot lost files: {row}"
    );
    env.run(&["check"]).ok();
    // The next backup does not build on the repaired snapshot: it reads the set again.
    let fourth = backup_id(&env, &[]);
    env.run(&["check", "--read-data"]).ok();
    restore_and_compare(&env, &fourth, "restore-fourth");
}

fn lost_tree_pack_check_never_panics() {
    let env = Env::new(Shape::Admin);
    let second = {
        backup_id(&env, &[]);
        apply_fix_pack(&env.host, 0).unwrap();
        let before = packs(&env);
        let second = backup_id(&env, &[]);
        // every pack the second backup wrote: its trees are gone with them
        for pack in packs(&env).into_iter().filter(|p| !before.contains(p)) {
            std::fs::remove_file(pack).unwrap();
        }
        second
    };
    let state = State::of(&env);
    for _ in 0..4 {
        let run = env.run(&["check"]);
        one_line(&run, 1, &["lockstep repair index", &second[..8]]);
    }
    state.assert_unchanged(&env);
}

// ---------------------------------------------------------------------------------------------
// a damaged snapshot file

/// A way of damaging a file, and its name.
type Damage = (&'static str, fn(&Path));

/// The shapes of a damaged snapshot file.
fn damage_shapes() -> Vec<Damage> {
    vec![
        ("ten flipped bytes", |p| flip(p, 40, 10)),
        ("emptied", |p| std::fs::write(p, b"").unwrap()),
        ("garbage", |p| {
            std::fs::write(p, b"{\"not\": \"a snapshot\"}").unwrap()
        }),
    ]
}

fn damaged_snapshot_file_is_skipped_by_listings() {
    for (shape, damage) in damage_shapes() {
        let env = Env::new(Shape::Admin);
        let first = backup_id(&env, &[]);
        apply_fix_pack(&env.host, 0).unwrap();
        let second = backup_id(&env, &[]);
        damage(&snapshot_file(&env, &first));
        let state = State::of(&env);

        let run = env.run(&["snapshots", "--json"]);
        assert_eq!(run.code, 0, "{shape}: {}", run.stderr);
        let listed: Vec<String> = run.json()["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, std::slice::from_ref(&second), "{shape}");
        let warned = warnings(&run);
        assert_eq!(warned.len(), 1, "{shape}: {warned:?}");
        assert!(warned[0].contains(&first), "{shape}: {}", warned[0]);
        assert!(
            warned[0].contains("lockstep repair snapshots"),
            "{}",
            warned[0]
        );

        let run = env.run(&["status"]);
        assert_eq!(run.code, 0, "{shape}: {}\n{}", run.stdout, run.stderr);
        assert_eq!(warnings(&run).len(), 1, "{shape}");
        state.assert_unchanged(&env);
    }
}

fn damaged_snapshot_file_does_not_block_restore_or_backup() {
    let env = Env::new(Shape::Admin);
    let first = backup_id(&env, &[]);
    apply_fix_pack(&env.host, 0).unwrap();
    let second = backup_id(&env, &[]);
    flip(&snapshot_file(&env, &second), 40, 10);

    // The damaged one itself: one line that says so, and nothing is written.
    let target = env.path("restore-second");
    let run = env.run(&[
        "restore",
        &second[..8],
        "--target",
        target.to_str().unwrap(),
    ]);
    one_line(&run, 1, &[&second, "damaged", "lockstep repair snapshots"]);
    assert!(!target.exists());

    let target = env.path("restore-first");
    let run = env.run(&["restore", &first, "--target", target.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(warnings(&run).len(), 1, "{}", run.stderr);
    assert!(target.join("opt").exists());

    // The backup's parent is the intact first snapshot; the fix pack's changes are stored.
    let run = env.run(&["backup", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(warnings(&run).len(), 1, "{}", run.stderr);
    let third = run.json()["snapshot"].as_str().unwrap().to_owned();
    restore_and_compare(&env, &third, "restore-third");
}

fn damaged_snapshot_file_is_named_by_check_and_removed_by_repair() {
    let env = Env::new(Shape::Admin);
    let first = backup_id(&env, &[]);
    apply_fix_pack(&env.host, 0).unwrap();
    let second = backup_id(&env, &[]);
    flip(&snapshot_file(&env, &first), 40, 10);
    let state = State::of(&env);

    let run = env.run(&["check"]);
    one_line(&run, 1, &[&first[..8], "lockstep repair snapshots"]);
    assert!(run.stdout.contains(&first), "{}", run.stdout);

    let dry = env.run(&["repair", "snapshots", "--dry-run"]).ok();
    assert!(dry.stdout.contains(&first[..8]), "{}", dry.stdout);
    state.assert_unchanged(&env);

    let out = env.run(&["repair", "snapshots", "--json"]).ok().json();
    assert_eq!(
        out["unreadable_removed"],
        serde_json::json!([first]),
        "{out}"
    );
    assert!(!snapshot_file(&env, &first).exists());
    let run = env.run(&["check"]).ok();
    assert_eq!(run.stderr, "", "{}", run.stderr);
    assert_eq!(snapshot_ids(&env), [second]);
}

fn damaged_snapshot_file_removed_by_forget() {
    let env = Env::new(Shape::Admin);
    let first = backup_id(&env, &[]);
    apply_fix_pack(&env.host, 0).unwrap();
    let second = backup_id(&env, &[]);
    flip(&snapshot_file(&env, &first), 40, 10);
    let state = State::of(&env);
    for bad in ["", "  ", "deadbeef", "not-hex"] {
        one_line(&env.run(&["forget", bad]), 2, &[]);
        state.assert_unchanged(&env);
    }
    let run = env.run(&["forget", &first[..8]]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains(&format!("damaged snapshot file snapshots/{first}")),
        "{}",
        run.stdout
    );
    assert!(!snapshot_file(&env, &first).exists());
    let run = env.run(&["check"]).ok();
    assert_eq!(run.stderr, "", "{}", run.stderr);
    assert_eq!(snapshot_ids(&env), [second]);
}

// ---------------------------------------------------------------------------------------------
// the repository's other files

fn missing_key_is_not_a_wrong_password() {
    let env = Env::new(Shape::Admin);
    backup_id(&env, &[]);
    for key in files_under(&env.repo().join("keys")) {
        std::fs::remove_file(key).unwrap();
    }
    let state = State::of(&env);
    for command in [&["snapshots"][..], &["backup"], &["check"]] {
        let run = env.run(command);
        let line = one_line(&run, 1, &["no key", "keys/"]);
        assert!(!line.contains("wrong password"), "{line}");
    }
    state.assert_unchanged(&env);
}

fn wrong_password() {
    let env = Env::new(Shape::Admin);
    backup_id(&env, &[]);
    std::fs::write(env.path("password"), "another-password\n").unwrap();
    let state = State::of(&env);
    let run = env.run(&["snapshots"]);
    one_line(&run, 1, &["wrong password", "LOCKSTEP_PASSWORD_FILE"]);
    state.assert_unchanged(&env);
}

fn password_command_fails() {
    let env = Env::new(Shape::Admin);
    backup_id(&env, &[]);
    let state = State::of(&env);
    for (command, needles) in [
        (
            "echo 'vault: permission denied' >&2; exit 2",
            &[
                "LOCKSTEP_PASSWORD_COMMAND",
                "exited 2: vault: permission denied",
            ][..],
        ),
        (
            "true",
            &["LOCKSTEP_PASSWORD_COMMAND", "printed no password"],
        ),
        (
            "no-such-vault-client --token=s3cr3t",
            &["LOCKSTEP_PASSWORD_COMMAND", "127"],
        ),
    ] {
        for args in [&["backup"][..], &["snapshots"]] {
            let mut cmd = env.command();
            cmd.env_remove("LOCKSTEP_PASSWORD_FILE")
                .env("LOCKSTEP_PASSWORD_COMMAND", command)
                .args(args);
            let line = one_line(&run(&mut cmd), 1, needles);
            assert!(!line.contains("s3cr3t"), "the command was repeated: {line}");
        }
    }
    std::fs::write(env.path("lockstep.toml"), "password-command = 'exit 4'\n").unwrap();
    let mut cmd = env.command();
    cmd.env_remove("LOCKSTEP_PASSWORD_FILE").arg("backup");
    one_line(
        &run(&mut cmd),
        1,
        &["`password-command` in the configuration", "exited 4"],
    );
    state.assert_unchanged(&env);
}

fn missing_config_file() {
    let env = Env::new(Shape::Admin);
    backup_id(&env, &[]);
    std::fs::remove_file(env.repo().join("config")).unwrap();
    let state = State::of(&env);
    let run = env.run(&["backup"]);
    one_line(&run, 1, &["no repository at", "lockstep init"]);
    state.assert_unchanged(&env);
}

fn damaged_config_file() {
    let env = Env::new(Shape::Admin);
    backup_id(&env, &[]);
    flip(&env.repo().join("config"), 40, 10);
    let state = State::of(&env);
    for command in [&["snapshots"][..], &["check"]] {
        let run = env.run(command);
        one_line(&run, 1, &["config", "damaged"]);
    }
    state.assert_unchanged(&env);
}

fn damaged_index_file() {
    let env = Env::new(Shape::Admin);
    let id = backup_id(&env, &[]);
    let index = files_under(&env.repo().join("index"));
    assert_eq!(index.len(), 1);
    flip(&index[0], 40, 10);
    let state = State::of(&env);
    let target = env.path("restore");
    for command in [
        &["check"][..],
        &["restore", &id, "--target", target.to_str().unwrap()],
    ] {
        let run = env.run(command);
        one_line(&run, 1, &["index", "lockstep repair index"]);
    }
    assert!(!target.exists());
    state.assert_unchanged(&env);
    env.run(&["repair", "index"]).ok();
    env.run(&["check", "--read-data"]).ok();
    restore_and_compare(&env, &id, "restore-after-repair");
}

fn truncated_pack() {
    let env = Env::new(Shape::Admin);
    let (_, second, victim) = two_snapshots(&env);
    let len = std::fs::metadata(&victim).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let state = State::of(&env);
    let run = env.run(&["check"]);
    one_line(&run, 1, &["lockstep repair index", &second[..8]]);
    state.assert_unchanged(&env);
}

fn pack_replaced_by_a_directory() {
    let env = Env::new(Shape::Admin);
    let (_, second, victim) = two_snapshots(&env);
    std::fs::remove_file(&victim).unwrap();
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = State::of(&env);
    let run = env.run(&["check"]);
    one_line(&run, 1, &["lockstep repair index", &second[..8]]);
    state.assert_unchanged(&env);
}

fn repository_path_is_a_regular_file() {
    let env = Env::bare(SampleOptions {
        shape: Shape::Admin,
        ..SampleOptions::default()
    });
    std::fs::write(env.repo(), b"not a repository\n").unwrap();
    let state = State::of(&env);
    for command in [&["snapshots"][..], &["backup"], &["check"]] {
        let run = env.run(command);
        one_line(&run, 1, &["no repository at", "lockstep init"]);
    }
    let run = env.run(&["init"]);
    one_line(&run, 1, &[env.repo().to_str().unwrap()]);
    state.assert_unchanged(&env);
}

// ---------------------------------------------------------------------------------------------
// permissions

/// Runs lockstep in `env` with umask 022. `pre_exec` has no safe form: the one `unsafe` of the
/// tests, allowed here.
#[allow(unsafe_code)]
fn with_umask_022(env: &Env, args: &[&str]) -> Run {
    let mut cmd = env.command();
    cmd.args(args);
    // SAFETY: umask is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    run(&mut cmd)
}

fn assert_private(dir: &Path) {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o7777;
        let want = if entry.file_type().is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(mode, want, "{} is {mode:o}", entry.path().display());
    }
}

fn repository_files_are_private_whatever_the_umask() {
    let env = Env::bare(SampleOptions {
        shape: Shape::Admin,
        ..SampleOptions::default()
    });
    with_umask_022(&env, &["init"]).ok();
    assert_private(&env.repo());
    with_umask_022(&env, &["backup"]).ok();
    apply_fix_pack(&env.host, 0).unwrap();
    with_umask_022(&env, &["backup"]).ok();
    with_umask_022(&env, &["check"]).ok();
    with_umask_022(&env, &["forget", "--keep-last", "1", "--prune"]).ok();
    with_umask_022(&env, &["repair", "index"]).ok();
    assert_private(&env.repo());
    // An in-place restore writes its journal, record and clean-up lock into the state
    // directory: private.
    with_umask_022(&env, &["restore", "latest", "--in-place"]).ok();
    // A guarded command's log holds its output.
    with_umask_022(
        &env,
        &["guard", "--", "sh", "-c", "echo maintenance output"],
    )
    .ok();
    let logs = files_under(&env.path("state").join("guard"));
    assert!(
        logs.iter()
            .any(|l| l.extension().is_some_and(|e| e == "log")),
        "{logs:?}"
    );
    assert!(env.path("state").join("cleanup.lock").exists());
    assert_private(&env.path("state"));
}

fn check_warns_about_a_repository_others_can_read() {
    let env = Env::new(Shape::Admin);
    backup_id(&env, &[]);
    for entry in walkdir::WalkDir::new(env.repo()) {
        let entry = entry.unwrap();
        let mode = if entry.file_type().is_dir() {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let state = State::of(&env);
    let run = env.run(&["check"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let warned = warnings(&run);
    assert_eq!(warned.len(), 1, "{warned:?}");
    let repo = env.repo();
    assert!(warned[0].contains(repo.to_str().unwrap()), "{}", warned[0]);
    assert!(warned[0].contains("chmod -R go-rwx"), "{}", warned[0]);
    state.assert_unchanged(&env);
}
