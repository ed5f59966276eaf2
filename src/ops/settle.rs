//! Before any command: the host is settled first.
//!
//! 1. A guarded maintenance still running (or whose guard died) is noted, so nobody restores or
//!    backs up under it unaware ([`crate::ops::guard::notice`]).
//! 2. An in-place restore that was interrupted is finished or rolled back from its journal
//!    ([`crate::ops::restore::journal::recover`]) — every command but `recover` itself and
//!    `demo` runs on a host that holds the old or the new set, never a mix. A restore that
//!    completed and handed the removal of the replaced copies to a background process is
//!    waited for (and that removal finished, when the process died).
//!
//! What the administrator should know comes back through `note`, one line each, in order (the
//! first before the recovery starts, so a long one is explained while it runs); the caller
//! prints them.

use crate::Result;
use crate::host::state::StateDir;
use crate::ops::restore::journal::{self, Journal, JournalPhase};
use crate::util::report::short;

/// Settles the host before a command (see the module). `note` receives each line to show.
///
/// # Errors
/// When the journal cannot be read or the recovery fails (its error says what to do).
pub fn settle(state: &StateDir, note: &mut dyn FnMut(String)) -> Result<()> {
    if let Some(n) = crate::ops::guard::notice(state) {
        note(format!("note: {n}"));
    }
    let Some(found) = Journal::load(state)? else {
        return Ok(());
    };
    if found.pid != 0 && crate::ops::preflight::alive(found.pid) {
        // Another lockstep restores right now: its own journal, not an interrupted one.
        return Ok(());
    }
    // pid 0 at `cleanup`: a restore that completed handed the removal of the replaced copies to
    // a background process, which is waited for (and replaced if it died).
    let handed_off = found.pid == 0 && found.phase == JournalPhase::Cleanup;
    if !handed_off {
        note(format!(
            "found an interrupted restore of snapshot {} ({}); recovering it first",
            short(&found.snapshot),
            state.journal().display()
        ));
    }
    let recovered = journal::recover(state, || {
        note(
            "waiting for the last restore's replaced copies (*.lockstep-old-*) to be removed in the background"
                .into(),
        );
    })?;
    match recovered {
        Some(_) if handed_off => note(format!(
            "removed the replaced copies of the restore of snapshot {} (its background clean-up had not finished them); continuing",
            short(&found.snapshot)
        )),
        Some(r) => {
            let completed = r.outcome == "completed";
            note(format!(
                "the restore was {} (set {} is {}); continuing",
                if completed {
                    "completed"
                } else {
                    "rolled back"
                },
                r.set,
                if completed {
                    "now that snapshot"
                } else {
                    "as it was before"
                }
            ));
        }
        None => {}
    }
    Ok(())
}
