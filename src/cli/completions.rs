//! `lockstep completions SHELL`: generated from the clap definitions, so it always matches the
//! binary; options that take a role offer the role names.

use std::io::Write;

use clap::CommandFactory;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::Cli;
use lockstep::host::set::Role;
use lockstep::{Error, Result};

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

/// Prints the completion script.
pub fn run(args: &Args) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "lockstep", &mut out);
    write_stdout(&out)
}

/// Writes `bytes` to stdout; a reader that went away (`| head`) is not an error.
pub(super) fn write_stdout(bytes: &[u8]) -> Result<i32> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Other(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(0),
    }
}

/// The value parser of an option that takes a role: the role names are its possible values, so
/// `--help` lists them, the shells complete them, and a wrong name is a usage error naming them.
pub fn roles() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::ALL.map(Role::as_str)).try_map(|name| name.parse::<Role>())
}
