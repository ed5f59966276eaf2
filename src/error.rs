//! lockstep's error type and exit codes.
//!
//! Every error is shown to the administrator as one line that says what happened and what to do.
//! The variant decides the exit code, which is documented for scripts and schedulers:
//! 0 ok, 1 error, 2 usage, 3 refused by a safety rule.

use std::path::PathBuf;

use crate::im::ImError;

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

    /// Shorthand for an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<Box<rustic_core::RusticError>> for Error {
    fn from(err: Box<rustic_core::RusticError>) -> Self {
        // The causes carry what an administrator acts on: an object store's HTTP status, a
        // refused connection, the OS error.
        Self::Repo(crate::repo::explain(&err))
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

#[cfg(test)]
mod tests {
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
