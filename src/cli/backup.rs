//! `lockstep backup`: the whole sync set as one snapshot.

use serde::Serialize;

use super::{Ctx, bytes, print_json};
use crate::Result;
use crate::backup::{BackupOutcome, BackupRequest, backup};

/// Arguments of `backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A label for the snapshot (e.g. "before CF220").
    #[arg(long)]
    label: Option<String>,
}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    #[serde(flatten)]
    outcome: &'a BackupOutcome,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let host = ctx.host()?;
    let instance = ctx.instance()?;
    let repo = ctx.open_repo()?;
    let outcome = backup(
        repo,
        &BackupRequest {
            host: &host,
            instance: &instance,
            set_name: instance.name.clone(),
            host_name: ctx.host_name(),
            label: args.label.clone(),
        },
    )?;
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            outcome: &outcome,
        })?;
    } else {
        print_outcome(&outcome, instance.set.members.len());
    }
    Ok(0)
}

/// The human summary of a backup.
pub fn print_outcome(o: &BackupOutcome, members: usize) {
    println!(
        "snapshot {} saved: set {} of {}, {members} members",
        short(&o.snapshot),
        o.set,
        o.host
    );
    println!(
        "  files: {} new, {} changed, {} unchanged ({} in the set)",
        o.files_new,
        o.files_changed,
        o.files_unmodified,
        bytes(o.bytes_total)
    );
    println!(
        "  added to the repository: {} ({} stored) in {:.1}s{}",
        bytes(o.bytes_added),
        bytes(o.bytes_stored),
        o.seconds,
        o.parent
            .as_ref()
            .map(|p| format!(", compared with {}", short(p)))
            .unwrap_or_default()
    );
}

/// The first 8 characters of a snapshot id, as restic shows them.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
