//! The README's promise: restic reads lockstep repositories.

mod common;

use std::process::Command;

use common::{Env, is_root, listing, require, run};
use lockstep::listing::{Ignore, diff};
use lockstep::sample::Shape;

#[test]
fn restic_lists_and_restores_a_lockstep_snapshot() {
    if !require("restic") {
        return;
    }
    let env = Env::new(Shape::NonAdmin);
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    let id = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();

    let restic = |args: &[&str]| {
        let mut cmd = Command::new("restic");
        cmd.env("RESTIC_PASSWORD_FILE", env.path("password"))
            .env("RESTIC_CACHE_DIR", env.path("restic-cache"))
            .arg("--no-lock")
            .arg("-r")
            .arg(env.repo())
            .args(args);
        run(&mut cmd)
    };
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
