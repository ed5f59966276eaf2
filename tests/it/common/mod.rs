//! Test harness: a fresh sample host and repository per test, and the real `lockstep` binary run
//! against them (like ripgrep's `tests/util.rs`). Shared by the integration tests (`tests/it/`,
//! where it is `crate::common`) and the fault suite (`tests/faults/`, through `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lockstep_sample::{self as sample, SampleHost, SampleOptions, Shape};

pub mod s3;

/// A sample host, a repository beside it and the binary to run against both.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub host: SampleHost,
}

/// What one run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "lockstep failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Env {
    /// A host of the given shape, with an initialised repository.
    pub fn new(shape: Shape) -> Self {
        Self::with(SampleOptions {
            shape,
            ..SampleOptions::default()
        })
    }

    /// A host built with `opts`, with an initialised repository.
    pub fn with(opts: SampleOptions) -> Self {
        let env = Self::bare(opts);
        env.run(&["init"]).ok();
        env
    }

    /// A host built with `opts`, without a repository.
    pub fn bare(opts: SampleOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = sample::build(&dir.path().join("host"), &opts).expect("sample host");
        std::fs::write(dir.path().join("password"), "test-password\n").expect("password");
        // The tests never read the machine's own configuration.
        std::fs::write(dir.path().join("lockstep.toml"), "").expect("config");
        Self { dir, host }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("host")
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The physical path of a logical path on the sample host.
    pub fn physical(&self, logical: &str) -> PathBuf {
        self.root().join(logical.trim_start_matches('/'))
    }

    /// A command with the repository, password and root of this environment.
    pub fn command(&self) -> Command {
        self.command_at(&self.root())
    }

    /// A command with this environment's repository and password, on the host under `root`.
    pub fn command_at(&self, root: &Path) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_lockstep")), root)
    }

    /// A command like [`Env::command`] that another user (`nobody`, in the tests that run as
    /// root) can start: the build directory may be private (a checkout in a 0700 directory),
    /// so it runs a copy of the binary from this environment's directory, which is opened up
    /// (0755) for the same reason.
    pub fn command_for_another_user(&self) -> Command {
        use std::os::unix::fs::PermissionsExt;
        let program = self.path("lockstep-bin");
        std::fs::copy(env!("CARGO_BIN_EXE_lockstep"), &program).unwrap();
        for (p, mode) in [(program.as_path(), 0o755), (self.dir.path(), 0o755)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        self.command_of(&program, &self.root())
    }

    /// [`Env::command_at`] running the lockstep binary at `program`.
    pub fn command_of(&self, program: &Path, root: &Path) -> Command {
        let mut cmd = self.bare_command(program);
        cmd.arg("--root").arg(root).arg("--host").arg("dx-test");
        cmd
    }

    /// `program` with only this environment's variables (repository, password, configuration,
    /// state directory, HOME and PATH): no `--root`, no `--host`.
    pub fn bare_command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("LOCKSTEP_REPOSITORY", self.repo())
            .env("LOCKSTEP_PASSWORD_FILE", self.path("password"))
            .env("LOCKSTEP_CONFIG", self.path("lockstep.toml"))
            .env("LOCKSTEP_STATE_DIR", self.path("state"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run(self.command().args(args))
    }

    /// Backs up and returns the JSON outcome.
    pub fn backup(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["backup", "--json"];
        args.extend_from_slice(extra);
        self.run(&args).ok().json()
    }

    /// The logical top-level paths of instance `i`'s set (as discovered by the binary).
    pub fn member_paths(&self, extra: &[&str]) -> Vec<PathBuf> {
        let mut args = vec!["discover", "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args).ok().json();
        let mut paths: Vec<PathBuf> = out["instances"][0]["set"]["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| PathBuf::from(m["path"].as_str().expect("path")))
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Waits until no restore's background clean-up runs: that process holds this lock from
    /// before the restore returns until it is done (or dead).
    pub fn wait_for_cleanup(&self) {
        if let Ok(lock) = std::fs::File::open(self.path("state").join("cleanup.lock")) {
            lock.lock().unwrap();
        }
    }

    /// Number of snapshots in the repository (of every host: no `--host` limits the listing).
    pub fn snapshot_count(&self) -> usize {
        let mut cmd = self.bare_command(Path::new(env!("CARGO_BIN_EXE_lockstep")));
        cmd.arg("--root")
            .arg(self.root())
            .args(["snapshots", "--json"]);
        run(&mut cmd).ok().json()["snapshots"]
            .as_array()
            .expect("snapshots")
            .len()
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run lockstep");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Held by the tests that touch this machine's own lockstep files instead of a temporary
/// directory: the package test installs lockstep (`/usr/bin/lockstep`, `/etc/lockstep`,
/// `/var/lib/lockstep`) and purges it, and the demo test runs lockstep without
/// `LOCKSTEP_CONFIG`, which as root reads `/etc/lockstep/lockstep.toml`. Each used to be a test
/// binary of its own, run one after the other; in one binary they would overlap.
pub fn machine() -> std::sync::MutexGuard<'static, ()> {
    static MACHINE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    MACHINE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the tests run as root (owners can be restored and checked).
pub fn is_root() -> bool {
    lockstep::config::is_root()
}

/// A listing of `paths` under `root`.
pub fn listing(root: &Path, paths: &[PathBuf]) -> lockstep_sample::listing::Listing {
    lockstep_sample::listing::list(root, paths).expect("listing")
}

/// Whether a tool is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Skips a test that needs `tool` when it is absent, unless running in CI, where it must exist.
pub fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is required in CI: scripts/test.sh installs it"
    );
    eprintln!(
        "SKIPPED: {tool} is not installed; run ./scripts/test.sh to install it and run this test"
    );
    false
}

/// Asserts that the members restored under `target` equal `before` entry by entry (owners
/// compared only as root, where they can be restored).
#[track_caller]
pub fn assert_restored(
    before: &lockstep_sample::listing::Listing,
    target: &Path,
    members: &[PathBuf],
) {
    let differences = lockstep_sample::listing::diff(
        before,
        &listing(target, members),
        lockstep_sample::listing::Ignore { owner: !is_root() },
    );
    assert!(
        differences.is_empty(),
        "the restore differs in {} entries:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// Staging and replaced copies (`*.lockstep-stage-*`, `*.lockstep-old-*`) left anywhere under
/// `root`.
pub fn leftovers(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().to_path_buf())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.contains(".lockstep-stage-") || name.contains(".lockstep-old-")
        })
        .collect()
}

/// Sends `signal` to the process `pid` (a lockstep the test started).
pub fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"))
        .expect("a child's pid is not 0");
    rustix::process::kill_process(pid, signal).expect("the process can be signalled");
}

/// A shell script named `name` in `env`'s directory running `body`: a fake `imcl` for the
/// guard's tests.
pub fn script(env: &Env, name: &str, body: &str) -> PathBuf {
    let path = env.path(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    path
}

/// A fake `imcl` that brings `env`'s host to the next fix pack: a copy of the host with the fix
/// pack applied, copied over it between the lines `installing CF220` and `installed`.
pub fn fix_pack_script(env: &Env) -> PathBuf {
    let fixed = env.path("fixed");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(env.root())
        .arg(&fixed)
        .status()
        .expect("cp");
    assert!(copied.success());
    let mut copy: SampleHost = env.host.clone();
    copy.root = fixed.clone();
    lockstep_sample::apply_fix_pack(&copy, 0).expect("fix pack");
    script(
        env,
        "imcl-upgrade",
        &format!(
            "echo installing CF220\ncp -a '{}/.' '{}/'\necho installed",
            fixed.display(),
            env.root().display()
        ),
    )
}
