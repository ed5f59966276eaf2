//! `lockstep init`: create a repository.

use serde::Serialize;

use super::{Ctx, print_json};
use crate::Result;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Output {
    schema_version: u32,
    repository: String,
    id: String,
}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<i32> {
    let spec = ctx.repo_spec()?;
    if let Some(dir) = spec.local_dir() {
        super::restore::ensure_dir_parent(&dir)?;
    }
    let password = ctx.password_source().read(true)?;
    let repo = spec.init(&password)?;
    let id = repo.config().id.to_string();
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            repository: spec.location,
            id,
        })?;
    } else {
        println!("created repository {id} at {}", spec.location);
        println!("keep the password safe: without it the backups cannot be read");
    }
    Ok(0)
}
