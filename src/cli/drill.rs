//! `lockstep drill`: restore a snapshot into a scratch root, verify it, record the result.

use std::path::PathBuf;

use super::{Ctx, bytes, print_json, short};
use lockstep::ops::drill::{DrillReport, DrillRequest, drill, scratch_parent};
use lockstep::ops::metrics::RunMetrics;
use lockstep::{Error, Result};

/// Arguments of `drill`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot: an id (prefix) or `latest` (of this host's set).
    #[arg(default_value = "latest")]
    snapshot: String,
    /// For `latest`: the set (default: the set of the IM instance on this host; on a host
    /// without IM, the one set `--host` has snapshots of).
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
    /// Create the scratch root inside DIR (default: beside a local repository, else $TMPDIR).
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,
    /// Do not record the result in the repository.
    #[arg(long)]
    no_record: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    super::restore::snapshot_id(&args.snapshot)?;
    let spec = ctx.repo_spec()?;
    let password = ctx.password_source().read(false)?;
    let repo = spec.open(&password)?;
    let snap = ctx.find_snapshot(&repo, &args.snapshot, args.set.as_deref())?;
    drop(repo);
    let report = drill(&DrillRequest {
        spec: &spec,
        password: &password,
        progress: ctx.progress,
        snapshot: &snap,
        scratch_parent: scratch_parent(&spec, args.scratch.as_deref()),
        record: !args.no_record,
    })?;
    let r = &report.result;
    #[allow(clippy::cast_precision_loss)]
    ctx.note_metrics(RunMetrics {
        command: "drill".into(),
        labels: Ctx::set_labels(r.set.as_deref().unwrap_or("-"), &r.host),
        success: r.ok,
        seconds: 0.0,
        values: [
            ("drill_bytes".to_owned(), r.bytes as f64),
            (
                "drill_throughput_bytes_per_second".to_owned(),
                r.throughput_bytes_per_second,
            ),
            ("drill_problems".to_owned(), r.problem_count as f64),
        ]
        .into(),
    });
    if ctx.global.json {
        print_json(&report)?;
    } else {
        // for the [notify] commands: what --json would have printed
        ctx.keep_document(&report);
        print_report(&report);
    }
    if r.ok {
        return Ok(0);
    }
    let first = r.problems.first().cloned().unwrap_or_default();
    Err(Error::Other(format!(
        "drill of snapshot {} FAILED: {first}{}; do not count on this snapshot: run `lockstep check --read-data` to see what is damaged",
        short(&r.snapshot),
        match r.problem_count {
            0 | 1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        }
    )))
}

fn print_report(report: &DrillReport) {
    let r = &report.result;
    println!(
        "drill of snapshot {} (set {}, {}): {}",
        short(&r.snapshot),
        r.set.as_deref().unwrap_or("-"),
        r.host,
        if r.ok { "PASSED" } else { "FAILED" }
    );
    if r.restore_seconds > 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rate = r.throughput_bytes_per_second as u64;
        println!(
            "  restored {} files, {} in {:.1}s ({}/s); verified {} entries in {:.1}s",
            r.files,
            bytes(r.bytes),
            r.restore_seconds,
            bytes(rate),
            r.entries_verified,
            r.verify_seconds
        );
    }
    match r.inventory_ok {
        Some(true) => {
            println!("  IM's records in the restored agent data give the manifest's inventory")
        }
        Some(false) => println!(
            "  IM's records in the restored agent data DIFFER from the manifest's inventory"
        ),
        None => {}
    }
    for p in &r.problems {
        println!("  problem: {p}");
    }
    if r.problem_count > r.problems.len() {
        println!("  … and {} more", r.problem_count - r.problems.len());
    }
    if report.scratch_removed {
        println!("  scratch copy removed ({})", report.scratch.display());
    } else {
        println!(
            "  WARNING: the scratch copy at {} could not be removed completely; remove it by hand",
            report.scratch.display()
        );
    }
    if report.recorded {
        println!("  result recorded in the repository (`lockstep snapshots` shows it)");
    }
}
