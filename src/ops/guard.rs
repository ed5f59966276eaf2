//! The maintenance guard: `lockstep guard -- imcl install …`.
//!
//! 1. Preflight and a consistent **pre-maintenance snapshot** of the whole set (label
//!    `pre-maintenance: …`).
//! 2. The command runs **detached**: its own session, SIGHUP ignored, stdin from /dev/null, its
//!    output going to a log file in the state directory. lockstep streams that log to the terminal
//!    but ignores SIGHUP too, so a dropped SSH connection kills neither the update nor the guard.
//!    A state file (`guard.json`) records the run for `guard --status`, `guard --attach` and any
//!    later lockstep invocation.
//! 3. Verification: IM's records parse, `doctor` finds no error, the inventory changed when that
//!    was expected, and the command succeeded. Then a **post-maintenance snapshot**.
//! 4. On failure: roll the whole set back to the pre-maintenance snapshot in place (auto), ask, or
//!    only report — always saying which state the host is in and which snapshot restores it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::host::root::HostRoot;
use crate::host::set::Role;
use crate::host::state::{StateDir, write_json};
use crate::im::discover::{DiscoverOptions, Instance, discover, select};
use crate::im::drift::InventoryDiff;
use crate::ops::backup::{BackupRequest, backup};
use crate::ops::doctor::doctor;
use crate::ops::restore::{InPlace, preflight_in_place_live, restore_in_place, units};
use crate::repo::{OpenRepo, find_snapshot};
use crate::util::sys::{Gate, Signal, signal_group};
use crate::{Error, Result};

/// Exit code: the command or the verification failed and the set was rolled back.
pub const EXIT_ROLLED_BACK: i32 = 20;
/// Exit code: the command failed and the host was left as it is.
pub const EXIT_NOT_ROLLED_BACK: i32 = 21;
/// Exit code: the command succeeded but verification failed; the host was left as it is.
pub const EXIT_VERIFICATION_FAILED: i32 = 22;

/// What to do when maintenance fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Rollback {
    /// Restore the pre-maintenance snapshot in place.
    Auto,
    /// Show what changed and ask (the default on a terminal).
    Ask,
    /// Only report (the default without a terminal).
    Never,
}

/// A guarded maintenance run.
pub struct GuardRequest<'a> {
    /// The host.
    pub host: &'a HostRoot,
    /// The instance whose set is guarded.
    pub instance: &'a Instance,
    /// How it was discovered.
    pub discover: DiscoverOptions,
    /// The host name recorded in snapshots.
    pub host_name: String,
    /// The set the snapshots belong to (the configuration's `set`, else the instance's name).
    pub set_name: String,
    /// Free text for the snapshots' labels.
    pub label: String,
    /// The failure policy.
    pub rollback: Rollback,
    /// The inventory must change (an install that changed nothing is suspicious).
    pub expect_change: bool,
    /// Allow running product servers.
    pub online: bool,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// lockstep's state directory.
    pub state: &'a StateDir,
}

/// The state file of the latest guard run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardState {
    /// The run's id.
    pub run: String,
    /// The guard's pid.
    pub guard_pid: u32,
    /// When the guard's process started (see [`crate::ops::preflight::start_time`]), so a pid
    /// reused after the guard died is not taken for it.
    #[serde(default)]
    pub guard_start: Option<u64>,
    /// The command's pid (once started).
    pub command_pid: Option<u32>,
    /// When the command's process started.
    #[serde(default)]
    pub command_start: Option<u64>,
    /// The command line.
    pub command: Vec<String>,
    /// When it started (RFC 3339).
    pub started: String,
    /// The log file.
    pub log: PathBuf,
    /// The set.
    pub set: String,
    /// The pre-maintenance snapshot.
    pub pre_snapshot: Option<String>,
    /// `snapshotting`, `running`, `stopping` (a signal asked the guard to stop), `verifying`,
    /// `rolling-back` or `finished`.
    pub phase: String,
    /// The final report, once finished.
    pub report: Option<GuardReport>,
}

/// How a guarded run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardReport {
    /// `succeeded`, `rolled-back`, `failed-not-rolled-back` or `verification-failed`.
    pub verdict: String,
    /// The command's exit code (`None` when killed by a signal).
    pub exit_code: Option<i32>,
    /// The pre-maintenance snapshot.
    pub pre_snapshot: String,
    /// The post-maintenance snapshot, after success.
    pub post_snapshot: Option<String>,
    /// What verification found wrong.
    pub problems: Vec<String>,
    /// What changed in IM's records during the maintenance.
    pub inventory_changes: Vec<String>,
    /// The command's log.
    pub log: PathBuf,
    /// One sentence on the state of the host and what to do.
    pub host_state: String,
}

impl GuardState {
    /// Whether the guard of this run still runs.
    #[must_use]
    pub fn guard_alive(&self) -> bool {
        self.guard_pid != std::process::id()
            && crate::ops::preflight::alive_since(self.guard_pid, self.guard_start)
    }

    /// Whether the guarded command still runs.
    #[must_use]
    pub fn command_alive(&self) -> bool {
        self.command_pid
            .is_some_and(|pid| crate::ops::preflight::alive_since(pid, self.command_start))
    }
}

impl GuardReport {
    /// The process exit code for this outcome.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self.verdict.as_str() {
            "succeeded" => self.exit_code.unwrap_or(0),
            "rolled-back" => EXIT_ROLLED_BACK,
            "verification-failed" => EXIT_VERIFICATION_FAILED,
            _ => EXIT_NOT_ROLLED_BACK,
        }
    }
}

impl StateDir {
    /// The guard's state file.
    #[must_use]
    pub fn guard_file(&self) -> PathBuf {
        self.path().join("guard.json")
    }

    /// The latest guard run, if any.
    #[must_use]
    pub fn guard_state(&self) -> Option<GuardState> {
        let text = std::fs::read_to_string(self.guard_file()).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// What the guard is about to do, told before the maintenance command starts.
#[derive(Debug, Clone, Serialize)]
pub struct GuardStart {
    /// The pre-maintenance snapshot (taken).
    pub pre_snapshot: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Where the command's output goes.
    pub log: PathBuf,
    /// What happens when the maintenance fails.
    pub rollback: Rollback,
}

/// What a failed maintenance changed, for the administrator deciding on a rollback (`ask`).
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    /// The pre-maintenance snapshot a rollback restores.
    pub pre_snapshot: &'a str,
    /// The command's exit code (`None`: killed by a signal).
    pub exit_code: Option<i32>,
    /// What verification found wrong.
    pub problems: &'a [String],
    /// What changed in IM's records since the pre-maintenance snapshot.
    pub inventory_diff: &'a InventoryDiff,
    /// Why IM's records could not be read after the command, if they could not (the
    /// inventory's changes are then unknown).
    pub records: std::result::Result<(), String>,
    /// What changed in the set's files since then, by role (`None` when it could not be
    /// compared; the error says why).
    pub files: std::result::Result<crate::ops::compare::FileChanges, String>,
}

/// Runs `req.command` under the guard. `open` opens the repository (it is opened several times),
/// `started` is told what the guard is about to do once the pre-maintenance snapshot is taken
/// and before the command starts, `out` receives the command's output as it arrives, `ask`
/// decides on a rollback in `Ask` mode.
///
/// The steps share the run's state file through [`Run`]; each writes it at the moment the
/// phase changes, so `guard --status` and `guard --attach` always see where the run is.
///
/// # Errors
/// Refused by preflight or the pre-maintenance snapshot (the command did not run); otherwise the
/// outcome is in the report, whatever the command did.
pub fn guard(
    open: &dyn Fn() -> Result<OpenRepo>,
    req: &GuardRequest<'_>,
    started: &mut dyn FnMut(&GuardStart),
    out: &mut dyn FnMut(&[u8]),
    ask: &mut dyn FnMut(&Failure<'_>) -> bool,
) -> Result<GuardReport> {
    if req.command.is_empty() {
        return Err(Error::Usage(
            "give the maintenance command after --, e.g. lockstep guard -- imcl install …".into(),
        ));
    }
    let mut run = Run::start(req)?;
    // A shutdown (SIGTERM) or an interrupt (SIGINT) must not leave a half-installed fix pack
    // behind a guard that vanished: they are noted here, and the guard stops the command and
    // ends as it would after a failed command.
    let stop = Stop::register()?;

    // 1. The pre-maintenance snapshot (preflight runs inside the backup).
    let pre = run.pre_snapshot(open, &stop)?;
    started(&GuardStart {
        pre_snapshot: pre.clone(),
        command: req.command.clone(),
        log: run.state.log.clone(),
        rollback: req.rollback,
    });
    // 2. The command, detached.
    let mut child = run.spawn(&pre)?;
    let (status, stopping) = run.watch(&mut child, &stop, out)?;
    // 3. Verification.
    run.set_phase("verifying")?;
    let check = verify(req, status.code(), stopping);
    let mut report = GuardReport {
        verdict: String::new(),
        exit_code: status.code(),
        pre_snapshot: pre.clone(),
        post_snapshot: None,
        problems: check.problems.clone(),
        inventory_changes: check.inventory_diff.lines(),
        log: run.state.log.clone(),
        host_state: String::new(),
    };
    if check.problems.is_empty() {
        post_snapshot(open, req, check.after?, &pre, &mut report)?;
    } else {
        // 4. On failure: roll back, ask, or only report.
        run.fail(open, &check, ask, &pre, &mut report)?;
    }
    run.state.phase = "finished".into();
    run.state.report = Some(report.clone());
    write_json(&req.state.guard_file(), &run.state)?;
    Ok(report)
}

/// What changed in the set's files since the pre-maintenance snapshot `pre`, by role.
fn changed_files(
    open: &dyn Fn() -> Result<OpenRepo>,
    req: &GuardRequest<'_>,
    pre: &str,
) -> Result<crate::ops::compare::FileChanges> {
    let repo = open()?;
    let snap = crate::repo::find_snapshot(&repo, pre, None, None)?;
    // The guard's snapshots are taken without excludes.
    Ok(crate::ops::status::diff_live(repo, &snap, (req.host, &[]), req.instance)?.files)
}

/// One guarded run: the request and the state file's contents, which the steps update as the
/// run moves from phase to phase.
struct Run<'r, 'a> {
    req: &'r GuardRequest<'a>,
    state: GuardState,
}

/// What verification found after the command ended.
struct Check {
    /// What is wrong; empty when the maintenance succeeded.
    problems: Vec<String>,
    /// The instance as IM's records now describe it.
    after: Result<Instance>,
    /// What changed in IM's records since the pre-maintenance snapshot.
    inventory_diff: InventoryDiff,
}

impl<'r, 'a> Run<'r, 'a> {
    /// Names the run and writes its state file (phase `snapshotting`) before anything else, so
    /// any other lockstep invocation sees a guard at work from the first moment.
    fn start(req: &'r GuardRequest<'a>) -> Result<Self> {
        let run = format!(
            "{}-{}",
            rustic_core::jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S"),
            std::process::id()
        );
        let log = req.state.path().join("guard").join(format!("{run}.log"));
        let state = GuardState {
            run: run.clone(),
            guard_pid: std::process::id(),
            guard_start: crate::ops::preflight::start_time(std::process::id()),
            command_pid: None,
            command_start: None,
            command: req.command.clone(),
            started: rustic_core::jiff::Timestamp::now().to_string(),
            log,
            set: req.set_name.clone(),
            pre_snapshot: None,
            phase: "snapshotting".into(),
            report: None,
        };
        write_json(&req.state.guard_file(), &state)?;
        Ok(Self { req, state })
    }

    /// Sets the run's phase and writes the state file.
    fn set_phase(&mut self, phase: &str) -> Result<()> {
        self.state.phase = phase.into();
        write_json(&self.req.state.guard_file(), &self.state)
    }

    /// Takes the pre-maintenance snapshot and returns its id. When it fails, or a signal arrived
    /// meanwhile, the state file is removed (the command never ran, there is nothing to follow)
    /// and the error says the command was not run.
    fn pre_snapshot(&mut self, open: &dyn Fn() -> Result<OpenRepo>, stop: &Stop) -> Result<String> {
        let req = self.req;
        let mut pre_req = BackupRequest::new(
            req.host,
            req.instance,
            req.discover.clone(),
            req.host_name.clone(),
        );
        pre_req.set_name.clone_from(&req.set_name);
        pre_req.label = Some(format!("pre-maintenance: {}", req.label));
        pre_req.preflight.offline = !req.online;
        let pre = backup(open()?, &pre_req).map_err(|f| {
            let _ = std::fs::remove_file(req.state.guard_file());
            match f.error {
                Error::Refused(m) => {
                    Error::Refused(format!("{m}; the maintenance command was not run"))
                }
                e => Error::Other(format!(
                    "the pre-maintenance snapshot failed ({e}); the maintenance command was not run"
                )),
            }
        })?;
        self.state.pre_snapshot = Some(pre.snapshot.clone());
        if let Some(signal) = stop.signal() {
            let _ = std::fs::remove_file(req.state.guard_file());
            return Err(Error::Other(format!(
                "{signal} arrived during the pre-maintenance snapshot {}; the maintenance command was not run and the host is unchanged",
                crate::util::report::short(&pre.snapshot)
            )));
        }
        Ok(pre.snapshot)
    }

    /// Starts the command detached (its own session, SIGHUP ignored, stdin from /dev/null, output
    /// to the log), records its pid in the state file (phase `running`), and only then lets it
    /// go on through the gate.
    fn spawn(&mut self, pre: &str) -> Result<std::process::Child> {
        let req = self.req;
        let log = &self.state.log;
        if let Some(dir) = log.parent() {
            crate::host::state::create_private_dir(dir)?;
        }
        // the maintenance command's output is for the administrator only
        let log_file = crate::host::state::private_file(log)
            .map_err(|e| Error::io("cannot create", log, e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| Error::io("cannot open", log, e))?;
        // The command waits (in a tiny sh wrapper, on fd 3) until the state file names it, so
        // `guard --status` never sees a running command the state does not know about.
        let mut gate = Gate::new()
            .map_err(|e| Error::Other(format!("cannot start the maintenance command: {e}")))?;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("read -r _ <&3; exec 3<&-; exec \"$@\"")
            .arg("lockstep-guard")
            .args(&req.command)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .env("LOCKSTEP_PRE_SNAPSHOT", pre);
        // its own session, SIGHUP ignored, the gate on fd 3
        let spawned = gate.spawn_detached(&mut cmd);
        let open_gate = || gate.open();
        let child = spawned.map_err(|e| {
            open_gate();
            Error::Other(format!(
                "cannot start {}: {e}; nothing was changed (pre-maintenance snapshot {})",
                req.command[0],
                crate::util::report::short(pre)
            ))
        })?;
        self.state.command_pid = Some(child.id());
        self.state.command_start = crate::ops::preflight::start_time(child.id());
        let written = self.set_phase("running");
        open_gate();
        written?;
        Ok(child)
    }

    /// Streams the command's log to `out` until the command exits. A SIGTERM or SIGINT to the
    /// guard is passed on to the command's process group (phase `stopping`), which is killed
    /// when it has not stopped after [`STOP_GRACE`]. Returns the command's exit status and the
    /// signal that stopped it, if any.
    fn watch(
        &mut self,
        child: &mut std::process::Child,
        stop: &Stop,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(std::process::ExitStatus, Option<&'static str>)> {
        let command_group = child.id();
        let mut stopping: Option<(&'static str, std::time::Instant)> = None;
        let log = self.state.log.clone();
        let status = follow(&log, out, || {
            if let Some(exited) = child.try_wait().ok().flatten() {
                return Some(exited);
            }
            match (stopping, stop.signal()) {
                (None, Some(signal)) => {
                    // The command runs in a session of its own: its whole process group is asked
                    // to stop, and killed when it has not after a grace period.
                    signal_group(command_group, Signal::TERM);
                    stopping = Some((signal, std::time::Instant::now()));
                    let _ = self.set_phase("stopping");
                }
                (Some((_, since)), _) if since.elapsed() > STOP_GRACE => {
                    signal_group(command_group, Signal::KILL);
                }
                _ => {}
            }
            None
        })?;
        Ok((status, stopping.map(|(signal, _)| signal)))
    }

    /// The maintenance failed: rolls the whole set back (phase `rolling-back`) when the policy
    /// says so or the administrator agrees, else leaves the host as the command left it. Fills
    /// in the report's verdict and the sentence on the host's state.
    fn fail(
        &mut self,
        open: &dyn Fn() -> Result<OpenRepo>,
        check: &Check,
        ask: &mut dyn FnMut(&Failure<'_>) -> bool,
        pre: &str,
        report: &mut GuardReport,
    ) -> Result<()> {
        let roll = match self.req.rollback {
            Rollback::Auto => true,
            Rollback::Never => false,
            Rollback::Ask => ask(&Failure {
                pre_snapshot: pre,
                exit_code: report.exit_code,
                problems: &report.problems,
                inventory_diff: &check.inventory_diff,
                records: check.after.as_ref().map(drop).map_err(ToString::to_string),
                files: changed_files(open, self.req, pre).map_err(|e| e.to_string()),
            }),
        };
        if !roll {
            report.verdict = if report.exit_code == Some(0) {
                "verification-failed".into()
            } else {
                "failed-not-rolled-back".into()
            };
            report.host_state = format!(
                "the host is left as the command left it; to return to the state before the maintenance run `lockstep restore --in-place {}`",
                crate::util::report::short(pre)
            );
            return Ok(());
        }
        self.set_phase("rolling-back")?;
        match roll_back(open, self.req, pre) {
            Ok(()) => {
                report.verdict = "rolled-back".into();
                report.host_state = format!(
                    "the whole set was rolled back to the pre-maintenance snapshot {}; the host is as it was before the maintenance",
                    crate::util::report::short(pre)
                );
            }
            Err(e) => {
                report.verdict = "failed-not-rolled-back".into();
                report.problems.push(format!("the rollback failed: {e}"));
                report.host_state = format!(
                    "the rollback failed and the host is in the state the command left (run `lockstep recover`, then `lockstep restore --in-place {}`)",
                    crate::util::report::short(pre)
                );
            }
        }
        Ok(())
    }
}

/// Checks the host after the command: it was not stopped by a signal and succeeded, IM's records
/// read back, `doctor` finds no error, and the inventory changed when `--expect-change` says it
/// must.
fn verify(req: &GuardRequest<'_>, exit_code: Option<i32>, stopping: Option<&str>) -> Check {
    let mut problems = Vec::new();
    if let Some(signal) = stopping {
        problems.push(format!(
            "lockstep guard received {signal} and stopped the command's process group"
        ));
    }
    match exit_code {
        Some(0) => {}
        Some(c) => problems.push(format!("the command exited with status {c}")),
        None => problems.push("the command was killed by a signal".into()),
    }
    let after = discover(req.host, &req.discover)
        .and_then(|all| select(&all, Some(&req.instance.name)).cloned());
    let inventory_diff = match &after {
        Ok(now) => InventoryDiff::between(&req.instance.inventory, &now.inventory),
        Err(e) => {
            problems.push(format!("IM's records do not read back: {e}"));
            InventoryDiff::default()
        }
    };
    if let Ok(reports) = doctor(req.host, &req.discover, Some(&req.instance.name)) {
        for r in &reports {
            for f in r
                .findings
                .iter()
                .filter(|f| f.severity == crate::ops::doctor::Severity::Error)
            {
                problems.push(format!("doctor: {} ({})", f.what, f.path.display()));
            }
        }
    }
    if req.expect_change && after.is_ok() && inventory_diff.is_empty() {
        problems.push(
            "--expect-change was given but IM's inventory did not change (an install that changes nothing is suspicious)"
                .into(),
        );
    }
    Check {
        problems,
        after,
        inventory_diff,
    }
}

/// The maintenance succeeded and verified: takes the post-maintenance snapshot of the new state
/// `now` and fills in the report's verdict and the sentence on the host's state.
fn post_snapshot(
    open: &dyn Fn() -> Result<OpenRepo>,
    req: &GuardRequest<'_>,
    now: Instance,
    pre: &str,
    report: &mut GuardReport,
) -> Result<()> {
    let mut post_req =
        BackupRequest::new(req.host, &now, req.discover.clone(), req.host_name.clone());
    post_req.set_name.clone_from(&req.set_name);
    post_req.label = Some(format!("post-maintenance: {}", req.label));
    post_req.preflight.allow_missing = Role::ALL.to_vec();
    // The maintenance ran under the guard and verified (IM's records read, doctor found no
    // error): a package group it removed (`imcl uninstall`) is the change the administrator
    // asked for, not damage, and the new state's snapshot records it as accepted.
    post_req.accept_smaller_set = true;
    match backup(open()?, &post_req) {
        Ok(post) => {
            report.post_snapshot = Some(post.snapshot.clone());
            report.verdict = "succeeded".into();
            report.host_state = format!(
                "maintenance succeeded and was verified; the new state is snapshot {} (the old one is {})",
                crate::util::report::short(&post.snapshot),
                crate::util::report::short(pre)
            );
        }
        Err(f) => {
            report.verdict = "verification-failed".into();
            report
                .problems
                .push(format!("the post-maintenance snapshot failed: {}", f.error));
            report.host_state = format!(
                "maintenance succeeded but the new state could not be snapshotted; run `lockstep backup`, or roll back with `lockstep restore --in-place {}`",
                crate::util::report::short(pre)
            );
        }
    }
    Ok(())
}

/// How long the command's process group has to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// SIGTERM and SIGINT, noted while the guard runs instead of ending it (the default action
/// again once the guard returns).
struct Stop {
    signal: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    registered: Vec<signal_hook::SigId>,
}

impl Stop {
    fn register() -> Result<Self> {
        let signal = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut registered = Vec::new();
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            let value = usize::try_from(sig).unwrap_or(usize::MAX);
            registered.push(
                signal_hook::flag::register_usize(sig, std::sync::Arc::clone(&signal), value)
                    .map_err(|e| {
                        Error::Other(format!(
                            "cannot watch for signals: {e}; nothing was changed"
                        ))
                    })?,
            );
        }
        Ok(Self { signal, registered })
    }

    /// The signal that arrived, if any.
    fn signal(&self) -> Option<&'static str> {
        let got = self.signal.load(std::sync::atomic::Ordering::SeqCst);
        [
            (signal_hook::consts::SIGTERM, "SIGTERM"),
            (signal_hook::consts::SIGINT, "SIGINT"),
        ]
        .into_iter()
        .find(|(sig, _)| usize::try_from(*sig).ok() == Some(got))
        .map(|(_, name)| name)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        for id in self.registered.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Restores the pre-maintenance snapshot in place, whole set.
fn roll_back(open: &dyn Fn() -> Result<OpenRepo>, req: &GuardRequest<'_>, pre: &str) -> Result<()> {
    let repo = open()?;
    let snap = find_snapshot(&repo, pre, None, None)?;
    let manifest = snap
        .manifest
        .as_ref()
        .ok_or_else(|| Error::Other("the pre-maintenance snapshot has no manifest".into()))?;
    // The live set too: a server may run from a profile the snapshot does not hold.
    if let Some(first) = preflight_in_place_live(req.host, manifest, Some(req.instance)).first() {
        return Err(Error::Refused(first.clone()));
    }
    let selected = units(manifest, None)?;
    restore_in_place(
        repo,
        &snap,
        &selected,
        &InPlace {
            host: req.host,
            state: req.state,
            set: req.set_name.clone(),
            host_name: req.host_name.clone(),
            this_host: None,
            keep_replaced: false,
            // the guard reports once the rollback is over, clean-up included
            background_cleanup: false,
            dry_run: false,
            full: false,
            // The guard's snapshots are taken without excludes.
            excludes: &[],
        },
    )?;
    Ok(())
}

/// Streams `log` to `out` until `done` reports the command's exit, then drains the rest.
fn follow(
    log: &Path,
    out: &mut dyn FnMut(&[u8]),
    mut done: impl FnMut() -> Option<std::process::ExitStatus>,
) -> Result<std::process::ExitStatus> {
    let mut file = std::fs::File::open(log).map_err(|e| Error::io("cannot read", log, e))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let finished = done();
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::io("cannot read", log, e))?;
            if n == 0 {
                break;
            }
            out(&buf[..n]);
        }
        if let Some(status) = finished {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Follows a running guard's log from the start until its run is finished (`guard --attach`).
///
/// # Errors
/// When no guard run is recorded or its log cannot be read.
pub fn attach(state: &StateDir, out: &mut dyn FnMut(&[u8])) -> Result<GuardState> {
    let Some(first) = state.guard_state() else {
        return Err(Error::Usage(
            "no guarded maintenance is recorded; nothing to attach to".into(),
        ));
    };
    let mut file =
        std::fs::File::open(&first.log).map_err(|e| Error::io("cannot read", &first.log, e))?;
    let _ = file.seek(SeekFrom::Start(0));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let current = state.guard_state();
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Error::io("cannot read", &first.log, e))?;
            if n == 0 {
                break;
            }
            out(&buf[..n]);
        }
        match current {
            Some(s) if s.run == first.run && s.phase != "finished" && s.guard_alive() => {}
            Some(s) => return Ok(s),
            None => return Ok(first),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A note for any lockstep invocation while a guarded command runs (or ran without its guard).
#[must_use]
pub fn notice(state: &StateDir) -> Option<String> {
    let s = state.guard_state()?;
    if s.phase == "finished" {
        return None;
    }
    let command_alive = s.command_alive();
    let guard_alive = s.guard_alive();
    let cmd = s.command.join(" ");
    match (guard_alive, command_alive) {
        (true, _) => Some(format!(
            "a guarded maintenance is in progress since {} ({cmd}, phase {}); follow it with `lockstep guard --attach`",
            s.started, s.phase
        )),
        (false, true) => Some(format!(
            "the guarded command `{cmd}` (pid {}) is still running but its guard is gone; its log is {}. When it ends, check the host with `lockstep doctor` and `lockstep status`; the pre-maintenance snapshot is {}",
            s.command_pid.unwrap_or(0),
            s.log.display(),
            s.pre_snapshot
                .as_deref()
                .map_or("not taken", crate::util::report::short)
        )),
        (false, false) => Some(format!(
            "a guarded maintenance ({cmd}) was interrupted in phase {} and its guard is gone; check the host with `lockstep doctor` and `lockstep status`; the pre-maintenance snapshot is {}",
            s.phase,
            s.pre_snapshot
                .as_deref()
                .map_or("not taken", crate::util::report::short)
        )),
    }
}
