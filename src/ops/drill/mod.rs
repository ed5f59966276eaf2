//! Restore drills: proving that a snapshot restores, before the day it has to.
//!
//! A drill restores a whole snapshot of the set into a scratch root through the same code as
//! `lockstep restore` ([`crate::ops::restore::restore_to_target`]), then verifies every entry against
//! the snapshot's tree ([`verify`]: content re-hashed chunk by chunk, type, mode, mtime, size,
//! symlink target, owner as root, extended attributes), reads IM's records from the restored
//! agent data and compares the inventory they give with the manifest's, and removes the scratch
//! copy. The result — duration, throughput, problems — is recorded in the repository
//! ([`record`]) so that `lockstep snapshots` shows when each snapshot was last proven restorable.
//!
//! The scratch root is a new directory beside a local repository (same disk as the data it
//! reads, and never inside the live set), else under `$TMPDIR`, or inside `--scratch DIR`.
//! A drill never touches the live host.
//!
//! 1. A scratch root is made ([`drill`]: beside a local repository, else under `$TMPDIR`).
//! 2. The snapshot is restored into it as `restore --target` does.
//! 3. Every entry is verified ([`verify`]) and IM's records read back for the inventory.
//! 4. The scratch copy is removed and the result recorded in the repository ([`record`]).

pub mod record;
pub mod verify;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustic_core::jiff::Zoned;
use serde::Serialize;

use crate::config::is_root;
use crate::host::root::HostRoot;
use crate::host::set::Role;
use crate::im::discover::{DiscoverOptions, discover, select};
use crate::im::drift::InventoryDiff;
use crate::repo::manifest::Manifest;
use crate::repo::progress::ProgressMode;
use crate::repo::{RepoSpec, SetSnapshot};
use crate::util::report::rfc3339;
use crate::{Error, Result};

use record::{DrillResult, RECORD_SCHEMA};

/// Problems kept in a drill's result (the count is always complete).
pub const PROBLEMS_KEPT: usize = 20;

/// What a drill needs.
#[derive(Debug, Clone)]
pub struct DrillRequest<'a> {
    /// Where the repository is.
    pub spec: &'a RepoSpec,
    /// Its password.
    pub password: &'a str,
    /// How restore and verification show progress.
    pub progress: ProgressMode,
    /// The snapshot to drill.
    pub snapshot: &'a SetSnapshot,
    /// The directory in which the scratch root is created.
    pub scratch_parent: PathBuf,
    /// Whether to record the result in the repository.
    pub record: bool,
}

/// What a drill did.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The result (as recorded).
    #[serde(flatten)]
    pub result: DrillResult,
    /// Where the scratch copy was.
    pub scratch: PathBuf,
    /// Whether the scratch copy was removed.
    pub scratch_removed: bool,
    /// Whether the result was recorded in the repository.
    pub recorded: bool,
}

/// Where the scratch root goes: `chosen` (`--scratch`), else beside a local repository, else
/// the temporary directory.
#[must_use]
pub fn scratch_parent(spec: &RepoSpec, chosen: Option<&Path>) -> PathBuf {
    if let Some(dir) = chosen {
        return dir.to_path_buf();
    }
    spec.local_dir()
        .and_then(|d| d.parent().map(Path::to_path_buf))
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p
            }
        })
        .unwrap_or_else(std::env::temp_dir)
}

/// Runs a drill of `req.snapshot`.
///
/// A failed drill (the restore failed, an entry differs, the inventory differs) is a report
/// with `ok == false`, not an error.
///
/// A failure of the machine the drill runs on — a scratch filesystem without room for the
/// snapshot, or one that fills up, denies or is read-only during the restore — is no verdict on
/// the snapshot: it is an error, and nothing is recorded.
///
/// # Errors
/// When the scratch directory cannot be created or has no room for the snapshot, when the
/// machine fails the restore, or when the result cannot be recorded.
pub fn drill(req: &DrillRequest<'_>) -> Result<DrillReport> {
    let _step = crate::repo::progress::step("drill");
    let start = Instant::now();
    let scratch = create_scratch(req)?;
    let root = scratch.path().to_path_buf();
    let snap = req.snapshot;

    let restored = crate::repo::contain::engine("the restore", "", || {
        let repo = req.spec.open_with_progress(req.password, req.progress)?;
        crate::ops::restore::restore_to_target(repo, snap, &root, None)
    });
    if let Err(e) = &restored
        && let Some(fault) = machine_fault(&root, e)
    {
        let removed = remove_scratch(scratch);
        return Err(Error::Other(format!(
            "the drill of snapshot {} could not run: {fault}; this says nothing about the snapshot and nothing was recorded{}",
            crate::util::report::short(&snap.id()),
            if removed {
                String::new()
            } else {
                format!("; remove the scratch copy {}", root.display())
            }
        )));
    }
    let examined = match restored {
        Err(e) => Examined::restore_failed(&e),
        Ok(outcome) => {
            let mut examined = Examined {
                bytes: outcome.bytes,
                files: outcome.files,
                restore_seconds: outcome.seconds,
                ..Examined::default()
            };
            examined.verify(req, &root);
            examined
        }
    };

    let scratch_removed = remove_scratch(scratch);
    let result = examined.into_result(snap, start);
    let recorded = if req.record {
        record_result(req, &result)?
    } else {
        false
    };
    Ok(DrillReport {
        result,
        scratch: root,
        scratch_removed,
        recorded,
    })
}

/// Creates the scratch root in `req.scratch_parent` (and the parent itself), after making sure
/// its filesystem has room for the snapshot: a drill that fills the disk says nothing about the
/// snapshot.
fn create_scratch(req: &DrillRequest<'_>) -> Result<tempfile::TempDir> {
    let parent = &req.scratch_parent;
    std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    check_room(req.snapshot, parent)?;
    tempfile::Builder::new()
        .prefix(".lockstep-drill-")
        .tempdir_in(parent)
        .map_err(|e| Error::io("cannot create a scratch directory in", parent, e))
}

/// What a drill's restore and verification found, before it becomes a [`DrillResult`].
#[derive(Debug, Default)]
struct Examined {
    /// Every problem found, in the order found (restore, entries, inventory).
    problems: Vec<String>,
    /// Bytes restored.
    bytes: u64,
    /// Files restored.
    files: u64,
    /// Time the restore took.
    restore_seconds: f64,
    /// Entries of the snapshot verified.
    entries_verified: u64,
    /// Whether the restored agent data's inventory matches the manifest's (none without a
    /// manifest, or when the restore failed).
    inventory_ok: Option<bool>,
    /// Time the verification and the inventory comparison took.
    verify_seconds: f64,
}

impl Examined {
    /// A restore that failed for a reason of the snapshot or the repository: one problem,
    /// nothing restored or verified.
    fn restore_failed(error: &Error) -> Self {
        Self {
            problems: vec![match error.to_string() {
                m if m.starts_with("the restore failed") => m,
                m => format!("the restore failed: {m}"),
            }],
            ..Self::default()
        }
    }

    /// Verifies the copy restored at `root` against the snapshot's tree, then the inventory of
    /// its agent data against the manifest's, adding what differs to the problems. A
    /// verification that cannot run is a problem too: the snapshot was not proven.
    fn verify(&mut self, req: &DrillRequest<'_>, root: &Path) {
        let snap = req.snapshot;
        let verify_start = Instant::now();
        let verified = crate::repo::contain::engine("the verification", "", || {
            let repo = req
                .spec
                .open_with_progress(req.password, req.progress)?
                .to_indexed()?;
            let progress = repo.progress_bytes("verifying restored files...");
            progress.set_length(self.bytes);
            verify::verify(&repo, &snap.snapshot, root, is_root(), &progress)
        });
        match verified {
            Ok(v) => {
                self.entries_verified = v.entries;
                self.problems.extend(v.problems);
            }
            Err(e) => self.problems.push(e.to_string()),
        }
        if let Some(manifest) = &snap.manifest {
            let differences = inventory_differences(root, manifest);
            self.inventory_ok = Some(differences.is_empty());
            self.problems.extend(
                differences
                    .into_iter()
                    .map(|d| format!("inventory of the restored agent data: {d}")),
            );
        }
        self.verify_seconds = verify_start.elapsed().as_secs_f64();
    }

    /// The drill's result for `snap`, timed from `start`: it passed when nothing was found;
    /// the problems are counted in full and the first [`PROBLEMS_KEPT`] kept.
    fn into_result(self, snap: &SetSnapshot, start: Instant) -> DrillResult {
        let Self {
            mut problems,
            bytes,
            files,
            restore_seconds,
            entries_verified,
            inventory_ok,
            verify_seconds,
        } = self;
        #[allow(clippy::cast_precision_loss)]
        let throughput = if restore_seconds > 0.0 {
            bytes as f64 / restore_seconds
        } else {
            0.0
        };
        let problem_count = problems.len();
        problems.truncate(PROBLEMS_KEPT);
        DrillResult {
            schema_version: RECORD_SCHEMA,
            snapshot: snap.id(),
            set: snap.set_name(),
            host: snap.snapshot.hostname.clone(),
            ok: problem_count == 0,
            time: rfc3339(&Zoned::now()),
            seconds: start.elapsed().as_secs_f64(),
            restore_seconds,
            verify_seconds,
            bytes,
            throughput_bytes_per_second: throughput.round(),
            files,
            entries_verified,
            inventory_ok,
            problem_count,
            problems,
            lockstep_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Records `result` in the repository; whether it was recorded.
///
/// A failed drill whose result cannot be recorded is still reported (its own failure is what
/// the administrator must see first); a passed one is an error, as the proof would be lost.
///
/// # Errors
/// When the repository cannot be opened, or a passed drill's result cannot be saved.
fn record_result(req: &DrillRequest<'_>, result: &DrillResult) -> Result<bool> {
    let repo = req.spec.open(req.password)?;
    match record::save(&repo, req.snapshot, result) {
        Ok(()) => Ok(true),
        // The drill's own failure is what the administrator must see first.
        Err(_) if !result.ok => Ok(false),
        Err(e) => Err(Error::Repo(format!(
            "the drill of {} passed but its result could not be recorded in the repository: {e}",
            crate::util::report::short(&result.snapshot)
        ))),
    }
}

/// Refuses a drill whose scratch filesystem has no room for the snapshot's files.
fn check_room(snap: &crate::repo::SetSnapshot, parent: &Path) -> Result<()> {
    let Some(needed) = snap
        .snapshot
        .summary
        .as_ref()
        .map(|s| s.total_bytes_processed)
    else {
        return Ok(());
    };
    let Some((fs, free)) = crate::ops::preflight::free_space(parent) else {
        return Ok(());
    };
    if free >= needed {
        return Ok(());
    }
    Err(Error::Other(format!(
        "the drill of snapshot {} needs {} of scratch space but the filesystem of {} has {} free; free space there or give --scratch DIR on a larger filesystem (nothing was restored or recorded)",
        crate::util::report::short(&snap.id()),
        crate::util::report::bytes(needed),
        fs.display(),
        crate::util::report::bytes(free)
    )))
}

/// Whether a restore into `root` failed because of the machine rather than the snapshot: the
/// filesystem is full or over quota, read-only, or refuses lockstep. Says which, and what to do.
fn machine_fault(root: &Path, error: &Error) -> Option<String> {
    let fs = root.parent().unwrap_or(root).display();
    let message = error.to_string();
    let full = || {
        format!(
            "the scratch filesystem of {fs} is full; free space there or give --scratch DIR on a larger filesystem"
        )
    };
    if matches!(error, Error::DiskFull(_)) {
        return Some(full());
    }
    for (marker, what) in [
        ("No space left on device", "full"),
        ("os error 28", "full"),
        ("Disk quota exceeded", "quota"),
        ("os error 122", "quota"),
        ("Read-only file system", "read-only"),
        ("os error 30", "read-only"),
        ("Permission denied", "denied"),
        ("os error 13", "denied"),
    ] {
        if message.contains(marker) {
            return Some(match what {
                "full" => full(),
                "quota" => format!(
                    "the disk quota on {fs} is exhausted; free space there or give --scratch DIR elsewhere"
                ),
                "read-only" => format!(
                    "the scratch filesystem of {fs} is read-only; give --scratch DIR on a writable filesystem"
                ),
                _ => format!(
                    "writing the scratch copy under {fs} was denied; give --scratch DIR where lockstep may write"
                ),
            });
        }
    }
    // The engine does not always say why a write failed: a filesystem left without room is
    // the machine's fault whatever the message.
    match crate::ops::preflight::free_space(root) {
        Some((_, free)) if free < FULL_BELOW => Some(full()),
        _ => None,
    }
}

/// Free space below which a scratch filesystem counts as full after a failed restore.
const FULL_BELOW: u64 = 256 * 1024;

/// The differences between the manifest's inventory and the one IM's records in the restored
/// copy give (empty when they agree).
fn inventory_differences(root: &Path, manifest: &Manifest) -> Vec<String> {
    let host = match HostRoot::new(root) {
        Ok(h) => h,
        Err(e) => return vec![e.to_string()],
    };
    // The same way the backup found the set, then from the agent data the manifest names.
    let by_registry = discover(&host, &DiscoverOptions::default())
        .ok()
        .and_then(|all| select(&all, Some(&manifest.set)).ok().cloned());
    let instance = match by_registry {
        Some(i) => i,
        None => {
            let Some(agent) = manifest
                .members
                .iter()
                .find(|m| m.role == Role::ImAgentData)
            else {
                return vec!["the manifest names no agent-data directory".into()];
            };
            let opts = DiscoverOptions {
                agent_data: Some(agent.path.clone()),
                extras: Vec::new(),
            };
            match discover(&host, &opts) {
                Ok(mut all) if !all.is_empty() => all.swap_remove(0),
                Ok(_) => return vec!["no IM instance found in the restored copy".into()],
                Err(e) => return vec![format!("IM's records do not read: {e}")],
            }
        }
    };
    if instance.inventory == manifest.inventory {
        return Vec::new();
    }
    let lines = InventoryDiff::between(&manifest.inventory, &instance.inventory).lines();
    if lines.is_empty() {
        vec![format!(
            "differs from the manifest's ({} restored, {} recorded)",
            instance.inventory.summary(),
            manifest.inventory.summary()
        )]
    } else {
        lines
    }
}

/// Removes the scratch copy, first making its directories writable (a restore gives them their
/// recorded modes, which may forbid deleting their entries). Returns whether it is gone.
fn remove_scratch(scratch: tempfile::TempDir) -> bool {
    let path = scratch.path().to_path_buf();
    for entry in walkdir::WalkDir::new(&path).into_iter().flatten() {
        if entry.file_type().is_dir()
            && let Ok(meta) = entry.metadata()
        {
            let mode = meta.permissions().mode();
            if mode & 0o700 != 0o700 {
                let _ = std::fs::set_permissions(
                    entry.path(),
                    std::fs::Permissions::from_mode(mode | 0o700),
                );
            }
        }
    }
    let _ = scratch.close();
    !path.exists()
}
