//! `lockstep repair index|snapshots`: mend a damaged repository (see [`lockstep::ops::repair`]).

use super::{Ctx, render, short};
use lockstep::Result;
use lockstep::ops::repair::{IndexRepair, SnapshotRepair, repair_index, repair_snapshots};

/// Arguments of `repair`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Make the index describe the pack files the repository has: remove lost packs from it,
    /// add packs it lacks, replace index files that cannot be read. Never removes a pack.
    /// Then back up: the backup stores again what the host still has.
    Index(Options),
    /// Rewrite each snapshot whose data is missing without the lost files (tagged `repaired`,
    /// no longer `consistent`) and remove the damaged original; remove snapshot files that
    /// cannot be read. Run `repair index` (and a backup) first.
    Snapshots(Options),
}

#[derive(Debug, clap::Args)]
struct Options {
    /// Say what would change; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
}

impl Args {
    /// Whether the run changes the repository (long work).
    pub fn changes(&self) -> bool {
        match &self.what {
            What::Index(o) | What::Snapshots(o) => !o.dry_run,
        }
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let spec = ctx.repo_spec()?;
    let repo = ctx.open_repo()?;
    match &args.what {
        What::Index(o) => {
            let report = repair_index(&spec, repo, o.dry_run)?;
            render(ctx, &report, print_index)?;
        }
        What::Snapshots(o) => {
            let report = repair_snapshots(&spec, repo, o.dry_run)?;
            render(ctx, &report, print_snapshots)?;
        }
    }
    Ok(0)
}

fn ids(list: &[String]) -> String {
    list.iter()
        .map(|id| short(id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_index(r: &IndexRepair) {
    let done = if r.dry_run {
        "dry run: nothing was changed"
    } else {
        "index repaired"
    };
    let say = |verb: &str| match (r.dry_run, verb) {
        (true, _) => format!("would {verb}"),
        (false, "add") => "added".to_owned(),
        (false, _) => "removed".to_owned(),
    };
    if !r.changes() {
        println!("the index matches the pack files: nothing to repair");
        return;
    }
    if !r.lost_packs.is_empty() {
        println!(
            "{} {} lost pack file{} from the index ({} blobs are missing now): {}",
            say("remove"),
            r.lost_packs.len(),
            plural(r.lost_packs.len()),
            r.lost_blobs,
            ids(&r.lost_packs)
        );
    }
    if !r.resized_packs.is_empty() {
        println!(
            "{} the headers of {} pack file{} whose size changed: {}",
            if r.dry_run { "would read" } else { "read" },
            r.resized_packs.len(),
            plural(r.resized_packs.len()),
            ids(&r.resized_packs)
        );
    }
    if !r.damaged_index_files.is_empty() {
        println!(
            "{} {} unreadable index file{} and read their packs again: {}",
            say("remove"),
            r.damaged_index_files.len(),
            plural(r.damaged_index_files.len()),
            ids(&r.damaged_index_files)
        );
    }
    if !r.unindexed_packs.is_empty() {
        println!(
            "{} {} pack file{} no index listed",
            say("add"),
            r.unindexed_packs.len(),
            plural(r.unindexed_packs.len())
        );
    }
    if !r.hit_snapshots.is_empty() {
        println!(
            "snapshots that use missing data: {}",
            r.hit_snapshots
                .iter()
                .map(|h| short(&h.id))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for w in &r.reopened {
            println!(
                "  snapshot {} saved again as {} without its unchanged-set mark, so the next backup reads the set",
                short(&w.from),
                short(&w.to)
            );
        }
        println!(
            "  next: back up (it stores again what the host still has, which mends these too), then `lockstep check`; `lockstep repair snapshots` rewrites what stays damaged"
        );
    }
    println!("{done}");
}

fn print_snapshots(r: &SnapshotRepair) {
    if r.damaged.is_empty() && r.unreadable.is_empty() {
        println!("every snapshot is whole: nothing to repair");
        return;
    }
    let would = if r.dry_run { "would " } else { "" };
    for h in &r.damaged {
        match r.rewritten.iter().find(|w| w.from == h.id) {
            Some(w) => println!(
                "snapshot {} ({} {}): rewritten without its lost files as {}, original removed",
                short(&h.id),
                h.host,
                h.set.as_deref().unwrap_or("-"),
                short(&w.to)
            ),
            None if r.dry_run => println!(
                "snapshot {} ({} {}): would be rewritten without its lost files (tagged repaired, no longer consistent), and the original removed",
                short(&h.id),
                h.host,
                h.set.as_deref().unwrap_or("-")
            ),
            None => println!(
                "snapshot {} ({} {}): nothing of it was left; removed",
                short(&h.id),
                h.host,
                h.set.as_deref().unwrap_or("-")
            ),
        }
    }
    if r.drill_records_removed > 0 {
        println!(
            "{would}remove {} drill record{} of damaged snapshots",
            r.drill_records_removed,
            plural(r.drill_records_removed)
        );
    }
    for d in &r.unreadable {
        println!(
            "snapshot file {} cannot be read ({}): {}",
            d.id,
            d.problem,
            if r.dry_run {
                "would be removed"
            } else {
                "removed"
            }
        );
    }
    if r.dry_run {
        println!("dry run: nothing was changed");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
