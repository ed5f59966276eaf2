//! The README's promise: restic reads lockstep repositories.

use std::process::Command;

use crate::common::{Env, is_root, listing, require, run};
use lockstep_sample::Shape;
use lockstep_sample::listing::{Ignore, diff};

/// restic on the environment's repository, with its password and a private cache.
fn restic_on(env: &Env) -> Command {
    let mut cmd = Command::new("restic");
    cmd.env("RESTIC_PASSWORD_FILE", env.path("password"))
        .env("RESTIC_CACHE_DIR", env.path("restic-cache"))
        .arg("-r")
        .arg(env.repo());
    cmd
}

#[test]
fn restic_lists_and_restores_a_lockstep_snapshot() {
    if !require("restic") {
        return;
    }
    let env = Env::new(Shape::NonAdmin);
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    let id = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();

    let restic = |args: &[&str]| run(restic_on(&env).arg("--no-lock").args(args));
    let listed = restic(&["snapshots", "--json"]).ok().json();
    let snap = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("restic does not list {id}: {listed}"));
    let tags: Vec<&str> = snap["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"lockstep") && tags.contains(&"set=wasadm"),
        "{tags:?}"
    );
    assert_eq!(snap["hostname"], "dx-test");

    let target = env.path("restic-restore");
    restic(&["restore", &id, "--target", target.to_str().unwrap()]).ok();
    let restored = listing(&target, &members);
    let differences = diff(&before, &restored, Ignore { owner: !is_root() });
    assert!(
        differences.is_empty(),
        "restic's restore differs in {} entries:\n{}",
        differences.len(),
        differences.join("\n")
    );
    restic(&["check", "--read-data"]).ok();
}

/// lockstep's engine chunks exactly like restic (the vendored rustic_cdc patch only caches the
/// Rabin tables): restic, backing up the same files into the lockstep repository, finds every
/// data chunk already stored — including those of a file large enough for several chunks.
#[test]
fn restic_finds_every_chunk_of_a_lockstep_backup_already_stored() {
    if !require("restic") {
        return;
    }
    let env = Env::new(Shape::NonAdmin);
    let members = env.member_paths(&[]);
    // 12 MiB of deterministic noise: content-defined chunking cuts it into several chunks
    // (restic's minimum chunk is 512 KiB, its average 1 MiB).
    let product = members
        .iter()
        .map(|m| env.physical(m.to_str().unwrap()))
        .find(|p| p.is_dir())
        .expect("a member directory");
    let big = product.join("large-payload.bin");
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let noise: Vec<u8> = (0..12 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(&big, &noise).unwrap();
    let outcome = env.backup(&[]);
    assert!(
        outcome["bytes_added"].as_u64().unwrap() >= 12 << 20,
        "{outcome}"
    );

    let physical: Vec<String> = members
        .iter()
        .map(|m| env.physical(m.to_str().unwrap()).display().to_string())
        .collect();
    let out = run(restic_on(&env)
        .args(["backup", "--json", "--host", "restic-side"])
        .args(&physical))
    .ok();
    let summary = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary from restic: {}", out.stdout));
    assert!(summary["total_files_processed"].as_u64().unwrap() > 10);
    assert_eq!(
        summary["data_blobs"], 0,
        "restic stored data chunks that lockstep's backup of the same files did not produce: {summary}"
    );
}
