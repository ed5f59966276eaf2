//! `lockstep recover`: finish or roll back an in-place restore that was interrupted.

use serde::Serialize;

use super::{Ctx, print_json, short};
use crate::Result;
use crate::journal::{Recovery, recover};

/// Arguments of `recover`.
#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    recovered: Option<&'a Recovery>,
}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<i32> {
    let state = ctx.state()?;
    let recovery = recover(&state, super::waiting_for_cleanup)?;
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            recovered: recovery.as_ref(),
        })?;
        return Ok(0);
    }
    match &recovery {
        None => println!("nothing to recover: no interrupted restore"),
        Some(r) => print_recovery(r),
    }
    Ok(0)
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
        println!("  kept the replaced copy {}", k.display());
    }
}
