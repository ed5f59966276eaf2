//! The restore journal: how an in-place restore survives a crash at any step.
//!
//! Protocol (each phase change written and fsynced *before* the step it announces):
//! 1. `staging` — every member is restored into `<live>.lockstep-stage-<run>` beside it, then
//!    verified. The live set is untouched; a crash here rolls back (stage copies removed).
//! 2. `swapping` — written only when every member is staged and verified. Each member is swapped
//!    with two renames: `<live>` → `<live>.lockstep-old-<run>`, stage → `<live>`. A crash here
//!    rolls *forward*: the new set is complete on disk, so recovery finishes the renames.
//! 3. `cleanup` — all renames done; the replaced copies are removed (unless kept).
//!
//! A member restored as a *delta* ([`Delta`], the fast rollback) stays in place: its stage and
//! old paths are flat directories (one numbered entry per changed path; journals of earlier
//! versions used sparse trees, which recovery still understands), and swapping moves each
//! replaced or surplus entry into the old directory and each staged entry into its place, then
//! sets the directories' metadata. The plan is
//! in the journal before the first rename, and each step checks what exists first, so recovery
//! rolls forward from any point exactly as for a whole-member swap.
//!
//! A member that is a **mount point** ([`Inside`]) cannot be renamed, nor can anything be renamed
//! across it: its stage and old directories are hidden directories at its own top level
//! (`<live>/.lockstep-stage-<run>`, `<live>/.lockstep-old-<run>`), and its *contents* are swapped
//! instead of the member: every live entry is moved into the old directory, the filesystem is
//! flushed, then every staged entry is moved in, and the mount point is given its snapshot
//! metadata (again after the clean-up, which changes its times). Recovery tells the two halves
//! apart by the staged entries the journal lists: while all of them are still staged, the live
//! entries are old ones (moved aside first); once one has moved in, all old ones are aside. A
//! delta of such a member swaps entry by entry as above, inside it.
//!
//! Recovery looks at what exists on disk for each member (stage, live, old) and does only the
//! missing steps, so it is idempotent: running it twice, or crashing during it, is safe. It only
//! ever renames or removes paths the journal names, all of which are lockstep's own staging and
//! replaced copies or the members themselves.
//!
//! Paths are stored byte for byte ([`crate::host::root::lossless`]): a name that is not UTF-8 is
//! written as its bytes, every other path as the plain string earlier journals hold.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::host::state::{RestoreRecord, StateDir, sync_dir, write_json};
use crate::{Error, Result};

/// Journal format version (2: units may carry a [`Delta`]; a version-1 lockstep must not
/// recover such a journal, as it would swap the sparse staging directory in whole. 3: units may
/// be mount points ([`Inside`]), which an earlier lockstep would try to rename whole).
pub const VERSION: u32 = 3;

/// The version a journal of `units` is written with: the lowest that understands it, so that a
/// restore without a mount point stays recoverable by the lockstep before.
#[must_use]
pub fn version_for(units: &[Unit]) -> u32 {
    if units.iter().any(|u| u.inside.is_some()) {
        VERSION
    } else {
        2
    }
}

/// Where a restore is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalPhase {
    /// Members are being staged; the live set is untouched.
    Staging,
    /// Everything is staged and verified; members are being swapped in.
    Swapping,
    /// Every member is in place; replaced copies are being removed.
    Cleanup,
}

/// One member being restored, by physical path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// The member's logical path (for messages).
    #[serde(with = "crate::host::root::lossless")]
    pub logical: PathBuf,
    /// The live path.
    #[serde(with = "crate::host::root::lossless")]
    pub live: PathBuf,
    /// The staging copy beside it.
    #[serde(with = "crate::host::root::lossless")]
    pub stage: PathBuf,
    /// Where the replaced live copy goes.
    #[serde(with = "crate::host::root::lossless")]
    pub old: PathBuf,
    /// Whether the member existed before the restore.
    pub existed: bool,
    /// The parent directory's access and modification times before the restore (seconds,
    /// nanoseconds), put back afterwards: the swap renames inside the parent, and nothing
    /// outside the members may look touched.
    #[serde(default)]
    pub parent_times: Option<(i64, u32, i64, u32)>,
    /// Set when only what differs is restored ([`crate::ops::restore::delta`]): `stage` and `old` are then
    /// sparse trees beside the live member, which itself stays in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
    /// Set when the member is a mount point: `stage` and `old` are hidden directories inside
    /// it, and its contents are swapped instead of the member itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside: Option<Inside>,
}

/// How a member that is a mount point is swapped: by its contents, inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inside {
    /// The top-level entries of a whole staged copy, by name (empty for a delta): the swap
    /// moves every other live entry aside before the first of them moves in.
    #[serde(with = "crate::host::root::lossless::vec")]
    pub staged: Vec<PathBuf>,
    /// The member's own metadata in the snapshot (mode, owner, times, extended attributes),
    /// given to the mount point after the swap and again after the clean-up.
    #[serde(default)]
    pub node: Option<rustic_core::repofile::Node>,
}

/// The plan of a delta swap, by paths relative to the member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Entries whose staged copy takes the place of the live entry (moved aside first, if any).
    #[serde(with = "crate::host::root::lossless::vec")]
    pub put: Vec<PathBuf>,
    /// Live entries the target lacks: moved aside, not replaced.
    #[serde(with = "crate::host::root::lossless::vec")]
    pub remove: Vec<PathBuf>,
    /// Directories given the target's metadata after the moves, deepest first (`""` is the
    /// member itself): moving entries in and out changes their times.
    #[serde(with = "crate::host::root::lossless::pairs")]
    pub dirs: Vec<(PathBuf, rustic_core::repofile::Node)>,
    /// Staged and moved-aside entries are numbered (`p<i>` for `put[i]`, `r<j>` for
    /// `remove[j]`) directly in the stage and old directories, instead of at their paths in
    /// sparse trees: a fix pack touches thousands of directories, and creating and removing
    /// their mirrors cost more than the renames themselves. `false` in journals written before.
    #[serde(default)]
    pub flat: bool,
}

impl Delta {
    /// Where `put[i]` is staged, under the unit's stage directory.
    #[must_use]
    pub fn staged(&self, stage: &Path, i: usize) -> PathBuf {
        if self.flat {
            stage.join(format!("p{i}"))
        } else {
            stage.join(&self.put[i])
        }
    }

    /// The entry a path under the stage directory is staged for ([`Delta::staged`]'s inverse):
    /// `put[i]` or what lies under it, relative to the member. `None` for a path that names no
    /// staged entry.
    #[must_use]
    pub fn unstaged(&self, at: &Path) -> Option<PathBuf> {
        if !self.flat {
            return Some(at.to_path_buf());
        }
        let mut parts = at.components();
        let first = parts.next()?.as_os_str().to_str()?;
        let put = self
            .put
            .get(first.strip_prefix('p')?.parse::<usize>().ok()?)?;
        Some(crate::ops::restore::proof::logical(put, parts.as_path()))
    }

    /// Where the live `put[i]` (`put`) or `remove[i]` is moved aside, under the old directory.
    fn aside(&self, old: &Path, put: bool, i: usize) -> PathBuf {
        match (self.flat, put) {
            (true, true) => old.join(format!("p{i}")),
            (true, false) => old.join(format!("r{i}")),
            (false, true) => old.join(&self.put[i]),
            (false, false) => old.join(&self.remove[i]),
        }
    }
}

impl Unit {
    /// Swaps a delta in, idempotently: each op looks at what exists (live, staged, moved
    /// aside) and does only its missing steps, so recovery can run it again from any point.
    /// [`Journal::swap_all`] makes the renames durable together at the end (one `syncfs`),
    /// before the journal moves on to cleanup; a power loss before that leaves the journal at
    /// `swapping`, and recovery redoes whatever did not persist.
    fn swap_delta(&self, delta: &Delta, i: usize) -> Result<()> {
        crate::util::fault::point(&format!("restore-swap-{}", 2 * i));
        let ops = (0..delta.remove.len())
            .map(|n| (n, false))
            .chain((0..delta.put.len()).map(|n| (n, true)));
        let mut halfway = false;
        for (n, is_put) in ops {
            let rel = if is_put {
                &delta.put[n]
            } else {
                &delta.remove[n]
            };
            let (live, staged, old) = (
                self.live.join(rel),
                if is_put {
                    delta.staged(&self.stage, n)
                } else {
                    PathBuf::new()
                },
                delta.aside(&self.old, is_put, n),
            );
            // A put whose staged entry is gone is done: what is live is the new entry.
            if !exists(&old) && exists(&live) && (!is_put || exists(&staged)) {
                if let Some(parent) = old.parent()
                    && !exists(parent)
                {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io("cannot create", parent, e))?;
                }
                rename_only(&live, &old)?;
            }
            if !halfway {
                halfway = true;
                crate::util::fault::point(&format!("restore-swap-{}", 2 * i + 1));
            }
            if is_put && exists(&staged) {
                rename_only(&staged, &live)?;
            }
        }
        if !halfway {
            crate::util::fault::point(&format!("restore-swap-{}", 2 * i + 1));
        }
        for (rel, node) in &delta.dirs {
            let dir = if rel.as_os_str().is_empty() {
                self.live.clone()
            } else {
                self.live.join(rel)
            };
            crate::ops::restore::set_dir_metadata(&dir, node)?;
        }
        Ok(())
    }

    /// Swaps the contents of a mount point in, idempotently ([`Inside`]): every live entry
    /// but the hidden directories into the old directory, a flush, then every staged entry in,
    /// then the mount point's own metadata. Fault point `restore-swap-<2i>` follows the first
    /// entry moved aside, `restore-swap-<2i+1>` the first moved in.
    fn swap_contents(&self, inside: &Inside, i: usize) -> Result<()> {
        // Once a staged entry has moved in, every old entry is aside already (the first half
        // ends with a flush before the second begins); until then, what is live is old.
        let moving_in = inside.staged.iter().any(|n| !exists(&self.stage.join(n)));
        if !moving_in {
            if !exists(&self.old) {
                std::fs::create_dir(&self.old)
                    .map_err(|e| Error::io("cannot create", &self.old, e))?;
            }
            let hidden = [self.stage.file_name(), self.old.file_name()];
            let entries = std::fs::read_dir(&self.live)
                .and_then(|d| {
                    d.map(|e| e.map(|e| e.file_name()))
                        .collect::<std::io::Result<Vec<_>>>()
                })
                .map_err(|e| Error::io("cannot read", &self.live, e))?;
            let mut first = true;
            for name in entries {
                if hidden.contains(&Some(name.as_os_str())) {
                    continue;
                }
                rename_only(&self.live.join(&name), &self.old.join(&name))?;
                if std::mem::take(&mut first) {
                    crate::util::fault::point(&format!("restore-swap-{}", 2 * i));
                }
            }
            if first {
                crate::util::fault::point(&format!("restore-swap-{}", 2 * i));
            }
            flush(&self.live)?;
        }
        let mut first = true;
        for name in &inside.staged {
            let staged = self.stage.join(name);
            if exists(&staged) {
                rename_only(&staged, &self.live.join(name))?;
            }
            if std::mem::take(&mut first) {
                crate::util::fault::point(&format!("restore-swap-{}", 2 * i + 1));
            }
        }
        if first {
            crate::util::fault::point(&format!("restore-swap-{}", 2 * i + 1));
        }
        self.set_own_metadata()
    }

    /// Gives a mount point its snapshot metadata ([`Inside::node`]); nothing for other units.
    fn set_own_metadata(&self) -> Result<()> {
        match self.inside.as_ref().and_then(|i| i.node.as_ref()) {
            Some(node) => crate::ops::restore::set_dir_metadata(&self.live, node),
            None => Ok(()),
        }
    }

    /// The directory whose times the swap changes and the journal puts back: the parent, or
    /// the member itself when it is a mount point (everything happens inside it).
    fn touched_dir(&self) -> Option<&Path> {
        if self.inside.is_some() {
            Some(&self.live)
        } else {
            self.live.parent()
        }
    }

    /// Records the times of the directory the restore touches ([`Unit::touched_dir`]).
    pub fn capture_parent_times(&mut self) {
        use std::os::unix::fs::MetadataExt;
        self.parent_times = self
            .touched_dir()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| {
                (
                    m.atime(),
                    u32::try_from(m.atime_nsec()).unwrap_or(0),
                    m.mtime(),
                    u32::try_from(m.mtime_nsec()).unwrap_or(0),
                )
            });
    }
}

/// The journal of one in-place restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Format version.
    pub version: u32,
    /// The run's id (part of the staging names).
    pub run: String,
    /// The process doing the restore: recovery waits while it lives.
    #[serde(default)]
    pub pid: u32,
    /// The snapshot being restored.
    pub snapshot: String,
    /// The set and host, for the record after the restore.
    pub set: String,
    /// The host name.
    pub host: String,
    /// Keep the replaced copies.
    pub keep_replaced: bool,
    /// The phase.
    pub phase: JournalPhase,
    /// The members.
    pub units: Vec<Unit>,
    /// The ctime clock before the restore looked at the live set: recovery completing the
    /// restore records its proof with it ([`crate::host::state::RestoreProof`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<crate::host::state::ClockMark>,
}

/// What recovery did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// The snapshot the interrupted restore was restoring.
    pub snapshot: String,
    /// `rolled-back` (the old set is in place) or `completed` (the new set is in place).
    pub outcome: String,
    /// Replaced copies kept (with `--keep-replaced`).
    #[serde(serialize_with = "crate::host::root::lossless::vec::serialize")]
    pub kept: Vec<PathBuf>,
    /// The journal's set and host.
    pub set: String,
    /// The host name.
    pub host: String,
}

impl Journal {
    /// Starts a journal; fails when another restore's journal exists.
    ///
    /// # Errors
    /// Refused when an unfinished restore exists; an error when it cannot be written.
    pub fn create(state: &StateDir, journal: &Journal) -> Result<()> {
        let path = state.journal();
        if path.exists() {
            return Err(Error::Refused(format!(
                "an unfinished restore is recorded in {}; run `lockstep recover` first",
                path.display()
            )));
        }
        write_json(&path, journal)
    }

    /// Moves the journal to `phase` (durably).
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn set_phase(&mut self, state: &StateDir, phase: JournalPhase) -> Result<()> {
        self.phase = phase;
        write_json(&state.journal(), self)
    }

    /// Reads the journal, if there is one.
    ///
    /// # Errors
    /// When it exists but cannot be read or parsed (refused: [`inspect_damaged`] and
    /// `lockstep recover` say what it names and how to set it aside).
    pub fn load(state: &StateDir) -> Result<Option<Journal>> {
        let path = state.journal();
        match Self::read(state)? {
            None => Ok(None),
            Some(Ok(journal)) => Ok(Some(journal)),
            Some(Err(problem)) => Err(Error::Refused(format!(
                "the restore journal {} cannot be read ({problem}), so an interrupted restore may be half done; run `lockstep recover` to see what it names and how to set it aside",
                path.display()
            ))),
        }
    }

    /// The journal (`Some(Ok)`), or why it is damaged (`Some(Err)`: empty, not a journal, not
    /// a file), or `None` when there is none.
    fn read(state: &StateDir) -> Result<Option<std::result::Result<Journal, String>>> {
        let path = state.journal();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
                return Ok(Some(Err("it is a directory, not a file".into())));
            }
            Err(e) => return Err(Error::io("cannot read", &path, e)),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(Err("it is empty".into())));
        }
        let journal: Journal = match serde_json::from_slice(&bytes) {
            Ok(j) => j,
            Err(e) => {
                let what = if std::str::from_utf8(&bytes).is_err() {
                    "it is not text".to_owned()
                } else if e.is_eof() {
                    format!("it ends early, at line {}", e.line())
                } else {
                    format!("it is not a journal: {e}")
                };
                return Ok(Some(Err(what)));
            }
        };
        if journal.version > VERSION {
            return Err(Error::Other(format!(
                "the restore journal {} was written by a newer lockstep; recover with that version",
                path.display()
            )));
        }
        Ok(Some(Ok(journal)))
    }

    /// Removes the journal (the restore is over).
    ///
    /// # Errors
    /// When it cannot be removed.
    pub fn close(state: &StateDir) -> Result<()> {
        let path = state.journal();
        crate::ops::restore::proof::Pending::forget(state);
        std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
        sync_dir(state.path())
    }

    /// Swaps every unit in (the `swapping` phase), idempotently.
    ///
    /// # Errors
    /// When a rename fails or the disk state is not one this protocol produces.
    pub fn swap_all(&self) -> Result<()> {
        for (i, unit) in self.units.iter().enumerate() {
            if let Some(delta) = &unit.delta {
                unit.swap_delta(delta, i)?;
                continue;
            }
            if let Some(inside) = &unit.inside {
                unit.swap_contents(inside, i)?;
                continue;
            }
            let (stage, live, old) = (exists(&unit.stage), exists(&unit.live), exists(&unit.old));
            match (stage, live, old) {
                // Not started: move the live copy aside (if any), then the stage in.
                (true, true, false) => {
                    crate::util::fault::point(&format!("restore-swap-{}", 2 * i));
                    rename(&unit.live, &unit.old)?;
                    crate::util::fault::point(&format!("restore-swap-{}", 2 * i + 1));
                    rename(&unit.stage, &unit.live)?;
                }
                // Live copy moved aside (or there was none): move the stage in.
                (true, false, _) => {
                    crate::util::fault::point(&format!("restore-swap-{}", 2 * i + 1));
                    rename(&unit.stage, &unit.live)?;
                }
                // Done.
                (false, true, _) => {}
                _ => {
                    return Err(Error::Other(format!(
                        "restore of {} cannot continue: stage {} {}, live {} {}, replaced {} {}; inspect them by hand",
                        unit.logical.display(),
                        unit.stage.display(),
                        word(stage),
                        unit.live.display(),
                        word(live),
                        unit.old.display(),
                        word(old)
                    )));
                }
            }
        }
        // A delta's renames are flushed together, before the journal moves on to cleanup
        // (which removes what they moved aside): once per filesystem, as a member that is a
        // mount point has its own.
        let mut flushed = std::collections::HashSet::new();
        for unit in self
            .units
            .iter()
            .filter(|u| u.delta.is_some() || u.inside.is_some())
        {
            use std::os::unix::fs::MetadataExt;
            let dev = std::fs::metadata(&unit.live).map(|m| m.dev()).ok();
            if flushed.insert(dev) {
                flush(&unit.live)?;
            }
        }
        Ok(())
    }

    /// Removes the replaced copies (unless kept) — the `cleanup` phase; returns the kept ones.
    ///
    /// # Errors
    /// When a copy cannot be removed.
    pub fn cleanup(&self) -> Result<Vec<PathBuf>> {
        use rayon::prelude::*;
        let mut kept = Vec::new();
        let mut doomed = Vec::new();
        for unit in &self.units {
            // A delta's or a mount point's staging directory is left empty after the swap.
            if (unit.delta.is_some() || unit.inside.is_some()) && exists(&unit.stage) {
                doomed.push(&unit.stage);
            }
            if !exists(&unit.old) {
                continue;
            }
            if self.keep_replaced {
                kept.push(unit.old.clone());
            } else {
                doomed.push(&unit.old);
            }
        }
        // Every unit at once: each unlink may wait on the disk, and the units are independent.
        crate::util::par::io(|| doomed.par_iter().try_for_each(|p| remove(p)))?;
        Ok(kept)
    }

    /// The `cleanup` phase to its end: removes the replaced copies (unless kept), puts the
    /// parents' times back and closes the journal; returns the kept copies.
    ///
    /// # Errors
    /// When a copy cannot be removed or the journal cannot be closed (it then stays, and
    /// recovery does the rest).
    pub fn finish(&self, state: &StateDir) -> Result<Vec<PathBuf>> {
        let kept = self.cleanup()?;
        self.restore_parent_times();
        self.set_mount_points_metadata()?;
        crate::util::fault::point("restore-before-close");
        Journal::close(state)?;
        Ok(kept)
    }

    /// Gives every member that is a mount point its snapshot metadata once more, after the
    /// clean-up removed the hidden directories inside it (which changed its times).
    ///
    /// # Errors
    /// When the metadata cannot be set.
    pub fn set_mount_points_metadata(&self) -> Result<()> {
        self.units.iter().try_for_each(Unit::set_own_metadata)
    }

    /// Puts the times of the directories the restore touched back as they were before it:
    /// the members' parents, or a mount point itself (a completed restore then gives it its
    /// snapshot metadata, [`Journal::set_mount_points_metadata`]).
    pub fn restore_parent_times(&self) {
        for unit in &self.units {
            if let (Some(parent), Some((a, an, m, mn))) = (unit.touched_dir(), unit.parent_times) {
                let _ = filetime::set_file_times(
                    parent,
                    filetime::FileTime::from_unix_time(a, an),
                    filetime::FileTime::from_unix_time(m, mn),
                );
            }
        }
    }

    /// Removes the staging copies (rolling back the `staging` phase).
    ///
    /// # Errors
    /// When a copy cannot be removed.
    pub fn discard_stages(&self) -> Result<()> {
        for unit in &self.units {
            if exists(&unit.stage) {
                remove(&unit.stage)?;
            }
        }
        Ok(())
    }
}

/// The argument that runs lockstep as a restore's background clean-up
/// ([`Journal::hand_off_cleanup`], [`finish_in_background`]): `lockstep __finish-restore DIR`.
pub const FINISH_ARG: &str = "__finish-restore";

/// The lock held by whoever removes a restore's replaced copies once the restore has handed
/// them to a background process: that process, or recovery, which waits for it. Whoever gets
/// it first does the work; the other finds the journal gone.
struct CleanupLock {
    /// Holds the lock while open.
    _file: std::fs::File,
}

impl CleanupLock {
    /// Takes the lock, calling `on_wait` first when a background clean-up holds it.
    fn take(state: &StateDir, on_wait: impl FnOnce()) -> Result<Self> {
        let path = state.path().join("cleanup.lock");
        // 0600 like everything in the state directory (the lock holds no data, but a file
        // others may open is one they may also hold the lock on)
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::io("cannot open", &path, e))?
        };
        match file.try_lock() {
            Ok(()) => return Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => on_wait(),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
        }
        file.lock()
            .map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(Self { _file: file })
    }
}

impl Journal {
    /// Hands the `cleanup` phase to a detached lockstep process, so that the restore returns as
    /// soon as the new set is in place: removing the replaced copies frees thousands of inodes
    /// and changes nothing the set's users see. The journal stays at `cleanup` with no owner
    /// (pid 0) until that process closes it; every lockstep command waits for it first
    /// ([`recover`]), and finishes the work itself if the process died.
    ///
    /// [`HandOff::NotStarted`], having changed nothing, when the process cannot be started:
    /// the caller then cleans up itself.
    ///
    /// # Errors
    /// When the journal or the lock cannot be written, or a copy cannot be removed.
    pub fn hand_off_cleanup(&mut self, state: &StateDir) -> Result<HandOff> {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        // The process runs in `/`: it is given the state directory as an absolute path.
        let (Ok(exe), Ok(dir)) = (std::env::current_exe(), std::path::absolute(state.path()))
        else {
            return Ok(HandOff::NotStarted);
        };
        // Held until the process has started, so nothing else takes the work meanwhile. Without
        // it the restore cleans up itself: the set is in place, which an error must not hide.
        let Ok(lock) = CleanupLock::take(state, || {}) else {
            return Ok(HandOff::NotStarted);
        };
        let owner = self.pid;
        self.pid = 0;
        write_json(&state.journal(), self)?;
        let child = std::process::Command::new(exe)
            .arg(FINISH_ARG)
            .arg(dir)
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            // out of the terminal's process group: a Ctrl-C after lockstep returned is not for it
            .process_group(0)
            .spawn();
        let Ok(mut child) = child else {
            self.pid = owner;
            write_json(&state.journal(), self)?;
            return Ok(HandOff::NotStarted);
        };
        drop(lock);
        // The process says when it holds the lock: from then on, whoever waits on the lock
        // waits for the clean-up to end.
        let mut line = String::new();
        let started = child.stdout.take().is_some_and(|out| {
            std::io::BufReader::new(out).read_line(&mut line).is_ok() && line == "locked\n"
        });
        if started {
            return Ok(HandOff::Background);
        }
        // It died first: the work is done here, under the lock (another command may have
        // taken it meanwhile and done it already).
        let _lock = CleanupLock::take(state, || {})?;
        if let Some(journal) = Journal::load(state)? {
            journal.finish(state)?;
        }
        Ok(HandOff::Done)
    }
}

/// What became of a restore's clean-up ([`Journal::hand_off_cleanup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOff {
    /// A background process removes the replaced copies.
    Background,
    /// They were removed here after all: the background process died before it started.
    Done,
    /// Nothing was handed over: the caller removes them.
    NotStarted,
}

/// The background clean-up ([`Journal::hand_off_cleanup`]): takes the lock, says so on stdout,
/// and removes the replaced copies of the journal's restore, if nobody did yet.
///
/// # Errors
/// When the lock or the journal cannot be handled or a copy cannot be removed; the journal then
/// stays, and the next lockstep command finishes the work and reports what stops it.
pub fn finish_in_background(state: &StateDir) -> Result<()> {
    use std::io::Write;
    crate::util::sys::ignore_hangup();
    crate::util::fault::point("restore-background-start");
    let _lock = CleanupLock::take(state, || {})?;
    {
        let mut out = std::io::stdout().lock();
        // The restore may have gone already; the lock is held either way.
        let _ = out.write_all(b"locked\n").and_then(|()| out.flush());
    }
    let Some(journal) = Journal::load(state)? else {
        return Ok(());
    };
    if journal.phase != JournalPhase::Cleanup || journal.pid != 0 {
        return Ok(());
    }
    crate::util::fault::point("restore-background-cleanup");
    journal.finish(state).map(drop)
}

/// Finishes or rolls back an interrupted restore; `None` when there was nothing to do. A
/// restore's background clean-up is waited for (`on_wait` is called first): then there is
/// nothing left to do, unless that process died.
///
/// # Errors
/// When the journal or the disk state cannot be handled automatically (the message names the
/// paths to inspect).
pub fn recover(state: &StateDir, on_wait: impl FnOnce()) -> Result<Option<Recovery>> {
    if Journal::load(state)?.is_none() {
        return Ok(None);
    }
    let _lock = CleanupLock::take(state, on_wait)?;
    let Some(mut journal) = Journal::load(state)? else {
        return Ok(None);
    };
    if journal.pid != 0
        && journal.pid != std::process::id()
        && crate::ops::preflight::alive(journal.pid)
    {
        return Err(Error::Refused(format!(
            "a restore of snapshot {} is in progress (pid {}); wait for it to finish",
            crate::util::report::short(&journal.snapshot),
            journal.pid
        )));
    }
    let outcome = match journal.phase {
        JournalPhase::Staging => {
            journal.discard_stages()?;
            "rolled-back"
        }
        JournalPhase::Swapping => {
            journal.swap_all()?;
            journal.set_phase(state, JournalPhase::Cleanup)?;
            "completed"
        }
        JournalPhase::Cleanup => "completed",
    };
    let kept = if outcome == "completed" {
        journal.cleanup()?
    } else {
        Vec::new()
    };
    journal.restore_parent_times();
    if outcome == "completed" {
        journal.set_mount_points_metadata()?;
    }
    // The set is now the restored snapshot: recorded as a restore that returned records it
    // (first, so a crash here leaves the journal, and the next recovery records it again).
    if outcome == "completed" {
        state.record_restore(&RestoreRecord {
            set: journal.set.clone(),
            host: journal.host.clone(),
            snapshot: journal.snapshot.clone(),
            time: rustic_core::jiff::Timestamp::now().to_string(),
            // Taken now, after the swap the recovery (or the restore before it) did: later
            // than the swap, so the proof only widens what the next backup compares.
            proof: crate::host::state::RestoreProof::of(
                journal.planned.as_ref(),
                state.clock_mark().as_ref(),
            )
            .map(|proof| crate::host::state::RestoreProof {
                settled: crate::ops::restore::proof::settle_kept(
                    state,
                    &journal.run,
                    &journal.snapshot,
                    (proof.planned, proof.swapped),
                ),
                ..proof
            }),
        })?;
    }
    Journal::close(state)?;
    Ok(Some(Recovery {
        snapshot: journal.snapshot.clone(),
        outcome: outcome.into(),
        kept,
        set: journal.set.clone(),
        host: journal.host.clone(),
    }))
}

/// What a restore journal that cannot be read still tells ([`inspect_damaged`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damaged {
    /// The journal.
    #[serde(serialize_with = "crate::host::root::lossless::serialize")]
    pub journal: PathBuf,
    /// Why it cannot be read.
    pub problem: String,
    /// The absolute paths its text still names (members, staging and replaced copies), with
    /// whether each exists now.
    #[serde(serialize_with = "crate::host::root::lossless::pairs::serialize")]
    pub named: Vec<(PathBuf, bool)>,
    /// Staging (`*.lockstep-stage-*`) and replaced (`*.lockstep-old-*`) copies found beside
    /// those paths and beside the live set's members: what the interrupted restore may have
    /// left, for the administrator to check.
    #[serde(serialize_with = "crate::host::root::lossless::vec::serialize")]
    pub leftovers: Vec<PathBuf>,
}

/// Whether the journal exists and cannot be read; then what it still names, and the staging and
/// replaced copies beside those paths and beside `members` (physical paths of the live set).
/// Reads only.
///
/// # Errors
/// When the state directory cannot be read.
pub fn inspect_damaged(state: &StateDir, members: &[PathBuf]) -> Result<Option<Damaged>> {
    let Some(Err(problem)) = Journal::read(state)? else {
        return Ok(None);
    };
    let path = state.journal();
    let text = std::fs::read(&path).unwrap_or_default();
    let named: Vec<(PathBuf, bool)> = absolute_paths(&String::from_utf8_lossy(&text))
        .into_iter()
        .map(|p| {
            let e = exists(&p);
            (p, e)
        })
        .collect();
    let mut dirs: Vec<PathBuf> = named
        .iter()
        .map(|(p, _)| p)
        .chain(members)
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut leftovers: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.filter_map(std::result::Result::ok))
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.contains(".lockstep-stage-") || name.contains(".lockstep-old-")
        })
        .collect();
    leftovers.sort();
    leftovers.dedup();
    Ok(Some(Damaged {
        journal: path,
        problem,
        named,
        leftovers,
    }))
}

/// The absolute physical paths written in `text`, even when it is cut off or damaged
/// elsewhere: every string value that parses and starts with `/` (or a path's bytes, under
/// `base64`), once each; a member's logical path (`logical`) is left out, as it is not where
/// the files are.
fn absolute_paths(text: &str) -> Vec<PathBuf> {
    use base64::Engine;
    use std::os::unix::ffi::OsStringExt;
    let mut out: Vec<PathBuf> = Vec::new();
    let mut key = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                '\n' => break,
                _ => {}
            }
        }
        let Some(end) = end else {
            rest = after;
            continue;
        };
        let literal = serde_json::from_str::<String>(&rest[start..start + end + 2]).ok();
        rest = &after[end + 1..];
        let Some(s) = literal else {
            continue;
        };
        if rest.trim_start().starts_with(':') {
            key = s;
            continue;
        }
        let path = match key.as_str() {
            "logical" | "shown" => continue,
            "base64" => match base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
                Ok(bytes) => PathBuf::from(std::ffi::OsString::from_vec(bytes)),
                Err(_) => continue,
            },
            _ => PathBuf::from(s),
        };
        if path.is_absolute() && !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// Sets a journal that cannot be read aside (renamed to `restore-journal.json.damaged-<time>`
/// in the state directory), so that lockstep runs again; removes nothing — not the journal, not
/// any staging or replaced copy it may have named. Returns where it went.
///
/// # Errors
/// Refused when the journal is readable (`lockstep recover` handles it); an error when it
/// cannot be moved.
pub fn discard_damaged(state: &StateDir) -> Result<PathBuf> {
    let path = state.journal();
    match Journal::read(state)? {
        None => Err(Error::Usage(format!(
            "there is no restore journal ({}) to set aside",
            path.display()
        ))),
        Some(Ok(_)) => Err(Error::Refused(format!(
            "the restore journal {} is readable: run `lockstep recover` without --discard-journal, which finishes or rolls back the restore it records",
            path.display()
        ))),
        Some(Err(_)) => {
            let stamp = rustic_core::jiff::Timestamp::now()
                .strftime("%Y%m%dT%H%M%S%.fZ")
                .to_string();
            let aside = path.with_file_name(format!("restore-journal.json.damaged-{stamp}"));
            std::fs::rename(&path, &aside).map_err(|e| {
                Error::Other(format!(
                    "cannot set {} aside as {}: {e}",
                    path.display(),
                    aside.display()
                ))
            })?;
            sync_dir(state.path())?;
            Ok(aside)
        }
    }
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

fn word(b: bool) -> &'static str {
    if b { "exists" } else { "is missing" }
}

/// Renames without syncing the directory (a delta syncs the filesystem once at the end).
fn rename_only(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        Error::Other(format!(
            "cannot rename {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

/// Flushes the filesystem holding `path` (the staged data, every rename of a delta swap) to
/// disk.
///
/// # Errors
/// When `path` cannot be opened or the flush fails.
pub fn flush(path: &Path) -> Result<()> {
    let dir = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    rustix::fs::syncfs(&dir)
        .map_err(|e| Error::io("cannot flush the filesystem of", path, e.into()))
}

/// Renames and syncs the directory renamed into.
fn rename(from: &Path, to: &Path) -> Result<()> {
    rename_only(from, to)?;
    if let Some(parent) = to.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Removes a file or a whole directory tree that lockstep created.
///
/// # Errors
/// When it cannot be removed.
pub fn remove(p: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(p).map_err(|e| Error::io("cannot inspect", p, e))?;
    if meta.is_dir() {
        // Root passes any permission check; only another user needs the tree opened up first.
        if !crate::config::is_root() {
            make_writable(p);
        }
        crate::util::par::io(|| remove_tree(p)).map_err(|e| Error::io("cannot remove", p, e))
    } else {
        std::fs::remove_file(p).map_err(|e| Error::io("cannot remove", p, e))
    }
}

/// Removes directory `dir` and everything in it, every directory's entries in parallel (call
/// it on the I/O pool: a replaced product directory holds tens of thousands of files, and each
/// unlink may wait on the disk). Symlinks are removed, never followed.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    use rayon::prelude::*;
    let children = std::fs::read_dir(dir)?
        .map(|e| e.and_then(|e| Ok((e.path(), e.file_type()?.is_dir()))))
        .collect::<std::io::Result<Vec<_>>>()?;
    children.par_iter().try_for_each(|(path, is_dir)| {
        if *is_dir {
            remove_tree(path)
        } else {
            std::fs::remove_file(path)
        }
    })?;
    std::fs::remove_dir(dir)
}

/// Gives the owner write and search permission on every directory under `p`, so a tree with
/// read-only directories (restored exactly as recorded) can be removed by a non-root user.
fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(p)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_dir()
            && let Ok(m) = entry.metadata()
        {
            let mode = m.permissions().mode();
            if mode & 0o700 != 0o700 {
                let _ = std::fs::set_permissions(
                    entry.path(),
                    std::fs::Permissions::from_mode(mode | 0o700),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_path_names_the_entry_it_is_staged_for() {
        let delta = Delta {
            put: vec![PathBuf::from("a/b"), PathBuf::from("c")],
            remove: Vec::new(),
            dirs: Vec::new(),
            flat: true,
        };
        for i in 0..2 {
            let at = delta.staged(Path::new(""), i);
            assert_eq!(delta.unstaged(&at).as_ref(), Some(&delta.put[i]));
            assert_eq!(
                delta.unstaged(&at.join("x/y")),
                Some(delta.put[i].join("x/y"))
            );
        }
        for stray in ["p2", "q0", "p", "px/y"] {
            assert_eq!(delta.unstaged(Path::new(stray)), None, "{stray}");
        }
    }

    fn journal(dir: &Path, phase: JournalPhase) -> Journal {
        Journal {
            version: VERSION,
            run: "r1".into(),
            pid: 0,
            snapshot: "s".into(),
            set: "admin".into(),
            host: "h".into(),
            keep_replaced: false,
            phase,
            units: vec![Unit {
                logical: "/m".into(),
                live: dir.join("m"),
                stage: dir.join("m.lockstep-stage-r1"),
                old: dir.join("m.lockstep-old-r1"),
                existed: true,
                parent_times: None,
                delta: None,
                inside: None,
            }],
            planned: None,
        }
    }

    fn setup() -> (tempfile::TempDir, StateDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/f"), "old").unwrap();
        std::fs::create_dir_all(dir.path().join("m.lockstep-stage-r1")).unwrap();
        std::fs::write(dir.path().join("m.lockstep-stage-r1/f"), "new").unwrap();
        let state = StateDir::at(dir.path().join("state"));
        (dir, state)
    }

    fn content(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("m/f")).unwrap()
    }

    #[test]
    fn staging_rolls_back() {
        let (dir, state) = setup();
        Journal::create(&state, &journal(dir.path(), JournalPhase::Staging)).unwrap();
        let r = recover(&state, || {}).unwrap().unwrap();
        assert_eq!(r.outcome, "rolled-back");
        assert_eq!(content(dir.path()), "old");
        assert!(!dir.path().join("m.lockstep-stage-r1").exists());
        assert!(recover(&state, || {}).unwrap().is_none(), "idempotent");
    }

    #[test]
    fn swapping_rolls_forward_from_every_intermediate_state() {
        for moved_aside in [false, true] {
            let (dir, state) = setup();
            if moved_aside {
                std::fs::rename(dir.path().join("m"), dir.path().join("m.lockstep-old-r1"))
                    .unwrap();
            }
            Journal::create(&state, &journal(dir.path(), JournalPhase::Swapping)).unwrap();
            let r = recover(&state, || {}).unwrap().unwrap();
            assert_eq!(r.outcome, "completed");
            assert_eq!(content(dir.path()), "new");
            assert!(!dir.path().join("m.lockstep-old-r1").exists());
            assert!(!state.journal().exists());
        }
    }

    /// A delta swap killed after any of its renames is finished by recovery: `a` replaced,
    /// `gone` moved aside, `new` put in, the directory's metadata set, nothing left over.
    #[test]
    fn a_delta_swap_rolls_forward_from_every_intermediate_state() {
        let node: rustic_core::repofile::Node = serde_json::from_value(serde_json::json!({
            "name": "m", "type": "dir", "mode": 2_147_484_141_u32,
            "mtime": "2020-01-02T03:04:05Z", "uid": 0, "gid": 0
        }))
        .unwrap();
        // Renames in the order the swap does them: gone aside, a aside, a in, new in; in the
        // flat layout and in the sparse one of earlier journals.
        for (flat, done) in [false, true]
            .into_iter()
            .flat_map(|f| (0..=4).map(move |d| (f, d)))
        {
            let (dir, state) = setup();
            let d = dir.path();
            std::fs::write(d.join("m/gone"), "surplus").unwrap();
            let (staged_f, staged_new, aside_f, aside_gone) = if flat {
                ("p0", "p1", "p0", "r0")
            } else {
                ("f", "new", "f", "gone")
            };
            let stage = |n: &str| format!("m.lockstep-stage-r1/{n}");
            let old = |n: &str| format!("m.lockstep-old-r1/{n}");
            std::fs::write(d.join("m.lockstep-stage-r1/f"), "new").unwrap();
            if flat {
                std::fs::rename(d.join(stage("f")), d.join(stage(staged_f))).unwrap();
            }
            std::fs::write(d.join(stage(staged_new)), "new file").unwrap();
            std::fs::create_dir_all(d.join("m.lockstep-old-r1")).unwrap();
            let steps = [
                ("m/gone".to_owned(), old(aside_gone)),
                ("m/f".to_owned(), old(aside_f)),
                (stage(staged_f), "m/f".to_owned()),
                (stage(staged_new), "m/new".to_owned()),
            ];
            for (from, to) in steps.iter().take(done) {
                std::fs::rename(d.join(from), d.join(to)).unwrap();
            }
            let mut j = journal(d, JournalPhase::Swapping);
            j.units[0].delta = Some(Delta {
                put: vec!["f".into(), "new".into()],
                remove: vec!["gone".into()],
                dirs: vec![(PathBuf::new(), node.clone())],
                flat,
            });
            Journal::create(&state, &j).unwrap();
            let r = recover(&state, || {}).unwrap().unwrap();
            assert_eq!(r.outcome, "completed", "after {done} renames");
            assert_eq!(content(d), "new", "after {done} renames");
            assert_eq!(
                std::fs::read_to_string(d.join("m/new")).unwrap(),
                "new file"
            );
            assert!(!d.join("m/gone").exists(), "after {done} renames");
            assert!(!d.join("m.lockstep-old-r1").exists());
            assert!(!d.join("m.lockstep-stage-r1").exists());
            let mtime = filetime::FileTime::from_last_modification_time(
                &std::fs::metadata(d.join("m")).unwrap(),
            );
            assert_eq!(mtime.unix_seconds(), 1_577_934_245, "after {done} renames");
        }
    }

    /// A mount point's contents swap killed after any of its renames is finished by recovery:
    /// the old entries (`f`, `gone`) aside, the staged ones (`f`, `new`) in, the member given
    /// its snapshot metadata, the hidden directories removed; a crash while staging rolls back
    /// with the member's times as they were.
    #[test]
    fn a_contents_swap_rolls_forward_from_every_intermediate_state() {
        let node: rustic_core::repofile::Node = serde_json::from_value(serde_json::json!({
            "name": "m", "type": "dir", "mode": 2_147_484_141_u32,
            "mtime": "2020-01-02T03:04:05Z", "uid": 0, "gid": 0
        }))
        .unwrap();
        let mtime_of = |p: &Path| {
            filetime::FileTime::from_last_modification_time(&std::fs::metadata(p).unwrap())
                .unix_seconds()
        };
        // Renames in the order the swap may do them: old entries aside, then staged ones in.
        for done in 0..=4 {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let state = StateDir::at(d.join("state"));
            let m = d.join("m");
            std::fs::create_dir_all(m.join(".lockstep-stage-r1")).unwrap();
            std::fs::write(m.join("f"), "old").unwrap();
            std::fs::write(m.join("gone"), "surplus").unwrap();
            std::fs::write(m.join(".lockstep-stage-r1/f"), "new").unwrap();
            std::fs::write(m.join(".lockstep-stage-r1/new"), "new file").unwrap();
            std::fs::create_dir(m.join(".lockstep-old-r1")).unwrap();
            let steps = [
                ("f", ".lockstep-old-r1/f"),
                ("gone", ".lockstep-old-r1/gone"),
                (".lockstep-stage-r1/f", "f"),
                (".lockstep-stage-r1/new", "new"),
            ];
            for (from, to) in steps.iter().take(done) {
                std::fs::rename(m.join(from), m.join(to)).unwrap();
            }
            let mut j = journal(d, JournalPhase::Swapping);
            j.units[0].stage = m.join(".lockstep-stage-r1");
            j.units[0].old = m.join(".lockstep-old-r1");
            j.units[0].inside = Some(Inside {
                staged: vec!["f".into(), "new".into()],
                node: Some(node.clone()),
            });
            j.version = version_for(&j.units);
            assert_eq!(j.version, VERSION);
            Journal::create(&state, &j).unwrap();
            let r = recover(&state, || {}).unwrap().unwrap();
            assert_eq!(r.outcome, "completed", "after {done} renames");
            assert_eq!(content(d), "new", "after {done} renames");
            assert_eq!(std::fs::read_to_string(m.join("new")).unwrap(), "new file");
            assert!(!m.join("gone").exists(), "after {done} renames");
            let mut left: Vec<_> = std::fs::read_dir(&m)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            left.sort();
            assert_eq!(left, ["f", "new"], "after {done} renames");
            assert_eq!(mtime_of(&m), 1_577_934_245, "after {done} renames");
        }
        // Killed while staging: the stage goes, the member's times come back.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let state = StateDir::at(d.join("state"));
        let m = d.join("m");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("f"), "old").unwrap();
        filetime::set_file_mtime(&m, filetime::FileTime::from_unix_time(1_000_000_000, 0)).unwrap();
        let mut j = journal(d, JournalPhase::Staging);
        j.units[0].stage = m.join(".lockstep-stage-r1");
        j.units[0].old = m.join(".lockstep-old-r1");
        j.units[0].inside = Some(Inside::default());
        j.units[0].capture_parent_times();
        std::fs::create_dir(&j.units[0].stage).unwrap();
        Journal::create(&state, &j).unwrap();
        let r = recover(&state, || {}).unwrap().unwrap();
        assert_eq!(r.outcome, "rolled-back");
        assert_eq!(content(d), "old");
        assert!(!j.units[0].stage.exists());
        assert_eq!(mtime_of(&m), 1_000_000_000);
    }

    /// A journal cut off halfway still tells where its copies are, logical paths left out.
    #[test]
    fn a_cut_off_journal_still_names_its_copies() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(dir.path(), JournalPhase::Staging);
        j.units[0].stage = dir
            .path()
            .join(std::ffi::OsStr::from_bytes(b"m\xff.lockstep-stage-r1"));
        let text = serde_json::to_string_pretty(&j).unwrap();
        let cut = &text[..text.find("\"old\"").unwrap() + 10];
        let named = absolute_paths(cut);
        assert_eq!(named, vec![dir.path().join("m"), j.units[0].stage.clone()]);
        let state = StateDir::at(dir.path().join("state"));
        std::fs::create_dir_all(state.path()).unwrap();
        std::fs::write(state.journal(), cut).unwrap();
        let damaged = inspect_damaged(&state, &[]).unwrap().unwrap();
        assert!(
            damaged.problem.contains("ends early"),
            "{}",
            damaged.problem
        );
        assert!(
            Journal::load(&state)
                .unwrap_err()
                .to_string()
                .contains("lockstep recover")
        );
        let aside = discard_damaged(&state).unwrap();
        assert!(aside.exists() && !state.journal().exists());
        assert!(discard_damaged(&state).is_err());
    }

    #[test]
    fn a_second_restore_waits_for_recovery() {
        let (dir, state) = setup();
        Journal::create(&state, &journal(dir.path(), JournalPhase::Staging)).unwrap();
        let err = Journal::create(&state, &journal(dir.path(), JournalPhase::Staging)).unwrap_err();
        assert!(err.to_string().contains("lockstep recover"));
    }
}
