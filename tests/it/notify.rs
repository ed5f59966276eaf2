//! Telling someone: the `[notify]` commands run when an unattended command ends, with the
//! command's JSON document on stdin, and `--json` failures are one JSON error document.

use serde_json::Value;

use crate::common::Env;
use lockstep_sample::{Shape, apply_fix_pack};

/// Configures every notification to write its stdin and its environment under `env`'s
/// directory: `<event>.json` and `<event>.env`.
fn notify_to_files(env: &Env) {
    let command = |event: &str| {
        format!(
            "cat > '{dir}/{event}.json'; echo \"$LOCKSTEP_EVENT $LOCKSTEP_COMMAND $LOCKSTEP_EXIT_CODE $LOCKSTEP_HOST $LOCKSTEP_SET $LOCKSTEP_SNAPSHOT\" > '{dir}/{event}.env'",
            dir = env.path("").display()
        )
    };
    std::fs::write(
        env.path("lockstep.toml"),
        format!(
            "[notify]\non-failure = {:?}\non-success = [{:?}]\non-drift = {:?}\n",
            command("failure"),
            command("success"),
            command("drift")
        ),
    )
    .unwrap();
}

/// What the notification of `event` read on stdin (parsed) and its environment line; removes
/// both so the next run starts clean.
fn notified(env: &Env, event: &str) -> Option<(Value, String)> {
    let json = env.path(&format!("{event}.json"));
    let text = std::fs::read_to_string(&json).ok()?;
    let vars = std::fs::read_to_string(env.path(&format!("{event}.env"))).unwrap();
    std::fs::remove_file(json).unwrap();
    std::fs::remove_file(env.path(&format!("{event}.env"))).unwrap();
    let doc = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the notification's stdin is not JSON ({e}): {text}"));
    Some((doc, vars.trim_end().to_owned()))
}

#[test]
fn a_failing_backup_runs_on_failure_with_the_json_error_on_stdin() {
    let env = Env::new(Shape::Admin);
    notify_to_files(&env);
    let shared = env.host.instances[0].shared.clone();
    let kept = env.path("shared-aside");
    std::fs::rename(env.physical(&shared), &kept).unwrap();
    let run = env.run(&["backup"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, "", "a text run prints no document");
    let (doc, vars) = notified(&env, "failure").expect("on-failure did not run");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["command"], "backup");
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["kind"], "refused");
    let message = doc["message"].as_str().unwrap();
    assert!(
        message.contains(&shared) && run.stderr.contains(message),
        "{message}"
    );
    assert!(!doc["todo"].as_str().unwrap().is_empty());
    assert_eq!(vars, "failure backup 3 dx-test admin");
    assert!(notified(&env, "success").is_none(), "on-success ran too");

    // back to normal: on-success reads the backup's report, as `backup --json` prints it
    std::fs::rename(&kept, env.physical(&shared)).unwrap();
    let run = env.run(&["backup"]).ok();
    assert!(run.stdout.contains("saved"), "{}", run.stdout);
    let (doc, vars) = notified(&env, "success").expect("on-success did not run");
    assert_eq!(doc["schema_version"], 1);
    let id = doc["snapshot"].as_str().unwrap();
    assert_eq!(
        env.run(&["snapshots", "--json"]).ok().json()["snapshots"][0]["id"],
        id
    );
    assert_eq!(vars, format!("success backup 0 dx-test admin {id}"));
    assert!(notified(&env, "failure").is_none());
    // `snapshots` is no unattended command: it notifies nobody
    env.run(&["snapshots"]).ok();
    assert!(notified(&env, "success").is_none());

    // status: drift after a fix pack
    apply_fix_pack(&env.host, 0).unwrap();
    let run = env.run(&["status"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let (doc, vars) = notified(&env, "drift").expect("on-drift did not run");
    assert_eq!(doc["verdict"], "drift");
    assert!(vars.starts_with("drift status 1 dx-test admin"), "{vars}");
    assert!(notified(&env, "failure").is_none());
}

#[test]
fn a_failing_notification_is_a_warning_and_the_result_stands() {
    let env = Env::new(Shape::Admin);
    std::fs::write(
        env.path("lockstep.toml"),
        "[notify]\non-success = 'echo unreachable >&2; exit 5'\n",
    )
    .unwrap();
    let run = env.run(&["backup", "--json"]).ok();
    run.json();
    assert!(
        run.stderr
            .contains("warning: the [notify] on-success command `echo …` exited 5: unreachable"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_failures_are_one_error_document_on_stdout() {
    let env = Env::new(Shape::Admin);
    let cases: [(&[&str], i32, &str, &str); 3] = [
        // a safety rule
        (
            &["restore", "latest", "--target", "/", "--json"],
            3,
            "refused",
            "restore",
        ),
        // the command line
        (&["restore", "--json"], 2, "usage", "restore"),
        // the repository
        (&["snapshots", "--json"], 1, "repository", "snapshots"),
    ];
    env.backup(&[]);
    for (args, code, kind, command) in cases {
        let mut cmd = env.command();
        if kind == "repository" {
            std::fs::write(env.path("wrong"), "wrong-password\n").unwrap();
            cmd.env("LOCKSTEP_PASSWORD_FILE", env.path("wrong"));
        }
        let run = crate::common::run(cmd.args(args));
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        let doc = run.json();
        assert_eq!(doc["schema_version"], 1, "{doc}");
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["exit_code"], code);
        assert_eq!(doc["kind"], kind, "{doc}");
        assert_eq!(doc["command"], command);
        assert!(doc["todo"].as_str().is_some_and(|t| !t.is_empty()), "{doc}");
        // the same line as on stderr, which keeps its one line
        let line = run.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{}", run.stderr);
        assert_eq!(
            line.strip_prefix("lockstep: "),
            doc["message"].as_str(),
            "{doc}"
        );
    }
}

#[test]
fn the_failure_unit_reports_a_failed_service_to_the_configured_command() {
    let units = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    for service in ["lockstep-backup.service", "lockstep-drill.service"] {
        let text = std::fs::read_to_string(units.join(service)).unwrap();
        assert!(
            text.contains("\nOnFailure=lockstep-failure@%n.service\n"),
            "{service} starts no failure report"
        );
    }
    let unit = std::fs::read_to_string(units.join("lockstep-failure@.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/bin/sh -c '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("ExecStart=/bin/sh -c '…'");
    // what systemd hands sh: specifiers filled in, `$$` unescaped
    let script = exec
        .replace("%i", "lockstep-backup.service")
        .replace("%H", "dx-test")
        .replace("$$", "$");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env(
            "LOCKSTEP_FAILURE_COMMAND",
            format!("cat > '{}'", report.display()),
        )
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&report).unwrap();
    let host = std::process::Command::new("hostname").output().unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        format!(
            "lockstep-backup.service failed on {}",
            String::from_utf8_lossy(&host.stdout).trim()
        )
    );
}

/// A failed guarded maintenance run as text tells its notification the whole guard report
/// (what `--json` would print), not only the exit code.
#[test]
fn a_failed_guard_passes_its_report_to_on_failure() {
    let env = Env::new(Shape::Admin);
    notify_to_files(&env);
    let failing = crate::common::script(&env, "imcl-fails", "echo CRIMA1217E >&2\nexit 1");
    let run = crate::common::run(
        env.command()
            .args(["guard", "--label", "CF220", "--", "sh"])
            .arg(&failing),
    );
    assert_eq!(run.code, 21, "{}\n{}", run.stdout, run.stderr);
    let (doc, vars) = notified(&env, "failure").expect("on-failure did not run");
    assert_eq!(doc["schema_version"], 1, "{doc}");
    assert_eq!(doc["verdict"], "failed-not-rolled-back", "{doc}");
    assert!(
        doc["pre_snapshot"]
            .as_str()
            .is_some_and(|id| id.len() == 64),
        "{doc}"
    );
    assert!(vars.starts_with("failure guard 21"), "{vars}");
}
