//! The S3 server of the suite: `./scripts/test.sh` starts a Garage (scripts/garage.sh) and
//! exports LOCKSTEP_TEST_S3_*. Without those variables a test that needs it says SKIPPED and
//! passes — except when LOCKSTEP_REQUIRE_S3 is set, where their absence is a failure.

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
