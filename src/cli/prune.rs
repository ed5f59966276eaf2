//! `lockstep prune`: reclaim the space of data no snapshot uses any more.

use super::{Ctx, bytes};
use lockstep::Result;
use lockstep::ops::prune::{PruneReport, prune};

/// Arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show what would be marked, repacked and deleted; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let report = prune(&repo, args.dry_run)?;
    if args.dry_run {
        ctx.skip_metrics();
    } else {
        ctx.note_prune_metrics(&report, 0.0);
    }
    super::render(ctx, &report, print_report)?;
    Ok(0)
}

/// The human summary of a prune.
pub fn print_report(r: &PruneReport) {
    let verb = |now: &'static str, later: &'static str| if r.dry_run { later } else { now };
    println!(
        "repository data: {}, of which {} unused by any snapshot",
        bytes(r.bytes_total),
        bytes(r.bytes_unused)
    );
    println!(
        "  {} {} unused pack files ({}) for deletion; they are deleted by a prune 23h or more from now",
        verb("marked", "would mark"),
        r.packs_marked + r.packs_unindexed,
        bytes(r.bytes_marked)
    );
    println!(
        "  {} {} partly used pack files ({})",
        verb("repacked", "would repack"),
        r.packs_repacked,
        bytes(r.bytes_repacked)
    );
    println!(
        "  {} {} pack files marked by an earlier prune ({}); {} still waiting",
        verb("deleted", "would delete"),
        r.packs_deleted,
        bytes(r.bytes_deleted),
        r.packs_waiting
    );
    println!(
        "  unused data left afterwards: {}",
        bytes(r.bytes_unused_after)
    );
    if r.dry_run {
        println!("dry run: nothing was changed");
    }
}
