//! lockstep's configuration file (TOML).
//!
//! Looked up at `--config FILE`, else `$LOCKSTEP_CONFIG`, else `/etc/lockstep/lockstep.toml` when
//! running as root and `$XDG_CONFIG_HOME/lockstep/lockstep.toml` (or `~/.config/…`) otherwise. A
//! missing default file is an empty configuration; a missing *named* file is an error. Unknown
//! keys are errors that name the key, so a typo never silently changes what is backed up.
//! Flags and environment variables override the file, as restic users expect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

pub mod keys;

/// The configuration file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Repository location (a directory, or a rustic backend string such as `opendal:s3`).
    pub repository: Option<String>,
    /// Backend options for the repository (rustic's `options`, e.g. `bucket`, `endpoint`).
    pub repository_options: BTreeMap<String, String>,
    /// The disaster-recovery repository `copy` and `backup --copy` write to (same forms as
    /// `repository`, typically `opendal:s3`).
    pub remote: Option<String>,
    /// Backend options for the remote (`[remote-options]`, the same keys as
    /// `[repository-options]`).
    pub remote_options: BTreeMap<String, String>,
    /// File holding the repository password (first line).
    pub password_file: Option<PathBuf>,
    /// Command printing the repository password on its first line (run with `sh -c`, as
    /// restic's `--password-command`), e.g. a vault client. `password-file` and the
    /// environment come first (`lockstep::repo::password` has the order).
    pub password_command: Option<String>,
    /// File holding the remote's password (first line); without it (or
    /// `remote-password-command`) the remote is opened with the repository's password.
    /// `LOCKSTEP_REMOTE_PASSWORD_FILE` overrides it.
    pub remote_password_file: Option<PathBuf>,
    /// Command printing the remote's password, as `password-command`;
    /// `remote-password-file` and the environment come first.
    pub remote_password_command: Option<String>,
    /// The host name recorded in snapshots (default: this machine's host name).
    pub host: Option<String>,
    /// The name of the set this host's snapshots belong to (e.g. `dx-prod-cell1`): the hosts of
    /// one WebSphere cell or DX farm share it, and `fleet` compares hosts within a set. Default:
    /// the IM instance's name (its install mode: `admin`, `nonAdmin`, `group`…). `--set`
    /// overrides it.
    pub set: Option<String>,
    /// Extra members added to the set (profiles, custom files), as logical paths.
    pub extras: Vec<PathBuf>,
    /// Glob patterns (on logical paths) left out of product and extra members, e.g.
    /// `/opt/HCL/WebSphere/wp_profile/logs/**`. Never applied inside IM's own directories.
    pub excludes: Vec<String>,
    /// Commands run around a backup.
    pub hooks: HooksConfig,
    /// Backup settings.
    pub backup: BackupConfig,
    /// The retention policy `forget` applies.
    pub forget: ForgetConfig,
    /// Commands told how an unattended command ended.
    pub notify: NotifyConfig,
}

/// `[notify]`: commands run when `backup`, `guard`, `drill`, `check`, `copy`, `forget`,
/// `prune` or `status` ends, with the hooks' environment and the command's JSON document on
/// stdin (`lockstep::ops::hooks::notify`). Each key takes one command or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct NotifyConfig {
    /// Run when the command fails (any exit code but 0, drift aside).
    #[serde(deserialize_with = "one_or_many")]
    pub on_failure: Vec<String>,
    /// Run when the command succeeds.
    #[serde(deserialize_with = "one_or_many")]
    pub on_success: Vec<String>,
    /// Run when `status` finds the live host out of step with its latest snapshot.
    #[serde(deserialize_with = "one_or_many")]
    pub on_drift: Vec<String>,
    /// Seconds each command may run (default 60).
    pub timeout: Option<u64>,
}

impl NotifyConfig {
    /// Whether any notification command is configured.
    #[must_use]
    pub fn is_set(&self) -> bool {
        !(self.on_failure.is_empty() && self.on_success.is_empty() && self.on_drift.is_empty())
    }
}

/// A key that takes one command (`"mail …"`) or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let value = OneOrMany::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expected a command (a string) or a list of commands")
    })?;
    Ok(match value {
        OneOrMany::One(command) => vec![command],
        OneOrMany::Many(commands) => commands,
    })
}

/// `[hooks]`: commands run around a backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct HooksConfig {
    /// Run before the backup; a failure aborts it.
    pub before: Vec<String>,
    /// Run after a successful backup.
    pub after: Vec<String>,
    /// Run when the backup fails.
    pub on_failure: Vec<String>,
    /// Always run, last.
    pub finally: Vec<String>,
    /// Seconds each hook may run (default 300).
    pub timeout: Option<u64>,
}

/// `[backup]`: how backups behave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct BackupConfig {
    /// Refuse when product servers are running.
    pub offline: Option<bool>,
    /// Attempts after an inconsistent one (default 2).
    pub retries: Option<u32>,
    /// Roles whose members may be missing.
    pub allow_missing: Vec<String>,
}

/// `[forget]`: the retention policy (each `forget` flag overrides its key; labels add up).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ForgetConfig {
    /// Keep the N newest snapshots of each set and host.
    pub keep_last: Option<u32>,
    /// Keep one snapshot for each of the N newest hours.
    pub keep_hourly: Option<u32>,
    /// Keep one snapshot for each of the N newest days.
    pub keep_daily: Option<u32>,
    /// Keep one snapshot for each of the N newest weeks.
    pub keep_weekly: Option<u32>,
    /// Keep one snapshot for each of the N newest months.
    pub keep_monthly: Option<u32>,
    /// Keep one snapshot for each of the N newest years.
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot within this duration of the newest (`30d`, `6mo`, `1y`).
    pub keep_within: Option<String>,
    /// Never forget snapshots with these labels.
    pub keep_labels: Vec<String>,
    /// Prune after forgetting.
    pub prune: Option<bool>,
}

/// Where lockstep keeps each kind of file by default: system-wide as root, in the user's XDG
/// base directories otherwise. The one place these defaults are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The configuration: `/etc/lockstep`, or `$XDG_CONFIG_HOME/lockstep` (`~/.config/lockstep`).
    Config,
    /// Data, the default repository's parent: `/var/lib/lockstep`, or `$XDG_DATA_HOME/lockstep`
    /// (`~/.local/share/lockstep`).
    Data,
    /// lockstep's state (journal, records): `/var/lib/lockstep/state`, or
    /// `$XDG_STATE_HOME/lockstep` (`~/.local/state/lockstep`).
    State,
}

impl Place {
    /// The directory; `None` for a user without `HOME` (and no XDG variable).
    #[must_use]
    pub fn dir(self) -> Option<PathBuf> {
        let (system, xdg, under_home) = match self {
            Place::Config => ("/etc/lockstep", "XDG_CONFIG_HOME", ".config"),
            Place::Data => ("/var/lib/lockstep", "XDG_DATA_HOME", ".local/share"),
            Place::State => ("/var/lib/lockstep/state", "XDG_STATE_HOME", ".local/state"),
        };
        if is_root() {
            return Some(PathBuf::from(system));
        }
        let base = std::env::var_os(xdg)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(under_home)))?;
        Some(base.join("lockstep"))
    }
}

/// The default configuration file for this user.
#[must_use]
pub fn default_path() -> Option<PathBuf> {
    Place::Config.dir().map(|d| d.join("lockstep.toml"))
}

/// Whether lockstep runs as root.
#[must_use]
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Config {
    /// Loads the configuration: `explicit` (from `--config` or `LOCKSTEP_CONFIG`) must exist;
    /// the default file may be absent.
    ///
    /// # Errors
    /// When the file cannot be read or has a syntax error or an unknown key.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_path() {
                Some(p) => (p, false),
                None => return Ok(Self::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(Error::Usage(format!(
                    "cannot read configuration file {}: {e}",
                    path.display()
                )));
            }
        };
        Self::parse(&text, &path)
    }

    /// Parses configuration text; `path` names the file in errors.
    ///
    /// # Errors
    /// On a syntax error or an unknown key.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_owned();
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::Usage(match line {
                Some(l) => format!("configuration file {}:{l}: {msg}", path.display()),
                None => format!("configuration file {}: {msg}", path.display()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys() {
        let c = Config::parse(
            "repository = '/srv/repo'\npassword-file = '/etc/lockstep/pw'\nextras = ['/opt/custom']\n[repository-options]\nbucket = 'b'\n",
            Path::new("/c.toml"),
        )
        .unwrap();
        assert_eq!(c.repository.as_deref(), Some("/srv/repo"));
        assert_eq!(c.extras, vec![PathBuf::from("/opt/custom")]);
        assert_eq!(c.repository_options["bucket"], "b");
        let c = Config::parse(
            "password-command = 'vault kv get -field=pw secret/lockstep'\nremote-password-command = 'pass show dr'\n",
            Path::new("/c.toml"),
        )
        .unwrap();
        assert_eq!(
            c.password_command.as_deref(),
            Some("vault kv get -field=pw secret/lockstep")
        );
        assert_eq!(c.remote_password_command.as_deref(), Some("pass show dr"));
    }

    #[test]
    fn parses_the_notify_table_with_one_command_or_a_list() {
        let c = Config::parse(
            "[notify]\non-failure = 'page-oncall'\non-success = ['a', 'b']\ntimeout = 10\n",
            Path::new("/c.toml"),
        )
        .unwrap();
        assert_eq!(c.notify.on_failure, vec!["page-oncall".to_owned()]);
        assert_eq!(c.notify.on_success, vec!["a".to_owned(), "b".to_owned()]);
        assert!(c.notify.on_drift.is_empty());
        assert_eq!(c.notify.timeout, Some(10));
        let err = Config::parse("[notify]\non-fail = 'x'\n", Path::new("/c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("on-fail"), "{err}");
        assert!(Config::parse("[notify]\non-drift = 3\n", Path::new("/c.toml")).is_err());
    }

    #[test]
    fn parses_hooks_and_backup_tables() {
        let c = Config::parse(
            "excludes = ['/opt/x/logs/**']\n[hooks]\nbefore = ['stop.sh']\nfinally = ['start.sh']\ntimeout = 60\n[backup]\noffline = true\nretries = 5\nallow-missing = ['extra']\n",
            Path::new("/c.toml"),
        )
        .unwrap();
        assert_eq!(c.hooks.before, vec!["stop.sh".to_owned()]);
        assert_eq!(c.hooks.timeout, Some(60));
        assert_eq!(c.backup.retries, Some(5));
        assert_eq!(c.backup.offline, Some(true));
        let err = Config::parse("[hooks]\nbefor = ['x']\n", Path::new("/c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("befor") && err.contains(":2"), "{err}");
    }

    #[test]
    fn parses_the_forget_table() {
        let c = Config::parse(
            "[forget]\nkeep-daily = 7\nkeep-within = '30d'\nkeep-labels = ['release']\nprune = true\n",
            Path::new("/c.toml"),
        )
        .unwrap();
        assert_eq!(c.forget.keep_daily, Some(7));
        assert_eq!(c.forget.keep_within.as_deref(), Some("30d"));
        assert_eq!(c.forget.keep_labels, vec!["release".to_owned()]);
        assert_eq!(c.forget.prune, Some(true));
        let err = Config::parse("[forget]\nkeep-dayly = 7\n", Path::new("/c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("keep-dayly"), "{err}");
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let err = Config::parse("repository = 'x'\nrepsitory = 'y'\n", Path::new("/c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("repsitory"), "{err}");
        assert!(err.contains("/c.toml:2"), "{err}");
    }

    #[test]
    fn parses_a_remote_tier() {
        let c = Config::parse(
            "repository = '/srv/repo'\nremote = 'opendal:s3'\n[remote-options]\nbucket = 'dr'\nendpoint = 'http://127.0.0.1:3900'\nregion = 'garage'\n",
            Path::new("/c.toml"),
        )
        .unwrap();
        assert_eq!(c.remote.as_deref(), Some("opendal:s3"));
        assert_eq!(c.remote_options["bucket"], "dr");
        assert_eq!(c.remote_options["region"], "garage");
    }

    #[test]
    fn a_named_file_must_exist() {
        assert!(Config::load(Some(Path::new("/nonexistent/lockstep.toml"))).is_err());
    }
}
