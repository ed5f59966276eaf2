//! `lockstep restore`: a whole snapshot of the set into a scratch root.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Ctx, bytes, print_json, short};
use crate::repo::find_snapshot;
use crate::restore::{RestoreOutcome, restore_to_target};
use crate::{Error, Result};

/// Arguments of `restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot: an id (prefix) or `latest` (of this host's set).
    snapshot: String,
    /// Restore into this empty directory; every member lands at DIR/<its logical path>.
    #[arg(long, value_name = "DIR")]
    target: Option<PathBuf>,
}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    #[serde(flatten)]
    outcome: &'a RestoreOutcome,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let Some(target) = &args.target else {
        return Err(Error::Usage(
            "in-place restore onto the live host is not available yet (it needs the all-or-nothing swap); restore into an empty directory with --target DIR".into(),
        ));
    };
    crate::restore::check_empty_target(target)?;
    let repo = ctx.open_repo()?;
    let set = if args.snapshot == "latest" {
        Some(ctx.instance()?.name)
    } else {
        None
    };
    let host_name = ctx.host_name();
    let snap = find_snapshot(
        &repo,
        &args.snapshot,
        set.as_deref(),
        set.as_ref().map(|_| host_name.as_str()),
    )?;
    let outcome = restore_to_target(repo, &snap, target)?;
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            outcome: &outcome,
        })?;
    } else {
        println!(
            "restored snapshot {} into {}: {} files, {} directories, {} in {:.1}s",
            short(&outcome.snapshot),
            target.display(),
            outcome.files,
            outcome.dirs,
            bytes(outcome.bytes),
            outcome.seconds
        );
        if !outcome.ownership_restored {
            println!(
                "  not running as root: the files belong to you, not to their recorded owners"
            );
        }
    }
    Ok(0)
}

/// Makes sure `dir`'s parent exists (for a new repository or target).
pub fn ensure_dir_parent(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    Ok(())
}
