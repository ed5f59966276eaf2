//! Where a repository's password comes from: a file, a command (a vault), a variable, or the
//! terminal. Never the command line, where every user of the machine could read it.
//!
//! The sources, first found wins (environment before configuration, as restic users expect the
//! environment to override a file; within each, a file before a command before a literal):
//!
//! 1. `LOCKSTEP_PASSWORD_FILE`: the file's first line;
//! 2. `LOCKSTEP_PASSWORD_COMMAND`: run through `sh -c`, its stdout's first line (restic's
//!    `--password-command`);
//! 3. `LOCKSTEP_PASSWORD`: the value itself;
//! 4. the configuration's `password-file`;
//! 5. the configuration's `password-command`;
//! 6. a prompt, when stdin is a terminal.
//!
//! The remote (disaster-recovery) repository has its own file and command
//! (`LOCKSTEP_REMOTE_PASSWORD_FILE`, `LOCKSTEP_REMOTE_PASSWORD_COMMAND`, then
//! `remote-password-file`, `remote-password-command`); without any of them it is opened with the
//! repository's password.
//!
//! A password command that fails (cannot start, exits non-zero, dies of a signal, prints
//! nothing) is one line naming where the command was configured and what it said; its output
//! is never shown, and the command itself is not either (it may carry a token).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Tier;
use crate::{Error, Result};

/// Where the password comes from (see the module documentation for the order).
#[derive(Debug, Clone, Default)]
pub struct PasswordSource {
    /// `LOCKSTEP_PASSWORD_FILE` (`LOCKSTEP_REMOTE_PASSWORD_FILE` for the remote).
    pub file_env: Option<PathBuf>,
    /// `LOCKSTEP_PASSWORD_COMMAND` (`LOCKSTEP_REMOTE_PASSWORD_COMMAND` for the remote).
    pub command_env: Option<String>,
    /// `LOCKSTEP_PASSWORD` (the remote has no such variable).
    pub env: Option<String>,
    /// The configuration's `password-file` (`remote-password-file`).
    pub file_config: Option<PathBuf>,
    /// The configuration's `password-command` (`remote-password-command`).
    pub command_config: Option<String>,
    /// Whose password this is: only the names in messages differ.
    pub tier: Tier,
}

/// The names of a tier's sources, as messages give them.
struct Names {
    file_env: &'static str,
    command_env: &'static str,
    file_config: &'static str,
    command_config: &'static str,
}

const REPOSITORY: Names = Names {
    file_env: "LOCKSTEP_PASSWORD_FILE",
    command_env: "LOCKSTEP_PASSWORD_COMMAND",
    file_config: "`password-file` in the configuration",
    command_config: "`password-command` in the configuration",
};

const REMOTE: Names = Names {
    file_env: "LOCKSTEP_REMOTE_PASSWORD_FILE",
    command_env: "LOCKSTEP_REMOTE_PASSWORD_COMMAND",
    file_config: "`remote-password-file` in the configuration",
    command_config: "`remote-password-command` in the configuration",
};

impl PasswordSource {
    /// Where the remote's password comes from: `own` (the remote's file and command, from the
    /// environment and the configuration) when it names any source, else the repository's own
    /// sources (`local`), so a remote without a key of its own is opened as before.
    #[must_use]
    pub fn remote(own: PasswordSource, local: PasswordSource) -> PasswordSource {
        if own.file_env.is_some()
            || own.command_env.is_some()
            || own.file_config.is_some()
            || own.command_config.is_some()
        {
            PasswordSource {
                env: None,
                tier: Tier::Remote,
                ..own
            }
        } else {
            local
        }
    }

    fn names(&self) -> &'static Names {
        match self.tier {
            Tier::Repository => &REPOSITORY,
            Tier::Remote => &REMOTE,
        }
    }

    /// Reads the password. `confirm` asks twice on a terminal (for `init`).
    ///
    /// # Errors
    /// A usage error when a file cannot be read or is empty, `LOCKSTEP_PASSWORD` is empty, or
    /// no source is available; an error (exit 1) when a password command fails.
    pub fn read(&self, confirm: bool) -> Result<String> {
        if let Some(file) = &self.file_env {
            return read_password_file(file);
        }
        if let Some(command) = &self.command_env {
            return run_password_command(command, self.names().command_env);
        }
        if let Some(p) = &self.env {
            if p.is_empty() {
                return Err(Error::Usage(
                    "LOCKSTEP_PASSWORD is empty; set it or use LOCKSTEP_PASSWORD_FILE".into(),
                ));
            }
            return Ok(p.clone());
        }
        if let Some(file) = &self.file_config {
            return read_password_file(file);
        }
        if let Some(command) = &self.command_config {
            return run_password_command(command, self.names().command_config);
        }
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "no repository password: set LOCKSTEP_PASSWORD_FILE or LOCKSTEP_PASSWORD_COMMAND (or LOCKSTEP_PASSWORD, or `password-file` / `password-command` in the configuration), or run on a terminal to be asked".into(),
            ));
        }
        let first = rpassword::prompt_password("repository password: ")
            .map_err(|e| Error::Usage(format!("cannot read the password: {e}")))?;
        if confirm {
            let second = rpassword::prompt_password("repeat password: ")
                .map_err(|e| Error::Usage(format!("cannot read the password: {e}")))?;
            if first != second {
                return Err(Error::Usage(
                    "the passwords differ; nothing was created".into(),
                ));
            }
        }
        if first.is_empty() {
            return Err(Error::Usage("an empty password is not allowed".into()));
        }
        Ok(first)
    }

    /// Every source a wrong password may have come from, for the message that says so.
    #[must_use]
    pub fn all_names(tier: Tier) -> String {
        let n = match tier {
            Tier::Repository => &REPOSITORY,
            Tier::Remote => &REMOTE,
        };
        let mut names = vec![n.file_env, n.command_env];
        if matches!(tier, Tier::Repository) {
            names.push("LOCKSTEP_PASSWORD");
        }
        names.push(n.file_config);
        names.push(n.command_config);
        names.join(", ")
    }
}

fn read_password_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read password file {}: {e}", path.display())))?;
    let first = text.lines().next().unwrap_or_default().to_owned();
    if first.is_empty() {
        return Err(Error::Usage(format!(
            "password file {} is empty",
            path.display()
        )));
    }
    Ok(first)
}

/// Runs a password command as restic runs `--password-command`: `sh -c COMMAND`, stdin the
/// terminal's (a vault client may ask there), the password its stdout's first line. `source`
/// names where the command was set, for the one line that says it failed.
fn run_password_command(command: &str, source: &str) -> Result<String> {
    let failed = |what: String| {
        Error::Other(format!(
            "the password command from {source} {what}; fix the command (or what it reads from) and run lockstep again"
        ))
    };
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| failed(format!("could not be started (sh: {e})")))?;
    let said = String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    if !output.status.success() {
        use std::os::unix::process::ExitStatusExt;
        let how = match (output.status.code(), output.status.signal()) {
            (Some(127), _) => "exited 127 (command not found)".to_owned(),
            (Some(code), _) => format!("exited {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "failed".to_owned(),
        };
        return Err(failed(format!("{how}{said}")));
    }
    let Ok(stdout) = String::from_utf8(output.stdout) else {
        return Err(failed("printed something that is not UTF-8 text".into()));
    };
    match stdout.lines().next() {
        Some(first) if !first.is_empty() => Ok(first.to_owned()),
        _ => Err(failed(format!(
            "exited 0 but printed no password (its first line on stdout is the password){said}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_wins_and_empty_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "secret\nignored\n").unwrap();
        let src = PasswordSource {
            file_env: Some(file.clone()),
            env: Some("other".into()),
            ..PasswordSource::default()
        };
        assert_eq!(src.read(false).unwrap(), "secret");
        let src = PasswordSource {
            env: Some("fromenv".into()),
            file_config: Some(file.clone()),
            ..PasswordSource::default()
        };
        assert_eq!(src.read(false).unwrap(), "fromenv");
        std::fs::write(&file, "\n").unwrap();
        let src = PasswordSource {
            file_env: Some(file),
            ..PasswordSource::default()
        };
        assert!(src.read(false).is_err());
    }

    #[test]
    fn the_sources_come_in_the_documented_order() {
        let dir = tempfile::tempdir().unwrap();
        let (file_env, file_config) = (dir.path().join("env"), dir.path().join("config"));
        std::fs::write(&file_env, "file-env\n").unwrap();
        std::fs::write(&file_config, "file-config\n").unwrap();
        let mut src = PasswordSource {
            file_env: Some(file_env),
            command_env: Some("echo command-env".into()),
            env: Some("env".into()),
            file_config: Some(file_config),
            command_config: Some("echo command-config".into()),
            tier: Tier::Repository,
        };
        let mut seen = Vec::new();
        loop {
            seen.push(src.read(false).unwrap());
            if src.file_env.take().is_none()
                && src.command_env.take().is_none()
                && src.env.take().is_none()
                && src.file_config.take().is_none()
            {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                "file-env",
                "command-env",
                "env",
                "file-config",
                "command-config"
            ]
        );
    }

    #[test]
    fn a_password_command_gives_its_first_line() {
        let src = PasswordSource {
            command_env: Some("printf 'from vault\\nsecond line\\n'; echo noise >&2".into()),
            ..PasswordSource::default()
        };
        assert_eq!(src.read(false).unwrap(), "from vault");
        let src = PasswordSource {
            command_config: Some("printf no-newline".into()),
            ..PasswordSource::default()
        };
        assert_eq!(src.read(false).unwrap(), "no-newline");
    }

    #[test]
    fn a_failing_password_command_is_one_line_naming_its_source() {
        let fails = |command: &str, tier: Tier, config: bool| {
            let mut src = PasswordSource {
                tier,
                ..PasswordSource::default()
            };
            if config {
                src.command_config = Some(command.into());
            } else {
                src.command_env = Some(command.into());
            }
            let err = src.read(false).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::EXIT_ERROR, "{err}");
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            msg
        };
        let m = fails(
            "echo 'vault: permission denied' >&2; echo more >&2; exit 3",
            Tier::Repository,
            false,
        );
        assert!(
            m.contains("LOCKSTEP_PASSWORD_COMMAND")
                && m.contains("exited 3: vault: permission denied")
                && !m.contains("more"),
            "{m}"
        );
        let m = fails("true", Tier::Repository, true);
        assert!(
            m.contains("`password-command` in the configuration") && m.contains("no password"),
            "{m}"
        );
        let m = fails("no-such-vault-client-x", Tier::Remote, false);
        assert!(
            m.contains("LOCKSTEP_REMOTE_PASSWORD_COMMAND") && m.contains("127"),
            "{m}"
        );
        let m = fails("kill -9 $$", Tier::Remote, true);
        assert!(
            m.contains("`remote-password-command`") && m.contains("signal 9"),
            "{m}"
        );
        // the command, which may carry a token, is never repeated
        let m = fails(
            "echo x >/dev/null; exit 1 # token=s3cr3t",
            Tier::Repository,
            false,
        );
        assert!(!m.contains("s3cr3t"), "{m}");
    }

    #[test]
    fn remote_password_env_beats_config_and_falls_back_to_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let (env, config) = (dir.path().join("env"), dir.path().join("config"));
        std::fs::write(&env, "from-env\n").unwrap();
        std::fs::write(&config, "from-config\n").unwrap();
        let local = || PasswordSource {
            env: Some("local".into()),
            ..PasswordSource::default()
        };
        let own = |file_env: Option<PathBuf>, file_config: Option<PathBuf>| PasswordSource {
            file_env,
            file_config,
            ..PasswordSource::default()
        };
        let remote = PasswordSource::remote(own(Some(env), Some(config.clone())), local());
        assert_eq!(remote.read(false).unwrap(), "from-env");
        let remote = PasswordSource::remote(own(None, Some(config)), local());
        assert_eq!(remote.read(false).unwrap(), "from-config");
        let remote = PasswordSource::remote(own(None, None), local());
        assert_eq!(remote.read(false).unwrap(), "local");
        let remote = PasswordSource::remote(
            PasswordSource {
                command_config: Some("echo remote-vault".into()),
                ..PasswordSource::default()
            },
            local(),
        );
        assert_eq!(remote.read(false).unwrap(), "remote-vault");
    }
}
