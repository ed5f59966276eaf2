//! The S3 server of the suite: `./scripts/test.sh` starts a Garage (scripts/garage.sh) and
//! exports LOCKSTEP_TEST_S3_*. Without those variables a test that needs it says SKIPPED and
//! passes — except when LOCKSTEP_REQUIRE_S3 is set, where their absence is a failure.

use std::path::Path;
use std::process::Command;

use super::{Env, run};

/// Where the S3 server is and the key that may use its bucket.
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub key_id: String,
    pub secret: String,
}

/// The suite's S3 server, or `None` (and SKIPPED said) when there is none.
pub fn server() -> Option<S3> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let got = (|| {
        Some(S3 {
            endpoint: var("LOCKSTEP_TEST_S3_ENDPOINT")?,
            bucket: var("LOCKSTEP_TEST_S3_BUCKET")?,
            region: var("LOCKSTEP_TEST_S3_REGION").unwrap_or_else(|| "garage".into()),
            key_id: var("LOCKSTEP_TEST_S3_KEY_ID")?,
            secret: var("LOCKSTEP_TEST_S3_SECRET")?,
        })
    })();
    if got.is_none() {
        assert!(
            std::env::var_os("LOCKSTEP_REQUIRE_S3").is_none(),
            "LOCKSTEP_REQUIRE_S3 is set but no S3 server is configured: run ./scripts/test.sh"
        );
        eprintln!(
            "SKIPPED: no S3 server (LOCKSTEP_TEST_S3_* unset); run ./scripts/test.sh, which starts Garage (scripts/garage.sh), to run this test"
        );
    }
    got
}

/// Writes a configuration naming the S3 repository at `root` (credentials from the environment,
/// as an administrator would keep them out of the file), plus `extra` lines.
pub fn configure(env: &Env, s3: &S3, root: &str, extra: &str) {
    std::fs::write(
        env.path("lockstep.toml"),
        format!("{extra}\n{}", s3.toml("repository", root, false)),
    )
    .expect("lockstep.toml");
}

pub fn command(env: &Env, s3: &S3, root: &Path, host: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("AWS_ACCESS_KEY_ID", &s3.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret)
        .env("LOCKSTEP_PASSWORD_FILE", env.path("password"))
        .env("LOCKSTEP_CONFIG", env.path("lockstep.toml"))
        .env("LOCKSTEP_STATE_DIR", env.path(&format!("state-{host}")))
        .arg("--root")
        .arg(root);
    // An empty host name: none named, so `snapshots`, `forget` and `fleet` see every host.
    if !host.is_empty() {
        cmd.arg("--host").arg(host);
    }
    cmd.args(args);
    cmd
}

/// A unique prefix in the shared bucket for one test.
pub fn prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("/{name}-{}-{nanos}", std::process::id())
}

impl S3 {
    /// Configuration naming the repository at `root` in the bucket as `key` (`repository` or
    /// `remote`), with its `[key-options]` table last, so that lines appended to the
    /// configuration are options of that repository. With `credentials` the key is in the
    /// table, as in a configuration file kept private; without, it must come from the
    /// `AWS_*` variables.
    pub fn toml(&self, key: &str, root: &str, credentials: bool) -> String {
        let mut text = format!(
            "{key} = 'opendal:s3'\n[{key}-options]\nbucket = '{}'\nendpoint = '{}'\nregion = '{}'\nroot = '{root}'\n",
            self.bucket, self.endpoint, self.region
        );
        if credentials {
            text.push_str(&format!(
                "access_key_id = '{}'\nsecret_access_key = '{}'\n",
                self.key_id, self.secret
            ));
        }
        text
    }

    /// Creates the repository at `root` in the bucket with `env`'s password, as an
    /// administrator creates a remote tier: `lockstep init` with a configuration naming it
    /// as the repository.
    pub fn init(&self, env: &Env, root: &str) {
        let config = env.path("remote.toml");
        std::fs::write(&config, self.toml("repository", root, true)).expect("remote.toml");
        let mut init = env.command();
        init.env_remove("LOCKSTEP_REPOSITORY")
            .env("LOCKSTEP_CONFIG", &config)
            .arg("init");
        run(&mut init).ok();
    }
}

/// A Garage of its own for one test, started by scripts/garage.sh — one node, or a cluster of
/// three — so stopping or killing its nodes does not disturb the tests sharing the suite's
/// server. Every node is stopped when it is dropped.
pub struct Garage {
    dir: tempfile::TempDir,
    /// Node 1's S3 endpoint and the key and bucket of the tests.
    pub s3: S3,
}

impl Garage {
    /// One node (`garage.sh start`).
    pub fn single() -> Self {
        Self::start("start")
    }

    /// Three nodes with replication factor 3 (`garage.sh cluster`); `s3` talks to node 1.
    pub fn cluster() -> Self {
        Self::start("cluster")
    }

    fn start(how: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let out = Command::new("bash")
            .arg(script())
            .arg(how)
            .arg(dir.path())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "scripts/garage.sh {how} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: std::collections::HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let var = |k: &str| {
            vars.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("scripts/garage.sh printed no {k}"))
        };
        Self {
            s3: S3 {
                endpoint: var("LOCKSTEP_TEST_S3_ENDPOINT"),
                bucket: var("LOCKSTEP_TEST_S3_BUCKET"),
                region: var("LOCKSTEP_TEST_S3_REGION"),
                key_id: var("LOCKSTEP_TEST_S3_KEY_ID"),
                secret: var("LOCKSTEP_TEST_S3_SECRET"),
            },
            dir,
        }
    }

    /// The shell command that SIGKILLs node `n` and waits until it is gone (for a fault hook).
    pub fn kill_command(&self, n: u32) -> String {
        format!(
            "bash '{}' kill '{}' {n}",
            script(),
            self.dir.path().display()
        )
    }

    /// SIGKILLs node `n`.
    pub fn kill(&self, n: u32) {
        self.script(&["kill", &n.to_string()]);
    }

    /// Starts node `n` again on its data and waits until the cluster sees it.
    pub fn restart(&self, n: u32) {
        self.script(&["restart", &n.to_string()]);
    }

    /// Whether node `n`'s server runs (`garage.sh` keeps its pid while it does).
    pub fn running(&self, n: u32) -> bool {
        let node = self.dir.path().join(format!("n{n}"));
        let dir = if node.is_dir() {
            node
        } else {
            self.dir.path().to_path_buf()
        };
        std::fs::read_to_string(dir.join("garage.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
            .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
    }

    fn script(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(script())
            .arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "scripts/garage.sh {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/garage.sh")
}
