//! lockstep's error type and exit codes.
//!
//! Every error is shown to the administrator as one line that says what happened and what to do.
//! The variant decides the exit code, which is documented for scripts and schedulers:
//! 0 ok, 1 error, 2 usage, 3 refused by a safety rule.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error (repository, disk, IM records …).
pub const EXIT_ERROR: i32 = 1;
/// Exit code: the command line or the configuration is wrong.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: a safety rule refused the operation (missing set member, non-empty target …).
pub const EXIT_REFUSED: i32 = 3;

/// Result alias used throughout lockstep.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, grouped by what the user has to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// IM's own files could not be read or parsed.
    #[error(transparent)]
    Im(#[from] ImError),

    /// The user asked for something impossible or ambiguous.
    #[error("{0}")]
    Usage(String),

    /// A safety rule refused the operation; nothing was changed.
    #[error("{0}")]
    Refused(String),

    /// The repository (or its backend) reported an error.
    #[error("{0}")]
    Repo(String),

    /// A local file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What lockstep was doing, e.g. "cannot create".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A filesystem lockstep writes to is full or over its quota: the machine's failure, not the
    /// data's (a drill reports it as such, never as a verdict on the snapshot).
    #[error("{0}")]
    DiskFull(String),

    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The process exit code for this error.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Refused(_) => EXIT_REFUSED,
            _ => EXIT_ERROR,
        }
    }

    /// The error's kind, as the JSON error document names it (`docs/json.md`): `usage`,
    /// `refused`, `repository`, `io`, `disk_full`, `im_records` or `other`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Im(_) => "im_records",
            Self::Usage(_) => "usage",
            Self::Refused(_) => "refused",
            Self::Repo(_) => "repository",
            Self::Io { .. } => "io",
            Self::DiskFull(_) => "disk_full",
            Self::Other(_) => "other",
        }
    }

    /// What to do about an error of this kind, in general; the message says it for the case.
    #[must_use]
    pub fn todo(&self) -> &'static str {
        match self {
            Self::Im(_) => {
                "check the IM record the message names (`lockstep doctor` lists what is wrong), or restore it from a lockstep snapshot, then run the command again"
            }
            Self::Usage(_) => {
                "correct the command line, the environment or the configuration as the message says (`lockstep COMMAND --help`); nothing was changed"
            }
            Self::Refused(_) => {
                "a safety rule refused and nothing was changed: resolve what the message names, or override it only in the way the message says"
            }
            Self::Repo(_) => {
                "act on the message (password, object store, `lockstep check` or `lockstep repair`), then run the command again"
            }
            Self::Io { .. } => {
                "fix the path or its permissions as the message says, then run the command again"
            }
            Self::DiskFull(_) => {
                "free space (or raise the quota) on the filesystem the message names, then run the command again"
            }
            Self::Other(_) => "act on the message, then run the command again",
        }
    }

    /// The error as one JSON document (`docs/json.md`, "Errors"): what `--json` prints on
    /// stdout when `command` fails, and what an `on-failure` notification reads on stdin.
    #[must_use]
    pub fn document(&self, command: &str) -> ErrorDocument {
        ErrorDocument {
            schema_version: 1,
            ok: false,
            command: command.to_owned(),
            exit_code: self.exit_code(),
            kind: self.kind(),
            message: self.to_string(),
            todo: self.todo(),
        }
    }

    /// Shorthand for an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// A failed command as one JSON document (see [`Error::document`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorDocument {
    /// The document's schema version (1).
    pub schema_version: u32,
    /// Always `false`: tells an error document from a report at a glance.
    pub ok: bool,
    /// The command that failed (`backup`, `restore` …; `lockstep` when the command line could
    /// not be read).
    pub command: String,
    /// The process's exit code.
    pub exit_code: i32,
    /// The error's kind ([`Error::kind`]).
    pub kind: &'static str,
    /// The one line lockstep prints on stderr (without `lockstep: `): what happened and what to
    /// do in this case.
    pub message: String,
    /// What to do about errors of this kind ([`Error::todo`]).
    pub todo: &'static str,
}

impl From<Box<rustic_core::RusticError>> for Error {
    fn from(err: Box<rustic_core::RusticError>) -> Self {
        // The causes carry what an administrator acts on: an object store's HTTP status, a
        // refused connection, the OS error.
        Self::Repo(explain(&err))
    }
}

/// rustic_core's concise message, without its log decorations, on one line.
#[must_use]
pub fn rustic_message(err: &rustic_core::RusticError) -> String {
    let log = err.display_log();
    let msg = log.strip_prefix("Error: ").unwrap_or(&log);
    let msg = msg.split(" (kind: related to").next().unwrap_or(msg);
    // The report's decorations (where to read more, the context with nonces, the causes, the
    // backtrace hint) are not for the administrator; the causes are added by
    // `repo::with_causes` in their short form.
    let cut = [
        "For more information",
        "Some additional details",
        "Caused by:",
        "Backtrace:",
    ]
    .iter()
    .filter_map(|marker| msg.find(marker))
    .min()
    .unwrap_or(msg.len());
    let msg = msg.get(..cut).unwrap_or(msg);
    msg.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches([' ', '.', ':'])
        .to_owned()
}

/// Errors reading IM's files. Messages say what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImError {
    /// The file could not be read at all (missing, unreadable, a directory…).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file lockstep tried to read.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is not what IM writes.
    ///
    /// `line` is 1-based where known. Display:
    /// `<path>:<line>: <msg> (IM's records may be damaged; check the file or restore it from a
    /// lockstep snapshot)`, with `:<line>` left out when the line is unknown.
    #[error("{}", ParseDisplay { path, line: *line, msg })]
    Parse {
        /// The file whose content is wrong.
        path: PathBuf,
        /// 1-based line of the problem, where known.
        line: Option<u32>,
        /// What is wrong, in a sentence without a trailing full stop.
        msg: String,
    },
}

impl ImError {
    /// The same error naming `path` instead (a file read under `--root` is reported by the path
    /// the host knows it by).
    #[must_use]
    pub fn with_path(self, path: &Path) -> ImError {
        match self {
            ImError::Io { source, .. } => ImError::Io {
                path: path.to_path_buf(),
                source,
            },
            ImError::Parse { line, msg, .. } => ImError::Parse {
                path: path.to_path_buf(),
                line,
                msg,
            },
        }
    }

    /// A [`ImError::Parse`] for `path`, at `line` when known.
    pub(crate) fn parse(path: &Path, line: Option<u32>, msg: impl Into<String>) -> ImError {
        ImError::Parse {
            path: path.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }
}

/// Formats [`ImError::Parse`]; kept apart so the optional line reads naturally.
struct ParseDisplay<'a> {
    path: &'a Path,
    line: Option<u32>,
    msg: &'a str,
}

impl fmt::Display for ParseDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(
            f,
            ": {} (IM's records may be damaged; check the file or restore it from a lockstep snapshot)",
            self.msg
        )
    }
}

/// One line for an engine error: rustic's message with its causes, an object store's status
/// turned into what to check ([`store_message`]).
#[must_use]
pub fn explain(e: &rustic_core::RusticError) -> String {
    local_message(&store_message(&with_causes(e)))
}

/// Whether `path` has the shape of a restic repository file: a 64-digit hex name in
/// `index/`, `snapshots/`, `keys/`, `locks/` or `data/XX/`.
fn is_repository_file(path: &str) -> bool {
    let path = Path::new(path);
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit()));
    fn dir(p: Option<&Path>) -> Option<&str> {
        p.and_then(Path::file_name).and_then(|n| n.to_str())
    }
    let parent = path.parent();
    named
        && (matches!(dir(parent), Some("index" | "snapshots" | "keys" | "locks"))
            || dir(parent.and_then(Path::parent)) == Some("data"))
}

/// A damaged repository file or a local filesystem's refusal made plain: which file, and what
/// to do. Other messages pass through.
#[must_use]
pub fn local_message(msg: &str) -> String {
    let undecryptable = msg.contains("ecryption failed") || msg.contains("MAC check failed");
    // "error processing Index:00195ec4: ..." names the file's kind and short id
    let file = msg.split("error processing ").nth(1).and_then(|rest| {
        let (kind, rest) = rest.split_once(':')?;
        let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        Some((kind.to_owned(), id))
    });
    match (undecryptable, file) {
        (true, Some((kind, _))) if kind == "Config" => {
            return "the repository's config file is damaged (it does not decrypt): put back `config` from a copy of the repository".into();
        }
        (true, Some((kind, id))) if kind == "Index" => {
            return format!(
                "index file {id}… of the repository is damaged (it does not decrypt): run `lockstep repair index`, which replaces it from the pack files"
            );
        }
        (true, Some((kind, id))) if kind == "Snapshot" => {
            return format!(
                "snapshot file {id}… is damaged (it does not decrypt): `lockstep repair snapshots` removes it"
            );
        }
        (true, Some((kind, id))) => {
            return format!(
                "{} file {id}… of the repository is damaged (it does not decrypt): run `lockstep check`",
                kind.to_lowercase()
            );
        }
        _ => {}
    }
    let path = msg
        .split('`')
        .nth(1)
        .filter(|p| p.starts_with('/'))
        .map(|p| p.trim_end_matches("-tmp-"));
    let at = path.map(|p| format!(" ({p})")).unwrap_or_default();
    let full = msg.contains("os error 28") || msg.contains("No space left");
    // The engine also writes outside the repository (a restore's files): only a repository
    // file's disk is the repository's.
    match path {
        Some(p) if full && !is_repository_file(p) => {
            return format!(
                "the filesystem holding {p} is full: free space there (`df -h`, `df -i`) and run it again"
            );
        }
        _ => {}
    }
    if full {
        format!(
            "the repository's disk is full{at}: nothing was kept of this run; free space there (`lockstep forget --prune` removes old snapshots) and run it again"
        )
    } else if msg.contains("os error 30") || msg.contains("Read-only file system") {
        format!(
            "the repository is on a read-only filesystem{at}: remount it read-write, or use another repository"
        )
    } else if msg.contains("os error 13") || msg.contains("ermission denied") {
        format!(
            "permission denied in the repository{at}: run lockstep as the repository's owner, or fix its permissions"
        )
    } else {
        msg.to_owned()
    }
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
        // Garage without quorum (too few nodes of a cluster up), an overloaded or restarting
        // server: worth another try later, but not by the engine, which has retried already.
        Some(code @ (500 | 502 | 503 | 504)) => format!(
            "the store is unavailable (HTTP {code}) and stayed so through the retries (`retry` in the repository's options): a cluster may have too few nodes up, or the server is overloaded or restarting; run again once the store is healthy"
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

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_document_carries_the_exit_code_kind_message_and_what_to_do() {
        let e = super::Error::Refused("IM is running (pid 42): stop it first".into());
        let doc = serde_json::to_value(e.document("backup")).unwrap();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["command"], "backup");
        assert_eq!(doc["exit_code"], 3);
        assert_eq!(doc["kind"], "refused");
        assert_eq!(doc["message"], "IM is running (pid 42): stop it first");
        assert!(
            doc["todo"]
                .as_str()
                .unwrap()
                .contains("nothing was changed")
        );
        assert_eq!(
            super::Error::Usage(String::new()).document("x").exit_code,
            2
        );
        assert_eq!(super::Error::DiskFull(String::new()).kind(), "disk_full");
    }

    #[test]
    fn a_store_s_status_says_what_to_check() {
        let said = |status: &str| {
            super::store_message(&format!(
                "Unexpected (persistent) at stat, context: {{ status: {status} }} => ..."
            ))
        };
        assert!(said("403 Forbidden").contains("refused access (HTTP 403)"));
        assert!(said("404 Not Found").contains("no such object (HTTP 404)"));
        for code in ["500", "502", "503", "504"] {
            let msg = said(code);
            assert!(
                msg.contains(&format!("unavailable (HTTP {code})"))
                    && msg.contains("too few nodes up"),
                "{msg}"
            );
        }
        assert!(said("409 Conflict").starts_with("the store answered HTTP 409"));
        assert!(
            super::store_message("error sending request: Connection refused")
                .contains("unreachable")
        );
    }

    #[test]
    fn engine_reports_lose_their_decorations() {
        let err = rustic_core::RusticError::new(
            rustic_core::ErrorKind::Cryptography,
            "Data decryption failed, MAC check failed.",
        )
        .attach_context("nonce", "[1, 2, 3]");
        let msg = super::rustic_message(&err);
        assert!(msg.contains("Data decryption failed"), "{msg}");
        for word in ["nonce", "Backtrace", "For more information", "Context"] {
            assert!(!msg.contains(word), "{msg}");
        }
    }
}
