//! `lockstep init`: create a repository.

use serde::Serialize;

use super::{Ctx, print_json};
use lockstep::Result;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Create the remote (disaster-recovery) repository of the configuration instead, with the
    /// remote's password (`LOCKSTEP_REMOTE_PASSWORD_FILE`, `LOCKSTEP_REMOTE_PASSWORD_COMMAND`,
    /// `remote-password-file`, `remote-password-command`, else the repository's). Refused when it
    /// exists.
    #[arg(long)]
    pub remote: bool,
}

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
    let password = ctx.repo_password_source().read(true)?;
    let repo = if ctx.uses_remote() {
        spec.init_remote(&password)?
    } else {
        spec.init(&password)?
    };
    let id = repo.config().id.to_string();
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            repository: spec.location,
            id,
        })?;
    } else {
        println!(
            "created {}repository {id} at {}",
            if ctx.uses_remote() { "the remote " } else { "" },
            if ctx.uses_remote() {
                spec.describe()
            } else {
                spec.location.clone()
            }
        );
        println!("keep the password safe: without it the backups cannot be read");
    }
    Ok(0)
}
