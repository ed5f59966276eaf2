//! Fault points for the crash and race tests.
//!
//! Compiled in only with the `fault-injection` feature, which the test suite turns on (the
//! package is its own dev-dependency with that feature); release builds carry no trace of it.
//! A point named `swap-2` reads `LOCKSTEP_FAULT_SWAP_2`: `kill` sends SIGKILL to lockstep itself
//! (a crash at exactly that step), `run:COMMAND` runs COMMAND through `sh -c` and waits for it
//! (a writer racing the backup, deterministically).

/// Triggers the fault configured for `name`, if any.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    let var = format!(
        "LOCKSTEP_FAULT_{}",
        name.to_ascii_uppercase().replace(['-', '.'], "_")
    );
    let Ok(action) = std::env::var(&var) else {
        return;
    };
    if action == "kill" {
        // a crash at exactly this step: SIGKILL to lockstep itself
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    } else if let Some(command) = action.strip_prefix("run:") {
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .status();
    }
}

/// Triggers the fault configured for `name`, if any (no-op without `fault-injection`).
#[cfg(not(feature = "fault-injection"))]
#[inline]
pub fn point(_name: &str) {}
