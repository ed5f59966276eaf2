//! `lockstep doctor`: IM's records against what is on disk, on the live host.

use serde::Serialize;

use super::{Ctx, print_json};
use lockstep::Result;
use lockstep::ops::doctor::{DoctorReport, Severity, doctor};

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    errors: usize,
    instances: &'a [DoctorReport],
}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<i32> {
    let host = ctx.host()?;
    let reports = doctor(
        &host,
        &ctx.discover_options(),
        ctx.global.instance.as_deref(),
    )?;
    let errors: usize = reports.iter().map(|r| r.count(Severity::Error)).sum();
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            errors,
            instances: &reports,
        })?;
    } else if reports.is_empty() {
        println!("no IBM Installation Manager found on this host: nothing to check");
    } else {
        for (n, r) in reports.iter().enumerate() {
            if n > 0 {
                println!();
            }
            print_report(r);
        }
    }
    Ok(i32::from(errors > 0))
}

fn print_report(r: &DoctorReport) {
    let c = &r.checked;
    let checked = format!(
        "{} IM record{}, {} package group{}, {} version file{} checked",
        c.records,
        plural(c.records),
        c.package_groups,
        plural(c.package_groups),
        c.version_files,
        plural(c.version_files)
    );
    if r.findings.is_empty() {
        println!("instance {}: clean ({checked})", r.instance);
        return;
    }
    let (e, w, i) = (
        r.count(Severity::Error),
        r.count(Severity::Warning),
        r.count(Severity::Info),
    );
    println!(
        "instance {}: {e} error{}, {w} warning{}, {i} note{} ({checked})",
        r.instance,
        plural(e),
        plural(w),
        plural(i)
    );
    for f in &r.findings {
        println!(
            "  {:<7} {}: {}",
            f.severity.as_str().to_uppercase(),
            f.path.display(),
            f.what
        );
        println!("          do: {}", f.todo);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
