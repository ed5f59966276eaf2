//! Hooks: commands run around a backup (`stopServer.sh` before, `startServer.sh` after …), and
//! notifications: commands told how an unattended command ended ([`notify`]).
//!
//! Four phases, as rustic has them: `before` (a failure aborts the backup), `after` (only after
//! a successful backup), `on-failure` (when the command is going to fail, for whatever reason)
//! and `finally` (always, last). Each hook runs through `sh -c` in its own process group, with
//! stdin from /dev/null, its output captured, and a timeout after which the whole group is
//! killed. The environment carries `LOCKSTEP_PHASE`, `LOCKSTEP_SET`, `LOCKSTEP_HOST`,
//! `LOCKSTEP_ROOT` and, after a backup, `LOCKSTEP_SNAPSHOT`.
//!
//! Notifications (`[notify]`: `on-failure`, `on-success`, `on-drift`) run the same way, once the
//! command has ended, with the same environment plus `LOCKSTEP_EVENT`, `LOCKSTEP_COMMAND` and
//! `LOCKSTEP_EXIT_CODE`, and the command's JSON document (its report, or the error document)
//! on stdin instead of /dev/null. A notification never changes the command's exit code.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::repo::manifest::{HookPhase, HookReport};
use crate::util::sys::Signal;

/// Default time a hook may run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Default time a notification command may run.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of a hook's output kept in reports.
const TAIL_LINES: usize = 20;

/// The hooks of each phase, and their timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooks {
    /// `before` commands.
    pub before: Vec<String>,
    /// `after` commands.
    pub after: Vec<String>,
    /// `on-failure` commands.
    pub on_failure: Vec<String>,
    /// `finally` commands.
    pub finally: Vec<String>,
    /// Time each command may run.
    pub timeout: Duration,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            before: Vec::new(),
            after: Vec::new(),
            on_failure: Vec::new(),
            finally: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Runs the `on-failure` hooks, then the `finally` hooks: what a command that failed before its
/// hooks' envelope began (no repository, a wrong password) still owes them.
pub fn run_failure_phases(hooks: &Hooks, env: &[(&str, String)]) -> Vec<HookReport> {
    let mut out = run_phase(hooks, HookPhase::OnFailure, env);
    out.extend(run_phase(hooks, HookPhase::Finally, env));
    out
}

/// Runs the hooks of `phase` in order; stops at the first failure of a `before` hook (the
/// others phases run every hook). `env` is added to each hook's environment.
#[must_use]
pub fn run_phase(hooks: &Hooks, phase: HookPhase, env: &[(&str, String)]) -> Vec<HookReport> {
    let commands = match phase {
        HookPhase::Before => &hooks.before,
        HookPhase::After => &hooks.after,
        HookPhase::OnFailure => &hooks.on_failure,
        HookPhase::Finally => &hooks.finally,
    };
    let mut out = Vec::new();
    for command in commands {
        let outcome = run_one(phase, command, hooks.timeout, env);
        let stop = phase == HookPhase::Before && !outcome.ok();
        out.push(outcome);
        if stop {
            break;
        }
    }
    out
}

/// Runs one hook `command` with `sh -c` in a process group of its own (so a timeout stops its
/// children too), with `env` and `LOCKSTEP_PHASE` set and stdin from /dev/null; the outcome
/// keeps the tail of its output.
fn run_one(
    phase: HookPhase,
    command: &str,
    timeout: Duration,
    env: &[(&str, String)],
) -> HookReport {
    let start = Instant::now();
    let mut env = env.to_vec();
    env.push(("LOCKSTEP_PHASE", phase.as_str().to_owned()));
    let ran = run_shell(command, timeout, &env, None);
    HookReport {
        phase,
        command: command.to_owned(),
        exit_code: ran.exit_code,
        timed_out: ran.timed_out,
        seconds: start.elapsed().as_secs_f64(),
        output: ran.output,
    }
}

/// How a command run by [`run_shell`] ended.
struct Ran {
    /// Its exit code; `None` when it timed out, died of a signal or could not start.
    exit_code: Option<i32>,
    /// It was killed after its time.
    timed_out: bool,
    /// The tail of its output (stdout, then stderr), or why it could not start.
    output: String,
}

/// Runs `command` with `sh -c` in a process group of its own (so a timeout stops its children
/// too), with `env`, stdin from `input` (or /dev/null), its output captured, killed after
/// `timeout`.
fn run_shell(
    command: &str,
    timeout: Duration,
    env: &[(&str, String)],
    input: Option<Vec<u8>>,
) -> Ran {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ran {
                exit_code: None,
                timed_out: false,
                output: format!("cannot start sh: {e}"),
            };
        }
    };
    // Written from a thread of its own: a command that does not read its stdin must not block
    // lockstep (it only costs the write an EPIPE).
    let writer = child.stdin.take().zip(input).map(|(mut stdin, input)| {
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        })
    });
    let readers = read_output(&mut child);
    let (status, timed_out) = wait_or_kill(child, timeout);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ran {
        exit_code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        timed_out,
        output: tail(readers),
    }
}

/// How a notified command ended: which `[notify]` commands run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// It failed (`on-failure`).
    Failure,
    /// It succeeded (`on-success`).
    Success,
    /// `status` found the live host out of step with its latest snapshot (`on-drift`).
    Drift,
}

impl Event {
    /// The event's name, as `LOCKSTEP_EVENT` carries it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Success => "success",
            Self::Drift => "drift",
        }
    }

    /// The configuration key of its commands.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::Failure => "on-failure",
            Self::Success => "on-success",
            Self::Drift => "on-drift",
        }
    }
}

/// Runs the notification `commands` of `event` one after the other, each as a hook runs (see
/// the module documentation) with `env` and `LOCKSTEP_EVENT`, the JSON `document` on stdin.
/// Returns one line for each command that did not succeed, for a warning; a notification
/// never fails the command it reports on. The lines name a command by its first word only: a
/// notification's command line may carry a webhook's token.
#[must_use]
pub fn notify(
    commands: &[String],
    event: Event,
    document: &[u8],
    env: &[(&str, String)],
    timeout: Duration,
) -> Vec<String> {
    let mut env = env.to_vec();
    env.push(("LOCKSTEP_EVENT", event.as_str().to_owned()));
    let mut failed = Vec::new();
    for command in commands {
        let ran = run_shell(command, timeout, &env, Some(document.to_vec()));
        let how = if ran.timed_out {
            format!("was stopped after {}s", timeout.as_secs())
        } else {
            match ran.exit_code {
                Some(0) => continue,
                Some(code) => format!("exited {code}"),
                None => "did not run to its end".to_owned(),
            }
        };
        let said = ran
            .output
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        let program = command.split_whitespace().next().unwrap_or_default();
        failed.push(format!(
            "the [notify] {} command `{program} …` {how}{said}; the command's own result stands",
            event.key()
        ));
    }
    failed
}

/// Reads the hook's stdout and stderr, each in a thread of its own, so a chatty hook cannot
/// block on a full pipe.
fn read_output(child: &mut std::process::Child) -> Vec<std::thread::JoinHandle<Vec<u8>>> {
    [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    })
    .collect()
}

/// Waits for the hook up to `timeout`; past it, its process group is asked to stop, killed
/// after 5 seconds more, and killed again once the hook is gone, as its children may still
/// hold the pipes open. Returns its exit status (when it could be read) and whether it timed
/// out.
fn wait_or_kill(
    mut child: std::process::Child,
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, bool) {
    let pgid = child.id();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(());
        status
    });
    let timed_out = rx.recv_timeout(timeout).is_err();
    if timed_out {
        kill_group(pgid, Signal::TERM);
        if rx.recv_timeout(Duration::from_secs(5)).is_err() {
            kill_group(pgid, Signal::KILL);
        }
    }
    let status = waiter.join().ok().and_then(Result::ok);
    if timed_out {
        // Children of the hook may still hold the pipes open.
        kill_group(pgid, Signal::KILL);
    }
    (status, timed_out)
}

/// The last [`TAIL_LINES`] lines of the hook's output, stdout then stderr.
fn tail(readers: Vec<std::thread::JoinHandle<Vec<u8>>>) -> String {
    let mut output = Vec::new();
    for r in readers {
        if let Ok(buf) = r.join() {
            output.extend(buf);
        }
    }
    let text = String::from_utf8_lossy(&output);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Signals a process group we created; failure (already gone) is harmless.
fn kill_group(pgid: u32, signal: Signal) {
    crate::util::sys::signal_group(pgid, signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(before: &[&str]) -> Hooks {
        Hooks {
            before: before.iter().map(|s| (*s).to_owned()).collect(),
            timeout: Duration::from_secs(2),
            ..Hooks::default()
        }
    }

    #[test]
    fn captures_output_and_environment() {
        let out = run_phase(
            &hooks(&["echo hello $LOCKSTEP_PHASE $LOCKSTEP_SET; echo oops >&2"]),
            HookPhase::Before,
            &[("LOCKSTEP_SET", "admin".into())],
        );
        assert_eq!(out.len(), 1);
        assert!(out[0].ok());
        assert!(out[0].output.contains("hello before admin"));
        assert!(out[0].output.contains("oops"));
    }

    #[test]
    fn a_failing_before_hook_stops_the_phase() {
        let out = run_phase(
            &hooks(&["echo no; exit 4", "echo never"]),
            HookPhase::Before,
            &[],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].exit_code, Some(4));
        assert!(
            out[0].describe().contains("exited 4: no"),
            "{}",
            out[0].describe()
        );
    }

    #[test]
    fn a_notification_reads_the_document_on_stdin_with_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got");
        let failed = notify(
            &[format!(
                "{{ echo \"$LOCKSTEP_EVENT $LOCKSTEP_HOST\"; cat; }} > '{}'",
                out.display()
            )],
            Event::Failure,
            b"{\"ok\": false}",
            &[("LOCKSTEP_HOST", "dx1".into())],
            Duration::from_secs(5),
        );
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "failure dx1\n{\"ok\": false}"
        );
    }

    #[test]
    fn a_failing_notification_is_one_line_without_its_arguments() {
        let failed = notify(
            &[
                "webhook-x --token s3cr3t; echo down >&2; exit 7".into(),
                "true".into(),
                "sleep 30".into(),
            ],
            Event::Success,
            b"{}",
            &[],
            Duration::from_millis(300),
        );
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(
            failed[0].contains("on-success")
                && failed[0].contains("`webhook-x …` exited 7: down")
                && !failed[0].contains("s3cr3t"),
            "{}",
            failed[0]
        );
        assert!(failed[1].contains("stopped after"), "{}", failed[1]);
    }

    #[test]
    fn a_hook_that_hangs_is_killed_with_its_children() {
        let mut h = hooks(&[]);
        h.finally = vec!["sleep 600 & sleep 600".into()];
        h.timeout = Duration::from_millis(300);
        let start = Instant::now();
        let out = run_phase(&h, HookPhase::Finally, &[]);
        assert!(out[0].timed_out);
        assert!(!out[0].ok());
        assert!(start.elapsed() < Duration::from_secs(30));
    }
}
