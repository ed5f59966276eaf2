//! Integrity: `check --read-data` finds a damaged pack file and names the snapshots it hits;
//! `drill` fails on such a snapshot and proves the others, and `snapshots` shows both.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::common::{self, Env};
use lockstep_sample::{Shape, apply_fix_pack};

fn packs(env: &Env) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(env.repo().join("data"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// Flips 64 bytes a third of the way into `pack`.
fn damage(pack: &std::path::Path) {
    let mut bytes = std::fs::read(pack).unwrap();
    let at = bytes.len() / 3;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0xff;
    }
    std::fs::write(pack, bytes).unwrap();
}

#[test]
fn a_damaged_pack_is_found_and_named_with_the_snapshots_it_hits() {
    let env = Env::new(Shape::Admin);
    let first = env.backup(&["--label", "before fix pack"])["snapshot"]
        .as_str()
        .unwrap()
        .to_owned();
    apply_fix_pack(&env.host, 0).unwrap();
    let before = packs(&env);
    let second = env.backup(&["--label", "after fix pack"])["snapshot"]
        .as_str()
        .unwrap()
        .to_owned();
    // Packs written by the second backup hold only what it added: only it uses them.
    let new: Vec<PathBuf> = packs(&env).difference(&before).cloned().collect();
    let victim = new
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("the second backup wrote a pack");
    let victim_id = victim.file_name().unwrap().to_str().unwrap().to_owned();

    // A healthy repository checks clean; the drill of the first snapshot is recorded.
    let clean = env.run(&["check", "--read-data", "--json"]).ok().json();
    assert_eq!(clean["ok"], true);
    assert_eq!(clean["snapshots"], 2);
    env.run(&["drill", &first]).ok();

    damage(victim);

    // The structure check does not read pack data: it cannot see the damage.
    env.run(&["check"]).ok();

    let run = env.run(&["check", "--read-data", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["damaged_packs"], serde_json::json!([victim_id]));
    let hit: Vec<&str> = report["hit_snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(hit, [second.as_str()], "only the second snapshot is hit");
    assert_eq!(report["hit_snapshots"][0]["set"], "admin");
    // One line on stderr that names the hit snapshot.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains(&second[..8]), "{}", lines[0]);
    assert!(!lines[0].contains(&first[..8]), "{}", lines[0]);

    // The text report lists it too.
    let text = env.run(&["check", "--read-data-subset", "100%"]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("snapshots hit"), "{}", text.stdout);
    assert!(text.stdout.contains(&second[..8]), "{}", text.stdout);

    // The drill of the damaged snapshot (the latest) fails, without a crash, and is recorded.
    let run = env.run(&["drill", "--json"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("FAILED"), "{}", run.stderr);
    let drill = run.json();
    assert_eq!(drill["snapshot"], second.as_str());
    assert_eq!(drill["ok"], false);
    assert_eq!(drill["scratch_removed"], true);
    assert!(!std::path::Path::new(drill["scratch"].as_str().unwrap()).exists());

    // A restore of it into a new directory fails with one line that names what it left there:
    // an incomplete copy, kept (it may hold what the damaged repository can no longer give).
    let target = env.path("restore-second");
    let run = env.run(&["restore", &second, "--target", target.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("incomplete restore") && run.stderr.contains(target.to_str().unwrap()),
        "{}",
        run.stderr
    );
    assert!(std::fs::read_dir(&target).unwrap().next().is_some());
    // Refused now that the directory is not empty; what is there stays.
    let again = env.run(&["restore", &second, "--target", target.to_str().unwrap()]);
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert!(std::fs::read_dir(&target).unwrap().next().is_some());

    // The undamaged snapshot still restores.
    env.run(&["drill", &first]).ok();

    let listed = env.run(&["snapshots", "--json"]).ok().json();
    let rows = listed["snapshots"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "drill records are not set snapshots");
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert!(row(&first)["drill"]["proven_at"].is_string());
    assert_eq!(row(&first)["drill"]["last"]["ok"], true);
    assert!(row(&second)["drill"]["proven_at"].is_null());
    assert_eq!(row(&second)["drill"]["last"]["ok"], false);
    let text = env.run(&["snapshots"]).ok().stdout;
    assert!(text.contains("FAILED"), "{text}");
}

#[test]
fn a_drill_verifies_every_entry_and_the_inventory() {
    let env = Env::new(Shape::NonAdmin);
    let id = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    let scratch = env.path("scratch");
    let out = env
        .run(&["drill", "--scratch", scratch.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(out["schema_version"], 1);
    assert_eq!(out["snapshot"], id.as_str());
    assert_eq!(out["ok"], true);
    assert_eq!(out["inventory_ok"], true);
    assert_eq!(out["recorded"], true);
    assert!(out["files"].as_u64().unwrap() > 100);
    assert!(out["entries_verified"].as_u64().unwrap() > out["files"].as_u64().unwrap());
    assert!(out["bytes"].as_u64().unwrap() > 0);
    assert!(out["throughput_bytes_per_second"].as_f64().unwrap() > 0.0);
    // The scratch root was inside --scratch, and is gone.
    assert!(
        out["scratch"]
            .as_str()
            .unwrap()
            .starts_with(scratch.to_str().unwrap())
    );
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    // Without --scratch the scratch root goes beside the (local) repository.
    let out = env.run(&["drill", "--no-record", "--json"]).ok().json();
    assert_eq!(out["recorded"], false);
    assert!(
        out["scratch"]
            .as_str()
            .unwrap()
            .starts_with(env.dir.path().to_str().unwrap())
    );
    let text = env.run(&["drill"]).ok().stdout;
    assert!(text.contains("PASSED"), "{text}");
    assert!(text.contains("manifest's inventory"), "{text}");
}

#[test]
fn the_verifier_sees_content_metadata_missing_and_extra_entries() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let spec = lockstep::repo::RepoSpec {
        location: env.repo().to_string_lossy().into_owned(),
        options: Default::default(),
    };
    let repo = spec.open("test-password").unwrap();
    let snap = lockstep::repo::find_snapshot(&repo, "latest", None, None).unwrap();
    let target = env.path("restored");
    lockstep::ops::restore::restore_to_target(repo, &snap, &target, None).unwrap();
    let repo = spec.open("test-password").unwrap().to_indexed().unwrap();
    let verify = |target: &std::path::Path| {
        lockstep::ops::drill::verify::verify(
            &repo,
            &snap.snapshot,
            target,
            common::is_root(),
            &rustic_core::Progress::hidden(),
        )
        .unwrap()
    };
    let clean = verify(&target);
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert!(clean.files > 100 && clean.bytes > 0);

    let product = env.host.instances[0].products[0].clone();
    let at = |logical: &str| target.join(logical.trim_start_matches('/'));
    // Same size, same mtime, different content: only re-hashing sees it.
    let changed = at(&format!("{product}/properties/sas.client.props"));
    let mtime =
        filetime::FileTime::from_last_modification_time(&std::fs::metadata(&changed).unwrap());
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&changed, &bytes).unwrap();
    filetime::set_file_mtime(&changed, mtime).unwrap();
    // A mode, a missing file, an extra file.
    let agent = env.host.instances[0].agent_data.clone();
    std::fs::set_permissions(
        at(&format!("{agent}/installed.xml")),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    std::fs::remove_file(at(&format!("{agent}/installRegistry.xml"))).unwrap();
    std::fs::write(at(&format!("{product}/stray.txt")), "x").unwrap();

    let found = verify(&target).problems;
    let has = |path: &str, what: &str| {
        found
            .iter()
            .any(|p| p.starts_with(path) && p.contains(what))
    };
    assert!(
        has(
            &format!("{product}/properties/sas.client.props"),
            "content differs"
        ),
        "{found:?}"
    );
    assert!(has(&format!("{agent}/installed.xml"), "mode"), "{found:?}");
    assert!(
        has(&format!("{agent}/installRegistry.xml"), "missing"),
        "{found:?}"
    );
    assert!(
        has(&format!("{product}/stray.txt"), "not in the snapshot"),
        "{found:?}"
    );
    // Removing and adding entries changed their directories' mtimes, which are verified too.
    assert!(has(&format!("{product}:"), "mtime"), "{found:?}");
    assert!(has(&format!("{agent}:"), "mtime"), "{found:?}");
    assert_eq!(found.len(), 6, "{found:?}");
}

#[test]
fn restic_checks_a_repository_with_drill_records_and_pruned_data() {
    if !common::require("restic") {
        return;
    }
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    apply_fix_pack(&env.host, 0).unwrap();
    env.backup(&[]);
    env.run(&["drill"]).ok();
    env.run(&["forget", "--keep-last", "1", "--prune"]).ok();
    env.run(&["drill"]).ok();
    let restic = |args: &[&str]| {
        let mut cmd = std::process::Command::new("restic");
        cmd.env("RESTIC_PASSWORD_FILE", env.path("password"))
            .env("RESTIC_CACHE_DIR", env.path("restic-cache"))
            .arg("--no-lock")
            .arg("-r")
            .arg(env.repo())
            .args(args);
        common::run(&mut cmd)
    };
    restic(&["check", "--read-data"]).ok();
    let backups = restic(&["snapshots", "--json", "--tag", "lockstep"])
        .ok()
        .json();
    assert_eq!(backups.as_array().unwrap().len(), 1, "{backups}");
    let records = restic(&["snapshots", "--json", "--tag", "lockstep-drill"])
        .ok()
        .json();
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    // Same tree as the drilled snapshot: the record adds no data.
    assert_eq!(records[0]["tree"], backups[0]["tree"]);
    assert_eq!(records[0]["hostname"], "dx-test");
}

#[test]
fn a_restore_that_fails_before_writing_anything_leaves_no_directory_behind() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    apply_fix_pack(&env.host, 0).unwrap();
    let before = packs(&env);
    let second = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    // Every byte of every pack the second backup wrote, its trees' too: its root tree cannot
    // be read.
    for pack in packs(&env).difference(&before) {
        let bytes: Vec<u8> = std::fs::read(pack).unwrap().iter().map(|b| !b).collect();
        std::fs::write(pack, bytes).unwrap();
    }
    let outer = env.path("new");
    let target = outer.join("parents").join("target");
    let run = env.run(&["restore", &second, "--target", target.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("incomplete"), "{}", run.stderr);
    assert!(
        !outer.exists(),
        "the failed restore left {}",
        outer.display()
    );
}
