//! `lockstep prune`: reclaim the space of data no snapshot uses any more.

use super::{Ctx, bytes};
use lockstep::Result;
use lockstep::ops::prune::{Deletion, PruneReport, prune};

/// Arguments of `prune`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show what would be marked, repacked and deleted; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Delete unused pack files now instead of marking them for a prune 23h later (also those
    /// marked by earlier prunes): for a full disk. UNSAFE while any backup runs against the
    /// repository, from this host or another: lockstep takes no lock, and a running backup may
    /// reference data this deletes, leaving its snapshot damaged. Stop every backup (timers,
    /// `guard`, other hosts) first.
    #[arg(long)]
    instant_delete: bool,
}

impl Args {
    /// When unused pack files are deleted.
    pub fn deletion(&self) -> Deletion {
        deletion(self.instant_delete)
    }
}

/// `--instant-delete` as the library's [`Deletion`] (`prune` and `forget --prune`).
pub fn deletion(instant_delete: bool) -> Deletion {
    if instant_delete {
        Deletion::Instant
    } else {
        Deletion::TwoPhase
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let report = prune(&repo, args.dry_run, args.deletion())?;
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
    if r.instant_delete {
        println!(
            "  {} {} unused pack files ({}) at once (--instant-delete), those marked by earlier prunes included",
            verb("deleted", "would delete"),
            r.packs_deleted,
            bytes(r.bytes_deleted),
        );
        println!(
            "  {} {} partly used pack files ({}), deleting the old ones now",
            verb("repacked", "would repack"),
            r.packs_repacked,
            bytes(r.bytes_repacked)
        );
    } else {
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
    }
    println!(
        "  unused data left afterwards: {}",
        bytes(r.bytes_unused_after)
    );
    if r.dry_run {
        println!("dry run: nothing was changed");
    }
}
