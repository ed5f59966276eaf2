//! `lockstep completions SHELL` and `lockstep man`: generated from the clap definitions, so
//! they always match the binary.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;

use super::Cli;
use lockstep::{Error, Result};

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write lockstep.1 and one page per command (lockstep-backup.1 …) into DIR instead of
    /// printing lockstep.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script.
pub fn run(args: &Args) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "lockstep", &mut out);
    write_stdout(&out)
}

/// Prints (or writes) the manual pages.
pub fn man(args: &ManArgs) -> Result<i32> {
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        clap_mangen::generate_to(Cli::command(), dir)
            .map_err(|e| Error::io("cannot write manual pages into", dir, e))?;
        return Ok(0);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::Other(format!("cannot render the manual page: {e}")))?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<i32> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Other(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(0),
    }
}
