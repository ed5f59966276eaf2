//! Fault-suite rows: retention, hooks, metrics, drills on a failing machine, and `guard` beside
//! its parents, signals and a guard that died.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{Env, run};
use crate::harness::{Area, Fault, SmallFs, State, one_line};
use lockstep_sample::{SampleOptions, Shape};

pub fn rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "forget_with_only_zero_rules_is_refused",
            area: Area::Usage,
            fault: "`forget --keep-last 0` (or `--keep-within 0d`, or a `[forget]` table of zeros)",
            outcome: "Exit 2: a rule of zero keeps nothing and is no rule (as in restic), so a \
                      policy of zeros alone is refused; no snapshot is removed.",
            test: forget_with_only_zero_rules_is_refused,
        },
        Fault {
            id: "failure_hooks_run_when_the_repository_is_missing",
            area: Area::Operations,
            fault: "`backup` with `on-failure` and `finally` hooks, and no repository at the \
                    configured place",
            outcome: "Exit 1, one line saying to run `lockstep init`; the `on-failure` and \
                      `finally` hooks still run (a server a hook stopped is started again).",
            test: failure_hooks_run_when_the_repository_is_missing,
        },
        Fault {
            id: "failure_hooks_run_on_a_wrong_password",
            area: Area::Operations,
            fault: "`backup` with `on-failure` and `finally` hooks and a wrong password",
            outcome: "Exit 1, one line naming the wrong password; `on-failure` and `finally` \
                      run; the repository is unchanged.",
            test: failure_hooks_run_on_a_wrong_password,
        },
        Fault {
            id: "unwritable_metrics_file_after_a_backup",
            area: Area::Operations,
            fault: "`--metrics-file` in a directory that cannot be written, on a backup that \
                    succeeds",
            outcome: "Exit 0 with one warning line: the snapshot is saved and safe, only the \
                      metrics are missing.",
            test: unwritable_metrics_file_after_a_backup,
        },
        Fault {
            id: "notification_commands_fail_or_hang",
            area: Area::Operations,
            fault: "A `[notify]` command fails, cannot be found or hangs (a mail relay or a \
                    webhook that is down)",
            outcome: "One warning line per command on stderr naming the event and the program \
                      (not its arguments, which may carry a token) and what it said; a hung one \
                      is stopped with its children after `timeout` (default 60 s). The \
                      command's own exit code, output and snapshot stand.",
            test: notification_commands_fail_or_hang,
        },
        Fault {
            id: "drill_scratch_without_room",
            area: Area::Machine,
            fault: "`drill` whose scratch filesystem has less room than the snapshot holds",
            outcome: "Exit 1 before restoring anything: one line naming the filesystem, what \
                      is needed and `--scratch`; no drill result is recorded, so the snapshot \
                      is not marked FAILED.",
            test: drill_scratch_without_room,
        },
        Fault {
            id: "drill_scratch_fills_up",
            area: Area::Machine,
            fault: "`drill` whose scratch filesystem runs out of inodes during the restore",
            outcome: "Exit 1, one line saying the scratch filesystem is full and that this says \
                      nothing about the snapshot; no result is recorded and the scratch copy is \
                      removed.",
            test: drill_scratch_fills_up,
        },
        Fault {
            id: "guard_under_a_parent_naming_im",
            area: Area::Operations,
            fault: "`guard` started through a parent whose command line names IM's paths \
                    (`sh -c 'lockstep guard -- …/eclipse/tools/imcl …'`, `timeout`, `sudo`)",
            outcome: "The guard runs: lockstep's own ancestors are never taken for a running IM.",
            test: guard_under_a_parent_naming_im,
        },
        Fault {
            id: "guard_stopped_by_sigterm_rolls_back",
            area: Area::Operations,
            fault: "SIGTERM to `guard --rollback auto` while the fix pack runs (a shutdown)",
            outcome: "The command's process group is stopped, the set is rolled back to the \
                      pre-maintenance snapshot and the guard exits 20 with a report naming the \
                      signal.",
            test: guard_stopped_by_sigterm_rolls_back,
        },
        Fault {
            id: "guard_stopped_by_sigterm_reports_what_it_left",
            area: Area::Operations,
            fault: "SIGTERM to `guard --rollback never` while the fix pack runs",
            outcome: "The command's process group is stopped; exit 21 with a report that names \
                      the signal, says the host is as the command left it and which `lockstep \
                      restore` returns it.",
            test: guard_stopped_by_sigterm_reports_what_it_left,
        },
        Fault {
            id: "guard_status_of_a_dead_guard",
            area: Area::Operations,
            fault: "`guard --status` when the recorded guard died, or its pid now belongs to \
                    another process",
            outcome: "INTERRUPTED, never RUNNING; `running` is false in the JSON.",
            test: guard_status_of_a_dead_guard,
        },
    ]
}

/// A host with two snapshots.
fn backed_up_twice() -> Env {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    env.backup(&["--label", "second"]);
    env
}

fn forget_with_only_zero_rules_is_refused() {
    let env = backed_up_twice();
    let before = State::of(&env);
    for args in [
        &["forget", "--keep-last", "0"][..],
        &["forget", "--keep-within", "0d"],
        &["forget", "--keep-daily", "0", "--keep-within", "0h"],
    ] {
        one_line(&env.run(args), 2, &["keeps anything"]);
        before.assert_unchanged(&env);
    }
    std::fs::write(env.path("lockstep.toml"), "[forget]\nkeep-last = 0\n").unwrap();
    one_line(&env.run(&["forget"]), 2, &["keeps anything"]);
    before.assert_unchanged(&env);
    assert_eq!(env.snapshot_count(), 2);
}

/// `backup` with hooks that leave a mark, returning the run and the two marks.
fn backup_with_marking_hooks(env: &Env) -> (crate::common::Run, PathBuf, PathBuf) {
    let (failed, finally) = (env.path("on-failure-ran"), env.path("finally-ran"));
    let run = env.run(&[
        "backup",
        "--on-failure",
        &format!("touch '{}'", failed.display()),
        "--finally",
        &format!("touch '{}'", finally.display()),
    ]);
    (run, failed, finally)
}

fn failure_hooks_run_when_the_repository_is_missing() {
    let env = Env::bare(SampleOptions::default());
    let before = State::of(&env);
    let (run, failed, finally) = backup_with_marking_hooks(&env);
    one_line(&run, 1, &["lockstep init"]);
    assert!(failed.exists(), "on-failure did not run");
    assert!(finally.exists(), "finally did not run");
    before.assert_unchanged(&env);
}

fn failure_hooks_run_on_a_wrong_password() {
    let env = Env::new(Shape::Admin);
    std::fs::write(env.path("password"), "not-the-password\n").unwrap();
    let before = State::of(&env);
    let (run, failed, finally) = backup_with_marking_hooks(&env);
    one_line(&run, 1, &["wrong password"]);
    assert!(failed.exists(), "on-failure did not run");
    assert!(finally.exists(), "finally did not run");
    before.assert_unchanged(&env);
}

fn unwritable_metrics_file_after_a_backup() {
    let env = Env::new(Shape::Admin);
    // a directory that cannot be created: its parent is a file
    std::fs::write(env.path("not-a-dir"), "").unwrap();
    let metrics = env.path("not-a-dir/metrics.prom");
    let run = env.run(&["--metrics-file", metrics.to_str().unwrap(), "backup"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].starts_with("lockstep: warning:") && warnings[0].contains("metrics"),
        "{}",
        run.stderr
    );
    crate::harness::no_internals(&run.stderr);
    assert!(run.stdout.contains("saved"), "{}", run.stdout);
    assert_eq!(env.snapshot_count(), 1);
}

fn notification_commands_fail_or_hang() {
    let env = Env::new(Shape::Admin);
    std::fs::write(
        env.path("lockstep.toml"),
        "[notify]\ntimeout = 1\non-success = ['mailx -s done --token=s3cr3t root; echo relay down >&2; exit 4', \
         'no-such-notifier', 'sleep 60 & sleep 60']\non-failure = 'exit 9'\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let run = env.run(&["backup", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        start.elapsed().as_secs() < 30,
        "the hung notification was not stopped"
    );
    run.json();
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 3, "{}", run.stderr);
    assert!(
        warnings
            .iter()
            .all(|w| w.starts_with("lockstep: warning: the [notify] on-success command"))
    );
    assert!(
        warnings[0].contains("`mailx …` exited 4: relay down"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains("`no-such-notifier …` exited 127"),
        "{}",
        warnings[1]
    );
    assert!(warnings[2].contains("stopped after 1s"), "{}", warnings[2]);
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
    crate::harness::no_internals(&run.stderr);
    assert_eq!(env.snapshot_count(), 1);
    // a failing on-failure notification leaves the failure's one line and exit code
    std::fs::write(env.path("password"), "wrong\n").unwrap();
    let run = env.run(&["backup"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
    assert!(
        run.stderr
            .lines()
            .next()
            .unwrap()
            .contains("wrong password"),
        "{}",
        run.stderr
    );
}

/// The drill's exit, line and the proof that nothing was recorded against the snapshot.
#[track_caller]
fn drill_fails_on_the_machine(env: &Env, scratch: &Path, needles: &[&str]) {
    let before = State::of(env);
    let run = env.run(&["drill", "latest", "--scratch", scratch.to_str().unwrap()]);
    let line = one_line(&run, 1, needles);
    assert!(
        line.contains("nothing was") && line.contains("recorded"),
        "{line}"
    );
    assert!(!line.contains("FAILED"), "{line}");
    before.assert_unchanged(env);
    let listed = env.run(&["snapshots", "--json"]).ok().json();
    let drill = &listed["snapshots"][0]["drill"];
    assert!(
        drill.get("last").is_none_or(serde_json::Value::is_null),
        "a drill result was recorded: {drill}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(scratch)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".lockstep-drill-")
        })
        .collect();
    assert!(leftovers.is_empty(), "scratch copy left behind");
}

fn drill_scratch_without_room() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let Some(fs) = SmallFs::mount(&env.path("scratch"), "1m") else {
        return;
    };
    drill_fails_on_the_machine(&env, fs.path(), &["--scratch", "free"]);
}

fn drill_scratch_fills_up() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let Some(fs) = SmallFs::mount_with(&env.path("scratch"), "size=256m,nr_inodes=64") else {
        return;
    };
    drill_fails_on_the_machine(&env, fs.path(), &["full", "nothing about the snapshot"]);
}

/// A fake imcl script at `name` with `body`.
fn script(env: &Env, name: &str, body: &str) -> PathBuf {
    let path = env.path(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    path
}

fn guard_under_a_parent_naming_im() {
    let env = Env::new(Shape::Admin);
    let eclipse = env.physical(&format!(
        "{}/eclipse",
        env.host.instances[0].install.as_deref().unwrap()
    ));
    let imcl = script(&env, "imcl-noop", "echo nothing to do");
    let lockstep = env.command().get_program().to_owned();
    // The parent shell's command line names IM's eclipse directory, as a wrapper's would.
    let line = format!(
        "'{}' \"$@\" guard --rollback never -- sh '{}' # {}/tools/imcl install",
        lockstep.to_string_lossy(),
        imcl.display(),
        eclipse.display()
    );
    let cmd = env.command();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let mut wrapped = Command::new("sh");
    wrapped.arg("-c").arg(line).arg("sh").args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let out = run(&mut wrapped);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("succeeded"), "{}", out.stdout);
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A guard around a fix pack that damages IM's records, says it started and then waits for
/// ever; returned once the command runs, with the command's pid.
fn guard_around_a_hanging_fix_pack(env: &Env, rollback: &str) -> (std::process::Child, u32) {
    let ready = env.path("ready");
    mkfifo(&ready);
    let installed = env.physical(&format!(
        "{}/installed.xml",
        env.host.instances[0].agent_data
    ));
    let imcl = script(
        env,
        "imcl-hangs",
        &format!(
            "head -c 200 '{f}' > '{f}.part' && mv '{f}.part' '{f}'\necho started > '{r}'\nwhile :; do sleep 1; done",
            f = installed.display(),
            r = ready.display()
        ),
    );
    let guard = env
        .command()
        .args(["guard", "--json", "--rollback", rollback, "--", "sh"])
        .arg(&imcl)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(std::fs::File::open(&ready).unwrap())
        .read_line(&mut line)
        .unwrap();
    let status = env.run(&["guard", "--status", "--json"]).ok().json();
    assert_eq!(status["running"], true, "{status}");
    let pid = status["state"]["command_pid"].as_u64().unwrap();
    (guard, u32::try_from(pid).unwrap())
}

/// Sends SIGTERM to the guard and returns its report and exit code once it ended.
fn terminate(guard: std::process::Child) -> (i32, serde_json::Value, String) {
    crate::common::signal(guard.id(), rustix::process::Signal::TERM);
    let out = guard.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no report ({e}):\n{stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn guard_stopped_by_sigterm_rolls_back() {
    let env = Env::new(Shape::Admin);
    let members = env.member_paths(&[]);
    let before = crate::common::listing(&env.root(), &members);
    let (guard, command) = guard_around_a_hanging_fix_pack(&env, "auto");
    let (code, report, stderr) = terminate(guard);
    assert_eq!(code, 20, "{report}\n{stderr}");
    assert_eq!(report["verdict"], "rolled-back", "{report}");
    assert!(
        report["problems"][0].as_str().unwrap().contains("SIGTERM"),
        "{report}"
    );
    assert!(
        !lockstep::ops::preflight::alive(command),
        "the command still runs"
    );
    let d = lockstep_sample::listing::diff(
        &before,
        &crate::common::listing(&env.root(), &members),
        lockstep_sample::listing::Ignore {
            owner: !crate::common::is_root(),
        },
    );
    assert!(d.is_empty(), "not rolled back:\n{}", d.join("\n"));
    let status = env.run(&["guard", "--status", "--json"]).ok().json();
    assert_eq!(status["running"], false, "{status}");
}

fn guard_stopped_by_sigterm_reports_what_it_left() {
    let env = Env::new(Shape::Admin);
    let (guard, command) = guard_around_a_hanging_fix_pack(&env, "never");
    let (code, report, stderr) = terminate(guard);
    assert_eq!(code, 21, "{report}\n{stderr}");
    assert_eq!(report["verdict"], "failed-not-rolled-back", "{report}");
    assert!(
        report["problems"][0].as_str().unwrap().contains("SIGTERM"),
        "{report}"
    );
    let pre = report["pre_snapshot"].as_str().unwrap();
    assert!(
        report["host_state"]
            .as_str()
            .unwrap()
            .contains(&format!("lockstep restore --in-place {}", &pre[..8])),
        "{report}"
    );
    assert!(
        !lockstep::ops::preflight::alive(command),
        "the command still runs"
    );
    // the host is as the command left it: IM's records are damaged
    assert_ne!(env.run(&["doctor"]).code, 0);
}

fn guard_status_of_a_dead_guard() {
    let env = Env::new(Shape::Admin);
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let me = std::process::id();
    let state_file = env.path("state").join("guard.json");
    std::fs::create_dir_all(state_file.parent().unwrap()).unwrap();
    // a dead guard; then a guard whose pid a later process (this test) was given
    for (pid, start) in [(dead, None), (me, Some(1_u64))] {
        let state = serde_json::json!({
            "run": "20261205T000000-1",
            "guard_pid": pid,
            "guard_start": start,
            "command_pid": null,
            "command": ["imcl", "install", "x"],
            "started": "2026-12-05T00:00:00Z",
            "log": env.path("state").join("guard/x.log"),
            "set": "x",
            "pre_snapshot": null,
            "phase": "running",
            "report": null
        });
        let mut f = std::fs::File::create(&state_file).unwrap();
        f.write_all(state.to_string().as_bytes()).unwrap();
        let json = env.run(&["guard", "--status", "--json"]).ok().json();
        assert_eq!(json["running"], false, "{json}");
        let text = env.run(&["guard", "--status"]).ok();
        assert!(text.stdout.starts_with("INTERRUPTED"), "{}", text.stdout);
    }
}
