//! Phase timings for profiling: with `LOCKSTEP_TIMINGS=1` each timed phase prints its wall time
//! to stderr when it ends (`timing: <phase> <seconds>`), and on Linux the process's memory at
//! that moment (`memory: <phase> <resident MiB> <peak resident MiB so far>`), so the phase
//! whose end first shows a new peak is the one that reached it. The benchmark uses them to show
//! where lockstep's time and memory go beside the engine's; without the variable they cost one
//! branch.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LOCKSTEP_TIMINGS").is_some_and(|v| v != "0"))
}

/// A running phase; its time is printed when it is dropped.
#[must_use = "a phase is timed until it is dropped"]
pub struct Timer {
    name: String,
    start: Option<Instant>,
}

/// Starts timing the phase `name`.
pub fn phase(name: impl Into<String>) -> Timer {
    let start = enabled().then(Instant::now);
    Timer {
        name: if start.is_some() {
            name.into()
        } else {
            String::new()
        },
        start,
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            eprintln!("timing: {} {:.3}", self.name, start.elapsed().as_secs_f64());
            if let Some((now, peak)) = resident() {
                eprintln!("memory: {} {now} {peak}", self.name);
            }
        }
    }
}

/// The process's resident memory now and at its peak so far, in MiB (Linux's
/// `/proc/self/status`; `None` elsewhere).
fn resident() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib / 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
