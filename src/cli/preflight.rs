//! `lockstep preflight`: the checks a backup runs first, without backing up.

use serde::Serialize;

use super::backup::BackupPolicy;
use super::{Ctx, bytes, print_json};
use lockstep::Result;
use lockstep::error::EXIT_REFUSED;
use lockstep::ops::preflight::{PreflightReport, preflight};
use lockstep::repo::set_snapshots;

/// Arguments of `preflight`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: BackupPolicy,
}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    instance: &'a str,
    ok: bool,
    #[serde(flatten)]
    report: &'a PreflightReport,
}

/// Exit 0 when a backup may proceed, 3 when it would be refused.
pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let host = ctx.host()?;
    let instance = ctx.instance()?;
    let mut opts = ctx.preflight_options(&args.policy)?;
    // Whether the next backup is incremental decides the space estimate; without a readable
    // repository assume a first backup.
    // A set name the backup would refuse is refused here too, not taken for a first backup.
    let set = ctx.set_for(&instance, None)?;
    opts.incremental = ctx.open_repo().ok().is_some_and(|repo| {
        set_snapshots(&repo, Some(&set), Some(&ctx.host_name())).is_ok_and(|s| !s.is_empty())
    });
    let report = preflight(&host, &instance, &opts);
    let code = if report.ok() { 0 } else { EXIT_REFUSED };
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            instance: &instance.name,
            ok: report.ok(),
            report: &report,
        })?;
        return Ok(code);
    }
    println!(
        "{}: instance {}",
        if report.ok() {
            "backup may proceed"
        } else {
            "backup would be REFUSED"
        },
        instance.name
    );
    println!(
        "  IM processes ({} rule): {}",
        report.process_rule,
        if report.im_processes.is_empty() {
            "none".to_owned()
        } else {
            report
                .im_processes
                .iter()
                .map(|p| format!("pid {} ({})", p.pid, p.command))
                .collect::<Vec<_>>()
                .join("; ")
        }
    );
    println!(
        "  product servers: {}",
        if report.servers_running.is_empty() {
            "none running (offline backup)".to_owned()
        } else {
            report
                .servers_running
                .iter()
                .map(|s| format!("{} pid {}", s.name, s.pid))
                .collect::<Vec<_>>()
                .join(", ")
                + " running (online backup)"
        }
    );
    for p in &report.stale_pid_files {
        println!("  stale pid file (process gone): {}", p.display());
    }
    match &report.space {
        Some(s) => println!(
            "  free space: {} in {} (needs about {})",
            bytes(s.available),
            s.path.display(),
            bytes(s.needed)
        ),
        None => println!("  free space: not checked (the repository is not a local directory)"),
    }
    for r in &report.refusals {
        println!("  REFUSED: {r}");
    }
    for w in &report.warnings {
        println!("  note: {w}");
    }
    Ok(code)
}
