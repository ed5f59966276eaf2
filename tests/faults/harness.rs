//! What every row of the fault suite shares: the row type, the assertions on what the
//! administrator sees, the "nothing changed" oracle and the generated document.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{Env, Run};

/// The areas of the suite, in the document's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Area {
    /// IM's records: missing, damaged, odd encodings and shapes.
    ImRecords,
    /// The repository: lost or damaged files, wrong password, missing key.
    Repository,
    /// The machine: a full disk, missing permissions.
    Machine,
    /// Restores and their journal: kills at each phase, damaged journals, odd file names.
    Restore,
    /// The command line and the configuration.
    Usage,
    /// `guard`, hooks, signals, metrics.
    Operations,
}

impl Area {
    /// The heading in `docs/failure-modes.md`.
    pub fn heading(self) -> &'static str {
        match self {
            Self::ImRecords => "IM's records",
            Self::Repository => "The repository",
            Self::Machine => "The machine: disk space and permissions",
            Self::Restore => "Restores, the journal and file names",
            Self::Usage => "The command line and the configuration",
            Self::Operations => "Guard, hooks, signals and metrics",
        }
    }

    /// The kind shown beside the row's name in the test output.
    pub fn kind(self) -> &'static str {
        match self {
            Self::ImRecords => "im",
            Self::Repository => "repository",
            Self::Machine => "machine",
            Self::Restore => "restore",
            Self::Usage => "usage",
            Self::Operations => "operations",
        }
    }
}

/// One row: a fault, what lockstep does about it, and the test that proves it.
pub struct Fault {
    /// A stable name (snake_case): the test's name and the row's anchor in the document.
    pub id: &'static str,
    /// Where the fault belongs.
    pub area: Area,
    /// The fault, as an administrator would describe it.
    pub fault: &'static str,
    /// What lockstep does: exit code, what it says, what it leaves.
    pub outcome: &'static str,
    /// The test; it panics (an assertion) when lockstep does not behave as `outcome` says.
    pub test: fn(),
}

/// Words that only the engine's or Rust's internals print; none may reach the administrator.
const INTERNALS: &[&str] = &[
    "Backtrace",
    "backtrace",
    "panicked",
    "unwrap()",
    "Result::",
    "Option::",
    "kind: related to",
    "nonce",
    "RusticError",
    "rustic_core",
    "Os {",
    "Custom {",
    "src/",
    ".rs:",
];

/// Asserts that `run` exited with `code` and said exactly one line on stderr, starting with
/// `lockstep: `, containing every needle (case-sensitive) and none of the engine's internals.
/// Returns the line.
#[track_caller]
pub fn one_line(run: &Run, code: i32, needles: &[&str]) -> String {
    assert_eq!(
        run.code, code,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{}",
        run.stderr
    );
    let line = lines[0];
    assert!(line.starts_with("lockstep: "), "{line}");
    no_internals(line);
    for needle in needles {
        assert!(line.contains(needle), "'{needle}' not in: {line}");
    }
    line.to_string()
}

/// Asserts that `text` holds none of the engine's or Rust's internals.
#[track_caller]
pub fn no_internals(text: &str) {
    for word in INTERNALS {
        assert!(
            !text.contains(word),
            "internal text '{word}' reached the user: {text}"
        );
    }
}

/// The state a row compares before and after a command: every entry under the host root and
/// under the repository, entry by entry (type, mode, owner, size, mtime, content, links,
/// extended attributes).
#[derive(Debug, PartialEq, Eq)]
pub struct State {
    host: lockstep_sample::listing::Listing,
    repo: lockstep_sample::listing::Listing,
}

impl State {
    /// The state of `env`'s host and repository now.
    pub fn of(env: &Env) -> Self {
        Self::at(&env.root(), &env.repo())
    }

    /// The state of the host under `root` and the repository at `repo`.
    pub fn at(root: &Path, repo: &Path) -> Self {
        let all = [PathBuf::from("/")];
        Self {
            host: listing(root, &all),
            repo: listing(repo, &all),
        }
    }

    /// Asserts that `env` is still in this state, naming the entries that differ.
    #[track_caller]
    pub fn assert_unchanged(&self, env: &Env) {
        self.assert_same(&Self::of(env));
    }

    /// Asserts that `other` equals this state, naming the entries that differ.
    #[track_caller]
    pub fn assert_same(&self, other: &Self) {
        let ignore = lockstep_sample::listing::Ignore::default();
        let host = lockstep_sample::listing::diff(&self.host, &other.host, ignore);
        let repo = lockstep_sample::listing::diff(&self.repo, &other.repo, ignore);
        assert!(
            host.is_empty() && repo.is_empty(),
            "changed:\nhost:\n{}\nrepository:\n{}",
            host.join("\n"),
            repo.join("\n")
        );
    }
}

fn listing(root: &Path, paths: &[PathBuf]) -> lockstep_sample::listing::Listing {
    if !root.exists() {
        return BTreeMap::new();
    }
    crate::common::listing(root, paths)
}

/// The document the rows describe, grouped by area.
pub fn render_doc(rows: &[Fault]) -> String {
    let mut by_area: BTreeMap<Area, Vec<&Fault>> = BTreeMap::new();
    for row in rows {
        by_area.entry(row.area).or_default().push(row);
    }
    let mut out = String::from(
        "# What lockstep does when things go wrong\n\n\
         <!-- Generated from the fault suite (tests/faults/): every row below is a test that \
         proves it.\n     Do not edit by hand: `LOCKSTEP_BLESS=1 cargo test --test faults \
         failure_modes_doc_is_current` rewrites it. -->\n\n\
         Every row is a fault a real host or a hostile world produces, and what lockstep does \
         about it. Exit codes: 0 ok, 1 error, 2 usage or configuration, 3 refused by a safety \
         rule. Unless a row says otherwise, the error is one line on stderr that says what \
         happened and what to do, and the host and the repository are left exactly as they \
         were.\n",
    );
    out.push_str(&format!("\n{} faults in all.\n", rows.len()));
    for (area, rows) in by_area {
        out.push_str(&format!(
            "\n## {}\n\n| fault | what lockstep does | test |\n|---|---|---|\n",
            area.heading()
        ));
        for row in rows {
            out.push_str(&format!(
                "| {} | {} | `{}` |\n",
                cell(row.fault),
                cell(row.outcome),
                row.id
            ));
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Compares `doc` with `docs/failure-modes.md`, or writes it there under `LOCKSTEP_BLESS=1`.
pub fn check_doc(doc: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/failure-modes.md");
    if std::env::var_os("LOCKSTEP_BLESS").is_some() {
        return std::fs::write(&path, doc).map_err(|e| format!("{}: {e}", path.display()));
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == doc {
        Ok(())
    } else {
        Err(format!(
            "{} differs from the fault suite's table; run LOCKSTEP_BLESS=1 cargo test --test \
             faults failure_modes_doc_is_current and commit the result",
            path.display()
        ))
    }
}

/// A small filesystem of `size` (e.g. `"8m"`) mounted at `at` (a tmpfs the row mounts, so a
/// full disk is a real `ENOSPC`); unmounted when dropped. `None` when not running as root (the
/// row then says SKIPPED), except in CI, where the suite runs as root.
pub struct SmallFs {
    at: PathBuf,
}

impl SmallFs {
    pub fn mount(at: &Path, size: &str) -> Option<Self> {
        Self::mount_with(at, &format!("size={size}"))
    }

    /// A tmpfs mounted with `options` (e.g. `"size=64m,nr_inodes=50"`).
    pub fn mount_with(at: &Path, options: &str) -> Option<Self> {
        if !crate::common::is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the fault suite as root"
            );
            eprintln!("SKIPPED: mounting a small filesystem needs root");
            return None;
        }
        std::fs::create_dir_all(at).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs at {}", at.display());
        Some(Self {
            at: at.to_path_buf(),
        })
    }

    /// Fills the filesystem until fewer than `leave` bytes are free.
    pub fn fill(&self, leave: u64) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.at.join("filler")).expect("filler");
        let block = vec![0x5a_u8; 64 * 1024];
        loop {
            let free = rustix::fs::statvfs(&self.at).expect("statvfs");
            let free = free.f_bavail * free.f_frsize;
            if free <= leave {
                break;
            }
            let n = usize::try_from((free - leave).min(block.len() as u64)).unwrap_or(block.len());
            if file.write_all(&block[..n]).is_err() {
                break;
            }
        }
        file.sync_all().ok();
    }

    pub fn path(&self) -> &Path {
        &self.at
    }

    /// Makes the filesystem read-only.
    pub fn remount_read_only(&self) {
        let status = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.at)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {} read-only", self.at.display());
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.at)
            .status();
    }
}
