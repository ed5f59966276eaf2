//! Keeping the repository engine's panics from reaching the administrator as a crash.
//!
//! rustic_core 0.13 unwraps some results deep inside its parallel code: its restorer panics on
//! a pack whose data does not decrypt (a damaged pack), and its pack checker can panic on a
//! truncated pack. A panic there would end lockstep with a Rust backtrace instead of one line
//! that says what to do, so [`engine`] runs such calls under `catch_unwind`, keeps the panic's
//! message from being printed (the panic may happen on any of rayon's worker threads, so the
//! hook captures process-wide while a contained call runs) and turns it into an [`Error`].
//!
//! One engine panic is not a failure at all: rustic_core's tree loaders (`blob/tree.rs`, the
//! threads `check`, `ls` and restores read trees on) `unwrap()` their send to a channel whose
//! reader has already stopped — because the operation ended on an error of its own, such as a
//! tree in a lost pack, which it reports. The loader thread is detached, so its panic may come
//! after the contained call returned, printing a Rust panic after lockstep's one line (the
//! "intermittent panic in `check` after a lost pack"). Such a panic ([`orphan_send`]) is
//! dropped silently: the damage it follows is reported by the call that stopped reading.
//!
//! [`install`] also makes a closed stdout (`lockstep snapshots | head -1`) end lockstep quietly
//! instead of with a panic message: `println!` panics on a broken pipe, and lockstep keeps
//! SIGPIPE ignored because the network backends must not be killed by it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use crate::{Error, Result};

/// The exit code after stdout was closed by its reader, as for a process ended by SIGPIPE.
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// How many contained calls are running (the hook captures instead of printing while > 0).
static CONTAINING: AtomicUsize = AtomicUsize::new(0);
/// Messages of panics captured while containing.
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// Installs lockstep's panic hook (idempotent): captures panics inside [`engine`] calls, ends
/// the process quietly when stdout's reader went away, and leaves every other panic to the
/// previous hook.
pub fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let message = payload_text(info.payload());
            if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
                std::process::exit(EXIT_BROKEN_PIPE);
            }
            if orphan_send(&message, info.location().map(|l| l.file())) {
                return;
            }
            if CONTAINING.load(Ordering::SeqCst) > 0 {
                if let Ok(mut captured) = CAPTURED.lock() {
                    captured.push(message);
                }
                return;
            }
            previous(info);
        }));
    });
}

/// Whether a panic is an engine thread's `unwrap()` of a send whose receiver is gone: the
/// operation it served has already ended, and reported its own error.
fn orphan_send(message: &str, file: Option<&str>) -> bool {
    message.contains("SendError")
        && file.is_some_and(|f| f.contains("rustic_core") || f.contains("rustic_backend"))
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Runs `f` (a call into the repository engine) and turns a panic inside it into an error:
/// `{what} failed: {the engine's message}; {advice}`.
///
/// # Errors
/// `f`'s own error, or [`Error::Repo`] when it panicked.
pub fn engine<T>(what: &str, advice: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install();
    CONTAINING.fetch_add(1, Ordering::SeqCst);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINING.fetch_sub(1, Ordering::SeqCst);
    let captured: Vec<String> = CAPTURED
        .lock()
        .map(|mut c| std::mem::take(&mut *c))
        .unwrap_or_default();
    match result {
        Ok(r) => r,
        Err(payload) => {
            let message = captured
                .into_iter()
                .next()
                .unwrap_or_else(|| payload_text(payload.as_ref()));
            let message = concise(&message);
            Err(Error::Repo(if advice.is_empty() {
                format!("{what} failed: {message}")
            } else {
                format!("{what} failed: {message}; {advice}")
            }))
        }
    }
}

/// The part of an engine message a person needs, on one line: the `guidance` of a
/// `RusticError` shown in debug form, else the text before rustic's details, causes and
/// backtrace.
#[must_use]
pub fn concise(text: &str) -> String {
    if let Some(start) = text.find("guidance: \"") {
        let rest = &text[start + 11..];
        if let Some(end) = rest.find('"') {
            return rest[..end].trim_end_matches('.').to_owned();
        }
    }
    let mut cut = text.len();
    for marker in [
        "For more information",
        "Some additional details",
        "Caused by:",
        "Backtrace:",
    ] {
        if let Some(i) = text.find(marker) {
            cut = cut.min(i);
        }
    }
    let one_line: String = text[..cut].split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.trim_end_matches([' ', ':', '.']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_one_error_line() {
        let err = engine(
            "reading",
            "run `lockstep check --read-data`",
            || -> Result<()> { panic!("called `Result::unwrap()` on an `Err` value:\n  bad MAC") },
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("reading failed: called"), "{err}");
        let rustic = "called `Result::unwrap()` on an `Err` value: RusticError { kind: Cryptography, guidance: \"Data decryption failed, MAC check failed.\", docs_url: None }";
        assert_eq!(concise(rustic), "Data decryption failed, MAC check failed");
        let check = "error checking pack cffa8182 : `rustic_core` experienced an error. Message: Data decryption failed. For more information, see: x Some additional details ... Backtrace: 0: a";
        assert_eq!(
            concise(check),
            "error checking pack cffa8182 : `rustic_core` experienced an error. Message: Data decryption failed"
        );
        assert!(err.contains("bad MAC; run `lockstep check"), "{err}");
        assert!(!err.contains('\n'));
        assert_eq!(engine("x", "y", || Ok(5)).unwrap(), 5);
    }

    #[test]
    fn an_engine_send_to_a_gone_reader_is_not_a_failure() {
        let file = "/root/.cargo/registry/src/x/rustic_core-0.13.0/src/blob/tree.rs";
        let msg = "called `Result::unwrap()` on an `Err` value: SendError { .. }";
        assert!(orphan_send(msg, Some(file)));
        assert!(!orphan_send(msg, Some("src/restore.rs")));
        assert!(!orphan_send("index out of bounds", Some(file)));
    }
}
