//! Progress reporting for long repository work (backup, restore, check --read-data, drill).
//!
//! rustic_core reports progress through its [`ProgressBars`] trait, given to the repository when
//! it is opened ([`crate::repo::RepoSpec::open_with_progress`]). [`Reporter`] implements it in
//! three ways, chosen by [`ProgressMode::choose`]:
//!
//! - **bars** (indicatif) on stderr when stderr is a terminal: bytes, counts, throughput, ETA;
//! - **lines** on stderr when `--progress` is given and stderr is not a terminal (a log file, a
//!   systemd journal): one line per step and at most one update every [`LINE_INTERVAL`], as JSON
//!   lines when `--json` is given too;
//! - **hidden** otherwise, so scripts and schedulers get a quiet stderr.
//!
//! Progress never goes to stdout, which carries the one report (or JSON document).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustic_core::{Progress, ProgressBars, ProgressType, RusticProgress};

/// How often the line reporter prints an update at most.
pub const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Nothing.
    Hidden,
    /// indicatif bars on stderr (a terminal).
    Bars,
    /// Plain lines on stderr; JSON lines when `json`.
    Lines {
        /// One JSON object per line instead of text.
        json: bool,
    },
}

impl ProgressMode {
    /// The mode for a command: `long` is whether the command does long repository work,
    /// `requested` is `--progress`, `json` is `--json`, `terminal` whether stderr is a terminal.
    #[must_use]
    #[allow(clippy::fn_params_excessive_bools)] // four independent facts, each a yes or no
    pub fn choose(long: bool, requested: bool, json: bool, terminal: bool) -> Self {
        match (long || requested, terminal, requested) {
            (true, true, _) => Self::Bars,
            (true, false, true) => Self::Lines { json },
            (false, _, _) | (true, false, false) => Self::Hidden,
        }
    }

    /// [`Self::choose`] with this process's stderr.
    #[must_use]
    pub fn for_stderr(long: bool, requested: bool, json: bool) -> Self {
        Self::choose(long, requested, json, std::io::stderr().is_terminal())
    }
}

/// rustic_core's progress bars, shown the way [`ProgressMode`] says.
#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    mode: ProgressMode,
}

impl Reporter {
    /// A reporter for `mode`.
    #[must_use]
    pub fn new(mode: ProgressMode) -> Self {
        Self { mode }
    }
}

/// rustic names some steps with an empty prefix (reading the index when a repository is
/// indexed); give them a name a person understands.
fn title(prefix: &str) -> String {
    if prefix.is_empty() {
        "reading the index...".to_owned()
    } else {
        prefix.to_owned()
    }
}

/// The operation the engine's progress belongs to ([`step`]), named in progress lines.
static STEP: Mutex<Option<&'static str>> = Mutex::new(None);

/// Marks the engine work until the guard is dropped as part of `name` (`backup`, `restore`,
/// `check`), unless it already is part of another step: progress lines say it (`lockstep backup: backing up... 1.2 GiB / 2.0 GiB`), and
/// JSON lines carry it as `step`. [`QUIET`] hides the engine's progress meanwhile (lockstep's
/// own bookkeeping, such as replacing an unsealed snapshot by its sealed one, is not a step
/// the administrator waits for).
#[must_use = "the step lasts until the guard is dropped"]
pub fn step(name: &'static str) -> Step {
    let previous = STEP.lock().ok().and_then(|mut s| {
        let previous = *s;
        // An operation within another (a drill's restore) is part of the outer one.
        if name == QUIET || previous.is_none() {
            *s = Some(name);
        }
        previous
    });
    Step { previous }
}

/// The step name that hides the engine's progress ([`step`]).
pub const QUIET: &str = "";

/// The guard of [`step`]: puts the previous step back.
#[derive(Debug)]
pub struct Step {
    previous: Option<&'static str>,
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Ok(mut s) = STEP.lock() {
            *s = self.previous;
        }
    }
}

fn current_step() -> Option<&'static str> {
    STEP.lock().ok().and_then(|s| *s)
}

/// The bar of a run of several engine steps ([`run_bytes`]), while one is open.
static RUN: Mutex<Option<Progress>> = Mutex::new(None);

/// One bar for a run of several engine steps that each report bytes (an in-place restore's
/// units and passes, a restore's members): while the returned guard lives, the byte progress the
/// engine starts adds to this bar instead of starting one of its own, so the run shows one bar
/// from 0 to `total` (0: unknown) instead of one per step. The bar ends with the guard.
#[must_use = "the run's bar ends when the guard is dropped"]
pub fn run_bytes<S>(repo: &rustic_core::Repository<S>, title: &str, total: u64) -> RunBar {
    let bar = repo.progress_bytes(title);
    if total > 0 {
        bar.set_length(total);
    }
    if let Ok(mut run) = RUN.lock() {
        *run = Some(bar.clone());
    }
    RunBar(bar)
}

/// The guard of [`run_bytes`].
#[derive(Debug)]
pub struct RunBar(Progress);

impl Drop for RunBar {
    fn drop(&mut self) {
        if let Ok(mut run) = RUN.lock() {
            *run = None;
        }
        self.0.finish();
    }
}

/// An engine step's byte progress while a run's bar is open: counts into that bar, and leaves
/// its length, title and end to the run.
#[derive(Debug)]
struct Joined(Progress);

impl RusticProgress for Joined {
    fn is_hidden(&self) -> bool {
        self.0.is_hidden()
    }
    fn set_length(&self, _len: u64) {}
    fn set_title(&self, _title: &str) {}
    fn inc(&self, inc: u64) {
        self.0.inc(inc);
    }
    fn finish(&self) {}
}

impl ProgressBars for Reporter {
    fn progress(&self, kind: ProgressType, prefix: &str) -> Progress {
        if current_step() == Some(QUIET) {
            return Progress::hidden();
        }
        if matches!(kind, ProgressType::Bytes)
            && let Some(run) = RUN.lock().ok().and_then(|r| r.clone())
        {
            return Progress::new(Joined(run));
        }
        match self.mode {
            ProgressMode::Hidden => Progress::hidden(),
            ProgressMode::Bars => Progress::new(Bar::new(kind, &title(prefix))),
            ProgressMode::Lines { json } => {
                Progress::new(Line::new(kind, &title(prefix), json, current_step()))
            }
        }
    }
}

/// One indicatif bar.
#[derive(Debug)]
struct Bar {
    bar: ProgressBar,
    kind: ProgressType,
}

impl Bar {
    fn new(kind: ProgressType, title: &str) -> Self {
        // Styled while hidden, so the first frame drawn is already the right one.
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_prefix(title.to_owned());
        let this = Self { bar, kind };
        this.bar.set_style(this.style(false));
        this.bar.set_draw_target(ProgressDrawTarget::stderr());
        this.bar.enable_steady_tick(Duration::from_millis(120));
        this
    }

    fn style(&self, with_length: bool) -> ProgressStyle {
        let template = match (self.kind, with_length) {
            (ProgressType::Spinner, _) => "{spinner} {prefix} {elapsed}",
            (ProgressType::Counter, false) => "{spinner} {prefix} {pos} {elapsed}",
            (ProgressType::Counter, true) => {
                "{spinner} {prefix} [{wide_bar}] {pos}/{len} ETA {eta}"
            }
            (ProgressType::Bytes, false) => "{spinner} {prefix} {bytes} {binary_bytes_per_sec}",
            (ProgressType::Bytes, true) => {
                "{spinner} {prefix} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
            }
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .progress_chars("=> ")
    }
}

impl RusticProgress for Bar {
    fn is_hidden(&self) -> bool {
        false
    }
    fn set_length(&self, len: u64) {
        self.bar.set_length(len);
        self.bar.set_style(self.style(true));
    }
    fn set_title(&self, title: &str) {
        self.bar.set_prefix(title.to_owned());
    }
    fn inc(&self, inc: u64) {
        self.bar.inc(inc);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Progress as occasional lines on stderr (for logs and journals).
#[derive(Debug)]
struct Line {
    kind: ProgressType,
    /// The operation it belongs to ([`step`]).
    step: Option<&'static str>,
    title: Mutex<String>,
    json: bool,
    total: AtomicU64,
    done: AtomicU64,
    start: Instant,
    last: Mutex<Instant>,
}

impl Line {
    fn new(kind: ProgressType, title: &str, json: bool, step: Option<&'static str>) -> Self {
        let now = Instant::now();
        Self {
            kind,
            step,
            title: Mutex::new(title.to_owned()),
            json,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            start: now,
            last: Mutex::new(now),
        }
    }

    fn emit(&self, finished: bool) {
        let title = self.title.lock().map(|t| t.clone()).unwrap_or_default();
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let seconds = self.start.elapsed().as_secs_f64();
        let unit = match self.kind {
            ProgressType::Bytes => "bytes",
            ProgressType::Counter => "items",
            ProgressType::Spinner => "",
        };
        let line = if self.json {
            serde_json::json!({
                "step": self.step,
                "progress": title,
                "unit": unit,
                "done": done,
                "total": (total > 0).then_some(total),
                "seconds": (seconds * 1000.0).round() / 1000.0,
                "finished": finished,
            })
            .to_string()
        } else {
            line_text(
                self.step,
                &title,
                (self.kind, done, total),
                seconds,
                finished,
            )
        };
        // A closed stderr is no reason to stop a backup.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// The text of one progress line.
fn line_text(
    step: Option<&str>,
    title: &str,
    (kind, done, total): (ProgressType, u64, u64),
    seconds: f64,
    finished: bool,
) -> String {
    let amount = |n: u64| match kind {
        ProgressType::Bytes => crate::util::report::bytes(n),
        _ => n.to_string(),
    };
    let mut text = match step {
        Some(step) => format!("lockstep {step}: {title}"),
        None => format!("lockstep: {title}"),
    };
    if !matches!(kind, ProgressType::Spinner) {
        text.push(' ');
        text.push_str(&amount(done));
        if total > 0 {
            #[allow(clippy::cast_precision_loss)]
            let pct = done as f64 * 100.0 / total as f64;
            text.push_str(&format!(" / {} ({pct:.0}%)", amount(total)));
        }
        if matches!(kind, ProgressType::Bytes) && seconds > 0.0 {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            #[allow(clippy::cast_sign_loss)]
            let rate = (done as f64 / seconds) as u64;
            text.push_str(&format!(", {}/s", crate::util::report::bytes(rate)));
            if total > done && rate > 0 && !finished {
                text.push_str(&format!(", ETA {}s", (total - done) / rate));
            }
        }
    }
    if finished {
        text.push_str(&format!(" — done in {seconds:.1}s"));
    }
    text
}

impl RusticProgress for Line {
    fn is_hidden(&self) -> bool {
        false
    }
    fn set_length(&self, len: u64) {
        self.total.store(len, Ordering::Relaxed);
    }
    fn set_title(&self, title: &str) {
        if let Ok(mut t) = self.title.lock() {
            title.clone_into(&mut t);
        }
    }
    fn inc(&self, inc: u64) {
        self.done.fetch_add(inc, Ordering::Relaxed);
        let due = self.last.lock().is_ok_and(|mut last| {
            if last.elapsed() >= LINE_INTERVAL {
                *last = Instant::now();
                true
            } else {
                false
            }
        });
        if due {
            self.emit(false);
        }
    }
    fn finish(&self) {
        self.emit(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_gets_bars_others_only_on_request() {
        use ProgressMode::{Bars, Hidden, Lines};
        assert_eq!(ProgressMode::choose(true, false, false, true), Bars);
        assert_eq!(ProgressMode::choose(true, false, false, false), Hidden);
        assert_eq!(
            ProgressMode::choose(true, true, false, false),
            Lines { json: false }
        );
        assert_eq!(
            ProgressMode::choose(true, true, true, false),
            Lines { json: true }
        );
        // Short commands stay quiet on a terminal unless asked.
        assert_eq!(ProgressMode::choose(false, false, false, true), Hidden);
        assert_eq!(ProgressMode::choose(false, true, false, true), Bars);
    }

    #[test]
    fn lines_say_amount_rate_and_eta() {
        let t = line_text(
            Some("restore"),
            "restoring file contents...",
            (ProgressType::Bytes, 50 << 20, 100 << 20),
            5.0,
            false,
        );
        assert!(
            t.starts_with("lockstep restore: restoring file contents"),
            "{t}"
        );
        assert!(t.contains("(50%)"), "{t}");
        assert!(t.contains("/s"), "{t}");
        assert!(t.contains("ETA 5s"), "{t}");
        let done = line_text(None, "checking", (ProgressType::Counter, 3, 3), 1.0, true);
        assert!(done.contains("3 / 3") && done.contains("done in"), "{done}");
    }
}
