//! The command line: one file per command, each parsing its arguments, calling the library and
//! rendering what it returns (human text, or one JSON document with `--json`).

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};

use lockstep::config::Config;
use lockstep::error::{EXIT_OK, EXIT_USAGE};
use lockstep::host::root::HostRoot;
use lockstep::im::discover::{DiscoverOptions, Instance, discover, select};
use lockstep::repo::progress::ProgressMode;
use lockstep::repo::{
    Latest, LatestOf, OpenRepo, PasswordSource, RepoSpec, SetSnapshot, find_snapshot,
    resolve_latest, set_snapshots,
};
use lockstep::{Error, Result};

mod backup;
mod check;
mod completions;
mod copy;
mod demo;
mod diff;
mod discover;
mod doctor;
mod drill;
mod fleet;
mod forget;
mod guard;
mod init;
mod man;
mod metrics;
mod notify;
mod preflight;
mod prune;
mod recover;
mod repair;
mod restore;
mod snapshots;
mod status;
mod table;

/// lockstep: back up and restore IBM Installation Manager and the products it manages
/// (WebSphere, HCL Digital Experience) as one consistent set.
#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about, after_help = man::after_help())]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command understands (its `--help` shows them after its own).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Treat DIR as the host's filesystem root (a mounted or unpacked host). Paths shown and
    /// stored stay as the host sees them.
    #[arg(long, global = true, value_name = "DIR", env = "LOCKSTEP_ROOT")]
    root: Option<PathBuf>,
    /// Repository location (directory or backend string); default /var/lib/lockstep/repo as root,
    /// $XDG_DATA_HOME/lockstep/repo otherwise.
    #[arg(
        long = "repo",
        global = true,
        value_name = "REPO",
        env = "LOCKSTEP_REPOSITORY"
    )]
    repo: Option<String>,
    /// Configuration file (default /etc/lockstep/lockstep.toml as root,
    /// $XDG_CONFIG_HOME/lockstep/lockstep.toml otherwise).
    #[arg(long, global = true, value_name = "FILE", env = "LOCKSTEP_CONFIG")]
    config: Option<PathBuf>,
    /// Which IM instance to act on when the host has several (see `discover`).
    #[arg(long, global = true, value_name = "NAME")]
    instance: Option<String>,
    /// Start discovery from this agent-data directory (installs without a registry file, e.g.
    /// containers made with `imcl -dataLocation`).
    #[arg(long, global = true, value_name = "PATH")]
    agent_data: Option<PathBuf>,
    /// Add PATH (as the host sees it) to the set as an `extra` member; repeatable.
    #[arg(long = "extra", global = true, value_name = "PATH")]
    extras: Vec<PathBuf>,
    /// Host name to record in snapshots (default: this machine's host name).
    #[arg(
        long = "host",
        global = true,
        value_name = "NAME",
        env = "LOCKSTEP_HOST"
    )]
    host_name: Option<String>,
    /// lockstep's state directory (restore journal); default /var/lib/lockstep/state as root,
    /// $XDG_STATE_HOME/lockstep otherwise.
    #[arg(long, global = true, value_name = "DIR", env = "LOCKSTEP_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Show progress on stderr even when it is not a terminal (plain lines; JSON lines with
    /// --json). On a terminal, long commands show progress bars anyway.
    #[arg(long, global = true)]
    progress: bool,
    /// After backup, drill, check, status, copy, prune, forget and guard, update this Prometheus
    /// textfile-collector file (written atomically; other commands' samples in it are kept).
    #[arg(long, global = true, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the IM instances on the host, their sync sets and inventories.
    Discover(discover::Args),
    /// Create a repository.
    Init(init::Args),
    /// Check whether a backup may proceed (IM running, servers, members, space).
    Preflight(preflight::Args),
    /// Back up the whole sync set as one consistent snapshot.
    Backup(backup::Args),
    /// List lockstep snapshots.
    Snapshots(snapshots::Args),
    /// Restore a snapshot: in place (all or nothing) or into an empty --target.
    Restore(restore::Args),
    /// Finish or roll back an interrupted in-place restore.
    Recover(recover::Args),
    /// Run maintenance (imcl install …) guarded: snapshot, run detached, verify, roll back.
    Guard(guard::Args),
    /// Is the live host still in step with the latest snapshot? Exit 0 in sync, 1 otherwise.
    Status(status::Args),
    /// What changed between two snapshots, or between a snapshot and the live host.
    Diff(diff::Args),
    /// Check IM's records against what is on disk. Exit 0 when no error is found, 1 otherwise.
    Doctor(doctor::Args),
    /// Run the whole story on a sample host in a temporary directory.
    Demo(demo::Args),
    /// Remove snapshots by a retention policy, per set and host (and prune with --prune).
    Forget(forget::Args),
    /// Reclaim the space of data no snapshot uses any more (two-phase, safe beside backups).
    Prune(prune::Args),
    /// Check the repository's integrity; name the snapshots any damage hits. Exit 1 on damage.
    Check(check::Args),
    /// Mend a damaged repository: its index, then its snapshots (`check` says which).
    Repair(repair::Args),
    /// Restore a snapshot into a scratch root, verify every entry, record the result.
    Drill(drill::Args),
    /// Copy snapshots the remote lacks to the remote (configuration `remote`).
    Copy(copy::Args),
    /// Every host and set in the repository: latest snapshot, age, drill, nodes left behind.
    Fleet(fleet::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page (roff) to stdout.
    Man(man::ManArgs),
}

impl Command {
    /// The command's name, as metrics label it.
    fn name(&self) -> &'static str {
        match self {
            Self::Discover(_) => "discover",
            Self::Init(_) => "init",
            Self::Preflight(_) => "preflight",
            Self::Backup(_) => "backup",
            Self::Snapshots(_) => "snapshots",
            Self::Restore(_) => "restore",
            Self::Recover(_) => "recover",
            Self::Guard(_) => "guard",
            Self::Status(_) => "status",
            Self::Diff(_) => "diff",
            Self::Doctor(_) => "doctor",
            Self::Demo(_) => "demo",
            Self::Forget(_) => "forget",
            Self::Prune(_) => "prune",
            Self::Check(_) => "check",
            Self::Repair(_) => "repair",
            Self::Drill(_) => "drill",
            Self::Copy(_) => "copy",
            Self::Fleet(_) => "fleet",
            Self::Completions(_) => "completions",
            Self::Man(_) => "man",
        }
    }

    /// Whether the command can print JSON: every command that reports does; the demo tells a
    /// story for people, completions and man pages are scripts and roff.
    fn has_json(&self) -> bool {
        !matches!(self, Self::Demo(_) | Self::Completions(_) | Self::Man(_))
    }

    /// Whether the command tells the `[notify]` commands how it ended: the commands that run
    /// unattended (timers, schedulers, `guard`).
    fn notifies(&self) -> bool {
        matches!(
            self,
            Self::Backup(_)
                | Self::Guard(_)
                | Self::Drill(_)
                | Self::Check(_)
                | Self::Copy(_)
                | Self::Forget(_)
                | Self::Prune(_)
                | Self::Status(_)
        )
    }

    /// Whether the command does long repository work that shows progress on a terminal.
    fn is_long(&self) -> bool {
        match self {
            Self::Backup(_)
            | Self::Restore(_)
            | Self::Drill(_)
            | Self::Prune(_)
            | Self::Guard(_)
            | Self::Copy(_) => true,
            Self::Forget(args) => args.prunes(),
            Self::Check(args) => args.reads_data(),
            Self::Repair(args) => args.changes(),
            _ => false,
        }
    }
}

/// What every command gets: parsed global options and the loaded configuration.
pub struct Ctx {
    /// The global options.
    pub global: GlobalArgs,
    /// The configuration file's contents.
    pub config: Config,
    /// How repository work shows progress.
    pub progress: ProgressMode,
    /// What the command reports for `--metrics-file`.
    metrics: RefCell<metrics::Noted>,
    /// Whether the command works on the remote instead of the repository (`restore --from
    /// remote`, `status --from remote`).
    use_remote: bool,
    /// Whether the command can work on the remote (it has `--from`).
    offers_remote: bool,
}

impl Ctx {
    fn new(global: GlobalArgs, long: bool) -> Result<Self> {
        let config = Config::load(global.config.as_deref())?;
        let progress = ProgressMode::for_stderr(long, global.progress, global.json);
        Ok(Self {
            global,
            config,
            progress,
            metrics: RefCell::default(),
            use_remote: false,
            offers_remote: false,
        })
    }

    /// The host's filesystem root.
    pub fn host(&self) -> Result<HostRoot> {
        match &self.global.root {
            Some(root) => HostRoot::new(root),
            None => Ok(HostRoot::default()),
        }
    }

    /// What discovery looks for besides IM's records (`--agent-data`, `--extra`, `extras`).
    pub fn discover_options(&self) -> DiscoverOptions {
        let mut extras = self.config.extras.clone();
        extras.extend(self.global.extras.iter().cloned());
        DiscoverOptions {
            agent_data: self.global.agent_data.clone(),
            extras,
        }
    }

    /// Every IM instance on the host.
    pub fn instances(&self) -> Result<Vec<Instance>> {
        discover(&self.host()?, &self.discover_options())
    }

    /// The instance to act on.
    pub fn instance(&self) -> Result<Instance> {
        let all = self.instances()?;
        select(&all, self.global.instance.as_deref()).cloned()
    }

    /// The host name recorded in snapshots.
    pub fn host_name(&self) -> String {
        self.global
            .host_name
            .clone()
            .or_else(|| self.config.host.clone())
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned())
    }

    /// This machine's own name, whatever `--host` names on the command line: `LOCKSTEP_HOST`,
    /// else the configuration's `host`, else the system's host name.
    pub fn own_host_name(&self) -> String {
        std::env::var("LOCKSTEP_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| self.config.host.clone())
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned())
    }

    /// The host's root as hooks and notifications are told it (`LOCKSTEP_ROOT`): `--root`,
    /// else `/`.
    pub fn root_shown(&self) -> String {
        self.global
            .root
            .as_deref()
            .unwrap_or(std::path::Path::new("/"))
            .display()
            .to_string()
    }

    /// The host whose snapshots `snapshots`, `forget` and `fleet` are limited to: the one named
    /// with `--host` or `LOCKSTEP_HOST` (as restic's `--host` and `RESTIC_HOST` filter), none
    /// otherwise — a host name taken from the configuration or the machine names what a backup
    /// records, not what a listing shows.
    pub fn host_filter(&self) -> Option<&str> {
        self.global.host_name.as_deref()
    }

    /// Whether the host name was named (`--host`, `LOCKSTEP_HOST`, the configuration's `host`)
    /// rather than taken from this machine.
    fn host_named(&self) -> bool {
        self.global.host_name.is_some() || self.config.host.is_some()
    }

    /// The set the live host's IM instance syncs (`--instance` names it): none on a machine
    /// without IM, or with several instances and none chosen — the repository decides then.
    fn live_set(&self) -> Option<String> {
        if let Some(set) = &self.config.set {
            return Some(set.clone());
        }
        if let Some(name) = &self.global.instance {
            return Some(name.clone());
        }
        let all = self.instances().ok()?;
        select(&all, None).ok().map(|i| i.name.clone())
    }

    /// The name of the set `instance`'s snapshots go to: `--set` (`flag`), else the
    /// configuration's `set`, else the instance's name. A name is what a snapshot's tag
    /// `set=NAME` carries: letters, digits, `.`, `_` and `-`.
    ///
    /// # Errors
    /// A usage error naming the value and where it came from when it is not such a name.
    pub fn set_for(&self, instance: &Instance, flag: Option<&str>) -> Result<String> {
        let (name, from) = match (flag, &self.config.set) {
            (Some(name), _) => (name.to_owned(), "--set"),
            (None, Some(name)) => (name.clone(), "the configuration's `set`"),
            (None, None) => return Ok(instance.name.clone()),
        };
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(name)
        } else {
            Err(Error::Usage(format!(
                "set name {name:?} from {from} is not usable: use 1 to 64 letters, digits, '.', '_' or '-' (e.g. dx-prod-cell1)"
            )))
        }
    }

    /// The snapshot `id` names: an id prefix, or `latest` — the newest snapshot of the host
    /// ([`Ctx::host_name`]) and set (`set`, else the live host's instance when it has IM), chosen
    /// from the repository alone ([`Ctx::latest_among`]).
    ///
    /// # Errors
    /// A usage error when nothing fits, or when several hosts or sets could be meant: those
    /// are listed on stdout first (JSON with `--json`), for the user to choose from.
    pub fn find_snapshot(
        &self,
        repo: &OpenRepo,
        id: &str,
        set: Option<&str>,
    ) -> Result<SetSnapshot> {
        if id != "latest" {
            return find_snapshot(repo, id, None, None);
        }
        let set = set.map(str::to_owned).or_else(|| self.live_set());
        let host = self.host_name();
        match self.latest_among(set_snapshots(repo, None, None)?, set.as_deref()) {
            Latest::Found(snap) => Ok(*snap),
            Latest::NoneYet => Err(Error::Usage(format!(
                "no lockstep snapshot{} in the repository yet: run `lockstep backup` first, or name the repository with --repo",
                set.map(|s| format!(" of set '{s}'")).unwrap_or_default()
            ))),
            Latest::Ambiguous(candidates) => {
                print_candidates(self, &candidates)?;
                let hosts: std::collections::BTreeSet<&str> = candidates
                    .iter()
                    .map(|s| s.snapshot.hostname.as_str())
                    .collect();
                Err(Error::Usage(format!(
                    "`latest` of host {host}{} is not in the repository, or not only one: {} snapshot{} of host{} {} could be meant (listed above); choose with --host NAME and --set NAME, or give a snapshot id",
                    set.as_deref()
                        .map(|s| format!(", set {s}"))
                        .unwrap_or_default(),
                    candidates.len(),
                    if candidates.len() == 1 { "" } else { "s" },
                    if hosts.len() == 1 { "" } else { "s" },
                    hosts.into_iter().collect::<Vec<_>>().join(", "),
                )))
            }
        }
    }

    /// What `latest` means among `snaps` (lockstep snapshots, oldest first, as
    /// [`set_snapshots`] lists them) for this host ([`Ctx::host_name`]) and `set`: the one rule
    /// ([`lockstep::repo::resolve_latest`]) of `restore`, `drill`, `diff`, `copy` and `status`.
    fn latest_among(&self, snaps: Vec<SetSnapshot>, set: Option<&str>) -> Latest {
        let host = self.host_name();
        resolve_latest(
            snaps,
            LatestOf {
                host: &host,
                host_named: self.host_named(),
                set,
            },
        )
    }

    /// The newest snapshot of `set` taken on this host, among `snaps` (as [`set_snapshots`]
    /// lists them): `latest` as every command means it for a known set. `None` when this
    /// host has none of that set — another host's snapshot never stands in for it.
    pub fn latest_of_host(&self, snaps: Vec<SetSnapshot>, set: &str) -> Option<SetSnapshot> {
        let host = self.host_name();
        match self.latest_among(snaps, Some(set)) {
            Latest::Found(snap) if snap.snapshot.hostname == host => Some(*snap),
            Latest::Found(_) | Latest::Ambiguous(_) | Latest::NoneYet => None,
        }
    }

    /// lockstep's state directory.
    pub fn state(&self) -> Result<lockstep::host::state::StateDir> {
        lockstep::host::state::StateDir::resolve(self.global.state_dir.as_deref(), None)
    }

    /// Where the repository is (the remote, for `restore --from remote`).
    pub fn repo_spec(&self) -> Result<RepoSpec> {
        if self.use_remote {
            return self.remote_spec();
        }
        RepoSpec::resolve(self.global.repo.as_deref(), None, &self.config)
    }

    /// Where the remote (disaster-recovery) repository is.
    pub fn remote_spec(&self) -> Result<RepoSpec> {
        RepoSpec::remote(&self.config).ok_or_else(|| {
            Error::Usage(
                "no remote repository configured: set `remote` (and `[remote-options]`) in the configuration file".into(),
            )
        })
    }

    /// Copies `ids` (all lockstep snapshots when empty) from the repository to the remote,
    /// skipping those the remote has. The remote is opened with its own password
    /// ([`Self::remote_password_source`]).
    pub fn copy_to_remote(&self, ids: &[String]) -> Result<lockstep::ops::copy::CopyReport> {
        // `copy` and `backup --copy` alike: a copy run for the metrics, failed until it returns.
        self.note_copy_started();
        let from = RepoSpec::resolve(self.global.repo.as_deref(), None, &self.config)?;
        let to = self.remote_spec()?;
        let password = self.password_source().read(false)?;
        let source = from.open_with_progress(&password, self.progress)?;
        // `latest` means what it means for every other command (one resolver)
        let ids = ids
            .iter()
            .map(|id| {
                if id == "latest" {
                    self.find_snapshot(&source, id, None).map(|s| s.id())
                } else {
                    Ok(id.clone())
                }
            })
            .collect::<Result<Vec<String>>>()?;
        let remote_password = self.remote_password_source().read(false)?;
        let dest = to.open_remote(&remote_password, self.progress)?;
        let report =
            lockstep::ops::copy::copy(source, dest, &ids, &from.describe(), &to.describe())?;
        self.note_copy_metrics(&report);
        Ok(report)
    }

    /// Where the password comes from (`lockstep::repo::password` has the order).
    pub fn password_source(&self) -> PasswordSource {
        PasswordSource {
            file_env: env_path("LOCKSTEP_PASSWORD_FILE"),
            command_env: env_command("LOCKSTEP_PASSWORD_COMMAND"),
            env: std::env::var("LOCKSTEP_PASSWORD").ok(),
            file_config: self.config.password_file.clone(),
            command_config: self.config.password_command.clone(),
            ..PasswordSource::default()
        }
    }

    /// Where the remote's password comes from: `LOCKSTEP_REMOTE_PASSWORD_FILE`,
    /// `LOCKSTEP_REMOTE_PASSWORD_COMMAND`, then the configuration's `remote-password-file` and
    /// `remote-password-command`, else the repository's own sources.
    pub fn remote_password_source(&self) -> PasswordSource {
        PasswordSource::remote(
            PasswordSource {
                file_env: env_path("LOCKSTEP_REMOTE_PASSWORD_FILE"),
                command_env: env_command("LOCKSTEP_REMOTE_PASSWORD_COMMAND"),
                file_config: self.config.remote_password_file.clone(),
                command_config: self.config.remote_password_command.clone(),
                ..PasswordSource::default()
            },
            self.password_source(),
        )
    }

    /// Whether the command works on the remote instead of the repository (`--from remote`,
    /// `init --remote`).
    pub fn uses_remote(&self) -> bool {
        self.use_remote
    }

    /// The password of the repository the command works on ([`Self::repo_spec`]).
    pub fn repo_password_source(&self) -> PasswordSource {
        if self.use_remote {
            self.remote_password_source()
        } else {
            self.password_source()
        }
    }

    /// Opens the repository (with progress as the command and `--progress` say).
    ///
    /// # Errors
    /// Besides the repository's own errors: when the local repository does not exist and a
    /// remote is configured, a command that can read the remote says so (a machine rebuilt
    /// after a disaster has lost its local repository; its snapshots are on the remote).
    pub fn open_repo(&self) -> Result<OpenRepo> {
        let spec = self.repo_spec()?;
        if self.offers_remote
            && !self.use_remote
            && RepoSpec::remote(&self.config).is_some()
            && spec.local_dir().is_some_and(|dir| {
                matches!(std::fs::metadata(dir.join("config")),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound)
            })
        {
            return Err(Error::Repo(format!(
                "no repository at {}: read the remote tier instead with --from remote (a machine rebuilt after a disaster has lost its local repository), or create one with `lockstep init`",
                spec.describe()
            )));
        }
        let password = self.repo_password_source().read(false)?;
        if self.use_remote {
            spec.open_remote(&password, self.progress)
        } else {
            spec.open_with_progress(&password, self.progress)
        }
    }
}

/// A path from the environment variable `name`; unset and empty are the same.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A shell command from the environment variable `name`; unset and blank are the same.
fn env_command(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// One snapshot `latest` could mean, as the ambiguity lists it.
#[derive(serde::Serialize)]
struct Candidate {
    id: String,
    host: String,
    set: Option<String>,
    time: String,
    inventory: String,
}

/// Lists the snapshots `latest` could mean (id, host, set, time, inventory) on stdout.
fn print_candidates(ctx: &Ctx, candidates: &[SetSnapshot]) -> Result<()> {
    let rows: Vec<Candidate> = candidates
        .iter()
        .map(|s| Candidate {
            id: s.id(),
            host: s.snapshot.hostname.clone(),
            set: s
                .set_name()
                .or_else(|| s.manifest.as_ref().map(|m| m.set.clone())),
            time: s.snapshot.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            inventory: s
                .manifest
                .as_ref()
                .map_or_else(|| "(no manifest)".to_owned(), |m| m.inventory.summary()),
        })
        .collect();
    if ctx.global.json {
        return print_versioned(&serde_json::json!({ "candidates": rows }));
    }
    println!("snapshots `latest` could mean (the newest of each host and set):");
    let mut t = table::new(&["id", "host", "set", "time", "inventory"]);
    for r in &rows {
        t.add_row(vec![
            short(&r.id).to_owned(),
            r.host.clone(),
            r.set.clone().unwrap_or_else(|| "-".to_owned()),
            r.time.clone(),
            r.inventory.clone(),
        ]);
    }
    table::print(t, "  ");
    Ok(())
}

/// The JSON document of the command's result, for the `[notify]` commands: what `--json`
/// printed, or what a text run kept ([`Ctx::keep_document`]).
static DOCUMENT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Whether a JSON document went to stdout: a command that fails after printing one (the
/// snapshots `latest` could mean) prints no error document after it, so stdout keeps one.
static PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn keep(text: String) {
    if let Ok(mut doc) = DOCUMENT.lock() {
        *doc = Some(text);
    }
}

/// The command's JSON document, when it printed or kept one.
fn take_document() -> Option<String> {
    DOCUMENT.lock().ok().and_then(|mut doc| doc.take())
}

impl Ctx {
    /// Keeps `document` (what `--json` would print) for the `[notify]` commands, when a text
    /// run has some to tell.
    pub fn keep_document<T: serde::Serialize>(&self, document: &T) {
        if self.config.notify.is_set()
            && let Ok(text) = serde_json::to_string_pretty(document)
        {
            keep(text);
        }
    }
}

/// Prints `value` as pretty JSON: one document on stdout. A reader that went away (`| head`)
/// is not an error: the command's exit code stands.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Other(format!("cannot encode JSON output: {e}")))?;
    keep(text.clone());
    PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Other(format!("cannot write the JSON output: {e}")))
        }
        _ => Ok(()),
    }
}

/// A report as lockstep's JSON documents carry it: `schema_version`, then the report's fields.
#[derive(serde::Serialize)]
struct Versioned<'a, T: serde::Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// Prints `body` as one JSON document with `schema_version` 1 (see [`print_json`]).
pub fn print_versioned<T: serde::Serialize>(body: &T) -> Result<()> {
    print_json(&Versioned {
        schema_version: 1,
        body,
    })
}

/// Prints a report: versioned JSON with `--json`, else with `text`.
pub fn render<T: serde::Serialize>(ctx: &Ctx, report: &T, text: impl FnOnce(&T)) -> Result<()> {
    if ctx.global.json {
        print_versioned(report)
    } else {
        ctx.keep_document(&Versioned {
            schema_version: 1,
            body: report,
        });
        text(report);
        Ok(())
    }
}

pub use lockstep::util::report::{bytes, short};

/// Runs lockstep with the process's arguments and returns the exit code.
#[must_use]
pub fn main() -> i32 {
    lockstep::repo::contain::install();
    // A restore's background clean-up (not a command: the restore starts it, with no terminal)
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref()
        == Some(std::ffi::OsStr::new(
            lockstep::ops::restore::journal::FINISH_ARG,
        ))
    {
        let Some(dir) = args.next() else {
            return EXIT_USAGE;
        };
        return match lockstep::ops::restore::journal::finish_in_background(
            &lockstep::host::state::StateDir::at(dir),
        ) {
            Ok(()) => EXIT_OK,
            Err(e) => e.exit_code(),
        };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                // --help, --version, or the help lockstep shows when given no command
                let _ = e.print();
                return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            }
            let line = usage_line(&e.render().to_string());
            eprintln!("lockstep: {line}");
            if std::env::args().skip(1).any(|a| a == "--json") {
                let _ = print_json(&Error::Usage(line).document(&command_in_args()));
            }
            return EXIT_USAGE;
        }
    };
    // a command without JSON output refuses --json and prints nothing on stdout
    let (json, name) = (
        cli.global.json && cli.command.has_json(),
        cli.command.name(),
    );
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if !SHOWN.load(std::sync::atomic::Ordering::Relaxed) {
                show_error(&e, json, name);
            }
            e.exit_code()
        }
    }
}

/// Whether the command's error was shown already (before its notifications ran).
static SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Shows `command`'s error: its one line on stderr, and with `json` its error document on
/// stdout, unless a document went there already (stdout carries one).
fn show_error(e: &Error, json: bool, command: &str) {
    SHOWN.store(true, std::sync::atomic::Ordering::Relaxed);
    eprintln!("lockstep: {e}");
    if json && !PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = print_json(&e.document(command));
    }
}

/// The subcommand named on the command line, for an error found before it could be parsed
/// (`lockstep` when none is).
fn command_in_args() -> String {
    use clap::CommandFactory;
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    std::env::args()
        .skip(1)
        .find(|a| names.contains(a))
        .unwrap_or_else(|| "lockstep".to_owned())
}

/// clap's error (message, tips, usage, "for more information") as one line: what is wrong,
/// and which `--help` shows the right way, like every other error lockstep prints.
fn usage_line(rendered: &str) -> String {
    let (message, usage) = rendered.split_once("\nUsage:").unwrap_or((rendered, ""));
    let message = message.trim().strip_prefix("error:").unwrap_or(message);
    let message: Vec<String> = message
        .split("\n\n")
        .map(|part| part.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|part| !part.is_empty() && !part.starts_with("For more information"))
        .collect();
    let mut command: Vec<String> = usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .map(str::to_owned)
        .collect();
    if command.len() < 2 {
        // clap shows no usage for a bad value: the command is the first word that names one
        use clap::CommandFactory;
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        command = std::iter::once("lockstep".to_owned())
            .chain(std::env::args().skip(1).find(|a| names.contains(a)))
            .collect();
    }
    format!("{}; see `{} --help`", message.join("; "), command.join(" "))
}

/// Said while a restore's background clean-up is waited for.
fn waiting_for_cleanup() {
    eprintln!(
        "lockstep: waiting for the last restore's replaced copies (*.lockstep-old-*) to be removed in the background"
    );
}

fn run(cli: Cli) -> Result<i32> {
    let name = cli.command.name();
    let long = cli.command.is_long();
    let notifies = cli.command.notifies();
    let mut ctx = Ctx::new(cli.global, long)?;
    (ctx.offers_remote, ctx.use_remote) = match &cli.command {
        Command::Restore(args) => (true, args.uses_remote()),
        Command::Status(args) => (true, args.uses_remote()),
        Command::Init(args) => (false, args.remote),
        _ => (false, false),
    };
    if ctx.global.json && !cli.command.has_json() {
        return Err(Error::Usage(format!(
            "`lockstep {name}` has no JSON output; leave out --json"
        )));
    }
    // The host is settled first: an interrupted in-place restore finished or rolled back.
    if !matches!(cli.command, Command::Recover(_) | Command::Demo(_)) {
        lockstep::ops::settle::settle(&ctx.state()?, &mut |note| eprintln!("lockstep: {note}"))?;
    }
    let start = Instant::now();
    let result = match cli.command {
        Command::Discover(args) => discover::run(&ctx, &args),
        Command::Init(args) => init::run(&ctx, &args),
        Command::Preflight(args) => preflight::run(&ctx, &args),
        Command::Backup(args) => backup::run(&ctx, &args),
        Command::Snapshots(args) => snapshots::run(&ctx, &args),
        Command::Restore(args) => restore::run(&ctx, &args),
        Command::Recover(args) => recover::run(&ctx, &args),
        Command::Guard(args) => guard::run(&ctx, &args),
        Command::Status(args) => status::run(&ctx, &args),
        Command::Diff(args) => diff::run(&ctx, &args),
        Command::Doctor(args) => doctor::run(&ctx, &args),
        Command::Demo(args) => demo::run(&ctx, &args),
        Command::Forget(args) => forget::run(&ctx, &args),
        Command::Prune(args) => prune::run(&ctx, &args),
        Command::Check(args) => check::run(&ctx, &args),
        Command::Repair(args) => repair::run(&ctx, &args),
        Command::Drill(args) => drill::run(&ctx, &args),
        Command::Copy(args) => copy::run(&ctx, &args),
        Command::Fleet(args) => fleet::run(&ctx, &args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
    };
    let result = result.map_err(|e| with_store(&ctx, name, e));
    // Damaged snapshot files the command skipped: one warning each, unless its error names it.
    for damaged in lockstep::repo::take_damaged() {
        if !matches!(&result, Err(e) if e.to_string().contains(&damaged.id)) {
            eprintln!("lockstep: warning: {}", damaged.warning());
        }
    }
    ctx.write_metrics(name, &result, start.elapsed().as_secs_f64())?;
    if notifies {
        // The command's own line first: a notification may take its time.
        if let Err(e) = &result {
            show_error(e, ctx.global.json, name);
        }
        notify::after(&ctx, name, &result);
    }
    result
}

/// A repository error from an object store names the store (endpoint, bucket, prefix) when the
/// engine's message does not: an administrator reading "writing a file failed" needs to know
/// which server to look at. (`copy` names its two repositories itself.)
fn with_store(ctx: &Ctx, command: &str, error: Error) -> Error {
    match error {
        Error::Repo(msg) if command != "copy" => match ctx.repo_spec() {
            Ok(spec) if spec.local_dir().is_none() && !msg.contains(&spec.describe()) => {
                Error::Repo(format!("repository {}: {msg}", spec.describe()))
            }
            _ => Error::Repo(msg),
        },
        other => other,
    }
}
