//! `lockstep recover`: finish or roll back an in-place restore that was interrupted; or, when
//! its journal cannot be read, show what it still names and set it aside on request.

use std::path::PathBuf;

use serde::Serialize;

use super::{Ctx, print_json, short};
use lockstep::host::root::shown;
use lockstep::ops::restore::journal::{
    Damaged, Recovery, discard_damaged, inspect_damaged, recover,
};
use lockstep::{Error, Result};

/// Arguments of `recover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// When the restore journal cannot be read (empty, cut off, garbage): move it aside
    /// (`restore-journal.json.damaged-<time>` in the state directory) so lockstep runs again.
    /// Nothing else is changed: check the staging and replaced copies `recover` lists first.
    #[arg(long)]
    discard_journal: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    recovered: Option<&'a Recovery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    damaged_journal: Option<&'a Damaged>,
    #[serde(skip_serializing_if = "Option::is_none")]
    journal_set_aside: Option<&'a PathBuf>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let state = ctx.state()?;
    // Where an interrupted restore leaves its copies: beside the live set's members.
    let members: Vec<PathBuf> = match (ctx.host(), ctx.instances()) {
        (Ok(host), Ok(instances)) => instances
            .iter()
            .flat_map(|i| i.set.members.iter())
            .map(|m| host.physical(m.data_path()))
            .collect(),
        _ => Vec::new(),
    };
    if let Some(damaged) = inspect_damaged(&state, &members)? {
        return damaged_journal(ctx, &state, &damaged, args.discard_journal);
    }
    if args.discard_journal {
        return Err(Error::Usage(
            "--discard-journal sets aside a restore journal that cannot be read, and this one can (or there is none): run `lockstep recover` without it".into(),
        ));
    }
    let recovery = recover(&state, super::waiting_for_cleanup)?;
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            recovered: recovery.as_ref(),
            damaged_journal: None,
            journal_set_aside: None,
        })?;
        return Ok(0);
    }
    match &recovery {
        None => println!("nothing to recover: no interrupted restore"),
        Some(r) => print_recovery(r),
    }
    Ok(0)
}

/// A journal that cannot be read: what it names and what lies beside the set, then either the
/// way out (refused) or the journal set aside (`--discard-journal`).
fn damaged_journal(
    ctx: &Ctx,
    state: &lockstep::host::state::StateDir,
    damaged: &Damaged,
    discard: bool,
) -> Result<i32> {
    let aside = if discard {
        Some(discard_damaged(state)?)
    } else {
        None
    };
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            recovered: None,
            damaged_journal: Some(damaged),
            journal_set_aside: aside.as_ref(),
        })?;
    } else {
        println!(
            "the restore journal {} cannot be read: {}",
            shown(&damaged.journal),
            damaged.problem
        );
        if damaged.named.is_empty() {
            println!("  it names no path that can still be read");
        } else {
            println!("  paths it still names:");
            for (p, exists) in &damaged.named {
                let word = if *exists { "exists" } else { "missing" };
                println!("    {word:<8} {}", shown(p));
            }
        }
        if damaged.leftovers.is_empty() {
            println!(
                "  no staging (*.lockstep-stage-*) or replaced (*.lockstep-old-*) copies beside the set"
            );
        } else {
            println!(
                "  staging and replaced copies beside the set (check them; lockstep removes none):"
            );
            for p in &damaged.leftovers {
                println!("    {}", shown(p));
            }
        }
        if let Some(aside) = &aside {
            println!(
                "set the journal aside as {}; nothing else was changed",
                shown(aside)
            );
        }
    }
    if aside.is_some() {
        return Ok(0);
    }
    Err(Error::Refused(format!(
        "the restore journal {} cannot be read ({}); nothing was changed: check the copies listed above (a *.lockstep-old-* copy may hold the set's previous files), then run `lockstep recover --discard-journal` to set the journal aside",
        shown(&damaged.journal),
        damaged.problem
    )))
}

/// The human line for a recovery.
pub fn print_recovery(r: &Recovery) {
    if r.outcome == "completed" {
        println!(
            "recovered: the interrupted restore of snapshot {} was completed; set {} is now that snapshot",
            short(&r.snapshot),
            r.set
        );
    } else {
        println!(
            "recovered: the interrupted restore of snapshot {} was rolled back; set {} is as it was before",
            short(&r.snapshot),
            r.set
        );
    }
    for k in &r.kept {
        println!("  kept the replaced copy {}", shown(k));
    }
}
