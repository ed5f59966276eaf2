//! The maintenance guard with fake `imcl` scripts: upgrade, failure with and without rollback,
//! a dropped connection (SIGHUP), a killed guard, and `--expect-change`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{self, Env, is_root, listing, run};
use lockstep_sample::Shape;
use lockstep_sample::listing::{Ignore, diff};

fn guard(env: &Env, args: &[&str], script: &Path) -> common::Run {
    let mut cmd = env.command();
    cmd.arg("guard").args(args).arg("--").arg("sh").arg(script);
    run(&mut cmd)
}

fn labels(env: &Env) -> Vec<String> {
    env.run(&["snapshots", "--json"]).ok().json()["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_successful_upgrade_ends_with_two_snapshots_in_sync() {
    let env = Env::new(Shape::Admin);
    let imcl = common::fix_pack_script(&env);
    let out = guard(
        &env,
        &["--label", "CF220", "--expect-change", "--json"],
        &imcl,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["verdict"], "succeeded");
    assert!(report["inventory_changes"].as_array().unwrap().len() >= 2);
    assert_eq!(
        labels(&env),
        vec!["pre-maintenance: CF220", "post-maintenance: CF220"]
    );
    let status = env.run(&["status", "--json"]).json();
    assert_eq!(status["verdict"], "in-sync", "{status}");
    assert_eq!(status["snapshot"]["id"], report["post_snapshot"]);
    let log = std::fs::read_to_string(report["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("installing CF220") && log.contains("installed"),
        "{log}"
    );
}

fn corrupting_script(env: &Env) -> PathBuf {
    let agent = env.host.instances[0].agent_data.clone();
    let installed = env.physical(&format!("{agent}/installed.xml"));
    common::script(
        env,
        "imcl-broken",
        &format!(
            "echo 'CRIMA1217E A problem occurred during the installation' >&2\nhead -c 200 '{f}' > '{f}.part' && mv '{f}.part' '{f}'\nexit 1",
            f = installed.display()
        ),
    )
}

#[test]
fn a_failed_update_is_rolled_back_with_rollback_auto() {
    let env = Env::new(Shape::Admin);
    let members = env.member_paths(&[]);
    let before = listing(&env.root(), &members);
    let out = guard(&env, &["--rollback", "auto"], &corrupting_script(&env));
    assert_eq!(out.code, 20, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("rolled-back"), "{}", out.stdout);
    assert!(
        out.stdout.contains("CRIMA1217E"),
        "the command's output is streamed: {}",
        out.stdout
    );
    let d = diff(
        &before,
        &listing(&env.root(), &members),
        Ignore { owner: !is_root() },
    );
    assert!(
        d.is_empty(),
        "host differs from the pre-maintenance snapshot:\n{}",
        d.join("\n")
    );
    env.run(&["doctor"]).ok();
}

#[test]
fn a_failed_update_is_reported_with_rollback_never() {
    let env = Env::new(Shape::Admin);
    let out = guard(
        &env,
        &["--rollback", "never", "--json"],
        &corrupting_script(&env),
    );
    assert_eq!(out.code, 21, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["verdict"], "failed-not-rolled-back");
    let pre = report["pre_snapshot"].as_str().unwrap();
    let host_state = report["host_state"].as_str().unwrap();
    assert!(
        host_state.contains(&format!("lockstep restore --in-place {}", &pre[..8])),
        "{host_state}"
    );
    assert!(report["problems"][0].as_str().unwrap().contains("status 1"));
    // The host is left broken, exactly as the command left it; the advice restores it.
    assert_ne!(env.run(&["doctor"]).code, 0);
    env.run(&["restore", "--in-place", pre]).ok();
    env.run(&["doctor"]).ok();
}

/// `--rollback ask` (the default on a terminal) shows what changed in IM's records and rolls
/// back only on a yes: "y" leaves the host at the pre-maintenance snapshot, anything else leaves
/// it as the command did, with the advice to restore.
#[test]
fn a_failed_update_asks_before_rolling_back() {
    use std::io::Write;
    for answer in ["y", "n"] {
        let env = Env::new(Shape::Admin);
        let members = env.member_paths(&[]);
        let before = listing(&env.root(), &members);
        let mut child = env
            .command()
            .args(["guard", "--rollback", "ask", "--", "sh"])
            .arg(corrupting_script(&env))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{answer}").unwrap();
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            stderr.contains("IM's records changed") && stderr.contains("[y/N]"),
            "{stderr}"
        );
        let now = listing(&env.root(), &members);
        let d = diff(&before, &now, Ignore { owner: !is_root() });
        if answer == "y" {
            assert_eq!(out.status.code(), Some(20), "{stdout}\n{stderr}");
            assert!(stdout.contains("rolled-back"), "{stdout}");
            assert!(d.is_empty(), "not rolled back:\n{}", d.join("\n"));
            env.run(&["doctor"]).ok();
        } else {
            assert_eq!(out.status.code(), Some(21), "{stdout}\n{stderr}");
            assert!(!d.is_empty(), "rolled back without a yes");
            assert_ne!(env.run(&["doctor"]).code, 0);
        }
    }
}

#[test]
fn expect_change_with_a_command_that_changes_nothing_fails_verification() {
    let env = Env::new(Shape::Admin);
    let noop = common::script(&env, "imcl-noop", "echo nothing to do");
    let out = guard(&env, &["--expect-change", "--rollback", "never"], &noop);
    assert_eq!(out.code, 22, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("--expect-change"), "{}", out.stdout);
    assert_eq!(labels(&env), vec!["pre-maintenance: "]);
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A fake imcl that says it started, waits for the test, then finishes.
fn waiting_script(env: &Env) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let (ready, go, done) = (env.path("ready"), env.path("go"), env.path("done"));
    for f in [&ready, &go, &done] {
        mkfifo(f);
    }
    let s = common::script(
        env,
        "imcl-wait",
        &format!(
            "echo before the connection dropped\necho started > '{}'\nread x < '{}'\necho after the connection dropped\necho done > '{}'",
            ready.display(),
            go.display(),
            done.display()
        ),
    );
    (s, ready, go, done)
}

fn read_line(fifo: &Path) {
    let mut line = String::new();
    std::io::BufReader::new(std::fs::File::open(fifo).unwrap())
        .read_line(&mut line)
        .unwrap();
}

fn write_line(fifo: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(fifo)
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
}

/// Starts a guard around the waiting imcl and returns once the command runs.
fn start_waiting_guard(env: &Env) -> (std::process::Child, PathBuf, PathBuf) {
    let (imcl, ready, go, done) = waiting_script(env);
    let mut cmd = env.command();
    cmd.arg("guard")
        .args(["--rollback", "never", "--", "sh"])
        .arg(&imcl)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let guard_process = cmd.spawn().unwrap();
    read_line(&ready);
    (guard_process, go, done)
}

#[test]
fn a_dropped_connection_does_not_stop_the_update() {
    let env = Env::new(Shape::Admin);
    let (guard_process, go, done) = start_waiting_guard(&env);
    let mut guard_process = guard_process;
    // The SSH session drops: the terminal's SIGHUP reaches the guard.
    crate::common::signal(guard_process.id(), rustix::process::Signal::HUP);
    let status = env.run(&["guard", "--status", "--json"]).ok().json();
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["command_running"], true, "{status}");
    let log = PathBuf::from(status["state"]["log"].as_str().unwrap());
    write_line(&go);
    read_line(&done);
    let code = guard_process.wait().unwrap().code();
    assert_eq!(code, Some(0), "the guard survives SIGHUP and finishes");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("before the connection dropped"), "{text}");
    assert!(text.contains("after the connection dropped"), "{text}");
    let status = env.run(&["guard", "--status", "--json"]).ok().json();
    assert_eq!(status["state"]["report"]["verdict"], "succeeded");
}

#[test]
fn a_killed_guard_leaves_the_command_running_and_says_so() {
    let env = Env::new(Shape::Admin);
    let (guard_process, go, done) = start_waiting_guard(&env);
    let mut guard_process = guard_process;
    guard_process.kill().unwrap();
    guard_process.wait().unwrap();
    let next = env.run(&["snapshots"]).ok();
    assert!(
        next.stderr.contains("still running but its guard is gone"),
        "{}",
        next.stderr
    );
    write_line(&go);
    read_line(&done);
    let status = env.run(&["guard", "--status", "--json"]).ok().json();
    let log = std::fs::read_to_string(status["state"]["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("after the connection dropped"),
        "the command finished: {log}"
    );
}

/// Before the maintenance command prints its first line, the guard has said what it is about
/// to do: the pre-maintenance snapshot taken, the command, where its output goes, and what
/// happens on failure.
#[test]
fn guard_tells_its_plan_before_the_command_runs() {
    let env = Env::new(Shape::Admin);
    let imcl = common::fix_pack_script(&env);
    let out = guard(&env, &["--label", "CF220"], &imcl);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let first_output = out
        .stdout
        .find("installing CF220")
        .expect("the command's output");
    let plan = &out.stdout[..first_output];
    let pre = labels(&env);
    assert_eq!(pre[0], "pre-maintenance: CF220");
    let pre_id = env.run(&["snapshots", "--json"]).ok().json()["snapshots"][0]["id"]
        .as_str()
        .unwrap()[..8]
        .to_owned();
    for part in [
        format!("pre-maintenance snapshot {pre_id} saved"),
        format!("running: sh {}", imcl.display()),
        format!("{}", env.path("state").join("guard").display()),
        "on failure (--rollback never)".to_owned(),
    ] {
        assert!(
            plan.contains(&part),
            "no {part:?} before the command's output:\n{plan}"
        );
    }
}

/// Asked whether to roll back, the administrator sees what the failed maintenance changed: IM's
/// records (the offerings' new versions) and how many files of each role.
#[test]
fn the_rollback_question_lists_what_the_maintenance_changed() {
    let env = Env::new(Shape::Admin);
    let upgrade = common::fix_pack_script(&env);
    let failing = common::script(
        &env,
        "imcl-half",
        &format!(
            "sh '{}'\necho 'CRIMA1217E failed' >&2\nexit 1",
            upgrade.display()
        ),
    );
    let mut cmd = env.command();
    cmd.args(["guard", "--rollback", "ask", "--", "sh"])
        .arg(&failing)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(21), "{stderr}");
    assert!(
        stderr.contains("the maintenance failed (exit 1)"),
        "{stderr}"
    );
    let records = stderr
        .split("IM's records:")
        .nth(1)
        .and_then(|rest| rest.split("files:").next())
        .unwrap_or_default();
    assert!(
        records.lines().filter(|l| !l.trim().is_empty()).count() >= 1
            && records.contains("9.0.5.18"),
        "IM's changes are not listed: {stderr}"
    );
    let files = stderr.split("files:").nth(1).unwrap_or_default();
    assert!(
        files.contains("product: ") && files.contains("changed"),
        "no file counts per role: {stderr}"
    );
    assert!(
        stderr.contains("roll the whole set back to the pre-maintenance snapshot"),
        "{stderr}"
    );
}
