//! The repository: a thin layer over `rustic_core` + `rustic_backend`.
//!
//! lockstep writes no storage format of its own. Repositories are restic-format (content-defined
//! chunking, deduplication, zstd, AES-256 + Poly1305), so restic 0.14+ and rustic read every
//! lockstep repository. This module only resolves *where* the repository is and *which* password
//! opens it, turns the engine's errors into one line that says what to do, and finds a set's
//! snapshots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustic_backend::BackendOptions;
use rustic_core::repofile::SnapshotFile;
use rustic_core::{
    ConfigOptions, Credentials, KeyOptions, OpenStatus, Repository, RepositoryOptions,
};

use crate::config::{Config, is_root};
use crate::manifest::{Manifest, TAG, set_tag};
use crate::progress::{ProgressMode, Reporter};
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
        opts.to_backends()
            .map_err(|e| self.backend_error("cannot use repository", &e))
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
        if let Some(dir) = self.local_dir()
            && dir.join("config").exists()
        {
            return Err(Error::Refused(format!(
                "a repository already exists at {}; use it, or choose another location with --repo",
                dir.display()
            )));
        }
        let repo = self.repository(ProgressMode::Hidden)?;
        if repo
            .config_id()
            .map_err(|e| self.backend_error("cannot reach repository", &e))?
            .is_some()
        {
            return Err(Error::Refused(format!(
                "a repository already exists at {}; use it, or choose another location with --repo",
                self.describe()
            )));
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
    /// (see [`crate::progress`]).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_with_progress(&self, password: &str, progress: ProgressMode) -> Result<OpenRepo> {
        let _t = crate::timing::phase("open repository");
        let missing = || {
            Error::Repo(format!(
                "no repository at {}: create one with `lockstep init` (or point --repo / LOCKSTEP_REPOSITORY at an existing one)",
                self.describe()
            ))
        };
        if let Some(dir) = self.local_dir()
            && !dir.join("config").is_file()
        {
            return Err(missing());
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
            if e.is_incorrect_password() {
                Error::Repo(format!(
                    "wrong password for repository {}: check LOCKSTEP_PASSWORD_FILE / LOCKSTEP_PASSWORD",
                    self.describe()
                ))
            } else {
                self.backend_error("cannot open repository", &e)
            }
        })
    }
}

/// One line for an engine error: rustic's message with its causes, an object store's status
/// turned into what to check ([`store_message`]).
#[must_use]
pub fn explain(e: &rustic_core::RusticError) -> String {
    store_message(&with_causes(e))
}

/// rustic's message followed by its causes (where an object store's HTTP status and connection
/// errors are).
#[must_use]
pub fn with_causes(e: &rustic_core::RusticError) -> String {
    let mut msg = crate::error::rustic_message(e);
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        // a cause that is itself rustic's error: its short message, not its report (context,
        // nonces, backtrace hints)
        let text = match cause.downcast_ref::<rustic_core::RusticError>() {
            Some(inner) => crate::error::rustic_message(inner),
            None => cause.to_string(),
        };
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = cause.source();
    }
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An object store's error made short: the HTTP status first when there is one, and a hint on
/// what to check. Other messages pass through.
#[must_use]
pub fn store_message(msg: &str) -> String {
    let status = msg.split("status: ").nth(1).and_then(|rest| {
        let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
        code.parse::<u16>().ok()
    });
    match status {
        Some(code @ (401 | 403)) => format!(
            "the store refused access (HTTP {code}): check the access key, secret and bucket permissions"
        ),
        // A missing bucket, but also a missing object (a pack lost from the store).
        Some(404) if msg.contains("NoSuchBucket") => {
            "the store has no such bucket (HTTP 404): create it, or fix `bucket`".to_owned()
        }
        Some(404) => format!(
            "the store has no such object (HTTP 404): {}; check `bucket` and `root`, and run `lockstep check`",
            first_clause(msg)
        ),
        Some(code) => format!("the store answered HTTP {code}: {}", first_clause(msg)),
        None if msg.contains("onnection refused")
            || msg.contains("error sending request")
            || msg.contains("dns error") =>
        {
            format!(
                "the store is unreachable ({}): check `endpoint` and that the server runs",
                first_clause(msg)
            )
        }
        None => msg.to_owned(),
    }
}

fn first_clause(msg: &str) -> &str {
    let cut = msg.find(", context:").unwrap_or(msg.len()).min(300);
    msg.get(..cut).unwrap_or(msg)
}

fn default_location() -> Result<String> {
    if is_root() {
        return Ok("/var/lib/lockstep/repo".into());
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| {
            Error::Usage("no repository given and no HOME to put one in: use --repo DIR".into())
        })?;
    Ok(base.join("lockstep/repo").to_string_lossy().into_owned())
}

/// Where the password comes from, in order: `LOCKSTEP_PASSWORD_FILE`, `LOCKSTEP_PASSWORD`, the
/// configuration's `password-file`, then a prompt when stdin is a terminal. Never argv.
#[derive(Debug, Clone, Default)]
pub struct PasswordSource {
    /// `LOCKSTEP_PASSWORD_FILE`.
    pub file_env: Option<PathBuf>,
    /// `LOCKSTEP_PASSWORD`.
    pub env: Option<String>,
    /// The configuration's `password-file`.
    pub file_config: Option<PathBuf>,
}

impl PasswordSource {
    /// Reads the password. `confirm` asks twice on a terminal (for `init`).
    ///
    /// # Errors
    /// When the file cannot be read, is empty, or no source is available.
    pub fn read(&self, confirm: bool) -> Result<String> {
        if let Some(file) = &self.file_env {
            return read_password_file(file);
        }
        if let Some(p) = &self.env {
            if p.is_empty() {
                return Err(Error::Usage(
                    "LOCKSTEP_PASSWORD is empty; set it or use LOCKSTEP_PASSWORD_FILE".into(),
                ));
            }
            return Ok(p.clone());
        }
        if let Some(file) = &self.file_config {
            return read_password_file(file);
        }
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "no repository password: set LOCKSTEP_PASSWORD_FILE (or LOCKSTEP_PASSWORD), or run on a terminal to be asked".into(),
            ));
        }
        let first = rpassword::prompt_password("repository password: ")
            .map_err(|e| Error::Usage(format!("cannot read the password: {e}")))?;
        if confirm {
            let second = rpassword::prompt_password("repeat password: ")
                .map_err(|e| Error::Usage(format!("cannot read the password: {e}")))?;
            if first != second {
                return Err(Error::Usage(
                    "the passwords differ; nothing was created".into(),
                ));
            }
        }
        if first.is_empty() {
            return Err(Error::Usage("an empty password is not allowed".into()));
        }
        Ok(first)
    }
}

fn read_password_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read password file {}: {e}", path.display())))?;
    let first = text.lines().next().unwrap_or_default().to_owned();
    if first.is_empty() {
        return Err(Error::Usage(format!(
            "password file {} is empty",
            path.display()
        )));
    }
    Ok(first)
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

/// Every snapshot in the repository. Hosts back up into one repository at once, and each backup
/// replaces its unverified snapshot by the sealed one: a snapshot listed and then removed before
/// it is read fails the engine's read. So the read is tried again while the repository's list of
/// snapshots keeps changing; an error with an unchanged list stands.
///
/// # Errors
/// When the repository cannot be read.
pub fn all_snapshots<S: rustic_core::Open>(repo: &Repository<S>) -> Result<Vec<SnapshotFile>> {
    use rustic_core::repofile::SnapshotId;
    let ids = || -> Result<std::collections::BTreeSet<SnapshotId>> {
        Ok(repo.list::<SnapshotId>()?.collect())
    };
    let mut error = match repo.get_all_snapshots() {
        Ok(all) => return Ok(all),
        Err(e) => e,
    };
    let mut listed = ids()?;
    for _ in 0..5 {
        match repo.get_all_snapshots() {
            Ok(all) => return Ok(all),
            Err(e) => error = e,
        }
        let now = ids()?;
        if now == listed {
            break;
        }
        listed = now;
    }
    Err(error.into())
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
    let set_tag = set.map(set_tag);
    let mut snaps: Vec<SetSnapshot> = all_snapshots(repo)?
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
    Ok(snaps)
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
    match matching.len() {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn password_file_wins_and_empty_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "secret\nignored\n").unwrap();
        let src = PasswordSource {
            file_env: Some(file.clone()),
            env: Some("other".into()),
            file_config: None,
        };
        assert_eq!(src.read(false).unwrap(), "secret");
        let src = PasswordSource {
            file_env: None,
            env: Some("fromenv".into()),
            file_config: Some(file.clone()),
        };
        assert_eq!(src.read(false).unwrap(), "fromenv");
        std::fs::write(&file, "\n").unwrap();
        let src = PasswordSource {
            file_env: Some(file),
            ..PasswordSource::default()
        };
        assert!(src.read(false).is_err());
    }
}
