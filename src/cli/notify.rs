//! Notifications: once `backup`, `guard`, `drill`, `check`, `copy`, `forget`, `prune` or
//! `status` has ended, the configuration's `[notify]` commands for how it ended run
//! (`on-failure`, `on-success`, `on-drift`), with the hooks' environment and the command's JSON
//! document on stdin — the document `--json` prints: its report, or the error document of a
//! command that failed. A text run keeps its document for them ([`Ctx::keep_document`]).
//!
//! The event: an error is a failure; exit 0 is a success; `status` finding drift is drift;
//! any other exit code (`check` found damage, a drill failed, `status` found no snapshot) is a
//! failure. A notification that fails is a warning on stderr, never the command's failure.

use std::time::Duration;

use lockstep::Result;
use lockstep::ops::hooks::{Event, NOTIFY_TIMEOUT, notify};

use super::Ctx;

/// Runs the `[notify]` commands for how `command` ended with `result`; one warning on stderr
/// for each that failed.
pub fn after(ctx: &Ctx, command: &str, result: &Result<i32>) {
    let config = &ctx.config.notify;
    if !config.is_set() {
        return;
    }
    let (event, exit_code, document) = classify(command, result, super::take_document());
    let commands = match event {
        Event::Failure => &config.on_failure,
        Event::Success => &config.on_success,
        Event::Drift => &config.on_drift,
    };
    if commands.is_empty() {
        return;
    }
    let fields: serde_json::Value = serde_json::from_str(&document).unwrap_or_default();
    let field = |name: &str| fields.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let mut env = vec![
        ("LOCKSTEP_COMMAND", command.to_owned()),
        ("LOCKSTEP_EXIT_CODE", exit_code.to_string()),
        (
            "LOCKSTEP_HOST",
            field("host").unwrap_or_else(|| ctx.host_name()),
        ),
        ("LOCKSTEP_ROOT", ctx.root_shown()),
    ];
    // The set: the report's, else the live host's (not worth a discovery on success)
    if let Some(set) =
        field("set").or_else(|| (event == Event::Failure).then(|| ctx.live_set()).flatten())
    {
        env.push(("LOCKSTEP_SET", set));
    }
    if let Some(snapshot) = field("snapshot") {
        env.push(("LOCKSTEP_SNAPSHOT", snapshot));
    }
    let timeout = config.timeout.map_or(NOTIFY_TIMEOUT, Duration::from_secs);
    for line in notify(commands, event, document.as_bytes(), &env, timeout) {
        eprintln!("lockstep: warning: {line}");
    }
}

/// The event, the exit code and the document for how `command` ended. `kept` is the document
/// the command printed or kept; without one (a text run that keeps none), a minimal one.
fn classify(command: &str, result: &Result<i32>, kept: Option<String>) -> (Event, i32, String) {
    let minimal = |exit_code: i32| {
        serde_json::json!({
            "schema_version": 1,
            "ok": exit_code == 0,
            "command": command,
            "exit_code": exit_code,
        })
        .to_string()
    };
    match result {
        Err(e) => {
            let doc = serde_json::to_string_pretty(&e.document(command))
                .unwrap_or_else(|_| minimal(e.exit_code()));
            (Event::Failure, e.exit_code(), doc)
        }
        Ok(code) => {
            let doc = kept.unwrap_or_else(|| minimal(*code));
            let drift = command == "status"
                && serde_json::from_str::<serde_json::Value>(&doc)
                    .is_ok_and(|d| d["verdict"] == "drift");
            let event = match code {
                0 => Event::Success,
                _ if drift => Event::Drift,
                _ => Event::Failure,
            };
            (event, *code, doc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep::Error;

    #[test]
    fn how_a_command_ended_decides_the_event() {
        let (event, code, doc) = classify("backup", &Err(Error::Repo("store down".into())), None);
        assert_eq!((event, code), (Event::Failure, 1));
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc["kind"], "repository");
        assert_eq!(doc["message"], "store down");

        let report = r#"{"schema_version": 1, "snapshot": "ab"}"#.to_owned();
        let (event, _, doc) = classify("backup", &Ok(0), Some(report.clone()));
        assert_eq!((event, doc), (Event::Success, report));

        let drift = r#"{"schema_version": 1, "verdict": "drift"}"#.to_owned();
        assert_eq!(classify("status", &Ok(1), Some(drift)).0, Event::Drift);
        let none = r#"{"schema_version": 1, "verdict": "no-snapshot"}"#.to_owned();
        assert_eq!(classify("status", &Ok(1), Some(none)).0, Event::Failure);
        let (event, code, doc) = classify("check", &Ok(1), None);
        assert_eq!((event, code), (Event::Failure, 1));
        assert!(doc.contains("\"exit_code\":1"), "{doc}");
    }
}
