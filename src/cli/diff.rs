//! `lockstep diff`: what changed between two snapshots, or between a snapshot and the live host.

use super::Ctx;
use super::short;
use super::status::{age, print_files};
use lockstep::Result;
use lockstep::ops::status::{SnapshotRef, diff_live, diff_snapshots};
use lockstep::repo::SetSnapshot;

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The earlier snapshot: an id (prefix) or `latest` (of this host's set).
    from: String,
    /// The later snapshot; without it, the live host.
    to: Option<String>,
    /// Also list the paths of the entries added, changed and removed.
    #[arg(long, short)]
    verbose: bool,
    /// For `latest`: the set (default: the set of the IM instance on this host; on a host
    /// without IM, the one set `--host` has snapshots of).
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    super::restore::snapshot_id(&args.from)?;
    if let Some(to) = &args.to {
        super::restore::snapshot_id(to)?;
    }
    let repo = ctx.open_repo()?;
    let find =
        |id: &str| -> Result<SetSnapshot> { ctx.find_snapshot(&repo, id, args.set.as_deref()) };
    let from = find(&args.from)?;
    let mut diff = match &args.to {
        Some(to) => {
            let to = find(to)?;
            diff_snapshots(repo, &from, &to)?
        }
        None => {
            let host = ctx.host()?;
            let instance = ctx.instance()?;
            diff_live(repo, &from, (&host, &ctx.config.excludes), &instance)?
        }
    };
    if !args.verbose {
        diff.files = diff.files.without_paths();
    }
    if ctx.global.json {
        super::print_versioned(&diff)?;
        return Ok(0);
    }
    println!(
        "from {}  to {}",
        describe(&diff.from),
        diff.to
            .as_ref()
            .map_or_else(|| "the live host".to_owned(), describe)
    );
    if diff.inventory_diff.is_empty() {
        println!("IM's records: no change");
    } else {
        println!("IM's records: {}", diff.inventory_diff.headline());
        for line in diff.inventory_diff.lines() {
            println!("  {line}");
        }
    }
    println!("files:");
    print_files(&diff.files, "  ");
    Ok(0)
}

fn describe(s: &SnapshotRef) -> String {
    let label = if s.label.is_empty() {
        String::new()
    } else {
        format!(", \"{}\"", s.label)
    };
    format!("{} ({}{label}; {})", short(&s.id), age(s), s.summary)
}
