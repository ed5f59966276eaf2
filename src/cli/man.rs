//! `lockstep man`: the manual pages, generated from the clap definitions (`clap_mangen`) and
//! from the tables below, so they always match the binary: `lockstep(1)` and one page per
//! command (`lockstep-backup(1)` …), each with EXIT STATUS, ENVIRONMENT and FILES, and
//! `lockstep.toml(5)` from [`lockstep::config::keys`]. The exit codes and the environment are
//! also the end of `lockstep --help` ([`after_help`]): one list, two renderings.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use roff::{Inline, Roff, bold, italic, roman};

use super::Cli;
use lockstep::config::keys::{KEYS, TABLES};
use lockstep::error::{EXIT_ERROR, EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use lockstep::{Error, Result};

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write lockstep.1, one page per command (lockstep-backup.1 …) and lockstep.toml.5 into DIR
    /// instead of printing lockstep.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The exit codes every command uses; `code` and `what` (`backticks` mark commands).
pub const EXIT_CODES: &[(i32, &str)] = &[
    (EXIT_OK, "ok"),
    (
        EXIT_ERROR,
        "error; also: `status` found drift or no snapshot, `doctor` found an error, `check` \
         found damage, a `drill` failed",
    ),
    (
        EXIT_USAGE,
        "usage or configuration error (bad flag, unknown key, no password source)",
    ),
    (
        EXIT_REFUSED,
        "refused by a safety rule (missing set member, IM running, non-empty restore target, \
         existing repository); nothing was changed",
    ),
    (
        141,
        "stdout was closed by its reader (`| head`), as for a program ended by SIGPIPE",
    ),
];

/// Where the password comes from.
pub const PASSWORD_SOURCES: &str = "The password is never taken from the command line; its \
     sources, first found wins: LOCKSTEP_PASSWORD_FILE, LOCKSTEP_PASSWORD_COMMAND (run with \
     `sh -c`, the first line it prints), LOCKSTEP_PASSWORD, the configuration's `password-file`, \
     then `password-command`, then a prompt on a terminal.";

/// The environment variables lockstep reads.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "LOCKSTEP_REPOSITORY",
        "The repository (as --repo; the configuration's `repository` otherwise).",
    ),
    (
        "LOCKSTEP_PASSWORD_FILE",
        "A file whose first line is the repository password (the order of the password's \
         sources is below).",
    ),
    (
        "LOCKSTEP_PASSWORD_COMMAND",
        "A command printing the repository password on its first line, run with `sh -c` (as \
         restic's --password-command).",
    ),
    ("LOCKSTEP_PASSWORD", "The repository password itself."),
    (
        "LOCKSTEP_REMOTE_PASSWORD_FILE",
        "A file whose first line is the remote's password (before `remote-password-file`); \
         without any remote password, the remote is opened with the repository's.",
    ),
    (
        "LOCKSTEP_REMOTE_PASSWORD_COMMAND",
        "A command printing the remote's password, as LOCKSTEP_PASSWORD_COMMAND.",
    ),
    ("LOCKSTEP_CONFIG", "The configuration file (as --config)."),
    ("LOCKSTEP_ROOT", "The host's filesystem root (as --root)."),
    (
        "LOCKSTEP_HOST",
        "The host name recorded in snapshots (as --host; the configuration's `host` otherwise).",
    ),
    (
        "LOCKSTEP_STATE_DIR",
        "lockstep's state directory (as --state-dir).",
    ),
    (
        "LOCKSTEP_TIMINGS",
        "When set (and not 0), each phase's time is written on stderr, and on Linux the \
         resident memory at its end and the peak so far.",
    ),
    (
        "XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME",
        "Where the configuration, the default repository and the state live when lockstep does \
         not run as root (default ~/.config, ~/.local/share, ~/.local/state).",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
        "S3 credentials, when [repository-options] or [remote-options] have none.",
    ),
];

/// The environment lockstep gives the commands it runs: hooks, `[notify]` commands and the
/// maintenance command of `guard`.
pub const CHILD_ENVIRONMENT: &[(&str, &str)] = &[
    (
        "LOCKSTEP_PHASE",
        "The hook's phase: before, after, on-failure, finally.",
    ),
    ("LOCKSTEP_SET", "The set backed up."),
    ("LOCKSTEP_HOST", "The host name recorded in snapshots."),
    ("LOCKSTEP_ROOT", "The host's filesystem root."),
    (
        "LOCKSTEP_SNAPSHOT",
        "After a backup: the new snapshot's id.",
    ),
    (
        "LOCKSTEP_EVENT",
        "For a [notify] command: on-failure, on-success or on-drift.",
    ),
    (
        "LOCKSTEP_COMMAND",
        "For a [notify] command: the lockstep command that ended.",
    ),
    (
        "LOCKSTEP_EXIT_CODE",
        "For a [notify] command: its exit code.",
    ),
    (
        "LOCKSTEP_PRE_SNAPSHOT",
        "For guard's maintenance command: the pre-maintenance snapshot's id.",
    ),
];

/// The files lockstep reads and writes.
pub const FILES: &[(&str, &str)] = &[
    (
        "/etc/lockstep/lockstep.toml",
        "The configuration as root (lockstep.toml(5)); $XDG_CONFIG_HOME/lockstep/lockstep.toml \
         otherwise. A missing default file is an empty configuration.",
    ),
    (
        "/etc/lockstep/password",
        "The password file the packaged configuration suggests (mode 600).",
    ),
    (
        "/var/lib/lockstep/repo",
        "The default repository as root; $XDG_DATA_HOME/lockstep/repo otherwise.",
    ),
    (
        "/var/lib/lockstep/state",
        "lockstep's state as root (the restore journal, guard's runs); $XDG_STATE_HOME/lockstep \
         otherwise.",
    ),
    (
        "/etc/lockstep/lockstep.env",
        "Environment of the systemd units (e.g. S3 credentials, LOCKSTEP_FAILURE_COMMAND).",
    ),
    (
        "/usr/lib/systemd/system/lockstep-backup.timer, lockstep-drill.timer",
        "The packaged schedules: a nightly backup and a weekly drill (with their services).",
    ),
    (
        "/usr/lib/systemd/system/lockstep-failure@.service",
        "Started by a failed backup or drill unit (OnFailure=): sends the unit's last journal \
         lines on stdin to LOCKSTEP_FAILURE_COMMAND (set in lockstep.env), else mails root, \
         else logs them at priority err.",
    ),
    (
        "/usr/share/lockstep/cron.d/lockstep",
        "The same schedules for cron.",
    ),
];

/// The end of `lockstep --help`: the exit codes and the environment.
#[must_use]
pub fn after_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, what) in EXIT_CODES {
        text += &wrap(&format!("  {code}  "), 5, what);
    }
    text += "\n";
    let names: Vec<&str> = ENVIRONMENT
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| name.starts_with("LOCKSTEP_"))
        .collect();
    text += &wrap(
        "",
        0,
        &format!(
            "Environment: {}. {PASSWORD_SOURCES} More in `man lockstep` (ENVIRONMENT, FILES) and \
             `man 5 lockstep.toml`.",
            names.join(", "),
        ),
    );
    text.trim_end().to_owned()
}

/// `head` then `text`, wrapped at 96 columns, continuation lines indented by `indent`.
fn wrap(head: &str, indent: usize, text: &str) -> String {
    let mut out = String::new();
    let mut line = head.to_owned();
    for word in text.split_whitespace() {
        if !line.trim().is_empty() && line.len() + 1 + word.len() > 96 {
            out += line.trim_end();
            out += "\n";
            line = " ".repeat(indent);
        } else if !line.ends_with(' ') && !line.is_empty() {
            line += " ";
        }
        line += word;
    }
    out += &line;
    out += "\n";
    out
}

/// Prints `lockstep(1)`, or writes every page into `--dir`.
pub fn run(args: &ManArgs) -> Result<i32> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = &args.dir else {
        return super::completions::write_stdout(&command_page(cmd)?);
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write(
            dir,
            &format!("lockstep-{}.1", sub.get_name()),
            &command_page(sub.clone())?,
        )?;
    }
    write(dir, "lockstep.1", &command_page(cmd)?)?;
    write(dir, "lockstep.toml.5", &config_page().render().into_bytes())?;
    Ok(0)
}

fn write(dir: &Path, name: &str, page: &[u8]) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, page).map_err(|e| Error::io("cannot write manual page", &path, e))
}

/// A command's page: clap_mangen's sections (title, name, synopsis, description, options,
/// commands, version), with EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO before the version.
fn command_page(cmd: clap::Command) -> Result<Vec<u8>> {
    let name = cmd.get_name().to_owned();
    let has_args = cmd.get_arguments().any(|a| !a.is_hide_set());
    let has_subcommands = cmd.has_subcommands();
    let has_version = cmd.get_version().is_some();
    let title = if name == "lockstep" {
        name.clone()
    } else {
        format!("lockstep-{name}")
    };
    let man = clap_mangen::Man::new(cmd).source(concat!("lockstep ", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    let failed = |e: std::io::Error| Error::Other(format!("cannot render the manual page: {e}"));
    man.render_title(&mut out).map_err(failed)?;
    man.render_name_section(&mut out).map_err(failed)?;
    man.render_synopsis_section(&mut out).map_err(failed)?;
    man.render_description_section(&mut out).map_err(failed)?;
    if has_args {
        man.render_options_section(&mut out).map_err(failed)?;
    }
    if has_subcommands {
        man.render_subcommands_section(&mut out).map_err(failed)?;
    }
    out.extend(common_sections(&title).render().as_bytes());
    if has_version {
        man.render_version_section(&mut out).map_err(failed)?;
    }
    // every section above starts with roff's apostrophe preamble: keep the first
    let text = String::from_utf8_lossy(&out).into_owned();
    let (first, rest) = text.split_at(PREAMBLE_LINES.len().min(text.len()));
    Ok(format!("{first}{}", rest.replace(PREAMBLE_LINES, "")).into_bytes())
}

/// The two lines `roff` starts every rendering with (a definition of the apostrophe).
const PREAMBLE_LINES: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO: the same on every command's page.
fn common_sections(title: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in EXIT_CODES {
        item(&mut roff, vec![bold(code.to_string())], what);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in ENVIRONMENT {
        item(&mut roff, vec![bold(*name)], what);
    }
    roff.control("PP", []);
    roff.text(inline(PASSWORD_SOURCES));
    roff.control("PP", []);
    roff.text([roman(
        "lockstep gives the commands it runs (hooks, [notify] commands, guard's maintenance \
         command) these besides its own environment:",
    )]);
    for (name, what) in CHILD_ENVIRONMENT {
        item(&mut roff, vec![bold(*name)], what);
    }
    roff.control("SH", ["FILES"]);
    for (path, what) in FILES {
        item(&mut roff, vec![italic(*path)], what);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut see: Vec<Inline> = Vec::new();
    if title != "lockstep" {
        see.extend([bold("lockstep"), roman("(1), ")]);
    }
    see.extend([
        bold("lockstep.toml"),
        roman("(5), "),
        bold("restic"),
        roman("(1)"),
    ]);
    roff.text(see);
    roff
}

/// A tagged paragraph: `tag`, then `text` with `backticked` words in bold.
fn item(roff: &mut Roff, tag: Vec<Inline>, text: &str) {
    roff.control("TP", []);
    roff.text(tag);
    roff.text(inline(text));
}

/// `text` with its `backticked` parts in bold.
fn inline(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { bold(part) } else { roman(part) })
        .collect()
}

/// `lockstep.toml(5)`: every key of the configuration file ([`lockstep::config::keys`]).
#[must_use]
pub fn config_page() -> Roff {
    let mut roff = Roff::new();
    roff.control(
        "TH",
        [
            "lockstep.toml",
            "5",
            "",
            concat!("lockstep ", env!("CARGO_PKG_VERSION")),
            "",
        ],
    );
    roff.control("SH", ["NAME"]);
    roff.text([roman("lockstep.toml - lockstep's configuration file")]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([italic("/etc/lockstep/lockstep.toml")]);
    roff.control("br", []);
    roff.text([italic("$XDG_CONFIG_HOME/lockstep/lockstep.toml")]);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text(inline(
        "lockstep reads its configuration from the file --config or LOCKSTEP_CONFIG names (it \
         must exist), else from /etc/lockstep/lockstep.toml when it runs as root and \
         $XDG_CONFIG_HOME/lockstep/lockstep.toml (~/.config/lockstep/lockstep.toml) otherwise; \
         a missing default file is an empty configuration. The file is TOML. An unknown key is \
         an error (exit 2) that names the key and its line, so a typo never silently changes \
         what is backed up. Flags beat the environment (LOCKSTEP_*), which beats this file. \
         Keep the file readable by root only: backend options can hold credentials.",
    ));
    for table in TABLES {
        if table.name.is_empty() {
            roff.control("SH", ["KEYS"]);
        } else {
            roff.control("SH", [format!("[{}]", table.name).as_str()]);
        }
        roff.text(inline(table.doc));
        for key in KEYS.iter().filter(|k| k.table == table.name) {
            item(
                &mut roff,
                vec![bold(key.name), roman(" = "), italic(key.example)],
                key.doc,
            );
        }
    }
    roff.control("SH", ["EXAMPLE"]);
    roff.control("nf", []);
    for line in EXAMPLE.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([bold("lockstep"), roman("(1)")]);
    roff
}

/// The example of `lockstep.toml(5)`.
const EXAMPLE: &str = r#"repository = "/var/lib/lockstep/repo"
password-file = "/etc/lockstep/password"
extras = ["/opt/HCL/ssl"]
excludes = ["/opt/HCL/WebSphere/wp_profile/logs", "/opt/HCL/WebSphere/wp_profile/temp"]
remote = "opendal:s3"

[remote-options]
bucket = "dx-backups"
endpoint = "https://s3.example.net"
region = "eu-1"

[hooks]
before = ["/opt/HCL/WebSphere/wp_profile/bin/stopServer.sh WebSphere_Portal"]
finally = ["/opt/HCL/WebSphere/wp_profile/bin/startServer.sh WebSphere_Portal"]
timeout = 600

[backup]
offline = true
allow-missing = ["extra"]

[forget]
keep-daily = 14
keep-weekly = 8
keep-monthly = 12
prune = true

[notify]
on-failure = "mail -s 'lockstep failed' ops@example.net""#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_a_configuration_lockstep_accepts() {
        lockstep::config::Config::parse(EXAMPLE, Path::new("lockstep.toml.5")).unwrap();
    }

    #[test]
    fn help_lists_the_exit_codes_one_per_line() {
        let help = after_help();
        assert!(help.contains("\n  0  ok\n"), "{help}");
        assert!(help.contains("\n  141"), "{help}");
        assert!(help.lines().all(|l| l.len() <= 96), "{help}");
    }
}
