//! `lockstep guard -- COMMAND…`: snapshot, run the maintenance detached, verify, roll back.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::{Ctx, short};
use lockstep::ops::guard::{
    Failure, GuardReport, GuardRequest, GuardStart, GuardState, Rollback, attach, guard,
};
use lockstep::{Error, Result};

/// Arguments of `guard`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: the command's own status when it succeeded and the host verified; 20 when it failed
and the whole set was rolled back to the pre-maintenance snapshot; 21 when it failed and the host
was left as it is; 22 when it exited 0 but verification failed and the host was left as it is;
3 when preflight refused (nothing was run).")]
pub struct Args {
    /// Free text for the snapshots' labels (e.g. "CF220").
    #[arg(long, default_value = "")]
    label: String,
    /// On failure: restore the pre-maintenance snapshot (auto), ask (default on a terminal), or
    /// only report (default otherwise).
    #[arg(long, value_enum)]
    rollback: Option<Rollback>,
    /// Fail verification when IM's inventory did not change.
    #[arg(long)]
    expect_change: bool,
    /// Allow running product servers (an online maintenance).
    #[arg(long)]
    online: bool,
    /// The set the snapshots belong to (default: the configuration's `set`, else the IM
    /// instance's name).
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
    /// Follow the output of the guarded command that is running now.
    #[arg(long, conflicts_with_all = ["status", "command"])]
    attach: bool,
    /// Show the guarded run in progress (or the last one) and its log.
    #[arg(long, conflicts_with = "command")]
    status: bool,
    /// The maintenance command and its arguments (after --).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Writes to stdout, ignoring a closed terminal (the guard must outlive a dropped session).
fn emit(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let state = ctx.state()?;
    if args.status || args.attach {
        // A look at a guarded run is not one: the guard itself writes the metrics.
        ctx.skip_metrics();
    }
    if args.status {
        return status(ctx, state.guard_state().as_ref());
    }
    if args.attach {
        let end = attach(&state, &mut |b| emit(b))?;
        if let Some(r) = &end.report {
            print_report(ctx, r)?;
            return Ok(r.exit_code());
        }
        return Ok(0);
    }
    if args.command.is_empty() {
        return Err(Error::Usage(
            "give the maintenance command after --, e.g. lockstep guard --label CF220 -- imcl install …".into(),
        ));
    }
    // A dropped terminal must not stop the guard half-way: it keeps going, quietly.
    lockstep::util::sys::ignore_hangup();
    lockstep::util::sys::ignore_broken_pipe();
    let host = ctx.host()?;
    let instance = ctx.instance()?;
    let interactive = std::io::stdin().is_terminal();
    let rollback = args.rollback.unwrap_or(if interactive {
        Rollback::Ask
    } else {
        Rollback::Never
    });
    let req = GuardRequest {
        host: &host,
        instance: &instance,
        discover: ctx.discover_options(),
        host_name: ctx.host_name(),
        set_name: ctx.set_for(&instance, args.set.as_deref())?,
        label: args.label.clone(),
        rollback,
        expect_change: args.expect_change,
        online: args.online,
        command: args.command.clone(),
        state: &state,
    };
    let json = ctx.global.json;
    let report = guard(
        &|| ctx.open_repo(),
        &req,
        &mut |start| {
            // Before the command's first line: with --json, stdout is the report's alone.
            let text = start_text(start);
            if json {
                eprint!("{text}");
            } else {
                emit(text.as_bytes());
            }
        },
        &mut |b| {
            if !json {
                emit(b);
            }
        },
        &mut |failure| {
            eprint!("{}", failure_text(failure));
            eprint!(
                "roll the whole set back to the pre-maintenance snapshot {}? [y/N] ",
                short(failure.pre_snapshot)
            );
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).is_ok()
                && matches!(answer.trim(), "y" | "Y" | "yes")
        },
    )?;
    ctx.note_guard_metrics(&report);
    print_report(ctx, &report)?;
    Ok(report.exit_code())
}

/// What the guard is about to do, in lines, told before the command starts.
fn start_text(start: &GuardStart) -> String {
    let on_failure = match start.rollback {
        Rollback::Auto => format!(
            "the whole set is rolled back to {} at once",
            short(&start.pre_snapshot)
        ),
        Rollback::Ask => format!(
            "you are asked whether to roll the whole set back to {}",
            short(&start.pre_snapshot)
        ),
        Rollback::Never => format!(
            "the host is left as the command leaves it (`lockstep restore --in-place {}` rolls it back)",
            short(&start.pre_snapshot)
        ),
    };
    format!(
        "lockstep guard: pre-maintenance snapshot {} saved\n  running: {}\n  its output: here and in {}\n  on failure ({}): {on_failure}\n",
        short(&start.pre_snapshot),
        start.command.join(" "),
        start.log.display(),
        match start.rollback {
            Rollback::Auto => "--rollback auto",
            Rollback::Ask => "--rollback ask",
            Rollback::Never => "--rollback never",
        },
    )
}

/// What a failed maintenance changed since the pre-maintenance snapshot, for the question
/// whether to roll back: IM's records (offerings, fixes) and the files of each role.
fn failure_text(f: &Failure<'_>) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "lockstep: the maintenance failed ({}){}",
        f.exit_code
            .map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit {c}")),
        if f.problems.is_empty() {
            String::new()
        } else {
            format!(": {}", f.problems.join("; "))
        }
    );
    let _ = writeln!(
        text,
        "since the pre-maintenance snapshot {}:",
        short(f.pre_snapshot)
    );
    let lines = f.inventory_diff.lines();
    if let Err(e) = &f.records {
        let _ = writeln!(text, "  IM's records changed and no longer read back: {e}");
    } else if lines.is_empty() {
        let _ = writeln!(text, "  IM's records: unchanged");
    } else {
        let _ = writeln!(text, "  IM's records:");
        for line in lines {
            let _ = writeln!(text, "    {line}");
        }
    }
    match &f.files {
        Ok(files) if files.is_empty() => {
            let _ = writeln!(text, "  files: unchanged");
        }
        Ok(files) => {
            let _ = writeln!(text, "  files:");
            for (role, c) in files.roles.iter().filter(|(_, c)| c.total() > 0) {
                let _ = writeln!(
                    text,
                    "    {role}: {} added, {} changed, {} removed",
                    c.added, c.changed, c.removed
                );
            }
        }
        Err(e) => {
            let _ = writeln!(text, "  files: not compared ({e})");
        }
    }
    text
}

fn print_report(ctx: &Ctx, r: &GuardReport) -> Result<()> {
    if ctx.global.json {
        return super::print_versioned(r);
    }
    // for the [notify] commands: what --json would have printed
    if let Ok(serde_json::Value::Object(mut doc)) = serde_json::to_value(r) {
        doc.insert("schema_version".into(), 1.into());
        ctx.keep_document(&doc);
    }
    let mut text = String::new();
    text.push_str(&format!("\nlockstep guard: {}\n", r.verdict));
    for p in &r.problems {
        text.push_str(&format!("  problem: {p}\n"));
    }
    for c in &r.inventory_changes {
        text.push_str(&format!("  changed: {c}\n"));
    }
    text.push_str(&format!(
        "  pre-maintenance snapshot: {}\n",
        short(&r.pre_snapshot)
    ));
    if let Some(p) = &r.post_snapshot {
        text.push_str(&format!("  post-maintenance snapshot: {}\n", short(p)));
    }
    text.push_str(&format!("  log: {}\n", r.log.display()));
    text.push_str(&format!("  {}\n", r.host_state));
    emit(text.as_bytes());
    Ok(())
}

fn status(ctx: &Ctx, state: Option<&GuardState>) -> Result<i32> {
    #[derive(Serialize)]
    struct Status<'a> {
        running: bool,
        command_running: bool,
        state: Option<&'a GuardState>,
    }
    // RUNNING only while the guard itself runs: a command left without its guard is not a
    // guarded maintenance any more, and says so.
    let (running, command_running) = match state {
        Some(s) => (
            s.phase != "finished" && s.guard_alive(),
            s.phase != "finished" && s.command_alive(),
        ),
        None => (false, false),
    };
    if ctx.global.json {
        super::print_versioned(&Status {
            running,
            command_running,
            state,
        })?;
        return Ok(0);
    }
    match state {
        None => println!("no guarded maintenance recorded"),
        Some(s) => {
            let what = if running {
                "RUNNING"
            } else if command_running {
                "GUARD GONE, COMMAND STILL RUNNING"
            } else if s.phase == "finished" {
                "finished"
            } else {
                "INTERRUPTED"
            };
            println!("{what}: {} (phase {})", s.command.join(" "), s.phase);
            println!(
                "  since {}, guard pid {}, command pid {}",
                s.started,
                s.guard_pid,
                s.command_pid.map_or("-".to_owned(), |p| p.to_string())
            );
            println!("  log: {}", s.log.display());
            if let Some(p) = &s.pre_snapshot {
                println!("  pre-maintenance snapshot: {}", short(p));
            }
            if let Some(r) = &s.report {
                println!("  result: {} — {}", r.verdict, r.host_state);
            }
        }
    }
    Ok(0)
}
