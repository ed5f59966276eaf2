//! Fault-suite rows: see `harness::Area` for what this file covers.
//!
//! Restores and their journal: odd file names (not UTF-8, a newline, 255 bytes, deep paths)
//! through every rollback path and report, damaged journals, servers that run, kills at the
//! journal's phases and full disks while restoring or staging.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use lockstep_sample::Shape;
use lockstep_sample::listing::{Ignore, Listing, diff};

use crate::common::{Env, Run, is_root, listing, run};
use crate::harness::{Area, Fault, State, one_line};

pub fn rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "odd_names_added_after_a_backup_roll_back",
            area: Area::Restore,
            fault: "Files whose names are not UTF-8 (Latin-1 bytes), hold a newline, are 255 bytes \
                    long or sit 60 directories deep are added to a product after its backup, \
                    then the set is rolled back in place (proven and file-by-file paths).",
            outcome: "The rollback succeeds (also `guard --rollback auto` after a fix pack that \
                      added them and failed: exit 20, rolled back): the host equals the snapshot \
                      entry by entry, the odd files are gone and no staging or replaced copies \
                      are left.",
            test: odd_names_added_after_a_backup_roll_back,
        },
        Fault {
            id: "restore_on_a_rebuilt_machine_without_its_local_repository",
            area: Area::Restore,
            fault: "A machine rebuilt after a disaster: the configuration names a remote tier, \
                    but the local repository was on the lost machine, so its path does not \
                    exist; `restore latest --in-place`, `restore ID --target` and `status` are \
                    run without `--from remote` (the remote's endpoint is not even reachable).",
            outcome: "Exit 1, one line naming the missing repository and saying to read the \
                      remote with --from remote (or create one with `lockstep init`); nothing is \
                      written: no repository directory appears, the host is unchanged.",
            test: restore_on_a_rebuilt_machine_without_its_local_repository,
        },
        Fault {
            id: "odd_names_in_the_snapshot_restore",
            area: Area::Restore,
            fault: "The snapshot itself holds files with such names, which were changed or \
                    deleted since; the set is restored in place and into an empty --target.",
            outcome: "Both restores succeed and bring every odd name back byte for byte, with its \
                      content and metadata.",
            test: odd_names_in_the_snapshot_restore,
        },
        Fault {
            id: "odd_names_in_reports",
            area: Area::Restore,
            fault: "`diff -v`, `diff --json`, `status` and `restore --dry-run` report a set whose \
                    changed files have such names.",
            outcome: "Exit 0; each name is shown (escaped where it is not printable UTF-8) and \
                      the JSON carries it.",
            test: odd_names_in_reports,
        },
        Fault {
            id: "server_running_from_an_extra_profile",
            area: Area::Restore,
            fault: "A WebSphere server runs (a live pid in `<profile>/logs/server1/server1.pid`) \
                    from a profile given with `--extra` that the snapshot does not hold, and the \
                    set is restored in place.",
            outcome: "Refused, exit 3: one line naming the server, its pid and pid file, and \
                      saying to stop it first; the host and the repository are unchanged.",
            test: server_running_from_an_extra_profile,
        },
        Fault {
            id: "empty_snapshot_id",
            area: Area::Usage,
            fault: "An empty or blank snapshot id (an unset shell variable: `restore \"$ID\"`) is \
                    given to `restore` (in place or --target), `diff` or `drill`, with one \
                    snapshot in the repository.",
            outcome: "Usage error, exit 2: one line saying the id is empty; nothing is restored, \
                      the host and the repository are unchanged.",
            test: empty_snapshot_id,
        },
        Fault {
            id: "killed_while_staging",
            area: Area::Restore,
            fault: "An in-place rollback is killed (SIGKILL) while it stages the fourth member; \
                    then `lockstep recover` runs.",
            outcome: "The live set was never touched; recover rolls back (removes the staging \
                      copies): the host is exactly the state before the restore, and `status` \
                      says in sync with the newest backup.",
            test: killed_while_staging,
        },
        Fault {
            id: "killed_while_swapping",
            area: Area::Restore,
            fault: "An in-place rollback is killed between two renames of its swap; then \
                    `lockstep recover` runs.",
            outcome: "recover completes the swap: the host is exactly the restored snapshot, no \
                      staging or replaced copies are left, and the restore is recorded, so \
                      `status` says in sync with the restored snapshot (not drift against the \
                      newest backup).",
            test: killed_while_swapping,
        },
        Fault {
            id: "settle_file_torn",
            area: Area::Restore,
            fault: "An in-place rollback is killed between two renames of its swap, and what it \
                    kept for its check after the swap (`<state-dir>/restore-settle.json`) is cut \
                    off halfway; then `lockstep recover` runs.",
            outcome: "recover completes the swap as with the file whole (the host is exactly the \
                      restored snapshot, `status` in sync with it) and removes the file with the \
                      journal; the next backup, which then proves the set by reading the \
                      snapshot's trees, stores nothing new.",
            test: settle_file_torn,
        },
        Fault {
            id: "killed_before_the_journal_closes",
            area: Area::Restore,
            fault: "An in-place rollback (`--wait`) is killed after removing the replaced \
                    copies, before closing its journal; then `lockstep recover` runs.",
            outcome: "recover closes the journal and records the restore: the host is exactly the \
                      restored snapshot and `status` says in sync with it.",
            test: killed_before_the_journal_closes,
        },
        Fault {
            id: "journal_empty",
            area: Area::Restore,
            fault: "The restore journal in the state directory is an empty file.",
            outcome: JOURNAL_OUTCOME,
            test: journal_empty,
        },
        Fault {
            id: "journal_cut_off",
            area: Area::Restore,
            fault: "An in-place rollback is killed while staging and its journal is then cut off \
                    halfway (truncated JSON); staging copies are on disk.",
            outcome: JOURNAL_OUTCOME,
            test: journal_cut_off,
        },
        Fault {
            id: "journal_garbage",
            area: Area::Restore,
            fault: "The restore journal holds binary garbage (not text, not JSON).",
            outcome: JOURNAL_OUTCOME,
            test: journal_garbage,
        },
        Fault {
            id: "journal_is_a_directory",
            area: Area::Restore,
            fault: "The restore journal's path is a directory.",
            outcome: JOURNAL_OUTCOME,
            test: journal_is_a_directory,
        },
        Fault {
            id: "disk_full_restoring_into_a_target",
            area: Area::Machine,
            fault: "`restore --target` into a filesystem too small for the set (a 2 MiB tmpfs).",
            outcome: "Exit 1: one line saying the filesystem of the target is full, naming it, and \
                      what to do (free space or choose another --target), and that the \
                      incomplete copy there is kept; nothing else changes.",
            test: disk_full_restoring_into_a_target,
        },
        Fault {
            id: "disk_full_staging_in_place",
            area: Area::Machine,
            fault: "An in-place rollback (fast and `--full`) whose staging copies do not fit: \
                    the host lives on a small tmpfs filled up after the fix pack (its bytes, or \
                    its inodes, which the space check does not see).",
            outcome: "Refused before staging, or stopped when the disk fills: exit 1 or 3, one line \
                      naming the full filesystem and saying to free space there; the host is \
                      unchanged, no staging copies are left and no journal remains.",
            test: disk_full_staging_in_place,
        },
        Fault {
            id: "a_member_on_its_own_filesystem_rolls_back_in_place",
            area: Area::Restore,
            fault: "The WebSphere AppServer directory is a filesystem of its own (a tmpfs mounted \
                    there, as enterprise hosts have it); a fix pack is rolled back in place whole \
                    (--full), then forward again by difference, and lockstep is killed halfway \
                    through swapping the member's contents each time.",
            outcome: "The member is staged and swapped inside its own filesystem, never renamed: \
                      the next command recovers, and the host equals the snapshot entry by entry \
                      (the mount point with the snapshot's mode, owner and times), the member is \
                      still the same mount, and no staging or replaced copies are left.",
            test: a_member_on_its_own_filesystem_rolls_back_in_place,
        },
    ]
}

/// What every damaged-journal row proves.
const JOURNAL_OUTCOME: &str = "Every command but `recover` is refused, exit 3, with one line \
    naming the journal and pointing at `lockstep recover`. `recover` is refused too (exit 3, one \
    line), after listing on stdout why the journal cannot be read, the paths it still names and \
    any staging or replaced copies beside the set; `recover --discard-journal` moves the journal \
    aside (exit 0) and deletes nothing, after which commands run again. The host and the \
    repository are unchanged throughout.";

// ---- damaged journals ----

fn journal_path(env: &Env) -> PathBuf {
    env.path("state").join("restore-journal.json")
}

/// Damages the journal with `damage`, then checks every command's answer and the way out.
fn damaged_journal(env: &Env, damage: impl FnOnce(&Path), stdout_names: &[&str]) {
    let journal = journal_path(env);
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    damage(&journal);
    let state = State::of(env);
    for args in [
        &["snapshots"][..],
        &["status"],
        &["backup"],
        &["restore", "latest", "--in-place"],
    ] {
        let out = env.run(args);
        one_line(
            &out,
            3,
            &["restore journal", "cannot be read", "lockstep recover"],
        );
        state.assert_unchanged(env);
    }
    let out = env.run(&["recover"]);
    one_line(&out, 3, &["cannot be read", "recover --discard-journal"]);
    assert!(out.stdout.contains("cannot be read"), "{}", out.stdout);
    for name in stdout_names {
        assert!(
            out.stdout.contains(name),
            "'{name}' not in:\n{}",
            out.stdout
        );
    }
    state.assert_unchanged(env);
    let json = env.run(&["recover", "--json"]);
    assert_eq!(json.code, 3, "{}", json.stderr);
    assert!(json.json()["damaged_journal"]["problem"].is_string());
    let out = env.run(&["recover", "--discard-journal"]).ok();
    assert!(
        out.stdout.contains("set the journal aside"),
        "{}",
        out.stdout
    );
    assert!(!journal.exists(), "the journal is still in place");
    let aside: Vec<_> = std::fs::read_dir(env.path("state"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged journal was not kept aside");
    state.assert_unchanged(env);
    env.run(&["snapshots"]).ok();
    let again = env.run(&["recover"]).ok();
    assert!(
        again.stdout.contains("nothing to recover"),
        "{}",
        again.stdout
    );
}

fn journal_empty() {
    let env = Env::new(Shape::Admin);
    snapshot_id(&env);
    damaged_journal(&env, |j| std::fs::write(j, "").unwrap(), &["empty"]);
}

fn journal_garbage() {
    let env = Env::new(Shape::Admin);
    snapshot_id(&env);
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    damaged_journal(
        &env,
        |j| std::fs::write(j, &garbage).unwrap(),
        &["not text"],
    );
}

fn journal_is_a_directory() {
    let env = Env::new(Shape::Admin);
    snapshot_id(&env);
    damaged_journal(&env, |j| std::fs::create_dir(j).unwrap(), &["directory"]);
}

fn journal_cut_off() {
    let env = Env::new(Shape::Admin);
    let s1 = snapshot_id(&env);
    lockstep_sample::apply_fix_pack(&env.host, 0).unwrap();
    snapshot_id(&env);
    let mut cmd = env.command();
    cmd.env("LOCKSTEP_FAULT_RESTORE_STAGE_3", "kill")
        .args(["restore", "--in-place", &s1]);
    assert_eq!(run(&mut cmd).code, -1, "not killed");
    let stages = crate::common::leftovers(&env.root());
    assert!(
        !stages.is_empty(),
        "the killed restore left no staging copies"
    );
    let first = stages[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    damaged_journal(
        &env,
        |j| {
            let text = std::fs::read(j).unwrap();
            std::fs::write(j, &text[..text.len() / 2]).unwrap();
        },
        &["ends early", ".lockstep-stage-", &first],
    );
    // Nothing it could not account for was removed.
    assert_eq!(crate::common::leftovers(&env.root()), stages);
}

// ---- kills at the journal's phases ----

/// Kills the rollback from S2 (after a fix pack) to S1 at fault point `point`, runs `recover`,
/// and checks the host is exactly S1 (`completed`) or S2, and what `status` says.
fn killed_at(point: &str, extra: &[&str], completed: bool) {
    killed_and_tampered_at(point, extra, completed, |_| {});
}

/// [`killed_at`], with `tamper` run on the host between the kill and the recovery; the host
/// and the first snapshot (the one restored).
fn killed_and_tampered_at(
    point: &str,
    extra: &[&str],
    completed: bool,
    tamper: impl Fn(&Env),
) -> (Env, String) {
    let env = Env::new(Shape::Admin);
    let s1 = snapshot_id(&env);
    let at_s1 = host_listing(&env);
    lockstep_sample::apply_fix_pack(&env.host, 0).unwrap();
    let s2 = snapshot_id(&env);
    let at_s2 = host_listing(&env);
    let var = format!(
        "LOCKSTEP_FAULT_{}",
        point.to_ascii_uppercase().replace('-', "_")
    );
    let mut cmd = env.command();
    cmd.env(&var, "kill")
        .args(["restore", "--in-place", &s1])
        .args(extra);
    let killed = run(&mut cmd);
    assert_eq!(killed.code, -1, "{point}: not killed:\n{}", killed.stderr);
    tamper(&env);
    let out = env.run(&["recover", "--json"]).ok().json();
    let outcome = if completed {
        "completed"
    } else {
        "rolled-back"
    };
    assert_eq!(out["recovered"]["outcome"], outcome, "{out}");
    let (expected, now) = if completed {
        (&at_s1, &s1)
    } else {
        (&at_s2, &s2)
    };
    assert_host_is(
        &env,
        expected,
        &format!("the {outcome} state after a kill at {point}"),
    );
    let status = env.run(&["status", "--json"]).json();
    assert_eq!(status["verdict"], "in-sync", "{status}");
    assert_eq!(status["snapshot"]["id"], now.as_str(), "{status}");
    let again = env.run(&["recover"]).ok();
    assert!(
        again.stdout.contains("nothing to recover"),
        "{}",
        again.stdout
    );
    (env, s1)
}

fn killed_while_staging() {
    killed_at("restore-stage-3", &[], false);
}

fn killed_while_swapping() {
    killed_at("restore-swap-5", &[], true);
}

fn settle_file_torn() {
    let (env, s1) = killed_and_tampered_at("restore-swap-5", &[], true, |env| {
        let kept = env.path("state").join("restore-settle.json");
        let text = std::fs::read(&kept).expect("the restore kept what its check needs");
        std::fs::write(&kept, &text[..text.len() / 2]).unwrap();
    });
    assert!(!env.path("state").join("restore-settle.json").exists());
    // The recovery could not check what the restore changed: the backup proves the set by the
    // snapshot's trees, and stores nothing new.
    let backup = env.run(&["backup", "--json"]).ok().json();
    assert_eq!(backup["unchanged"], true, "{backup}");
    assert_eq!(backup["parent"], s1.as_str(), "{backup}");
}

fn killed_before_the_journal_closes() {
    killed_at("restore-before-close", &["--wait"], true);
}

// ---- the command line ----

fn empty_snapshot_id() {
    let env = Env::new(Shape::Admin);
    let _s1 = snapshot_id(&env);
    std::fs::write(product(&env).join("changed-since"), "x").unwrap();
    let state = State::of(&env);
    let target = env.path("target");
    let target = target.to_str().unwrap();
    let cases: [&[&str]; 7] = [
        &["restore", ""],
        &["restore", " "],
        &["restore", "", "--target", target],
        &["restore", "", "--dry-run"],
        &["diff", ""],
        &["diff", "latest", "\t"],
        &["drill", ""],
    ];
    for args in cases {
        let out = env.run(args);
        one_line(&out, 2, &["snapshot id is empty"]);
        state.assert_unchanged(&env);
        assert!(!Path::new(target).exists(), "{args:?} created the target");
    }
}

// ---- a running server ----

fn server_running_from_an_extra_profile() {
    let env = Env::new(Shape::Admin);
    let s1 = snapshot_id(&env);
    let profile = "/opt/HCL/WebSphere/cw_profile";
    let logs = env.physical(&format!("{profile}/logs/server1"));
    std::fs::create_dir_all(&logs).unwrap();
    let mut server = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    std::fs::write(logs.join("server1.pid"), format!("{}\n", server.id())).unwrap();
    let state = State::of(&env);
    let out = restore(&env, &["--extra", profile, &s1]);
    let pid = server.id().to_string();
    server.kill().unwrap();
    server.wait().unwrap();
    one_line(&out, 3, &["server1", &pid, "server1.pid", "stop"]);
    state.assert_unchanged(&env);
}

// ---- odd file names ----

/// Paths (relative to a product member) whose names a JSON string cannot carry as they are, or
/// that stretch the filesystem's limits.
fn odd_names() -> Vec<PathBuf> {
    let latin1 = PathBuf::from(OsStr::from_bytes(b"caf\xe9-\xff.properties"));
    let newline = PathBuf::from("two\nlines.txt");
    let long = PathBuf::from(format!("{}.txt", "n".repeat(251)));
    let mut deep = PathBuf::from(OsStr::from_bytes(b"deep\xfe"));
    for i in 0..60 {
        deep.push(format!("d{i}"));
    }
    deep.push(OsStr::from_bytes(b"leaf\x80.txt"));
    vec![latin1, newline, long, deep]
}

/// The physical directory of the first product of the sample host.
fn product(env: &Env) -> PathBuf {
    env.physical(&env.host.instances[0].products[0])
}

fn write_odd_files(env: &Env, content: &str) {
    for rel in odd_names() {
        let path = product(env).join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
    }
}

#[track_caller]
fn assert_host_is(env: &Env, expected: &Listing, what: &str) {
    env.wait_for_cleanup();
    let now = listing(&env.root(), &[PathBuf::from("/")]);
    let d = diff(expected, &now, Ignore { owner: !is_root() });
    assert!(d.is_empty(), "host is not {what}:\n{}", d.join("\n"));
    let left = crate::common::leftovers(&env.root());
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn host_listing(env: &Env) -> Listing {
    listing(&env.root(), &[PathBuf::from("/")])
}

fn snapshot_id(env: &Env) -> String {
    env.backup(&[])["snapshot"].as_str().unwrap().to_owned()
}

fn restore(env: &Env, args: &[&str]) -> Run {
    let mut all = vec!["restore"];
    all.extend_from_slice(args);
    if !args.contains(&"--target") {
        all.push("--in-place");
    }
    env.run(&all)
}

fn restore_on_a_rebuilt_machine_without_its_local_repository() {
    let env = Env::new(Shape::Admin);
    std::fs::write(
        env.path("lockstep.toml"),
        "remote = 'opendal:s3'\n[remote-options]\nbucket = 'dr'\nendpoint = 'http://127.0.0.1:9'\nregion = 'garage'\n",
    )
    .unwrap();
    // The repository was on the lost machine.
    std::fs::remove_dir_all(env.repo()).unwrap();
    let state = State::of(&env);
    let target = env.path("target");
    let id = "0123abcd";
    for args in [
        &["restore", "latest", "--in-place", "--yes"][..],
        &["restore", id, "--target", target.to_str().unwrap()],
        &["status"],
    ] {
        let out = env.run(args);
        one_line(
            &out,
            1,
            &[
                &format!("no repository at {}", env.repo().display()),
                "--from remote",
                "lockstep init",
            ],
        );
        assert!(!env.repo().exists(), "{args:?} made a repository");
        assert!(!target.exists(), "{args:?} made the target");
        state.assert_unchanged(&env);
    }
}

fn odd_names_added_after_a_backup_roll_back() {
    let env = Env::new(Shape::Admin);
    let s1 = snapshot_id(&env);
    let at_s1 = host_listing(&env);
    // Proven path: the live set is exactly the newest snapshot, which holds the odd names.
    write_odd_files(&env, "added by a fix pack\n");
    let _s2 = snapshot_id(&env);
    restore(&env, &[&s1, "--json"]).ok();
    assert_host_is(&env, &at_s1, "at S1 after the proven rollback");
    // File-by-file path: the odd names were added after the newest backup.
    write_odd_files(&env, "added again\n");
    restore(&env, &[&s1, "--json", "--wait"]).ok();
    assert_host_is(&env, &at_s1, "at S1 after the file-by-file rollback");
    // A fix pack that adds them and fails, under `guard --rollback auto`.
    let fixpack = env.path("fixpack");
    for rel in odd_names() {
        let path = fixpack.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "added by a failed fix pack\n").unwrap();
    }
    let script = env.path("imcl-odd");
    std::fs::write(
        &script,
        format!(
            "cp -a '{}/.' '{}/'\necho 'CRIMA1217E failed' >&2\nexit 1\n",
            fixpack.display(),
            product(&env).display()
        ),
    )
    .unwrap();
    let mut cmd = env.command();
    cmd.args(["guard", "--rollback", "auto", "--", "sh"])
        .arg(&script);
    let out = run(&mut cmd);
    assert_eq!(out.code, 20, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("rolled-back"), "{}", out.stdout);
    assert_host_is(&env, &at_s1, "at S1 after the guard's rollback");
}

fn odd_names_in_the_snapshot_restore() {
    let env = Env::new(Shape::Admin);
    write_odd_files(&env, "in the snapshot\n");
    let s1 = snapshot_id(&env);
    let at_s1 = host_listing(&env);
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    // Every odd file changed, one of them gone.
    write_odd_files(&env, "changed since\n");
    std::fs::remove_file(product(&env).join(&odd_names()[0])).unwrap();
    restore(&env, &[&s1, "--json"]).ok();
    assert_host_is(&env, &at_s1, "at S1 after the in-place restore");
    let target = env.path("target");
    restore(&env, &[&s1, "--target", target.to_str().unwrap()]).ok();
    crate::common::assert_restored(&before, &target, &members);
}

fn odd_names_in_reports() {
    let env = Env::new(Shape::Admin);
    write_odd_files(&env, "in the snapshot\n");
    let s1 = snapshot_id(&env);
    write_odd_files(&env, "changed since\n");
    let state = State::of(&env);
    let out = env.run(&["diff", &s1, "-v"]).ok();
    for shown in [
        "two\\nlines.txt",
        "caf\\xe9-\\xff.properties",
        "leaf\\x80.txt",
    ] {
        assert!(
            out.stdout.contains(shown),
            "{shown} not in:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains('\u{fffd}'),
        "a name lost its bytes:\n{}",
        out.stdout
    );
    let json = env.run(&["diff", &s1, "-v", "--json"]).ok().json();
    let text = json.to_string();
    assert!(text.contains(r"caf\\xe9-\\xff.properties"), "{text}");
    env.run(&["status"]).ok();
    env.run(&["status", "--json"]).ok().json();
    let plan = restore(&env, &[&s1, "--dry-run", "--json"]).ok().json();
    assert!(plan["plan"]["units"].is_array(), "{plan}");
    restore(&env, &[&s1, "--dry-run"]).ok();
    state.assert_unchanged(&env);
    let _ = one_line;
    let _ = run;
}

// ---- full disks ----

fn disk_full_restoring_into_a_target() {
    let env = Env::new(Shape::Admin);
    let s1 = snapshot_id(&env);
    let Some(small) = crate::harness::SmallFs::mount(&env.path("small"), "2m") else {
        return;
    };
    let target = small.path().join("target");
    let state = State::of(&env);
    let out = restore(&env, &[&s1, "--target", target.to_str().unwrap()]);
    let line = one_line(&out, 1, &[&small.path().display().to_string(), "space"]);
    assert!(!line.contains("( )") && !line.contains("needs )"), "{line}");
    state.assert_unchanged(&env);
}

fn disk_full_staging_in_place() {
    use lockstep_sample::SampleOptions;
    // (extra arguments, out of inodes instead of bytes): a filesystem out of inodes passes
    // the space check and fills up while staging.
    for (extra, inodes) in [(&[][..], false), (&["--full"], false), (&["--full"], true)] {
        let dir = tempfile::tempdir().unwrap();
        let size = if inodes { "24m,nr_inodes=3000" } else { "24m" };
        let Some(small) = crate::harness::SmallFs::mount(&dir.path().join("host"), size) else {
            return;
        };
        let opts = SampleOptions {
            files: 200,
            bytes: 2 * 1024 * 1024,
            ..SampleOptions::default()
        };
        let host = lockstep_sample::build(small.path(), &opts).unwrap();
        std::fs::write(dir.path().join("password"), "test-password\n").unwrap();
        std::fs::write(dir.path().join("lockstep.toml"), "").unwrap();
        let env = Env { dir, host };
        env.run(&["init"]).ok();
        let s1 = snapshot_id(&env);
        lockstep_sample::apply_fix_pack(&env.host, 0).unwrap();
        snapshot_id(&env);
        if inodes {
            let filler = small.path().join("inode-filler");
            std::fs::create_dir(&filler).unwrap();
            let mut n = 0;
            while std::fs::write(filler.join(n.to_string()), "").is_ok() {
                n += 1;
            }
            for i in (n - 20)..n {
                std::fs::remove_file(filler.join(i.to_string())).unwrap();
            }
        } else {
            // less room than even the fast rollback's few changed files need
            small.fill(8 * 1024);
        }
        let before = host_listing(&env);
        let state = State::of(&env);
        let mut args = vec![s1.as_str()];
        args.extend_from_slice(extra);
        let out = restore(&env, &args);
        let code = if out.code == 3 && !inodes { 3 } else { 1 };
        let line = one_line(
            &out,
            code,
            // The whole sample host is one filesystem: the plan names it by its mount point
            // (the host's root), staging by the member that filled it.
            &["the filesystem of /", "free space"],
        );
        assert!(!line.contains("needs )"), "{line}");
        assert_host_is(
            &env,
            &before,
            &format!("unchanged after {extra:?}, inodes {inodes}"),
        );
        state.assert_unchanged(&env);
        assert!(!journal_path(&env).exists(), "a journal was left");
        drop(small);
    }
}

fn a_member_on_its_own_filesystem_rolls_back_in_place() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new(Shape::Admin);
    let members = env.member_paths(&[]);
    let member = members
        .iter()
        .find(|m| m.file_name().is_some_and(|n| n == "AppServer"))
        .expect("an AppServer member")
        .clone();
    let physical = env.physical(member.to_str().unwrap());
    let aside = env.path("appserver-data");
    std::fs::rename(&physical, &aside).unwrap();
    // Declared after `env`, so unmounted before its directory goes.
    let Some(_mount) = crate::harness::SmallFs::mount(&physical, "256m") else {
        return;
    };
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", aside.display()))
        .arg(&physical)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::remove_dir_all(&aside).unwrap();
    let dev = std::fs::metadata(&physical).unwrap().dev();
    let s1 = snapshot_id(&env);
    let at_s1 = host_listing(&env);
    lockstep_sample::apply_fix_pack(&env.host, 0).unwrap();
    let s2 = snapshot_id(&env);
    let at_s2 = host_listing(&env);
    // In place is explicit where this build's `restore --help` lists `--in-place`.
    let in_place = env
        .run(&["restore", "--help"])
        .stdout
        .contains("--in-place");
    let args = |snapshot: &str, extra: &[&str]| {
        let mut all = vec!["restore".to_owned(), snapshot.to_owned()];
        if in_place {
            all.push("--in-place".into());
        }
        all.extend(extra.iter().map(|a| (*a).to_owned()));
        all
    };
    let plan = env
        .run(
            &args(&s1, &["--dry-run", "--json"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .ok()
        .json();
    let units = plan["plan"]["units"].as_array().unwrap();
    let i = units
        .iter()
        .position(|u| u["path"] == member.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} is not a unit of {units:?}", member.display()));
    for (snapshot, extra, expected) in [(&s1, &["--full"][..], &at_s1), (&s2, &[][..], &at_s2)] {
        let mut cmd = env.command();
        cmd.env(format!("LOCKSTEP_FAULT_RESTORE_SWAP_{}", 2 * i + 1), "kill")
            .args(args(snapshot, extra));
        assert_eq!(run(&mut cmd).code, -1, "{extra:?}: not killed");
        let out = env.run(&["snapshots"]).ok();
        assert!(out.stderr.contains("recovering it first"), "{}", out.stderr);
        assert_host_is(&env, expected, &format!("restored {extra:?} after a crash"));
        assert_eq!(
            std::fs::metadata(&physical).unwrap().dev(),
            dev,
            "{extra:?}: the member is no longer the mount"
        );
    }
}
