//! The repository: a thin layer over `rustic_core` + `rustic_backend`.
//!
//! lockstep writes no storage format of its own. Repositories are restic-format (content-defined
//! chunking, deduplication, zstd, AES-256 + Poly1305), so restic 0.14+ and rustic read every
//! lockstep repository. This module only resolves *where* the repository is and *which* password
//! opens it, turns the engine's errors into one line that says what to do, and finds a set's
//! snapshots.
//!
//! 1. Where and with what: [`RepoSpec`] resolves the repository (flag, environment,
//!    configuration, default) and the remote tier; [`PasswordSource`] finds the password.
//! 2. Opening and errors: the engine's errors become one line that says what to do
//!    ([`explain`]); [`contain`] keeps the engine's panics from reaching the administrator.
//! 3. Snapshots of a set: [`set_snapshots`], [`newest_consistent`], [`resolve_latest`]; each
//!    carries its [`manifest`] (the set, IM's inventory, the consistency verdict).
//! 4. Trees: [`tree`] lists and builds snapshot trees; [`progress`] shows long repository work.
//!
//! Two things it adds to the engine. Snapshot files are read one by one ([`load_snapshots`]):
//! the engine's own listing fails on the first damaged file, which would lock every command out
//! of every intact snapshot; a damaged file is skipped and named instead ([`take_damaged`] is
//! what the command line warns about). And a local repository is private to its owner whatever
//! the umask ([`private`]): directories 0700 and files 0600, as restic makes them, because its
//! key file and packs are an offline attack on the password for anyone who can copy them.

pub use crate::error::{explain, local_message, store_message, with_causes};
pub use password::PasswordSource;

pub mod contain;
pub mod manifest;
pub mod password;
pub mod progress;
pub mod tree;

use std::collections::BTreeMap;
use std::path::PathBuf;

use rustic_backend::BackendOptions;
use rustic_core::repofile::SnapshotFile;
use rustic_core::{
    ConfigOptions, Credentials, KeyOptions, OpenStatus, Repository, RepositoryOptions,
};

use crate::config::Config;
use crate::repo::manifest::{Manifest, TAG, set_tag};
use crate::repo::progress::{ProgressMode, Reporter};
use crate::{Error, Result};

/// An opened repository, ready for listing snapshots.
pub type OpenRepo = Repository<OpenStatus>;

/// Where the repository is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// A local directory or a rustic backend string (`opendal:s3`, `rest:http://…`, `sftp:…`).
    pub location: String,
    /// Backend options (rustic's `options`).
    pub options: BTreeMap<String, String>,
}

impl RepoSpec {
    /// Resolves the location: `flag` > `LOCKSTEP_REPOSITORY` (passed in as `env`) > configuration
    /// file > default (`/var/lib/lockstep/repo` as root, `$XDG_DATA_HOME/lockstep/repo` otherwise).
    ///
    /// # Errors
    /// When no location is given and no default can be derived (no `HOME`).
    pub fn resolve(flag: Option<&str>, env: Option<&str>, config: &Config) -> Result<Self> {
        let location = flag
            .or(env)
            .map(str::to_owned)
            .or_else(|| config.repository.clone())
            .filter(|s| !s.is_empty())
            .map_or_else(default_location, Ok)?;
        Ok(Self {
            location,
            options: config.repository_options.clone(),
        })
    }

    /// The remote (disaster-recovery) repository from the configuration's `remote` and
    /// `[remote-options]`, when one is configured.
    #[must_use]
    pub fn remote(config: &Config) -> Option<Self> {
        config
            .remote
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|location| Self {
                location: location.clone(),
                options: config.remote_options.clone(),
            })
    }

    /// The repository as people name it in messages: the location, and for an object store
    /// its bucket, endpoint and root (never credentials).
    #[must_use]
    pub fn describe(&self) -> String {
        if !self.location.starts_with("opendal:") {
            return self.location.clone();
        }
        let mut parts = Vec::new();
        if let Some(b) = self.options.get("bucket") {
            parts.push(format!("bucket {b}"));
        }
        if let Some(e) = self.options.get("endpoint") {
            parts.push(format!("at {e}"));
        }
        if let Some(r) = self
            .options
            .get("root")
            .filter(|r| !r.is_empty() && *r != "/")
        {
            parts.push(format!("root {r}"));
        }
        if parts.is_empty() {
            self.location.clone()
        } else {
            format!("{} ({})", self.location, parts.join(" "))
        }
    }

    /// The options handed to the backend. For `opendal:s3`, credentials missing from the
    /// configuration come from the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`
    /// variables (opendal also reads `~/.aws/credentials`); nothing comes from argv.
    fn backend_options(&self) -> BTreeMap<String, String> {
        let mut options = self.options.clone();
        if self.location == "opendal:s3" {
            for (key, var) in [
                ("access_key_id", "AWS_ACCESS_KEY_ID"),
                ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
                ("session_token", "AWS_SESSION_TOKEN"),
            ] {
                if !options.contains_key(key)
                    && let Ok(value) = std::env::var(var)
                    && !value.is_empty()
                {
                    options.insert(key.to_owned(), value);
                }
            }
        }
        options
    }

    /// One line for a backend failure: what was tried, where, and the HTTP status when the
    /// store answered with one.
    fn backend_error(&self, action: &str, e: &rustic_core::RusticError) -> Error {
        Error::Repo(format!("{action} {}: {}", self.describe(), explain(e)))
    }

    /// The local directory, when the repository is a plain local path.
    #[must_use]
    pub fn local_dir(&self) -> Option<PathBuf> {
        let loc = self
            .location
            .strip_prefix("local:")
            .unwrap_or(&self.location);
        // Backend strings have a `kind:` prefix; local paths are absolute or relative paths.
        if loc.starts_with('/') || loc.starts_with('.') || !loc.contains(':') {
            Some(PathBuf::from(loc))
        } else {
            None
        }
    }

    fn backends(&self) -> Result<rustic_core::RepositoryBackends> {
        let mut opts = BackendOptions::default().repository(self.location.clone());
        opts.options = self.backend_options();
        let backends = opts
            .to_backends()
            .map_err(|e| self.backend_error("cannot use repository", &e))?;
        Ok(match self.local_dir() {
            Some(dir) => rustic_core::RepositoryBackends::new(
                std::sync::Arc::new(private::PrivateLocal::new(backends.repository(), dir)),
                backends.repo_hot(),
            ),
            None => backends,
        })
    }

    /// Whether the repository lists no key file at all.
    fn has_no_keys(&self) -> bool {
        self.raw_backend()
            .and_then(|be| Ok(be.list(rustic_core::FileType::Key)?))
            .is_ok_and(|keys| keys.is_empty())
    }

    /// The repository's backend without the engine's decryption: for listing and removing
    /// files the engine cannot read (see [`crate::ops::repair`]).
    ///
    /// # Errors
    /// When the backend cannot be set up.
    pub fn raw_backend(&self) -> Result<std::sync::Arc<dyn rustic_core::WriteBackend>> {
        Ok(self.backends()?.repository())
    }

    fn repository(&self, progress: ProgressMode) -> Result<Repository<()>> {
        let mut opts = RepositoryOptions::default();
        // A local repository needs no cache; it would only double the disk used.
        opts.no_cache = self.local_dir().is_some();
        Repository::new_with_progress(&opts, &self.backends()?, Reporter::new(progress))
            .map_err(|e| self.backend_error("cannot open repository", &e))
    }

    /// Creates a new repository.
    ///
    /// # Errors
    /// When a repository already exists there, or the backend fails.
    pub fn init(&self, password: &str) -> Result<OpenRepo> {
        self.init_as(password, Tier::Repository)
    }

    /// Creates the remote (disaster-recovery) repository, with the remote's own password.
    ///
    /// # Errors
    /// As [`Self::init`]; the messages name the remote.
    pub fn init_remote(&self, password: &str) -> Result<OpenRepo> {
        self.init_as(password, Tier::Remote)
    }

    fn init_as(&self, password: &str, tier: Tier) -> Result<OpenRepo> {
        let exists = |at: String| {
            Error::Refused(match tier {
                Tier::Repository => format!(
                    "a repository already exists at {at}; use it, or choose another location with --repo"
                ),
                Tier::Remote => format!(
                    "a remote repository already exists at {at}; nothing was changed (use it, or set another `remote` in the configuration)"
                ),
            })
        };
        if let Some(dir) = self.local_dir()
            && dir.join("config").exists()
        {
            return Err(exists(dir.display().to_string()));
        }
        let repo = self.repository(ProgressMode::Hidden)?;
        if repo
            .config_id()
            .map_err(|e| self.backend_error("cannot reach repository", &e))?
            .is_some()
        {
            return Err(exists(self.describe()));
        }
        repo.init(
            &Credentials::password(password),
            &KeyOptions::default(),
            &ConfigOptions::default(),
        )
        .map_err(|e| self.backend_error("cannot create repository at", &e))
    }

    /// Opens an existing repository.
    ///
    /// # Errors
    /// When there is no repository (says to run `lockstep init`), the password is wrong, or the
    /// backend fails.
    pub fn open(&self, password: &str) -> Result<OpenRepo> {
        self.open_with_progress(password, ProgressMode::Hidden)
    }

    /// Opens an existing repository whose long operations report progress as `progress` says
    /// (see [`crate::repo::progress`]).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_with_progress(&self, password: &str, progress: ProgressMode) -> Result<OpenRepo> {
        self.open_as(password, progress, Tier::Repository)
    }

    /// Opens the remote (disaster-recovery) repository with the remote's password: as
    /// [`Self::open_with_progress`], but a missing repository or a wrong password is said of
    /// the remote, with the remote's password sources to check.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_remote(&self, password: &str, progress: ProgressMode) -> Result<OpenRepo> {
        self.open_as(password, progress, Tier::Remote)
    }

    fn open_as(&self, password: &str, progress: ProgressMode, tier: Tier) -> Result<OpenRepo> {
        let _t = crate::util::timing::phase("open repository");
        let missing = || {
            Error::Repo(match tier {
                Tier::Repository => format!(
                    "no repository at {}: create one with `lockstep init` (or point --repo / LOCKSTEP_REPOSITORY at an existing one)",
                    self.describe()
                ),
                Tier::Remote => format!(
                    "no remote repository at {}: create it with `lockstep init --remote` (or correct `remote` and `[remote-options]` in the configuration)",
                    self.describe()
                ),
            })
        };
        if let Some(dir) = self.local_dir() {
            match std::fs::metadata(dir.join("config")) {
                Ok(m) if m.is_file() => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(Error::Repo(format!(
                        "cannot read the repository at {}: permission denied; run lockstep as the repository's owner (or root), or fix its permissions",
                        dir.display()
                    )));
                }
                _ => return Err(missing()),
            }
        }
        let repo = self.repository(progress)?;
        if repo
            .config_id()
            .map_err(|e| self.backend_error("cannot reach repository", &e))?
            .is_none()
        {
            return Err(missing());
        }
        repo.open(&Credentials::password(password)).map_err(|e| {
            if e.is_incorrect_password() && self.has_no_keys() {
                // The engine says "wrong password" when no key matches, also when there is none.
                Error::Repo(format!(
                    "repository {} has no key file (keys/ is empty): no password can open it; put back keys/ from a copy of the repository",
                    self.describe()
                ))
            } else if e.is_incorrect_password() {
                Error::Repo(match tier {
                    Tier::Repository => format!(
                        "wrong password for repository {}: check the first of these that is set: {}",
                        self.describe(),
                        PasswordSource::all_names(tier)
                    ),
                    Tier::Remote => format!(
                        "wrong password for the remote repository {}: check the first of these that is set: {} (without any, the remote is opened with the repository's password)",
                        self.describe(),
                        PasswordSource::all_names(tier)
                    ),
                })
            } else {
                self.backend_error("cannot open repository", &e)
            }
        })
    }
}

/// Which of the two repositories a [`RepoSpec`] is opened as (or a [`PasswordSource`] is
/// for): only the messages differ.
#[derive(Debug, Clone, Copy, Default)]
pub enum Tier {
    /// The repository backups go to.
    #[default]
    Repository,
    /// The disaster-recovery copy (`remote` in the configuration).
    Remote,
}

fn default_location() -> Result<String> {
    let base = crate::config::Place::Data.dir().ok_or_else(|| {
        Error::Usage("no repository given and no HOME to put one in: use --repo DIR".into())
    })?;
    Ok(base.join("repo").to_string_lossy().into_owned())
}

/// A lockstep snapshot with its manifest.
#[derive(Debug, Clone)]
pub struct SetSnapshot {
    /// The snapshot file as the repository stores it.
    pub snapshot: SnapshotFile,
    /// Its manifest, when it has one lockstep can read.
    pub manifest: Option<Manifest>,
}

impl SetSnapshot {
    /// The snapshot's full id (64 hex digits).
    #[must_use]
    pub fn id(&self) -> String {
        self.snapshot.id.to_hex().as_str().to_owned()
    }

    /// The snapshot's set name (from its tag).
    #[must_use]
    pub fn set_name(&self) -> Option<String> {
        self.snapshot
            .tags
            .iter()
            .find_map(|t| t.strip_prefix("set=").map(str::to_owned))
    }
}

/// A snapshot file the repository lists but that cannot be read: damaged bytes, emptied,
/// not a snapshot at all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DamagedSnapshot {
    /// The file's id (its name under `snapshots/`, 64 hex digits).
    pub id: String,
    /// Why it cannot be read, in the engine's words made short.
    pub problem: String,
}

impl DamagedSnapshot {
    /// One line for the administrator: which file, why, and what removes it.
    #[must_use]
    pub fn warning(&self) -> String {
        format!(
            "snapshot file snapshots/{} is damaged ({}) and was skipped; `lockstep forget {}` or `lockstep repair snapshots` removes it",
            self.id,
            self.problem,
            crate::util::report::short(&self.id)
        )
    }
}

/// The snapshots of a repository as [`load_snapshots`] found them.
#[derive(Debug, Default)]
pub struct LoadedSnapshots {
    /// The snapshot files that were read.
    pub intact: Vec<SnapshotFile>,
    /// The snapshot files that could not be read, by id.
    pub damaged: Vec<DamagedSnapshot>,
}

/// Damaged snapshot files met by [`all_snapshots`] in this process, for the command line to
/// warn about once ([`take_damaged`]).
static DAMAGED: std::sync::Mutex<BTreeMap<String, DamagedSnapshot>> =
    std::sync::Mutex::new(BTreeMap::new());

/// The damaged snapshot files [`all_snapshots`] skipped since the last call, each once.
#[must_use]
pub fn take_damaged() -> Vec<DamagedSnapshot> {
    DAMAGED
        .lock()
        .map(|mut d| std::mem::take(&mut *d).into_values().collect())
        .unwrap_or_default()
}

/// Every snapshot file of the repository, read one by one: the intact ones, and the ids of
/// those that cannot be read. The engine's own listing stops at the first damaged file, which
/// would make every intact snapshot unreachable (restic lists and restores them).
///
/// Hosts back up into one repository at once, and each backup replaces its unverified snapshot
/// by the sealed one: a file listed and then removed before it is read is not damaged, so a
/// file that fails is read again, and counted as damaged only while it is still listed.
///
/// # Errors
/// When the repository's list of snapshots cannot be read.
pub fn load_snapshots<S: rustic_core::Open>(repo: &Repository<S>) -> Result<LoadedSnapshots> {
    use rustic_core::repofile::SnapshotId;
    let listed: Vec<SnapshotId> = repo.list::<SnapshotId>()?.collect();
    let mut intact = BTreeMap::new();
    // the engine's own listing shows this step; a long one on a remote repository should too
    let progress = repo.progress_counter("getting snapshots...");
    progress.set_length(listed.len() as u64);
    // the files that fail are read again one by one below, to learn which they are
    for read in repo.stream_files_list::<SnapshotFile>(listed.clone())? {
        progress.inc(1);
        if let Ok((id, snap)) = read {
            intact.insert(id, with_id(id, snap));
        }
    }
    progress.finish();
    let mut damaged = Vec::new();
    let failed: Vec<SnapshotId> = listed
        .iter()
        .filter(|id| !intact.contains_key(*id))
        .copied()
        .collect();
    if !failed.is_empty() {
        let still: std::collections::BTreeSet<SnapshotId> = repo.list::<SnapshotId>()?.collect();
        for id in failed {
            let again = repo
                .stream_files_list::<SnapshotFile>(vec![id])?
                .next()
                .unwrap_or_else(|| {
                    Err(rustic_core::RusticError::new(
                        rustic_core::ErrorKind::Backend,
                        "the file could not be read",
                    ))
                });
            match again {
                Ok((id, snap)) => {
                    intact.insert(id, with_id(id, snap));
                }
                Err(_) if !still.contains(&id) => {}
                Err(e) => damaged.push(DamagedSnapshot {
                    id: id.to_hex().as_str().to_owned(),
                    problem: damage_text(&e),
                }),
            }
        }
    }
    // the repository's order, as the engine lists it
    let intact = listed.iter().filter_map(|id| intact.remove(id)).collect();
    Ok(LoadedSnapshots { intact, damaged })
}

/// A snapshot as the engine returns it from its own listing: its id set, and its original id
/// when it has none.
fn with_id(id: rustic_core::repofile::SnapshotId, mut snap: SnapshotFile) -> SnapshotFile {
    snap.id = id;
    snap.original.get_or_insert(id);
    snap
}

/// Why a repository file cannot be read, short: a file that does not decrypt is damaged (or
/// not from this repository); one that decrypts is not valid JSON of its kind.
fn damage_text(e: &rustic_core::RusticError) -> String {
    let text = with_causes(e);
    if text.contains("ecrypt") || text.contains("MAC") || text.contains("Cryptograph") {
        "it does not decrypt: damaged bytes, or not written with this repository's key".into()
    } else if text.contains("eserializ") || text.contains("JSON") || text.contains("json") {
        "it decrypts but is not a snapshot".into()
    } else {
        crate::repo::contain::concise(&text)
    }
}

/// Every intact snapshot in the repository ([`load_snapshots`]); damaged snapshot files are
/// skipped and kept for the command line's warning ([`take_damaged`]).
///
/// # Errors
/// When the repository's list of snapshots cannot be read.
pub fn all_snapshots<S: rustic_core::Open>(repo: &Repository<S>) -> Result<Vec<SnapshotFile>> {
    let loaded = load_snapshots(repo)?;
    if !loaded.damaged.is_empty()
        && let Ok(mut seen) = DAMAGED.lock()
    {
        for d in loaded.damaged {
            seen.insert(d.id.clone(), d);
        }
    }
    Ok(loaded.intact)
}

/// The newest snapshot of `set` on `host` that proved itself consistent: a backup's parent, and
/// what a rollback proves live files unchanged by.
///
/// # Errors
/// When the repository cannot be read.
pub fn newest_consistent(repo: &OpenRepo, set: &str, host: &str) -> Result<Option<SetSnapshot>> {
    Ok(set_snapshots(repo, Some(set), Some(host))?
        .into_iter()
        .rev()
        .find(|s| {
            s.manifest.as_ref().is_some_and(|m| {
                m.consistency.verdict == crate::repo::manifest::Verdict::Consistent
            })
        }))
}

/// All lockstep snapshots in the repository, oldest first, optionally only those of one set and
/// host.
///
/// # Errors
/// When the repository cannot be read.
pub fn set_snapshots(
    repo: &OpenRepo,
    set: Option<&str>,
    host: Option<&str>,
) -> Result<Vec<SetSnapshot>> {
    Ok(set_snapshots_among(all_snapshots(repo)?, set, host))
}

/// [`set_snapshots`] among snapshot files already read ([`all_snapshots`]): for a command that
/// also needs the others (drill records), so the repository's snapshot files are read once.
#[must_use]
pub fn set_snapshots_among(
    all: Vec<SnapshotFile>,
    set: Option<&str>,
    host: Option<&str>,
) -> Vec<SetSnapshot> {
    let set_tag = set.map(set_tag);
    let mut snaps: Vec<SetSnapshot> = all
        .into_iter()
        .filter(|s| s.tags.contains(TAG))
        .filter(|s| set_tag.as_ref().is_none_or(|t| s.tags.contains(t)))
        .filter(|s| host.is_none_or(|h| s.hostname == h))
        .map(|snapshot| SetSnapshot {
            manifest: Manifest::from_description(snapshot.description.as_deref())
                .ok()
                .flatten(),
            snapshot,
        })
        .collect();
    snaps.sort_by(|a, b| a.snapshot.time.cmp(&b.snapshot.time));
    snaps
}

/// Finds one snapshot by id prefix or `latest` (of the given set and host when given).
///
/// # Errors
/// When no snapshot matches, or a prefix is ambiguous.
pub fn find_snapshot(
    repo: &OpenRepo,
    id: &str,
    set: Option<&str>,
    host: Option<&str>,
) -> Result<SetSnapshot> {
    let snaps = if id == "latest" {
        set_snapshots(repo, set, host)?
    } else {
        set_snapshots(repo, None, None)?
    };
    if id == "latest" {
        return snaps.into_iter().next_back().ok_or_else(|| {
            Error::Usage(format!(
                "no lockstep snapshot{} in the repository yet: run `lockstep backup` first",
                set.map(|s| format!(" of set '{s}'")).unwrap_or_default()
            ))
        });
    }
    let matching: Vec<SetSnapshot> = snaps
        .into_iter()
        .filter(|s| s.id().starts_with(id))
        .collect();
    let damaged = || {
        DAMAGED
            .lock()
            .ok()
            .and_then(|d| d.keys().find(|d| d.starts_with(id)).cloned())
    };
    match matching.len() {
        0 if !id.is_empty() && damaged().is_some() => Err(Error::Repo(format!(
            "snapshot {} cannot be read: its file snapshots/{} is damaged; restore another snapshot (`lockstep snapshots`), and remove it with `lockstep repair snapshots`",
            id,
            damaged().unwrap_or_default()
        ))),
        0 => Err(Error::Usage(format!(
            "no lockstep snapshot with id {id}: see `lockstep snapshots`"
        ))),
        1 => Ok(matching.into_iter().next().ok_or_else(|| {
            Error::Other("internal: snapshot vanished from a one-element list".into())
        })?),
        n => Err(Error::Usage(format!(
            "snapshot id {id} is ambiguous ({n} snapshots match): give more characters"
        ))),
    }
}

/// Which snapshot `latest` means: the newest of a host's set, chosen from the repository alone,
/// so that a machine without IM (a host rebuilt after a disaster) can name it.
#[derive(Debug, Clone, Copy)]
pub struct LatestOf<'a> {
    /// The host whose snapshots are meant (`--host`, the configuration, this machine's name).
    pub host: &'a str,
    /// Whether the host was named (`--host`, the configuration) rather than taken from this
    /// machine: a machine's own name that has no snapshot may be a rebuilt host's new name.
    pub host_named: bool,
    /// The set, when known (`--set`, `--instance`, or the live host's IM instance).
    pub set: Option<&'a str>,
}

/// What `latest` resolved to ([`resolve_latest`]).
#[derive(Debug, Clone)]
pub enum Latest {
    /// The one snapshot meant.
    Found(Box<SetSnapshot>),
    /// Several hosts or sets could be meant: the newest snapshot of each, oldest first.
    Ambiguous(Vec<SetSnapshot>),
    /// The repository has no lockstep snapshot that fits.
    NoneYet,
}

/// The set a snapshot belongs to: its tag, else its manifest.
fn set_of(s: &SetSnapshot) -> Option<String> {
    s.set_name()
        .or_else(|| s.manifest.as_ref().map(|m| m.set.clone()))
}

/// Resolves `latest` among `snaps` (lockstep snapshots, oldest first, as [`set_snapshots`]
/// returns them). The rule, the same for every command:
/// - the newest snapshot of the host's set when the set is known;
/// - when it is not, the newest snapshot of the host when the host has one set;
/// - when the host has no snapshot (a rebuilt machine under a new name) and was not named,
///   the newest snapshot of the only host and set the repository holds;
/// - otherwise the candidates (the newest of each host and set that could be meant), for the
///   user to choose from with `--host`, `--set` or an id.
#[must_use]
pub fn resolve_latest(snaps: Vec<SetSnapshot>, want: LatestOf<'_>) -> Latest {
    // newest per (host, set): later snapshots replace earlier ones
    let mut newest: BTreeMap<(String, Option<String>), SetSnapshot> = BTreeMap::new();
    for s in snaps {
        let set = set_of(&s);
        if want.set.is_some_and(|w| set.as_deref() != Some(w)) {
            continue;
        }
        newest.insert((s.snapshot.hostname.clone(), set), s);
    }
    let by_time = |mut v: Vec<SetSnapshot>| {
        v.sort_by(|a, b| a.snapshot.time.cmp(&b.snapshot.time));
        v
    };
    let of_host: Vec<SetSnapshot> = newest
        .iter()
        .filter(|((host, _), _)| host == want.host)
        .map(|(_, s)| s.clone())
        .collect();
    match <[SetSnapshot; 1]>::try_from(of_host) {
        Ok([one]) => return Latest::Found(Box::new(one)),
        Err(several) if !several.is_empty() => return Latest::Ambiguous(by_time(several)),
        Err(_) => {}
    }
    let others: Vec<SetSnapshot> = newest.into_values().collect();
    match <[SetSnapshot; 1]>::try_from(others) {
        Ok([one]) if !want.host_named && want.set.is_none() => Latest::Found(Box::new(one)),
        Ok([one]) => Latest::Ambiguous(vec![one]),
        Err(none) if none.is_empty() => Latest::NoneYet,
        Err(several) => Latest::Ambiguous(by_time(several)),
    }
}

/// A local repository private to its owner, whatever the umask.
///
/// rustic_backend's local backend creates directories and files with the process's default
/// modes (0755 / 0644 under the usual umask 022). Setting the process umask instead would also
/// change what lockstep creates on the host (restore targets and their parents, staging
/// directories), so the local backend is wrapped: every directory it will write into is
/// created 0700 first, and the temporary file it writes (`<name>-tmp-`, renamed into place)
/// is created 0600 first, so its open-with-truncate keeps that mode and no reader ever sees
/// the file open to others. The file is set 0600 again after the write in case the engine's
/// naming ever changes (a test pins the result: every entry 0600 / 0700).
pub mod private {
    use std::fs::{DirBuilder, OpenOptions, Permissions};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use bytes::Bytes;
    use rustic_core::{
        ALL_FILE_TYPES, BytesList, FileType, Id, ReadBackend, RusticResult, WriteBackend,
    };

    /// Directories of a repository: only its owner may enter.
    pub const DIR_MODE: u32 = 0o700;
    /// Files of a repository: only its owner may read.
    pub const FILE_MODE: u32 = 0o600;

    /// The local backend with private modes.
    #[derive(Debug)]
    pub struct PrivateLocal {
        inner: Arc<dyn WriteBackend>,
        dir: PathBuf,
    }

    impl PrivateLocal {
        /// Wraps `inner`, the local backend at `dir`.
        #[must_use]
        pub fn new(inner: Arc<dyn WriteBackend>, dir: PathBuf) -> Self {
            Self { inner, dir }
        }

        /// The directory a file of `tpe` goes into (the local backend's layout).
        fn parent(&self, tpe: FileType, id: &Id) -> PathBuf {
            match tpe {
                FileType::Config => self.dir.clone(),
                FileType::Pack => self.dir.join("data").join(&id.to_hex()[0..2]),
                _ => self.dir.join(tpe.dirname()),
            }
        }

        fn name(tpe: FileType, id: &Id) -> String {
            match tpe {
                FileType::Config => "config".to_owned(),
                _ => id.to_hex().to_string(),
            }
        }
    }

    /// Creates `dir` and its missing ancestors 0700. Failures are left to the engine's own
    /// creation, which reports them.
    fn private_dir(dir: &Path) {
        let _ = DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir);
    }

    /// Creates `file` empty and 0600 when it does not exist (an existing one, a leftover of an
    /// interrupted write, is made 0600).
    fn private_file(file: &Path) {
        let created = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(file);
        if created.is_ok() {
            let _ = std::fs::set_permissions(file, Permissions::from_mode(FILE_MODE));
        }
    }

    impl ReadBackend for PrivateLocal {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
            self.inner.list_with_size(tpe)
        }
        fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
            self.inner.list(tpe)
        }
        fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
            self.inner.read_full(tpe, id)
        }
        fn read_partial(
            &self,
            tpe: FileType,
            id: &Id,
            cacheable: bool,
            offset: u32,
            length: u32,
        ) -> RusticResult<Bytes> {
            self.inner.read_partial(tpe, id, cacheable, offset, length)
        }
        fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
            self.inner.warmup_path(tpe, id)
        }
        fn needs_warm_up(&self) -> bool {
            self.inner.needs_warm_up()
        }
        fn warm_up(&self, tpe: FileType, id: &Id) -> RusticResult<()> {
            self.inner.warm_up(tpe, id)
        }
    }

    impl WriteBackend for PrivateLocal {
        fn create(&self) -> RusticResult<()> {
            let fresh = !self.dir.exists();
            private_dir(&self.dir);
            // A directory made for the repository (by `init`'s caller, empty) becomes private
            // too; an existing non-empty one is left to `check`'s warning.
            if !fresh && std::fs::read_dir(&self.dir).is_ok_and(|mut d| d.next().is_none()) {
                let _ = std::fs::set_permissions(&self.dir, Permissions::from_mode(DIR_MODE));
            }
            for tpe in ALL_FILE_TYPES {
                private_dir(&self.dir.join(tpe.dirname()));
            }
            for i in 0u8..=255 {
                private_dir(&self.dir.join("data").join(format!("{i:02x}")));
            }
            self.inner.create()
        }

        fn write_bytes(
            &self,
            tpe: FileType,
            id: &Id,
            cacheable: bool,
            content: BytesList,
        ) -> RusticResult<()> {
            let parent = self.parent(tpe, id);
            private_dir(&parent);
            let name = Self::name(tpe, id);
            private_file(&parent.join(format!("{name}-tmp-")));
            self.inner.write_bytes(tpe, id, cacheable, content)?;
            let _ = std::fs::set_permissions(parent.join(name), Permissions::from_mode(FILE_MODE));
            Ok(())
        }

        fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
            self.inner.remove(tpe, id, cacheable)
        }
    }

    /// Entries under `dir` (itself included) that users other than the owner can read, write
    /// or enter: how many, and the first one.
    #[must_use]
    pub fn open_to_others(dir: &Path) -> Option<(usize, PathBuf)> {
        let mut first = None;
        let mut count = 0;
        for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
            let open = entry
                .metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o077 != 0 && !m.file_type().is_symlink());
            if open {
                count += 1;
                first.get_or_insert_with(|| entry.path().to_path_buf());
            }
        }
        first.map(|f| (count, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Snapshots oldest first, each named by its label `host/set/n`.
    fn snaps(list: &[&str]) -> Vec<SetSnapshot> {
        list.iter()
            .map(|name| {
                let mut parts = name.split('/');
                let (host, set) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let snapshot = SnapshotFile {
                    hostname: host.to_owned(),
                    label: (*name).to_owned(),
                    tags: format!("{TAG},set={set}").parse().unwrap(),
                    ..SnapshotFile::default()
                };
                SetSnapshot {
                    snapshot,
                    manifest: None,
                }
            })
            .collect()
    }

    fn latest(list: &[&str], host: &str, host_named: bool, set: Option<&str>) -> String {
        let want = LatestOf {
            host,
            host_named,
            set,
        };
        match resolve_latest(snaps(list), want) {
            Latest::Found(s) => s.snapshot.label,
            Latest::NoneYet => "none".into(),
            Latest::Ambiguous(c) => {
                let labels: Vec<String> = c.into_iter().map(|s| s.snapshot.label).collect();
                format!("ambiguous {}", labels.join(" "))
            }
        }
    }

    #[test]
    fn latest_is_chosen_by_host_and_set_from_the_repository() {
        let two = ["a/x/1", "b/x/1", "a/x/2", "a/y/1", "b/x/2"];
        // the set known (the live host's IM, --set): that host's newest of it
        assert_eq!(latest(&two, "a", true, Some("x")), "a/x/2");
        // no IM: the host's one set, or its sets listed
        assert_eq!(
            latest(&["a/x/1", "a/x/2", "b/y/1"], "a", true, None),
            "a/x/2"
        );
        assert_eq!(latest(&two, "a", true, None), "ambiguous a/x/2 a/y/1");
        // a machine whose own name has no snapshot: the only host and set, or all listed
        assert_eq!(
            latest(&["old/x/1", "old/x/2"], "new", false, None),
            "old/x/2"
        );
        assert_eq!(
            latest(&two, "new", false, None),
            "ambiguous a/x/2 a/y/1 b/x/2"
        );
        // a named host, or a known set, is never swapped for another host silently
        assert_eq!(latest(&["old/x/1"], "new", true, None), "ambiguous old/x/1");
        assert_eq!(
            latest(&["old/x/1"], "new", false, Some("x")),
            "ambiguous old/x/1"
        );
        assert_eq!(latest(&["old/x/1"], "new", false, Some("y")), "none");
        assert_eq!(latest(&[], "a", false, None), "none");
    }

    #[test]
    fn a_full_disk_is_the_repository_s_only_for_repository_files() {
        let id = "17f256b1ec0679c1914bf7d5c9d86975d87e940dd8a681780803c901f8e6be0d";
        let pack = format!(
            "Failed to write to the buffer: `/r/data/17/{id}-tmp-`. Please check the file and try again.: No space left on device (os error 28)"
        );
        assert!(local_message(&pack).starts_with("the repository's disk is full"));
        let index = format!("Failed to open `/r/index/{id}`: No space left on device");
        assert!(local_message(&index).starts_with("the repository's disk is full"));
        let restored =
            "Failed to write to `/target/opt/IBM/x.jar`: No space left on device (os error 28)";
        assert_eq!(
            local_message(restored),
            "the filesystem holding /target/opt/IBM/x.jar is full: free space there (`df -h`, `df -i`) and run it again"
        );
    }

    #[test]
    fn flag_beats_env_beats_config() {
        let config = Config {
            repository: Some("/from/config".into()),
            ..Config::default()
        };
        let r =
            |f: Option<&str>, e: Option<&str>| RepoSpec::resolve(f, e, &config).unwrap().location;
        assert_eq!(r(Some("/flag"), Some("/env")), "/flag");
        assert_eq!(r(None, Some("/env")), "/env");
        assert_eq!(r(None, None), "/from/config");
    }

    #[test]
    fn local_and_remote_locations() {
        let spec = |l: &str| RepoSpec {
            location: l.into(),
            options: BTreeMap::new(),
        };
        assert_eq!(
            spec("/srv/repo").local_dir(),
            Some(PathBuf::from("/srv/repo"))
        );
        assert_eq!(
            spec("local:/srv/r").local_dir(),
            Some(PathBuf::from("/srv/r"))
        );
        assert_eq!(spec("opendal:s3").local_dir(), None);
        assert_eq!(spec("rest:http://x:8000/").local_dir(), None);
    }

    #[test]
    fn remote_specs_describe_bucket_and_endpoint_not_secrets() {
        let config = Config {
            remote: Some("opendal:s3".into()),
            remote_options: [
                ("bucket", "dr"),
                ("endpoint", "http://127.0.0.1:3900"),
                ("root", "/estate"),
                ("secret_access_key", "s3cr3t"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..Config::default()
        };
        let spec = RepoSpec::remote(&config).unwrap();
        let d = spec.describe();
        assert_eq!(
            d,
            "opendal:s3 (bucket dr at http://127.0.0.1:3900 root /estate)"
        );
        assert!(RepoSpec::remote(&Config::default()).is_none());
    }

    #[test]
    fn store_messages_lead_with_the_http_status() {
        let m = store_message(
            "Unexpected at read, context: { response: Parts { status: 403, version: HTTP/1.1 } }",
        );
        assert!(m.contains("HTTP 403") && m.contains("access key"), "{m}");
        let m = store_message(
            "error sending request for url (http://127.0.0.1:1/b/config): Connection refused",
        );
        assert!(m.contains("unreachable") && m.contains("endpoint"), "{m}");
        assert_eq!(store_message("plain"), "plain");
        let m = store_message("Unexpected at read data/ab/abcd, context: { status: 404 }");
        assert!(
            m.contains("no such object") && m.contains("lockstep check"),
            "{m}"
        );
        let m = store_message("NoSuchBucket, context: { status: 404 }");
        assert!(m.contains("no such bucket"), "{m}");
    }
}
