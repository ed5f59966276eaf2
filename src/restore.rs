//! Restore: a whole snapshot of the set into a scratch root.
//!
//! `restore SNAPSHOT --target DIR` writes every member under DIR at its logical path — contents,
//! modes, numeric owners (as root), times, symlinks, hard links, empty directories and extended
//! attributes — through rustic_core's restorer. It refuses a non-empty target, so it can never
//! overwrite anything. In-place restore onto the live host needs staging and an all-or-nothing
//! swap and is not done here.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rustic_core::{LocalDestination, LsOptions, RestoreOptions};
use serde::Serialize;

use crate::config::is_root;
use crate::repo::{OpenRepo, SetSnapshot};
use crate::{Error, Result};

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    /// The snapshot restored.
    pub snapshot: String,
    /// Where it was restored.
    pub target: PathBuf,
    /// Regular files written.
    pub files: u64,
    /// Directories created.
    pub dirs: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Whether owners were restored (numeric uid/gid) — only when running as root; otherwise the
    /// files belong to the user who ran the restore.
    pub ownership_restored: bool,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Checks that `target` is absent or an empty directory.
///
/// # Errors
/// Refused when it holds anything, or is not a directory.
pub fn check_empty_target(target: &Path) -> Result<()> {
    match std::fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Refused(format!(
                    "restore target {} is not empty; lockstep never restores over existing files: give an empty or new directory",
                    target.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Refused(format!(
            "restore target {} cannot be used: {e}; give an empty or new directory",
            target.display()
        ))),
    }
}

/// Restores the whole snapshot under `target`.
///
/// # Errors
/// Refused for a non-empty target; an error when the repository or the target fails.
pub fn restore_to_target(
    repo: OpenRepo,
    snap: &SetSnapshot,
    target: &Path,
) -> Result<RestoreOutcome> {
    check_empty_target(target)?;
    let start = Instant::now();
    let repo = repo.to_indexed()?;
    let node = repo.node_from_snapshot_and_path(&snap.snapshot, "")?;
    let mut ls_opts = LsOptions::default();
    ls_opts.recursive = true;
    let nodes = repo.ls(&node, &ls_opts)?;

    std::fs::create_dir_all(target).map_err(|e| Error::io("cannot create", target, e))?;
    let target_str = target.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "restore target {} is not valid UTF-8; choose another path",
            target.display()
        ))
    })?;
    let dest = LocalDestination::new(target_str, true, false)?;
    let root = is_root();
    let mut opts = RestoreOptions::default();
    if root {
        opts.numeric_id = true;
    } else {
        opts.no_ownership = true;
    }
    let plan = repo.prepare_restore(&opts, nodes.clone(), &dest, false)?;
    let files = plan.stats.files.restore;
    let dirs = plan.stats.dirs.restore;
    let bytes = plan.restore_size;
    repo.restore(plan, &opts, nodes, &dest)?;
    Ok(RestoreOutcome {
        snapshot: snap.id(),
        target: target.to_path_buf(),
        files,
        dirs,
        bytes,
        ownership_restored: root,
        seconds: start.elapsed().as_secs_f64(),
    })
}
