//! `lockstep copy`: copy snapshots the remote lacks to the remote.

use super::{Ctx, short};
use lockstep::Result;
use lockstep::ops::copy::CopyReport;

/// Arguments of `copy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Snapshots to copy (id prefixes or `latest`); every lockstep snapshot when none is given.
    snapshots: Vec<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let report = ctx.copy_to_remote(&args.snapshots)?;
    super::render(ctx, &report, print_report)?;
    Ok(0)
}

/// The human summary of a copy.
pub fn print_report(r: &CopyReport) {
    for s in &r.snapshots {
        println!(
            "  {} {}  {}  {}  {}",
            if s.copied { "copied " } else { "present" },
            short(&s.id),
            s.time,
            s.host,
            s.set.as_deref().unwrap_or("-")
        );
    }
    println!(
        "copied {} snapshot{} to {} ({} already there)",
        r.copied,
        if r.copied == 1 { "" } else { "s" },
        r.to,
        r.already_present
    );
}
