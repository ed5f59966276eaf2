//! lockstep's state directory: the restore journal and what was last restored.
//!
//! `--state-dir DIR`, else `$LOCKSTEP_STATE_DIR`, else `/var/lib/lockstep/state` as root and
//! `$XDG_STATE_HOME/lockstep` (or `~/.local/state/lockstep`) otherwise. Files here are small JSON
//! documents written atomically (temporary file, fsync, rename, fsync of the directory), so a
//! crash leaves either the old or the new version.
//!
//! The directory holds what other local users must not read (the journal names every file of a
//! restore; guard logs hold the maintenance command's output), so lockstep creates it 0700 and
//! its files 0600 whatever the umask ([`create_private_dir`]); `check` warns about an existing
//! one that others can read.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    dir: PathBuf,
}

/// What was last restored in place for a set on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// The set.
    pub set: String,
    /// The host name.
    pub host: String,
    /// The snapshot restored (full id).
    pub snapshot: String,
    /// When the restore finished (RFC 3339).
    pub time: String,
    /// The clock readings that let the next backup prove the live set is still this snapshot
    /// without reading it ([`RestoreProof`]); absent for restores that could not take them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<RestoreProof>,
}

/// A reading of the clock the kernel stamps ctimes with, on one boot of the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockMark {
    /// The kernel's boot id: ctimes of another boot may come from a clock set differently.
    pub boot: String,
    /// The ctime of a file created at that moment (seconds, nanoseconds).
    pub ctime: (i64, i64),
}

/// When an in-place restore planned and when it had swapped its last entry in, on one boot.
///
/// Every change to an entry sets its ctime to the kernel's clock, and nothing can set it back.
/// So an entry whose ctime is not later than `planned` has not changed since the restore
/// planned (and the plan proved it to be the snapshot's); an entry changed after that and not
/// later than `swapped` was put there by the restore or touched while it ran (the next backup
/// compares those with the snapshot's tree); a later ctime is a change after the restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreProof {
    /// The boot both readings were taken on.
    pub boot: String,
    /// Before the restore looked at the live set.
    pub planned: (i64, i64),
    /// After the last entry was swapped in and its directory's metadata set.
    pub swapped: (i64, i64),
    /// The digest of the entries the restore changed, as it checked them right after the swap
    /// ([`crate::ops::restore::proof::settle`]); absent when it could not check them all (the
    /// next backup then reads the snapshot's trees).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<String>,
}

impl RestoreProof {
    /// The proof of a restore planned at `planned` and swapped by `swapped`; `None` unless both
    /// were taken on the same boot.
    #[must_use]
    pub fn of(planned: Option<&ClockMark>, swapped: Option<&ClockMark>) -> Option<Self> {
        let (planned, swapped) = (planned?, swapped?);
        (planned.boot == swapped.boot).then(|| Self {
            boot: planned.boot.clone(),
            planned: planned.ctime,
            swapped: swapped.ctime,
            settled: None,
        })
    }
}

/// The kernel's id of this boot, when it tells.
#[must_use]
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

impl StateDir {
    /// Resolves the state directory: `flag` > `env` > default.
    ///
    /// # Errors
    /// When no default can be derived (no `HOME` for a non-root user).
    pub fn resolve(flag: Option<&Path>, env: Option<&Path>) -> Result<Self> {
        if let Some(dir) = flag.or(env) {
            return Ok(Self {
                dir: dir.to_path_buf(),
            });
        }
        let dir = crate::config::Place::State.dir().ok_or_else(|| {
            Error::Usage("no state directory: set LOCKSTEP_STATE_DIR or HOME".into())
        })?;
        Ok(Self { dir })
    }

    /// A state directory at `dir`.
    #[must_use]
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The restore journal's path.
    #[must_use]
    pub fn journal(&self) -> PathBuf {
        self.dir.join("restore-journal.json")
    }

    /// Where an in-place restore keeps, until its journal closes, what its check after the swap
    /// needs ([`crate::ops::restore::proof::Pending`]).
    #[must_use]
    pub fn pending_settle(&self) -> PathBuf {
        self.dir.join("restore-settle.json")
    }

    fn record_path(&self, host: &str, set: &str) -> PathBuf {
        let safe = |s: &str| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        };
        self.dir
            .join("restored")
            .join(format!("{}--{}.json", safe(host), safe(set)))
    }

    /// Records that `record.snapshot` was restored in place.
    ///
    /// # Errors
    /// When the state directory cannot be written.
    pub fn record_restore(&self, record: &RestoreRecord) -> Result<()> {
        let path = self.record_path(&record.host, &record.set);
        write_json(&path, record)
    }

    /// Reads the ctime clock now: creates a file in the state directory, reads its ctime and
    /// removes it. `None` when that is not possible (no boot id, a state directory that cannot
    /// be written): the restore then records no [`RestoreProof`].
    #[must_use]
    pub fn clock_mark(&self) -> Option<ClockMark> {
        use std::os::unix::fs::MetadataExt;
        let boot = boot_id()?;
        create_private_dir(&self.dir).ok()?;
        let file = tempfile::Builder::new()
            .prefix(".clock-")
            .tempfile_in(&self.dir)
            .ok()?;
        let meta = file.as_file().metadata().ok()?;
        Some(ClockMark {
            boot,
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// What was last restored in place for `set` on `host`, if anything.
    #[must_use]
    pub fn last_restore(&self, host: &str, set: &str) -> Option<RestoreRecord> {
        let text = std::fs::read_to_string(self.record_path(host, set)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Writes `value` as JSON to `path` atomically and durably.
///
/// # Errors
/// When the directory or file cannot be written.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Other(format!("{} has no parent directory", path.display())))?;
    create_private_dir(dir)?;
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Other(format!("cannot encode {}: {e}", path.display())))?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = private_file(&tmp).map_err(|e| Error::io("cannot write", &tmp, e))?;
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io("cannot write", &tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot replace", path, e))?;
    sync_dir(dir)
}

/// Creates `dir` and its missing ancestors with mode 0700 (only the owner may enter), whatever
/// the umask. Existing directories keep their mode.
///
/// # Errors
/// When a directory cannot be created.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("cannot create", dir, e))
}

/// Creates (or truncates) `path` for writing with mode 0600 (only the owner may read), whatever
/// the umask: what lockstep writes into its state directory.
///
/// # Errors
/// When the file cannot be created.
pub fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // an existing file keeps its mode on open: make it private too
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// fsyncs a directory, so renames and creations in it are durable.
///
/// # Errors
/// When the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot sync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RestoreRecord {
        RestoreRecord {
            set: "admin".into(),
            host: "dx1".into(),
            snapshot: "ab".into(),
            time: "2026-01-01T00:00:00Z".into(),
            proof: None,
        }
    }

    #[test]
    fn the_clock_mark_orders_changes_before_and_after_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().join("state"));
        let ctime = |p: &Path| {
            let m = std::fs::metadata(p).unwrap();
            (m.ctime(), m.ctime_nsec())
        };
        let before = dir.path().join("before");
        std::fs::write(&before, "x").unwrap();
        let Some(mark) = state.clock_mark() else {
            // no boot id (not Linux): no proof is ever recorded
            assert!(boot_id().is_none());
            return;
        };
        assert_eq!(Some(&mark.boot), boot_id().as_ref());
        let after = dir.path().join("after");
        std::fs::write(&after, "y").unwrap();
        assert!(ctime(&before) <= mark.ctime);
        assert!(ctime(&after) >= mark.ctime);
        // The marker file is gone; the state directory is private.
        assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0);
        let again = state.clock_mark().unwrap();
        assert_eq!(
            RestoreProof::of(Some(&mark), Some(&again)).map(|p| p.planned),
            Some(mark.ctime)
        );
        let other_boot = ClockMark {
            boot: "another".into(),
            ..again
        };
        assert_eq!(RestoreProof::of(Some(&mark), Some(&other_boot)), None);
        assert_eq!(RestoreProof::of(None, Some(&mark)), None);
    }

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path());
        assert!(state.last_restore("dx1", "admin").is_none());
        let r = record();
        state.record_restore(&r).unwrap();
        assert_eq!(state.last_restore("dx1", "admin"), Some(r));
        assert!(state.last_restore("dx1/../x", "admin").is_none());
    }

    #[test]
    fn state_files_are_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().join("state"));
        let r = record();
        state.record_restore(&r).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(state.path()), 0o700);
        assert_eq!(mode(&state.path().join("restored")), 0o700);
        assert_eq!(mode(&state.record_path("dx1", "admin")), 0o600);
    }

    #[test]
    fn flag_beats_env() {
        let s = StateDir::resolve(Some(Path::new("/a")), Some(Path::new("/b"))).unwrap();
        assert_eq!(s.path(), Path::new("/a"));
        let s = StateDir::resolve(None, Some(Path::new("/b"))).unwrap();
        assert_eq!(s.path(), Path::new("/b"));
    }
}
