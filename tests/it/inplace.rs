//! In-place restore: all or nothing, proven by killing lockstep at every step; the sync guard;
//! disk full; and nothing written outside the members.

use std::path::{Path, PathBuf};

use crate::common::{self, Env, Run, is_root, listing, run};
use lockstep_sample::listing::{Ignore, Listing, diff};
use lockstep_sample::{Shape, apply_fix_pack};

/// A host with S1 (before a fix pack) and S2 (after it); the live host is at S2.
struct Story {
    env: Env,
    s1: String,
    s2: String,
    members: Vec<PathBuf>,
    at_s1: Listing,
    at_s2: Listing,
    outside: Listing,
}

fn story() -> Story {
    story_with(|_| String::new())
}

/// [`story`] with the configuration `config` returns for the host, written before S1.
fn story_with(config: impl Fn(&Env) -> String) -> Story {
    let env = Env::new(Shape::Admin);
    std::fs::write(env.path("lockstep.toml"), config(&env)).unwrap();
    let members = env.member_paths(&[]);
    let at_s1 = listing(&env.root(), &members);
    let s1 = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    apply_fix_pack(&env.host, 0).unwrap();
    let s2 = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    let at_s2 = listing(&env.root(), &members);
    let outside = outside(&env, &members);
    Story {
        env,
        s1,
        s2,
        members,
        at_s1,
        at_s2,
        outside,
    }
}

/// Everything on the host that is not inside a member.
fn outside(env: &Env, members: &[PathBuf]) -> Listing {
    listing(&env.root(), &[PathBuf::from("/")])
        .into_iter()
        .filter(|(p, _)| !members.iter().any(|m| p.starts_with(m)))
        .collect()
}

fn differences(expected: &Listing, actual: &Listing) -> Vec<String> {
    diff(expected, actual, Ignore { owner: !is_root() })
}

impl Story {
    fn members_now(&self) -> Listing {
        listing(&self.env.root(), &self.members)
    }

    #[track_caller]
    fn assert_at(&self, expected: &Listing, what: &str) {
        self.env.wait_for_cleanup();
        let d = differences(expected, &self.members_now());
        assert!(d.is_empty(), "host is not {what}:\n{}", d.join("\n"));
        let d = differences(&self.outside, &outside(&self.env, &self.members));
        assert!(
            d.is_empty(),
            "something outside the members changed:\n{}",
            d.join("\n")
        );
        assert!(
            common::leftovers(&self.env.root()).is_empty(),
            "{:?}",
            common::leftovers(&self.env.root())
        );
    }

    /// A restore to S1 that returned (`out`, its JSON) with the replaced copies removed and the
    /// journal closed, not left to a background process.
    #[track_caller]
    fn assert_removed_before_return(&self, out: &serde_json::Value) {
        assert_eq!(out["cleanup_in_background"], false, "{out}");
        assert!(
            common::leftovers(&self.env.root()).is_empty(),
            "{:?}",
            common::leftovers(&self.env.root())
        );
        let journal = self.env.path("state").join("restore-journal.json");
        assert!(!journal.exists());
        self.assert_at(&self.at_s1, "at S1");
    }

    fn restore(&self, args: &[&str]) -> Run {
        let mut all = vec!["restore"];
        all.extend_from_slice(args);
        if !args.contains(&"--target") {
            all.push("--in-place");
        }
        self.env.run(&all)
    }
}

#[test]
fn in_place_restore_rolls_a_fix_pack_back_exactly() {
    let s = story();
    // The plan first: nothing changes.
    let plan = s.restore(&[&s.s1, "--dry-run", "--json"]).ok().json();
    assert!(plan["plan"]["units"].as_array().unwrap().len() >= 7);
    assert!(plan["plan"]["space"][0]["needed"].as_u64().unwrap() > 0);
    assert!(plan["guard"]["diff"]["groups"].as_array().unwrap().len() >= 2);
    s.assert_at(&s.at_s2, "unchanged after a dry run");

    let out = s.restore(&[&s.s1, "--json"]).ok().json();
    assert_eq!(out["snapshot"], s.s1.as_str());
    // Nothing moved since S2 was taken: the live set is proven to be S2 by its state digest.
    assert_eq!(out["live_was"], s.s2.as_str(), "{out}");
    s.assert_at(&s.at_s1, "at S1");

    let status = s.env.run(&["status", "--json"]).json();
    assert_eq!(status["verdict"], "in-sync", "{status}");
    assert_eq!(status["snapshot"]["id"], s.s1.as_str());

    // And forward again, keeping the replaced copies this time.
    let out = s.restore(&[&s.s2, "--keep-replaced", "--json"]).ok().json();
    let kept = out["kept_replaced"].as_array().unwrap();
    assert!(!kept.is_empty());
    let d = differences(&s.at_s2, &s.members_now());
    assert!(d.is_empty(), "{}", d.join("\n"));
}

/// The counts a plan or a run reports (JSON), by name.
fn counts(doc: &serde_json::Value) -> Vec<(&'static str, u64)> {
    [
        "files",
        "dirs",
        "bytes",
        "carried_files",
        "carried_bytes",
        "removed",
    ]
    .into_iter()
    .map(|k| {
        let n = doc[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no count {k} in {doc}"));
        (k, n)
    })
    .collect()
}

/// A dry run tells the truth: on a fix-pack rollback, what `--dry-run` plans (the method of
/// every unit, what comes from the repository, what stays, what goes, whether the live set was
/// proven to be a snapshot) is what the run then does — whether the live set is proven to be
/// the newest snapshot, is compared file by file (a file changed since), or every byte is
/// restored (`--full`).
#[test]
fn a_dry_run_plans_exactly_what_the_run_does() {
    for case in ["proven", "changed since", "--full"] {
        let s = story();
        let extra: &[&str] = if case == "--full" { &["--full"] } else { &[] };
        if case == "changed since" {
            // A change no snapshot holds: the live set is no longer the newest snapshot.
            let product = s.env.host.instances[0].products[0].clone();
            let file = walkdir::WalkDir::new(s.env.physical(&product))
                .sort_by_file_name()
                .into_iter()
                .filter_map(Result::ok)
                .find(|e| e.file_type().is_file() && e.metadata().unwrap().len() > 0)
                .unwrap();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(file.path())
                .unwrap();
            std::io::Write::write_all(&mut f, b"changed after the fix pack\n").unwrap();
        }
        let before = s.members_now();
        let mut dry = vec![s.s1.as_str(), "--dry-run", "--json"];
        dry.extend_from_slice(extra);
        let dry = s.restore(&dry).ok().json();
        let d = differences(&before, &s.members_now());
        assert!(d.is_empty(), "{case}: a dry run changed {}", d.join("\n"));
        let plan = &dry["plan"];

        let mut real = vec![s.s1.as_str(), "--json"];
        real.extend_from_slice(extra);
        let out = s.restore(&real).ok().json();
        s.assert_at(&s.at_s1, &format!("at S1 ({case})"));

        assert_eq!(
            counts(plan),
            counts(&out),
            "{case}: planned\n{plan}\nran\n{out}"
        );
        assert_eq!(plan["live_was"], out["live_was"], "{case}");
        // The run reports the plan it executed: the one the dry run showed, unit by unit.
        assert_eq!(plan["units"], out["plan"]["units"], "{case}");
        // The registry is a file: it is always copied whole.
        let methods: Vec<&str> = plan["units"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["is_file"] == false)
            .map(|u| u["method"].as_str().unwrap())
            .collect();
        match case {
            "proven" => {
                assert_eq!(plan["live_was"], s.s2.as_str(), "{plan}");
                assert!(methods.iter().all(|m| *m == "difference"), "{methods:?}");
            }
            "changed since" => {
                assert!(plan["live_was"].is_null(), "{plan}");
                assert!(methods.contains(&"difference"), "{methods:?}");
            }
            _ => assert!(methods.iter().all(|m| *m == "whole-copy"), "{methods:?}"),
        }
        let n = |k: &str| plan[k].as_u64().unwrap();
        if case == "--full" {
            assert_eq!(n("carried_files"), 0, "{plan}");
        } else {
            // A rollback restores what the fix pack changed and keeps the rest.
            assert!(n("files") > 0 && n("carried_files") > n("files"), "{plan}");
        }
    }
}

#[test]
fn in_place_restore_refuses_while_im_runs() {
    let s = story();
    let install = s.env.host.instances[0].install.clone().unwrap();
    let mut imcl = std::process::Command::new("sh")
        .args(["-c", "read line"])
        .arg(s.env.physical(&format!("{install}/eclipse/tools/imcl")))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = s.restore(&[&s.s1]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("Installation Manager is running"),
        "{}",
        out.stderr
    );
    drop(imcl.stdin.take());
    imcl.wait().unwrap();
    s.assert_at(&s.at_s2, "unchanged");
}

/// Kills the restore of S1 at `point`, checks the host, recovers (explicitly or through the next
/// command), and checks it ends exactly at S1 or S2.
fn crash_at(point: &str, next_command_recovers: bool) {
    crash_restore_at(point, next_command_recovers, &[]);
}

/// [`crash_at`] with more arguments for the restore (`--full`: whole-member staging).
fn crash_restore_at(point: &str, next_command_recovers: bool, extra: &[&str]) {
    let s = story();
    let var = format!(
        "LOCKSTEP_FAULT_{}",
        point.to_ascii_uppercase().replace('-', "_")
    );
    let mut cmd = s.env.command();
    cmd.env(&var, "kill")
        .args(["restore", "--in-place", &s.s1])
        .args(extra);
    let killed = run(&mut cmd);
    assert_eq!(
        killed.code, -1,
        "{point}: lockstep was not killed:\n{}",
        killed.stderr
    );
    let staging = point.starts_with("restore-stage");
    if staging {
        // The live set is untouched while staging.
        let d = differences(&s.at_s2, &s.members_now());
        assert!(
            d.is_empty(),
            "{point}: live set changed while staging:\n{}",
            d.join("\n")
        );
    }
    let recovered = if next_command_recovers {
        let out = s.env.run(&["snapshots"]).ok();
        assert!(
            out.stderr.contains("recovering it first"),
            "{point}: {}",
            out.stderr
        );
        out
    } else {
        s.env.run(&["recover"]).ok()
    };
    let (expected, name) = if staging {
        (&s.at_s2, "the old set (S2)")
    } else {
        (&s.at_s1, "the new set (S1)")
    };
    s.assert_at(expected, &format!("{name} after a crash at {point}"));
    let again = s.env.run(&["recover"]).ok();
    assert!(
        again.stdout.contains("nothing to recover"),
        "{}",
        again.stdout
    );
    drop(recovered);
    let _ = &s.s2;
}

/// The admin sample has 8 restore units: 8 staging points, 16 renames.
const STAGE_POINTS: [&str; 9] = [
    "restore-stage-0",
    "restore-stage-1",
    "restore-stage-2",
    "restore-stage-3",
    "restore-stage-4",
    "restore-stage-5",
    "restore-stage-6",
    "restore-stage-7",
    "restore-staged",
];

#[test]
fn crash_during_staging_leaves_the_old_set() {
    for (i, point) in STAGE_POINTS.iter().enumerate() {
        crash_at(point, i % 3 == 0);
    }
}

#[test]
fn crash_between_renames_completes_the_new_set_first_half() {
    for k in 0..8 {
        crash_at(&format!("restore-swap-{k}"), k % 3 == 1);
    }
}

#[test]
fn crash_between_renames_completes_the_new_set_second_half() {
    for k in 8..16 {
        crash_at(&format!("restore-swap-{k}"), k % 3 == 1);
    }
    crash_at("restore-cleanup", false);
    // the restore itself removes the replaced copies only when told to wait for that
    crash_restore_at("restore-before-close", true, &["--wait"]);
}

/// The rollback returns as soon as the restored set is in place; a background process removes
/// the replaced copies, every later command waits for it, and the next command finishes its
/// work when it died.
#[test]
fn replaced_copies_are_removed_in_the_background() {
    let s = story();
    // The state directory given relative to where lockstep is started: the background process
    // (which runs in `/`) still finds the restore's journal.
    let mut cmd = s.env.command();
    cmd.current_dir(s.env.path(""))
        .env("LOCKSTEP_STATE_DIR", "state")
        .args(["restore", "--in-place", &s.s1, "--json"]);
    let out = run(&mut cmd).ok().json();
    assert_eq!(out["cleanup_in_background"], true, "{out}");
    let d = differences(&s.at_s1, &s.members_now());
    assert!(
        d.is_empty(),
        "not at S1 when the restore returned:\n{}",
        d.join("\n")
    );
    // A command run at once waits for the removal: nothing is left over for it to do.
    let next = s.env.run(&["recover"]).ok();
    assert!(
        next.stdout.contains("nothing to recover"),
        "{}",
        next.stdout
    );
    s.assert_at(&s.at_s1, "at S1, the replaced copies removed");

    // The background process dies before removing anything: the restore still succeeded, the
    // set is in place, and the next command removes what is left.
    let mut cmd = s.env.command();
    cmd.env("LOCKSTEP_FAULT_RESTORE_BACKGROUND_CLEANUP", "kill")
        .args(["restore", "--in-place", &s.s2, "--json"]);
    let out = run(&mut cmd).ok().json();
    assert_eq!(out["cleanup_in_background"], true, "{out}");
    s.env.wait_for_cleanup();
    assert!(
        !common::leftovers(&s.env.root()).is_empty(),
        "the killed clean-up removed the replaced copies"
    );
    let d = differences(&s.at_s2, &s.members_now());
    assert!(d.is_empty(), "not at S2:\n{}", d.join("\n"));
    let next = s.env.run(&["snapshots"]).ok();
    assert!(
        next.stderr.contains("removed the replaced copies"),
        "{}",
        next.stderr
    );
    s.assert_at(
        &s.at_s2,
        "at S2 after the next command finished the clean-up",
    );
    let again = s.env.run(&["recover"]).ok();
    assert!(
        again.stdout.contains("nothing to recover"),
        "{}",
        again.stdout
    );

    // The background process dies before it takes the work: the restore removes the copies
    // itself before returning.
    let mut cmd = s.env.command();
    cmd.env("LOCKSTEP_FAULT_RESTORE_BACKGROUND_START", "kill")
        .args(["restore", "--in-place", &s.s1, "--json"]);
    s.assert_removed_before_return(&run(&mut cmd).ok().json());
}

/// `--wait` removes the replaced copies before the restore returns.
#[test]
fn wait_removes_the_replaced_copies_before_returning() {
    let s = story();
    s.assert_removed_before_return(&s.restore(&[&s.s1, "--wait", "--json"]).ok().json());
}

/// The default rollback swaps only what differs; `--full` swaps whole members. Both survive a
/// crash between their renames.
#[test]
fn crash_between_whole_member_renames_completes_the_new_set() {
    for k in [0, 3, 8, 13] {
        crash_restore_at(&format!("restore-swap-{k}"), k % 2 == 0, &["--full"]);
    }
    crash_restore_at("restore-stage-2", false, &["--full"]);
}

#[test]
fn partial_restore_across_fix_pack_levels_is_refused() {
    let s = story();
    let target = s.env.path("scratch");
    for only in [
        "product",
        "im-agent-data",
        "im-registry,im-install,im-agent-data,im-shared",
    ] {
        let out = s.restore(&[&s.s1, "--only", only, "--target", target.to_str().unwrap()]);
        assert_eq!(out.code, 3, "--only {only}: {}", out.stderr);
        assert!(out.stderr.contains("out of sync"), "{}", out.stderr);
        assert!(
            out.stderr.contains("com.ibm.websphere.ND.v90"),
            "{}",
            out.stderr
        );
        assert!(!target.exists());
        let out = s.restore(&[&s.s1, "--only", only]);
        assert_eq!(out.code, 3, "--only {only} in place: {}", out.stderr);
    }
    s.assert_at(&s.at_s2, "unchanged by refused restores");

    // Same fix-pack level: a partial restore is fine.
    let out = s.restore(&[
        &s.s2,
        "--only",
        "product",
        "--target",
        target.to_str().unwrap(),
        "--json",
    ]);
    let out = out.ok().json();
    assert!(
        out["units"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["role"] == "product")
    );
    let product = s.env.host.instances[0].products[0].clone();
    assert!(target.join(product.trim_start_matches('/')).is_dir());
    assert!(
        !target.join("var").exists(),
        "only the products were restored"
    );

    // The whole set of S1 is always allowed.
    s.restore(&[&s.s1, "--target", s.env.path("whole").to_str().unwrap()])
        .ok();
}

#[test]
fn force_desync_snapshots_the_live_set_first() {
    let s = story();
    let before = s.env.snapshot_count();
    let out = s
        .restore(&[&s.s1, "--only", "product", "--force-desync", "--json"])
        .ok()
        .json();
    assert!(out["guard"]["forced_desync"].as_bool().unwrap());
    let pre = out["pre_restore_snapshot"].as_str().unwrap().to_owned();
    let listed = s.env.run(&["snapshots", "--json"]).ok().json();
    let snaps = listed["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), before + 1);
    let pre_snap = snaps.iter().find(|x| x["id"] == pre.as_str()).unwrap();
    assert_eq!(pre_snap["label"], "before-forced-restore");
    // Products are at S1, IM is still at S2: exactly what was forced; the pre snapshot undoes it.
    s.restore(&[&pre]).ok();
    s.assert_at(&s.at_s2, "back at S2 through the pre-restore snapshot");
}

#[test]
fn unverified_snapshots_need_force() {
    let s = story();
    // Kill a backup after its snapshot is written but before it is verified (the set changed,
    // so the engine writes one; an unchanged set is verified before anything is saved).
    let product = s.env.host.instances[0].products[0].clone();
    std::fs::write(s.env.physical(&format!("{product}/new.txt")), "new").unwrap();
    let mut cmd = s.env.command();
    cmd.env("LOCKSTEP_FAULT_BACKUP_WRITTEN", "kill")
        .arg("backup");
    assert_eq!(run(&mut cmd).code, -1);
    let listed = s.env.run(&["snapshots", "--json"]).ok().json();
    let unverified = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["manifest"]["consistency"]["verdict"] == "unverified")
        .expect("an unverified snapshot")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let target = s.env.path("t");
    let out = s.restore(&[&unverified, "--target", target.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    s.restore(&[&unverified, "--target", target.to_str().unwrap(), "--force"])
        .ok();
}

#[test]
fn a_member_replaced_by_a_symlink_is_not_written_through() {
    let s = story();
    let shared = s.env.host.instances[0].shared.clone();
    let elsewhere = s.env.physical("/srv/elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("keep"), "mine").unwrap();
    let live = s.env.physical(&shared);
    std::fs::rename(&live, s.env.physical("/srv/moved-shared")).unwrap();
    std::os::unix::fs::symlink("/srv/elsewhere", &live).unwrap();
    let before = listing(&s.env.root(), &[PathBuf::from("/")]);
    let out = s.restore(&[&s.s1]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains(&shared), "{}", out.stderr);
    let d = differences(&before, &listing(&s.env.root(), &[PathBuf::from("/")]));
    assert!(d.is_empty(), "{}", d.join("\n"));
}

#[test]
fn a_manifest_path_with_dotdot_is_refused() {
    let s = story();
    // Rewrite S1's manifest so a member points outside the set.
    let spec = lockstep::repo::RepoSpec {
        location: s.env.repo().to_string_lossy().into_owned(),
        options: Default::default(),
    };
    let repo = spec.open("test-password").unwrap();
    let mut snap = repo
        .get_all_snapshots()
        .unwrap()
        .into_iter()
        .find(|x| x.id.to_hex().as_str() == s.s1)
        .unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(snap.description.as_deref().unwrap()).unwrap();
    manifest["members"][0]["path"] = "/opt/../etc/evil".into();
    snap.description = Some(manifest.to_string());
    repo.save_snapshots(vec![snap]).unwrap();
    let forged = repo
        .get_all_snapshots()
        .unwrap()
        .into_iter()
        .find(|x| x.description.as_deref().is_some_and(|d| d.contains("evil")))
        .unwrap()
        .id
        .to_hex()
        .as_str()
        .to_owned();
    let before = listing(&s.env.root(), &[PathBuf::from("/")]);
    for extra in [
        &[][..],
        &[
            "--target",
            s.env.path("t").to_str().unwrap(),
            "--only",
            "product",
        ],
    ] {
        let mut args = vec![forged.as_str()];
        args.extend_from_slice(extra);
        let out = s.restore(&args);
        assert_ne!(out.code, 0, "{}", out.stdout);
    }
    assert!(!s.env.physical("/etc/evil").exists());
    let d = differences(&before, &listing(&s.env.root(), &[PathBuf::from("/")]));
    assert!(d.is_empty(), "{}", d.join("\n"));
}

#[test]
fn symlinks_pointing_outside_the_set_are_restored_as_links_only() {
    let env = Env::new(Shape::Admin);
    let product = env.host.instances[0].products[0].clone();
    let link = env.physical(&format!("{product}/etc-link"));
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    std::os::unix::fs::symlink(
        "../../../../etc/hostname",
        env.physical(&format!("{product}/host-link")),
    )
    .unwrap();
    let members = env.member_paths(&[]);
    let s1 = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    let at_s1 = listing(&env.root(), &members);
    apply_fix_pack(&env.host, 0).unwrap();
    let out_before = outside(&env, &members);
    env.run(&["restore", "--in-place", &s1]).ok();
    // The parents' times are put back once the replaced copies are removed in the background.
    env.wait_for_cleanup();
    assert!(differences(&at_s1, &listing(&env.root(), &members)).is_empty());
    let d = differences(&out_before, &outside(&env, &members));
    assert!(d.is_empty(), "{}", d.join("\n"));
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/etc"));
}

#[test]
fn disk_full_during_staging_leaves_the_live_set_untouched_and_a_delta_still_fits() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a small tmpfs needs root");
        return;
    }
    let s = story();
    // Copy the host onto a filesystem with room for the host but not for a staging copy.
    let small = s.env.path("small");
    std::fs::create_dir_all(&small).unwrap();
    let used: u64 = walkdir::WalkDir::new(s.env.root())
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len().div_ceil(4096) * 4096 + 512)
        .sum();
    let size = used + (1 << 20);
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}")])
        .arg("tmpfs")
        .arg(&small)
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(small.clone());
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", s.env.root().display()))
        .arg(&small)
        .status()
        .unwrap();
    assert!(copied.success());
    let before = listing(&small, &[PathBuf::from("/")]);
    let on_small = |extra_env: Option<(&str, &str)>| {
        let mut cmd = s.env.command_at(&small);
        if let Some((k, v)) = extra_env {
            cmd.env(k, v);
        }
        // --full: every byte is staged, so the small filesystem really fills up.
        run(cmd.args(["restore", "--in-place", &s.s1, "--full"]))
    };
    // Checked up front: refused, with the space needed.
    let out = on_small(None);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("needed"), "{}", out.stderr);
    // And when the filesystem fills up for real during staging.
    let out = on_small(Some(("LOCKSTEP_FAULT_SKIP_SPACE_CHECK", "1")));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("the live set was not changed"),
        "{}",
        out.stderr
    );
    // The filesystem that filled up, named as the host sees it, and what to do.
    assert!(
        out.stderr.contains("the filesystem of /") && out.stderr.contains("free space"),
        "{}",
        out.stderr
    );
    let d = differences(&before, &listing(&small, &[PathBuf::from("/")]));
    assert!(d.is_empty(), "{}\n{}", d.join("\n"), out.stderr);

    // The fast rollback stages only what differs, which fits where whole copies do not.
    let mut cmd = s.env.command_at(&small);
    let out = run(cmd.args(["restore", "--in-place", &s.s1, "--json"]))
        .ok()
        .json();
    assert!(out["carried_files"].as_u64().unwrap() > 0, "{out}");
    s.env.wait_for_cleanup();
    let d = differences(&s.at_s1, &listing(&small, &s.members));
    assert!(d.is_empty(), "{}", d.join("\n"));
}

#[test]
fn fast_rollback_carries_unchanged_files_and_restores_a_file_changed_behind_its_back() {
    let s = story();
    // A file the fix pack did not touch, changed behind lockstep's back: same size, same mtime,
    // different content (only its ctime and the content tell).
    let product = s.env.host.instances[0].products[0].clone();
    let sneaky = s
        .env
        .physical(&format!("{product}/properties/version/platform.websphere"));
    let original = std::fs::read(&sneaky).unwrap();
    let mtime =
        filetime::FileTime::from_last_modification_time(&std::fs::metadata(&sneaky).unwrap());
    let mut changed = original.clone();
    changed[0] = changed[0].wrapping_add(1);
    std::fs::write(&sneaky, &changed).unwrap();
    filetime::set_file_mtime(&sneaky, mtime).unwrap();

    let stamps_before = stamps(&s.env.root(), &s.members);
    let out = s.restore(&[&s.s1, "--json"]).ok().json();
    // The change moved the file's ctime: the live set is no longer S2's recorded state, so
    // the live files were compared one by one.
    assert!(out["live_was"].is_null(), "{out}");
    let carried = out["carried_files"].as_u64().unwrap();
    let written = out["files"].as_u64().unwrap();
    let total = s.at_s1.values().filter(|e| e.kind == "file").count() as u64;
    assert!(
        carried * 10 >= total * 8,
        "the fast path carried only {carried} of {total} files"
    );
    assert!(
        written < total / 5,
        "{written} of {total} files were restored from the repository"
    );
    assert_eq!(
        std::fs::read(&sneaky).unwrap(),
        original,
        "the sneaky change was undone"
    );
    s.assert_at(&s.at_s1, "at S1 after the fast rollback");
    // Files left in place were not touched at all: same inode, same ctime.
    let stamps_after = stamps(&s.env.root(), &s.members);
    let untouched = stamps_after
        .iter()
        .filter(|(p, st)| stamps_before.get(*p) == Some(st))
        .count() as u64;
    assert!(
        untouched >= carried,
        "only {untouched} files kept their inode and ctime; {carried} were reported carried"
    );
    // So the next backup reads only what the rollback wrote.
    let next = s.env.backup(&[]);
    assert!(
        next["files_unmodified"].as_u64().unwrap() >= carried,
        "{next}"
    );

    // --full restores every byte and ends at the same place.
    let out = s.restore(&[&s.s2, "--full", "--json"]).ok().json();
    assert_eq!(out["carried_files"], 0);
    let d = differences(&s.at_s2, &s.members_now());
    assert!(d.is_empty(), "{}", d.join("\n"));
}

/// A host left exactly as the newest snapshot recorded it is rolled back by comparing the two
/// snapshots' trees: the files the fix pack did not touch keep their inode and ctime, the counts
/// of what was kept and written are the real ones, and the host ends exactly at S1.
#[test]
fn a_rollback_of_an_untouched_host_compares_only_the_snapshots() {
    let s = story();
    let stamps_before = stamps(&s.env.root(), &s.members);
    let out = s.restore(&[&s.s1, "--json"]).ok().json();
    assert_eq!(out["live_was"], s.s2.as_str(), "{out}");
    s.assert_at(&s.at_s1, "at S1 after the rollback");

    // Every file of S1 is either kept or written, and the ones kept were not touched.
    let total = s.at_s1.values().filter(|e| e.kind == "file").count() as u64;
    let carried = out["carried_files"].as_u64().unwrap();
    let written = out["files"].as_u64().unwrap();
    assert_eq!(carried + written, total, "{out}");
    assert!(written > 0 && written < total / 5, "{out}");
    let stamps_after = stamps(&s.env.root(), &s.members);
    let untouched: Vec<&PathBuf> = stamps_after
        .iter()
        .filter(|(p, st)| stamps_before.get(*p) == Some(st))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(untouched.len() as u64, carried, "{out}");
    let untouched_bytes: u64 = untouched
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(out["carried_bytes"], untouched_bytes, "{out}");
}

/// What the set's backups exclude (a profile's logs) is neither part of the proof nor touched by
/// a rollback: logs written after the newest snapshot leave the live set provably that
/// snapshot, the next backup is a no-change one, and the rollback keeps the logs as they are —
/// also when something else moved and the members are compared file by file.
#[test]
fn a_rollback_leaves_what_the_backups_exclude_in_place() {
    for also_moved in [false, true] {
        let logs = std::cell::RefCell::new(PathBuf::new());
        let s = story_with(|env| {
            let out = walkdir::WalkDir::new(env.root())
                .into_iter()
                .filter_map(Result::ok)
                .find(|e| e.file_name() == "SystemOut.log")
                .expect("the sample host has a server log");
            let dir = out.path().parent().unwrap().parent().unwrap();
            *logs.borrow_mut() = dir.to_path_buf();
            let logical = Path::new("/").join(dir.strip_prefix(env.root()).unwrap());
            // The directory itself: a new log changes its mtime, which a backup records.
            format!("excludes = ['{}']\n", logical.display())
        });
        let logs = logs.into_inner();
        let server_log = walkdir::WalkDir::new(&logs)
            .into_iter()
            .filter_map(Result::ok)
            .find(|e| e.file_name() == "SystemOut.log")
            .unwrap()
            .into_path();
        let mut log = std::fs::read(&server_log).unwrap();
        log.extend_from_slice(b"written after S2\n");
        std::fs::write(&server_log, &log).unwrap();
        let new_log = logs.join("new-after-s2.log");
        std::fs::write(&new_log, "a new log").unwrap();
        assert_eq!(s.env.backup(&[])["unchanged"], true, "logs moved the set");

        if also_moved {
            let product = s.env.physical(&s.env.host.instances[0].products[0]);
            std::fs::write(product.join("lockstep-test-stray.txt"), "stray").unwrap();
        }
        let out = s.restore(&[&s.s1, "--json"]).ok().json();
        assert_eq!(out["live_was"].is_null(), also_moved, "{out}");
        assert_eq!(
            std::fs::read(&server_log).unwrap(),
            log,
            "the log was rolled back"
        );
        assert_eq!(std::fs::read_to_string(&new_log).unwrap(), "a new log");
        s.env.wait_for_cleanup();
        let outside_logs = |l: &Listing| -> Listing {
            l.iter()
                .filter(|(p, _)| {
                    !s.env
                        .root()
                        .join(p.strip_prefix("/").unwrap())
                        .starts_with(&logs)
                })
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect()
        };
        let d = differences(&outside_logs(&s.at_s1), &outside_logs(&s.members_now()));
        assert!(
            d.is_empty(),
            "not at S1 outside the logs:\n{}",
            d.join("\n")
        );
        assert!(
            common::leftovers(&s.env.root()).is_empty(),
            "{:?}",
            common::leftovers(&s.env.root())
        );
    }
}

/// Every file under `members`: (inode, ctime).
fn stamps(root: &Path, members: &[PathBuf]) -> std::collections::HashMap<PathBuf, (u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    members
        .iter()
        .flat_map(|m| walkdir::WalkDir::new(root.join(m.strip_prefix("/").unwrap())))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().unwrap();
            (e.into_path(), (m.ino(), m.ctime(), m.ctime_nsec()))
        })
        .collect()
}

/// Changes made behind lockstep's back after the last snapshot — a directory added, one
/// removed, a file turned into a directory, a symlink retargeted, a directory's mode changed —
/// are all undone by the rollback, which still restores only what differs.
#[test]
fn a_rollback_undoes_structural_changes_made_behind_its_back() {
    use std::os::unix::fs::MetadataExt;
    let s = story();
    let product = s.env.physical(&s.env.host.instances[0].products[0]);
    let added = product.join("lockstep-test-added/deeper");
    std::fs::create_dir_all(&added).unwrap();
    std::fs::write(added.join("stray.txt"), "stray").unwrap();
    let dirs: Vec<PathBuf> = walkdir::WalkDir::new(&product)
        .min_depth(2)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir() && !e.path().starts_with(&added))
        .map(walkdir::DirEntry::into_path)
        .collect();
    let removed = dirs
        .iter()
        .find(|d| std::fs::read_dir(d).unwrap().count() > 0)
        .unwrap();
    std::fs::remove_dir_all(removed).unwrap();
    let chmodded = dirs
        .iter()
        .find(|d| d.exists() && !d.starts_with(removed))
        .unwrap();
    std::fs::set_permissions(
        chmodded,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let file = walkdir::WalkDir::new(&product)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && e.metadata().unwrap().nlink() == 1)
        .unwrap()
        .into_path();
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("inside"), "x").unwrap();
    let link = walkdir::WalkDir::new(s.env.root())
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| {
            e.path_is_symlink()
                && s.members
                    .iter()
                    .any(|m| e.path().starts_with(s.env.physical(m.to_str().unwrap())))
        })
        .unwrap()
        .into_path();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/nowhere/else", &link).unwrap();

    let out = s.restore(&[&s.s1, "--json"]).ok().json();
    let total = s.at_s1.values().filter(|e| e.kind == "file").count() as u64;
    assert!(out["files"].as_u64().unwrap() < total / 4, "{out}");
    s.assert_at(
        &s.at_s1,
        "at S1 after undoing changes made behind lockstep's back",
    );
}

/// Verification is real: a staged copy whose content differs from the snapshot (same size, same
/// mtime — only the bytes tell) stops the restore before anything is swapped in.
#[test]
fn a_staged_copy_that_differs_from_the_snapshot_is_never_swapped_in() {
    // Whole-member staging (--full) and delta staging (the default rollback) alike.
    for extra in [&["--full"][..], &[][..]] {
        let s = story();
        let product = s.env.host.instances[0].products[0].clone();
        let plan = s.restore(&[&s.s1, "--dry-run", "--json"]).ok().json();
        let units = plan["plan"]["units"].as_array().unwrap();
        let index = units
            .iter()
            .position(|u| u["path"] == product.as_str())
            .unwrap_or_else(|| panic!("{product} is not a unit of {units:?}"));
        // At the unit's staging point, flip the first byte of a staged file, keeping its size
        // and mtime.
        let stage_glob = format!("{}.lockstep-stage-*", s.env.physical(&product).display());
        let tamper = format!(
            "for d in {stage_glob}; do f=$(find \"$d\" -type f -size +0 | sort | head -1); \
             echo \"$f\" > '{log}'; touch -r \"$f\" \"$d.ref\"; \
             printf '\\001' | dd of=\"$f\" bs=1 count=1 conv=notrunc 2>/dev/null; \
             touch -r \"$d.ref\" \"$f\"; rm \"$d.ref\"; done",
            log = s.env.path("tampered").display()
        );
        let mut cmd = s.env.command();
        cmd.env(
            format!("LOCKSTEP_FAULT_RESTORE_STAGE_{index}"),
            format!("run:{tamper}"),
        )
        .args(["restore", "--in-place", &s.s1])
        .args(extra);
        let out = run(&mut cmd);
        assert_ne!(
            out.code, 0,
            "{extra:?}: the tampered restore succeeded:\n{}",
            out.stdout
        );
        let tampered = std::fs::read_to_string(s.env.path("tampered")).unwrap();
        let name = Path::new(tampered.trim())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            out.stderr.contains("does not match the snapshot")
                && out.stderr.contains(&name)
                && out.stderr.contains("content differs"),
            "{extra:?}: {}",
            out.stderr
        );
        s.assert_at(&s.at_s2, "still at S2 after a failed verification");
    }
}

// ---- members that are mount points (issue 23, point 5) ----

/// A tmpfs mounted at a member's path, unmounted when dropped.
struct Mount {
    at: PathBuf,
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.at)
            .status();
    }
}

/// The story of [`story`] with the WebSphere AppServer member on a filesystem of its own, as
/// enterprise hosts have it. The mount is dropped (unmounted) before the story's directory.
struct MountedStory {
    mount: Mount,
    s: Story,
    /// The member that is a mount point (logical) and its device.
    member: PathBuf,
    dev: u64,
}

/// Builds a [`MountedStory`]; `None` (after printing why) where mounting is impossible.
fn mounted_story() -> Option<MountedStory> {
    use std::os::unix::fs::MetadataExt;
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the in-place suite as root"
        );
        eprintln!("SKIPPED: mounting a filesystem at a member needs root");
        return None;
    }
    let env = Env::new(Shape::Admin);
    std::fs::write(env.path("lockstep.toml"), "").unwrap();
    let members = env.member_paths(&[]);
    let member = members
        .iter()
        .find(|m| m.file_name().is_some_and(|n| n == "AppServer"))
        .unwrap_or_else(|| panic!("no AppServer member in {members:?}"))
        .clone();
    let physical = env.physical(member.to_str().unwrap());
    // The member's data moves onto the new filesystem, the mount point keeping its metadata.
    let aside = env.path("appserver-before-mount");
    std::fs::rename(&physical, &aside).unwrap();
    std::fs::create_dir(&physical).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"])
        .arg(&physical)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs at {}", physical.display());
    let mount = Mount {
        at: physical.clone(),
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
    assert_ne!(
        dev,
        std::fs::metadata(physical.parent().unwrap()).unwrap().dev()
    );
    let at_s1 = listing(&env.root(), &members);
    let s1 = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    apply_fix_pack(&env.host, 0).unwrap();
    let s2 = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    let at_s2 = listing(&env.root(), &members);
    assert!(
        !differences(&at_s1, &at_s2).is_empty(),
        "the fix pack changed nothing"
    );
    let outside = outside(&env, &members);
    Some(MountedStory {
        mount,
        s: Story {
            env,
            s1,
            s2,
            members,
            at_s1,
            at_s2,
            outside,
        },
        member,
        dev,
    })
}

impl MountedStory {
    /// The arguments of an in-place restore of `snapshot`: `--in-place` where this build's
    /// `restore --help` lists it (in-place restores are becoming explicit).
    fn in_place_args(&self, snapshot: &str, extra: &[&str]) -> Vec<String> {
        let help = self.s.env.run(&["restore", "--help"]);
        let mut args = vec!["restore".to_owned(), snapshot.to_owned()];
        if help.stdout.contains("--in-place") {
            args.push("--in-place".into());
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    }

    /// The member is still the same mount.
    #[track_caller]
    fn assert_still_mounted(&self, what: &str) {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(&self.mount.at).unwrap().dev();
        assert_eq!(
            dev,
            self.dev,
            "{what}: {} is no longer the mount",
            self.member.display()
        );
    }

    /// The index of the mounted member among the restore's units (its fault points).
    fn unit_index(&self) -> usize {
        let args = self.in_place_args(&self.s.s1, &["--dry-run", "--json"]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let plan = self.s.env.run(&refs).ok().json();
        let units = plan["plan"]["units"].as_array().unwrap();
        units
            .iter()
            .position(|u| u["path"] == self.member.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} is not a unit of {units:?}", self.member.display()))
    }
}

/// A member that is a mount point is restored inside it: the fast rollback and a whole copy
/// (`--full`) both leave the host exactly at the snapshot, entry by entry (the mount point's own
/// mode, owner and times included), with the member still the same mount.
#[test]
fn a_member_that_is_a_mount_point_is_restored_inside_it() {
    let Some(m) = mounted_story() else {
        return;
    };
    let s = &m.s;
    let args = m.in_place_args(&s.s1, &["--json"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.env.run(&refs).ok().json();
    assert_eq!(out["live_was"], s.s2.as_str(), "the fast rollback: {out}");
    s.assert_at(&s.at_s1, "at S1 after the fast rollback");
    m.assert_still_mounted("after the fast rollback");

    let args = m.in_place_args(&s.s2, &["--full", "--json"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    s.env.run(&refs).ok().json();
    s.assert_at(&s.at_s2, "at S2 after a whole copy");
    m.assert_still_mounted("after a whole copy");

    let status = s.env.run(&["status", "--json"]).json();
    assert_eq!(status["verdict"], "in-sync", "{status}");
}

/// Kills the restore of S1 at every fault point of the mounted member (its staging, both halves
/// of its contents swap, the clean-up), by difference and whole; after `recover` the member
/// holds exactly the old or the new set and is still the mount.
#[test]
fn a_crash_while_restoring_a_mount_point_leaves_the_old_or_the_new_set() {
    let Some(probe) = mounted_story() else {
        return;
    };
    let i = probe.unit_index();
    drop(probe);
    for extra in [&["--full"][..], &[][..]] {
        let points = [
            format!("restore-stage-{i}"),
            "restore-staged".to_owned(),
            format!("restore-swap-{}", 2 * i),
            format!("restore-swap-{}", 2 * i + 1),
            "restore-cleanup".to_owned(),
            "restore-before-close".to_owned(),
        ];
        for point in &points {
            let m = mounted_story().unwrap();
            let s = &m.s;
            let mut wait = vec!["--wait"];
            wait.extend_from_slice(extra);
            let args = m.in_place_args(&s.s1, &wait);
            let var = format!(
                "LOCKSTEP_FAULT_{}",
                point.to_ascii_uppercase().replace('-', "_")
            );
            let mut cmd = s.env.command();
            cmd.env(&var, "kill").args(&args);
            let killed = run(&mut cmd);
            assert_eq!(
                killed.code, -1,
                "{extra:?} {point}: lockstep was not killed:\n{}",
                killed.stderr
            );
            s.env.run(&["recover"]).ok();
            let (expected, name) = if point.starts_with("restore-stage") {
                (&s.at_s2, "the old set (S2)")
            } else {
                (&s.at_s1, "the new set (S1)")
            };
            s.assert_at(
                expected,
                &format!("{name} after a crash at {point} {extra:?}"),
            );
            m.assert_still_mounted(&format!("after a crash at {point} {extra:?}"));
        }
    }
}

/// The tree of snapshot `id` in `env`'s repository.
fn tree_of(env: &Env, id: &str) -> String {
    let spec = lockstep::repo::RepoSpec {
        location: env.repo().to_string_lossy().into_owned(),
        options: Default::default(),
    };
    let repo = spec.open("test-password").unwrap();
    let snap = repo.get_snapshots(&[id]).unwrap().pop().unwrap();
    snap.tree.to_string()
}

/// The backup right after a rollback: reads no file (the restore proved the set is the
/// snapshot it restored, from metadata alone), writes a consistent snapshot with the restored
/// snapshot's tree, and the backup after a change made then stores that change.
#[track_caller]
fn assert_backup_after_rollback_reads_nothing(s: &Story) {
    s.env.wait_for_cleanup();
    let after = s.env.backup(&[]);
    for (count, expected) in [("files_new", 0), ("files_changed", 0), ("bytes_added", 0)] {
        assert_eq!(after[count], expected, "{count}: {after}");
    }
    assert_eq!(after["unchanged"], true, "{after}");
    assert_eq!(after["parent"], s.s1.as_str(), "{after}");
    assert_eq!(after["consistency"]["verdict"], "consistent", "{after}");
    let id = after["snapshot"].as_str().unwrap();
    assert_eq!(tree_of(&s.env, id), tree_of(&s.env, &s.s1));
    let status = s.env.run(&["status", "--json"]).ok().json();
    assert_eq!(status["verdict"], "in-sync", "{status}");

    // A file changed after the rollback is read and stored, and restores as changed.
    let (logical, _) = s
        .at_s1
        .iter()
        .find(|(p, e)| e.kind == "file" && p.to_string_lossy().contains("/PortalServer/"))
        .expect("a Portal file");
    let body = b"changed after the rollback\n";
    std::fs::write(s.env.physical(logical.to_str().unwrap()), body).unwrap();
    let changed = s.env.backup(&[]);
    assert_eq!(changed["unchanged"], false, "{changed}");
    assert_eq!(changed["files_changed"], 1, "{changed}");
    assert!(changed["bytes_added"].as_u64().unwrap() > 0, "{changed}");
    let target = s.env.path("after-change");
    s.env
        .run(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    let restored = target.join(logical.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(restored).unwrap(), body);
}

#[test]
fn the_backup_after_a_rollback_reads_no_file_and_a_later_change_is_stored() {
    let s = story();
    s.restore(&[&s.s1]).ok();
    assert_backup_after_rollback_reads_nothing(&s);
}

#[test]
fn the_backup_after_a_rollback_that_recover_completed_reads_no_file() {
    let s = story();
    let killed = run(s
        .env
        .command()
        .env("LOCKSTEP_FAULT_RESTORE_CLEANUP", "kill")
        .args(["restore", "--in-place", &s.s1]));
    assert_eq!(killed.code, -1, "not killed: {}", killed.stderr);
    let recovered = s.env.run(&["recover", "--json"]).ok().json();
    assert_eq!(
        recovered["recovered"]["outcome"], "completed",
        "{recovered}"
    );
    assert_backup_after_rollback_reads_nothing(&s);
}

/// A backup with `LOCKSTEP_TIMINGS` right after a rollback to S1, which must reuse S1's tree
/// (`unchanged`, parent S1); its report and what it printed on stderr (the phases). `case`
/// names the case in a failure.
fn timed_backup_after_rollback(s: &Story, case: &str) -> (serde_json::Value, String) {
    let out = run(s
        .env
        .command()
        .env("LOCKSTEP_TIMINGS", "1")
        .args(["backup", "--json"]))
    .ok();
    let report = out.json();
    assert_eq!(report["unchanged"], true, "{case}: {report}");
    assert_eq!(report["parent"], s.s1.as_str(), "{case}: {report}");
    (report, out.stderr)
}

/// A rollback interrupted in its swap or right after it, which `recover` completes, is checked
/// by the recovery as the restore would have checked it (from what the restore kept beside its
/// journal): the backup after it reads no tree of the snapshot. When what the restore kept is
/// torn (the crash came while it was written) the recovery still completes, and the backup
/// reads the trees and still proves the set.
#[test]
fn the_backup_after_a_recovered_rollback_reads_no_tree_of_the_snapshot() {
    for (point, kept) in [
        ("LOCKSTEP_FAULT_RESTORE_SWAP_1", true),
        ("LOCKSTEP_FAULT_RESTORE_CLEANUP", true),
        ("LOCKSTEP_FAULT_RESTORE_SWAP_1", false),
    ] {
        let s = story();
        let killed = run(s
            .env
            .command()
            .env(point, "kill")
            .args(["restore", "--in-place", &s.s1]));
        assert_eq!(killed.code, -1, "not killed at {point}: {}", killed.stderr);
        let pending = s.env.path("state/restore-settle.json");
        assert!(pending.exists(), "{point}: nothing kept for recover");
        if !kept {
            // torn by the crash: half of it on disk
            let text = std::fs::read(&pending).unwrap();
            std::fs::write(&pending, &text[..text.len() / 2]).unwrap();
        }
        let recovered = s.env.run(&["recover", "--json"]).ok().json();
        assert_eq!(
            recovered["recovered"]["outcome"], "completed",
            "{point}: {recovered}"
        );
        assert!(
            !pending.exists(),
            "{point}: left behind after the journal closed"
        );
        let (report, stderr) = timed_backup_after_rollback(&s, &format!("{point} kept {kept}"));
        let id = report["snapshot"].as_str().unwrap();
        assert_eq!(tree_of(&s.env, id), tree_of(&s.env, &s.s1));
        assert_eq!(
            stderr.contains("timing: backup: read the restored snapshot's trees"),
            !kept,
            "{point} kept {kept}:\n{stderr}"
        );
    }
}

/// The rollback checks every entry it changed right after its swap and records what it checked:
/// the backup after it proves the set without reading a tree of the snapshot (the phase that
/// reads them is named under `LOCKSTEP_TIMINGS`). A record without that check (a restore by an
/// earlier lockstep) still proves it, reading the trees.
#[test]
fn the_backup_after_a_rollback_reads_no_tree_of_the_snapshot() {
    for settled in [true, false] {
        let s = story();
        s.restore(&[&s.s1]).ok();
        s.env.wait_for_cleanup();
        if !settled {
            for record in std::fs::read_dir(s.env.path("state/restored")).unwrap() {
                let path = record.unwrap().path();
                let mut json: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let proof = json["proof"].as_object_mut().expect("a proof");
                assert!(proof.remove("settled").is_some(), "{json}");
                std::fs::write(&path, json.to_string()).unwrap();
            }
        }
        let (_, stderr) = timed_backup_after_rollback(&s, &format!("settled {settled}"));
        assert!(
            stderr.contains("timing: backup: prove the restored set"),
            "{stderr}"
        );
        assert_eq!(
            stderr.contains("timing: backup: read the restored snapshot's trees"),
            !settled,
            "settled {settled}:\n{stderr}"
        );
    }
}

/// Files of the story's S1 that S2 has too, unchanged, in a directory whose other entries the
/// fix pack changed (a rollback swaps entries in and out of it and sets its times): the
/// rollback leaves them where they are.
fn kept_beside_a_change(s: &Story) -> Vec<PathBuf> {
    let changed_dirs: std::collections::BTreeSet<&Path> = s
        .at_s1
        .iter()
        .filter(|(p, e)| s.at_s2.get(*p) != Some(e) && e.kind == "file")
        .filter_map(|(p, _)| p.parent())
        .collect();
    s.at_s1
        .iter()
        .filter(|(p, e)| {
            e.kind == "file"
                && s.at_s2.get(*p) == Some(e)
                && p.parent().is_some_and(|d| changed_dirs.contains(d))
        })
        .map(|(p, _)| p.clone())
        .collect()
}

/// Changes made behind the rollback's back while it ran — after it planned, before its swap,
/// when its check of what it changed and the backup's proof are all that can see them — are in
/// the next snapshot as they are on the host: a file it kept removed (only its directory's
/// names show it), another's mode changed.
#[test]
fn a_change_made_while_the_rollback_ran_is_in_the_next_snapshot() {
    for change in ["rm", "chmod"] {
        let s = story();
        let kept = kept_beside_a_change(&s);
        let file = kept.first().expect("a kept file beside a change");
        let physical = s.env.physical(file.to_str().unwrap());
        let command = match change {
            "rm" => format!("rm '{}'", physical.display()),
            _ => format!("chmod 0604 '{}'", physical.display()),
        };
        run(s
            .env
            .command()
            .env("LOCKSTEP_FAULT_RESTORE_STAGED", format!("run:{command}"))
            .args(["restore", "--in-place", &s.s1]))
        .ok();
        s.env.wait_for_cleanup();
        let after = s.env.backup(&[]);
        assert_eq!(after["unchanged"], false, "{change}: {after}");
        let target = s.env.path("after-change");
        s.env
            .run(&["restore", "latest", "--target", target.to_str().unwrap()])
            .ok();
        let restored = target.join(file.strip_prefix("/").unwrap());
        match change {
            "rm" => assert!(!restored.exists(), "{} was restored", restored.display()),
            _ => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&restored).unwrap().permissions().mode();
                assert_eq!(mode & 0o7777, 0o604, "{}", restored.display());
            }
        }
    }
}

/// Without the restore's proof the backup after a rollback is an ordinary one: a file changed
/// behind the restore's back between its swap and the backup, its mtime and size put back, is
/// read again (its ctime is later than the restore's last swap).
#[test]
fn a_file_touched_after_the_rollback_is_read_again() {
    let s = story();
    s.restore(&[&s.s1]).ok();
    s.env.wait_for_cleanup();
    let (logical, entry) = s
        .at_s1
        .iter()
        .find(|(p, e)| {
            e.kind == "file" && e.size > 4 && p.to_string_lossy().contains("/AppServer/")
        })
        .expect("an AppServer file");
    let file = &s.env.physical(logical.to_str().unwrap());
    let mut body = std::fs::read(file).unwrap();
    body[0] ^= 0xff;
    let mtime = std::fs::metadata(file).unwrap().modified().unwrap();
    std::fs::write(file, &body).unwrap();
    std::fs::File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(file).unwrap().len(), entry.size);
    let after = s.env.backup(&[]);
    assert_eq!(after["unchanged"], false, "{after}");
    assert!(after["files_changed"].as_u64().unwrap() >= 1, "{after}");
    let target = s.env.path("touched");
    s.env
        .run(&["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    let restored = target.join(logical.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(restored).unwrap(), body);
}
