//! JSON everywhere: every command that reports prints ONE document with `schema_version`
//! under `--json`, and a reader that goes away early (`| head`) does not make lockstep panic.

use std::process::Stdio;

use crate::common::Env;
use lockstep_sample::{SampleOptions, Shape};

#[track_caller]
fn document(env: &Env, args: &[&str]) -> serde_json::Value {
    let run = env.run(args);
    assert!(
        run.code == 0 || run.code == 1,
        "{args:?} exited {}: {}",
        run.code,
        run.stderr
    );
    let doc = run.json();
    assert!(
        doc["schema_version"].as_u64().is_some_and(|v| v >= 1),
        "{args:?} has no schema_version: {doc}"
    );
    doc
}

#[test]
fn every_reporting_command_prints_one_document_with_a_schema_version() {
    let env = Env::bare(SampleOptions::default());
    let target = env.path("restored");
    let target = target.to_str().unwrap();
    let mut docs = vec![document(&env, &["init", "--json"])];
    for args in [
        &["discover", "--json"][..],
        &["preflight", "--json"],
        &["backup", "--json"],
        &["backup", "--json", "--label", "second"],
        &["snapshots", "--json"],
        &["status", "--json"],
        &["diff", "latest", "--json"],
        &["doctor", "--json"],
        &["restore", "latest", "--target", target, "--json"],
        &["check", "--json"],
        &["check", "--read-data-subset", "50%", "--json"],
        &["drill", "--json"],
        &["forget", "--keep-last", "5", "--dry-run", "--json"],
        &["forget", "--keep-last", "5", "--json"],
        &["prune", "--dry-run", "--json"],
        &["prune", "--json"],
        &["restore", "latest", "--dry-run", "--json"],
        &["restore", "latest", "--in-place", "--json"],
        &["recover", "--json"],
        &["guard", "--status", "--json"],
        &["guard", "--rollback", "never", "--json", "--", "true"],
    ] {
        docs.push(document(&env, args));
    }
    let snapshots = document(&env, &["snapshots", "--json"]);
    let first = snapshots["snapshots"][0]["id"].as_str().unwrap().to_owned();
    let second = snapshots["snapshots"][1]["id"].as_str().unwrap().to_owned();
    docs.push(document(&env, &["diff", &first, &second, "--json"]));
    assert!(docs.iter().all(serde_json::Value::is_object));

    // Commands without a report refuse --json instead of printing something else.
    for args in [
        &["demo", "--json"][..],
        &["completions", "bash", "--json"],
        &["man", "--json"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("no JSON output"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn a_closed_stdout_does_not_make_lockstep_panic() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    for (args, code) in [
        // JSON is written in one piece at the end: the command's own exit code stands.
        (&["snapshots", "--json"][..], 0),
        // Text is printed line by line: lockstep stops quietly, as a program ended by SIGPIPE.
        (&["snapshots"], 141),
    ] {
        let mut child = env
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before lockstep writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    }
}
