//! `lockstep backup`: the whole sync set as one consistent snapshot.

use std::time::Duration;

use serde::Serialize;

use super::{Ctx, bytes, print_json, short};
use lockstep::host::set::Role;
use lockstep::im::discover::Instance;
use lockstep::ops::backup::{BackupReport, BackupRequest, backup};
use lockstep::ops::hooks::{DEFAULT_TIMEOUT, Hooks};
use lockstep::ops::preflight::PreflightOptions;
use lockstep::repo::manifest::Verdict;
use lockstep::{Error, Result};

/// The safety policy shared by `backup` and `preflight`.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupPolicy {
    /// Refuse when product servers are running (and when product files change while read).
    #[arg(long)]
    pub offline: bool,
    /// Allow members of ROLE to be missing (repeatable, or comma-separated).
    #[arg(long, value_name = "ROLE", value_delimiter = ',', value_parser = super::completions::roles())]
    pub allow_missing: Vec<Role>,
}

/// Arguments of `backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A label for the snapshot (e.g. "before CF220").
    #[arg(long)]
    label: Option<String>,
    /// The set the snapshot belongs to, e.g. dx-prod-cell1 (default: the configuration's `set`,
    /// else the IM instance's name); `fleet` compares the hosts of a set.
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
    #[command(flatten)]
    policy: BackupPolicy,
    /// Attempts after one during which IM's directories changed (default 2).
    #[arg(long, value_name = "N")]
    retries: Option<u32>,
    /// Run CMD before the backup (e.g. stopServer.sh); a failure aborts it. Repeatable; replaces
    /// the configuration's `before` hooks.
    #[arg(long = "before", value_name = "CMD")]
    before: Vec<String>,
    /// Run CMD after a successful backup. Repeatable.
    #[arg(long = "after", value_name = "CMD")]
    after: Vec<String>,
    /// Run CMD when the backup fails. Repeatable.
    #[arg(long = "on-failure", value_name = "CMD")]
    on_failure: Vec<String>,
    /// Run CMD at the end, whatever happened. Repeatable.
    #[arg(long = "finally", value_name = "CMD")]
    finally: Vec<String>,
    /// Seconds each hook may run before it is killed (default 300).
    #[arg(long, value_name = "SECS")]
    hook_timeout: Option<u64>,
    /// After the backup, copy the snapshots the remote lacks to it (configuration `remote`).
    #[arg(long)]
    copy: bool,
    /// Back up the set even though it lost members or package groups since its last snapshot,
    /// or IM's records cannot be read (without it such a backup is refused, exit 3). What was
    /// accepted is recorded in the snapshot's manifest.
    #[arg(long)]
    accept_smaller_set: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    #[serde(flatten)]
    outcome: &'a BackupReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    copy: Option<&'a lockstep::ops::copy::CopyReport>,
}

impl Ctx {
    /// The backup's hooks: each phase's flags replace the configuration's commands.
    fn backup_hooks(&self, args: &Args) -> Hooks {
        let pick = |flag: &Vec<String>, config: &Vec<String>| {
            if flag.is_empty() {
                config.clone()
            } else {
                flag.clone()
            }
        };
        let config = &self.config.hooks;
        Hooks {
            before: pick(&args.before, &config.before),
            after: pick(&args.after, &config.after),
            on_failure: pick(&args.on_failure, &config.on_failure),
            finally: pick(&args.finally, &config.finally),
            timeout: args
                .hook_timeout
                .or(config.timeout)
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
        }
    }

    /// The preflight options from flags, then configuration.
    pub fn preflight_options(&self, policy: &BackupPolicy) -> Result<PreflightOptions> {
        let mut allow_missing = policy.allow_missing.clone();
        for role in &self.config.backup.allow_missing {
            allow_missing.push(role.parse().map_err(|e: String| {
                Error::Usage(format!("configuration [backup] allow-missing: {e}"))
            })?);
        }
        Ok(PreflightOptions {
            offline: policy.offline || self.config.backup.offline.unwrap_or(false),
            allow_missing,
            repository_dir: self.repo_spec()?.local_dir(),
            incremental: false,
            known_set_bytes: None,
        })
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let hooks = ctx.backup_hooks(args);
    // Until the backup itself runs its hooks, a failure (no repository, a wrong password, IM's
    // records unreadable, a configuration error) is the command failing all the same: its
    // `on-failure` and `finally` hooks run, as they promise, before the error is shown.
    let prepared = ctx.host().and_then(|host| {
        // Damaged IM records do not stop discovery here: the backup refuses them, naming what
        // the set would lose, unless --accept-smaller-set.
        let instance = lockstep::ops::backup::backup_instance(
            &host,
            &ctx.discover_options(),
            ctx.global.instance.as_deref(),
        )?;
        let repo = ctx.open_repo()?;
        let preflight = ctx.preflight_options(&args.policy)?;
        if args.copy {
            // Fail before the backup, not after it, when there is nowhere to copy to.
            ctx.remote_spec()?;
        }
        Ok((host, instance, repo, preflight))
    });
    let (host, instance, repo, preflight) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            let env = [
                ("LOCKSTEP_HOST", ctx.host_name()),
                ("LOCKSTEP_ROOT", ctx.root_shown()),
            ];
            lockstep::ops::hooks::run_failure_phases(&hooks, &env);
            return Err(error);
        }
    };
    let mut req = BackupRequest::new(&host, &instance, ctx.discover_options(), ctx.host_name());
    req.set_name = ctx.set_for(&instance, args.set.as_deref())?;
    req.label = args.label.clone();
    req.excludes = ctx.config.excludes.clone();
    req.preflight = preflight;
    req.retries = args.retries.or(ctx.config.backup.retries).unwrap_or(2);
    req.hooks = hooks;
    req.accept_smaller_set = args.accept_smaller_set;
    // What was last restored in place here: the backup right after a rollback need not read
    // what the restore verified.
    req.last_restore = ctx
        .state()
        .ok()
        .and_then(|state| state.last_restore(&req.host_name, &req.set_name));
    let outcome = backup(repo, &req).map_err(|f| f.error)?;
    ctx.note_backup_metrics(&outcome);
    let copied = if args.copy {
        Some(ctx.copy_to_remote(std::slice::from_ref(&outcome.snapshot)).map_err(|e| {
            Error::Repo(format!(
                "snapshot {} was saved, but copying it to the remote failed: {e}; run `lockstep copy` again",
                short(&outcome.snapshot)
            ))
        })?)
    } else {
        None
    };
    let output = Output {
        schema_version: 1,
        outcome: &outcome,
        copy: copied.as_ref(),
    };
    if ctx.global.json {
        print_json(&output)?;
    } else {
        ctx.keep_document(&output);
        print_outcome(&outcome, &instance);
        if let Some(r) = &copied {
            super::copy::print_report(r);
        }
    }
    Ok(0)
}

/// The human summary of a backup.
pub fn print_outcome(o: &BackupReport, instance: &Instance) {
    println!(
        "snapshot {} saved: set {} of {}, {} members, {}",
        short(&o.snapshot),
        o.set,
        o.host,
        instance.set.members.len(),
        match o.consistency.verdict {
            Verdict::Consistent => format!(
                "consistent{}",
                if o.consistency.attempts > 1 {
                    format!(" on attempt {}", o.consistency.attempts)
                } else {
                    String::new()
                }
            ),
            Verdict::Unverified => "NOT verified".to_owned(),
        }
    );
    println!(
        "  files: {} new, {} changed, {} unchanged ({} in the set)",
        o.files_new,
        o.files_changed,
        o.files_unmodified,
        bytes(o.bytes_total)
    );
    if o.unchanged {
        println!(
            "  the set is exactly as in {}: its tree is reused, no file was read",
            o.parent.as_deref().map(short).unwrap_or_default()
        );
    }
    println!(
        "  added to the repository: {} ({} stored) in {:.1}s{}",
        bytes(o.bytes_added),
        bytes(o.bytes_stored),
        o.seconds,
        o.parent
            .as_ref()
            .map(|p| format!(", compared with {}", short(p)))
            .unwrap_or_default()
    );
    if o.preflight.mode == "online" {
        println!(
            "  online backup: {} running; {} product entries changed while read (listed in the manifest)",
            o.preflight
                .servers_running
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            o.consistency.product_changes
        );
    }
    for h in &o.hooks {
        println!("  {}", h.describe());
    }
}
