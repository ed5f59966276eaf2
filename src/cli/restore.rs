//! `lockstep restore`: a snapshot of the set into a scratch root, or in place, all or nothing.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::{Ctx, bytes, print_json, short};
use lockstep::host::set::Role;
use lockstep::im::discover::select;
use lockstep::ops::restore::{
    InPlace, InPlacePlan, Method, RestoreReport, Selection, SyncDecision, check_empty_target,
    check_rules, describe_missing_owner, execute, in_place_units, left_behind, plan,
    restore_to_target, snapshot_before_forced,
};
use lockstep::repo::SetSnapshot;
use lockstep::{Error, Result};

/// Arguments of `restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot: an id (prefix) or `latest`: the newest of this host's set (`--host`,
    /// `--set`; on a host without IM, of the one set the host has snapshots of).
    snapshot: String,
    /// Restore into this empty directory; every member lands at DIR/<its logical path>.
    #[arg(long, value_name = "DIR", conflicts_with = "in_place")]
    target: Option<PathBuf>,
    /// Restore the set in place, all or nothing: the live members are replaced. On a terminal
    /// the plan is shown and confirmed first (`--yes` skips the question).
    #[arg(long)]
    in_place: bool,
    /// Answer yes to the confirmation of an in-place restore (for scripts on a terminal).
    #[arg(long, short)]
    yes: bool,
    /// For `latest`: the set (default: the set of the IM instance on this host).
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
    /// Restore only members of these roles (refused when that would desync IM and products).
    #[arg(long, value_name = "ROLE", value_delimiter = ',', value_parser = super::completions::roles())]
    only: Vec<Role>,
    /// Restore a partial set even though IM and the products would be out of sync; lockstep
    /// first snapshots the live set (label `before-forced-restore`).
    #[arg(long)]
    force_desync: bool,
    /// Restore a snapshot without a manifest or not verified consistent.
    #[arg(long)]
    force: bool,
    /// Show the plan (members, files to add/change/remove, bytes, space) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep the replaced live directories (`<dir>.lockstep-old-<run>`) after an in-place restore
    /// (restores every byte: the kept copies must not share files with the new set).
    #[arg(long)]
    keep_replaced: bool,
    /// Restore every byte from the repository, instead of carrying over live files that are
    /// proven unchanged (the fast rollback path).
    #[arg(long)]
    full: bool,
    /// Remove the replaced copies before returning, instead of in a background process once
    /// the restored set is in place (every lockstep command waits for that process first).
    #[arg(long)]
    wait: bool,
    /// Restore from `remote` (the configuration's disaster-recovery repository) instead of the
    /// repository.
    #[arg(long, value_name = "TIER", value_parser = ["repository", "remote"], default_value = "repository")]
    from: String,
}

impl Args {
    /// Whether the snapshot comes from the remote.
    pub fn uses_remote(&self) -> bool {
        self.from == "remote"
    }
}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    guard: &'a SyncDecision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_restore_snapshot: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a InPlacePlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(flatten)]
    outcome: Option<&'a RestoreReport>,
}

/// What a restore did (or, with `--dry-run`, would do), for rendering.
#[derive(Default)]
struct Done {
    /// The snapshot of the live set taken before a forced restore.
    pre: Option<String>,
    /// The in-place plan (executed, or only planned).
    plan: Option<InPlacePlan>,
    /// What the restore did (`None` for a dry run).
    outcome: Option<RestoreReport>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    check_args(args)?;
    let host = ctx.host()?;
    let live_instances = ctx.instances().ok();
    let repo = ctx.open_repo()?;
    let snap = ctx.find_snapshot(&repo, &args.snapshot, args.set.as_deref())?;
    let set_name = snap
        .set_name()
        .or_else(|| snap.manifest.as_ref().map(|m| m.set.clone()))
        .unwrap_or_default();
    let live = live_instances.as_deref().and_then(|all| {
        select(
            all,
            Some(ctx.global.instance.as_deref().unwrap_or(&set_name)),
        )
        .ok()
    });
    let only = (!args.only.is_empty()).then(|| args.only.clone());
    let decision = check_rules(
        &snap,
        live.map(|i| &i.inventory),
        &Selection {
            only: only.clone(),
            force: args.force,
            force_desync: args.force_desync,
        },
    )?;
    let done = match &args.target {
        Some(target) => {
            let pre = forced_pre_snapshot(ctx, args, &host, live, &decision)?;
            // The repository opened above: opening it again would derive the key again.
            let outcome = restore_to_target(repo, &snap, target, only.as_deref())
                .map_err(|e| left_behind(e, target))?;
            Done {
                pre,
                plan: None,
                outcome: Some(outcome),
            }
        }
        None => {
            let selected = in_place_units(&host, &snap, live, only.as_deref())?;
            let state = ctx.state()?;
            let host_name = ctx.host_name();
            let opts = InPlace {
                host: &host,
                state: &state,
                set: set_name.clone(),
                this_host: Some(ctx.own_host_name()).filter(|own| *own != host_name),
                host_name,
                keep_replaced: args.keep_replaced,
                background_cleanup: !args.wait,
                dry_run: args.dry_run,
                full: args.full,
                excludes: &ctx.config.excludes,
            };
            in_place(ctx, args, repo, (&snap, &selected), live, &decision, &opts)?
        }
    };
    render(ctx, &decision, done)
}

/// The arguments a restore needs: `--target DIR` (absent or empty) or `--in-place`.
fn check_args(args: &Args) -> Result<()> {
    snapshot_id(&args.snapshot)?;
    // In place is said, never assumed: a restore without a target replaces the live set.
    if args.target.is_none() && !args.in_place && !args.dry_run {
        return Err(Error::Usage(
            "restore needs --target DIR (into an empty directory) or --in-place (replace the live set, all or nothing); nothing was changed".into(),
        ));
    }
    if let Some(target) = &args.target {
        if args.dry_run {
            return Err(Error::Usage(
                "--dry-run plans an in-place restore; a restore into an empty --target changes nothing that exists".into(),
            ));
        }
        check_empty_target(target)?;
    }
    Ok(())
}

/// With `--force-desync` (and not a dry run), the live set is snapshotted first and the
/// administrator told how to undo the restore.
fn forced_pre_snapshot(
    ctx: &Ctx,
    args: &Args,
    host: &lockstep::host::root::HostRoot,
    live: Option<&lockstep::im::discover::Instance>,
    decision: &SyncDecision,
) -> Result<Option<String>> {
    if !decision.forced_desync || args.dry_run {
        return Ok(None);
    }
    let id = snapshot_before_forced(
        ctx.open_repo()?,
        host,
        live,
        ctx.discover_options(),
        ctx.host_name(),
    )?;
    if !ctx.global.json {
        println!(
            "snapshotted the live set first as {} (before-forced-restore): restore it to undo this",
            short(&id)
        );
    }
    Ok(Some(id))
}

/// In place: plan, then execute. A dry run stops after planning; on a terminal the plan is
/// shown and confirmed first. The live set may change while the question waits, and the
/// snapshot taken before a forced restore is a newer baseline, so the plan is then made again;
/// after a question it must be the plan that was answered.
fn in_place(
    ctx: &Ctx,
    args: &Args,
    repo: lockstep::repo::OpenRepo,
    (snap, selected): (&SetSnapshot, &[lockstep::ops::restore::RestoreUnit]),
    live: Option<&lockstep::im::discover::Instance>,
    decision: &SyncDecision,
    opts: &InPlace<'_>,
) -> Result<Done> {
    let mut prepared = plan(repo, snap, selected, opts)?;
    if args.dry_run {
        return Ok(Done {
            plan: Some(prepared.plan),
            ..Done::default()
        });
    }
    let asked = !args.yes && std::io::stdin().is_terminal();
    if asked {
        confirm(&prepared.plan, snap, decision)?;
    }
    let pre = forced_pre_snapshot(ctx, args, opts.host, live, decision)?;
    if asked || pre.is_some() {
        let again = plan(ctx.open_repo()?, snap, selected, opts)?;
        if pre.is_none() && !again.plan.same_work(&prepared.plan) {
            return Err(Error::Refused(
                "the live set changed while the question was open, so the plan shown is no longer what would be done; nothing was changed: run the restore again to see the new plan".into(),
            ));
        }
        prepared = again;
    }
    let plan = prepared.plan.clone();
    let outcome = execute(prepared, opts)?;
    Ok(Done {
        pre,
        plan: Some(plan),
        outcome: Some(outcome),
    })
}

/// Shows what the restore did: one JSON document, the plan of a dry run, or the report.
fn render(ctx: &Ctx, decision: &SyncDecision, done: Done) -> Result<i32> {
    let Done { pre, plan, outcome } = done;
    if ctx.global.json {
        print_json(&Output {
            schema_version: 2,
            guard: decision,
            pre_restore_snapshot: pre,
            plan: plan.as_ref(),
            outcome: outcome.as_ref(),
        })?;
        return Ok(0);
    }
    match (&plan, &outcome) {
        (Some(plan), None) => {
            let mut out = std::io::stdout().lock();
            let _ = print_plan(&mut out, plan, decision, "dry run, nothing changed");
        }
        (_, Some(o)) => print_outcome(o),
        (None, None) => {}
    }
    Ok(0)
}

/// The report of a restore that ran.
fn print_outcome(o: &RestoreReport) {
    let place = if o.target == std::path::Path::new("/") {
        "in place".to_owned()
    } else {
        format!("into {}", o.target.display())
    };
    println!(
        "restored snapshot {} {place}: {} files, {} directories, {} in {:.1}s",
        short(&o.snapshot),
        o.files,
        o.dirs,
        bytes(o.bytes),
        o.seconds
    );
    if !o.units.is_empty() {
        for u in &o.units {
            println!("  {:<14} {}", u.role.as_str(), u.path.display());
        }
    }
    if let Some(newest) = &o.live_was {
        println!(
            "  the live set was still exactly snapshot {} (its recorded state): only what that snapshot and this one differ in was compared and staged",
            short(newest)
        );
    }
    if o.carried_files > 0 {
        println!(
            "  fast rollback: {} unchanged files ({}) carried over from the live set without copying; the rest came from the repository",
            o.carried_files,
            bytes(o.carried_bytes)
        );
    }
    if o.removed > 0 {
        println!(
            "  {} live entries the snapshot does not hold were removed",
            o.removed
        );
    }
    for k in &o.kept_replaced {
        println!("  kept the replaced copy {}", k.display());
    }
    if o.cleanup_in_background {
        println!(
            "  the replaced copies (*.lockstep-old-*) are being removed in the background; the next lockstep command waits for that"
        );
    }
    for owner in &o.missing_owners {
        println!("  {}", describe_missing_owner(owner));
    }
    if !o.ownership_restored {
        println!("  not running as root: the files belong to you, not to their recorded owners");
    }
}

/// Prints the plan of an in-place restore (a dry run's output, and what a terminal confirms).
fn print_plan(
    out: &mut dyn Write,
    plan: &InPlacePlan,
    decision: &SyncDecision,
    note: &str,
) -> std::io::Result<()> {
    writeln!(
        out,
        "plan: restore snapshot {} in place ({note})",
        short(&plan.snapshot)
    )?;
    if let Some(was) = &plan.live_was {
        writeln!(
            out,
            "  the live set is exactly snapshot {} (its recorded state): only what the two snapshots differ in is staged",
            short(was)
        )?;
    }
    for u in &plan.units {
        writeln!(
            out,
            "  {:<14} {}  {}",
            u.unit.role.as_str(),
            u.unit.path.display(),
            unit_plan(u)
        )?;
    }
    for owner in &plan.missing_owners {
        writeln!(out, "  {}", describe_missing_owner(owner))?;
    }
    writeln!(out, "  in all: {}", counts_text(&plan.counts, "kept"))?;
    for s in &plan.space {
        writeln!(
            out,
            "  space: {} needed in the filesystem of {}, {} available{}",
            bytes(s.needed),
            s.path.display(),
            bytes(s.available),
            if s.needed > s.available {
                "  NOT ENOUGH"
            } else {
                ""
            }
        )?;
    }
    if let Some(d) = &decision.diff {
        print_records_change(out, plan, d)?;
    }
    Ok(())
}

/// What a plan restores, keeps (`kept`: the verb for the live files left as they are) and
/// removes, in words.
fn counts_text(c: &lockstep::ops::restore::Counts, kept: &str) -> String {
    format!(
        "{} files, {} directories ({}) from the repository, {} unchanged files ({}) {kept}, {} entries removed",
        c.files,
        c.dirs,
        bytes(c.bytes),
        c.carried_files,
        bytes(c.carried_bytes),
        c.removed
    )
}

/// How one unit is restored, in a plan's words.
fn unit_plan(u: &lockstep::ops::restore::UnitPlan) -> String {
    let c = &u.counts;
    match u.method {
        Method::Difference => format!("difference: {}", counts_text(c, "stay")),
        Method::WholeCopy => format!(
            "whole copy{}: {} files, {} directories ({}) from the repository{}",
            if u.replaces_live {
                ", replacing the live one"
            } else {
                ""
            },
            c.files,
            c.dirs,
            bytes(c.bytes),
            if c.carried_files > 0 {
                format!(
                    ", {} unchanged files ({}) linked from the live copy",
                    c.carried_files,
                    bytes(c.carried_bytes)
                )
            } else {
                String::new()
            }
        ),
    }
}

/// What the restore does to IM's records: they change only when the agent data is among what
/// is restored; otherwise they stay, and the plan says how the snapshot's differ.
fn print_records_change(
    out: &mut dyn Write,
    plan: &InPlacePlan,
    diff: &lockstep::im::drift::InventoryDiff,
) -> std::io::Result<()> {
    let records_restored = plan.units.iter().any(|u| u.unit.role == Role::ImAgentData);
    match (records_restored, diff.is_empty()) {
        (_, true) => return writeln!(out, "  IM's records: the same as on the live host"),
        (true, false) => writeln!(out, "  IM's records change back:")?,
        (false, false) => writeln!(
            out,
            "  IM's records are not restored and stay as they are, though the snapshot's differ:"
        )?,
    }
    for line in diff.lines() {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}

/// Shows the plan of an in-place restore on the terminal and asks before anything changes.
///
/// # Errors
/// Refused unless the answer is yes.
fn confirm(plan: &InPlacePlan, snap: &SetSnapshot, decision: &SyncDecision) -> Result<()> {
    let mut err = std::io::stderr().lock();
    let asked = print_plan(&mut err, plan, decision, "nothing changed yet")
        .and_then(|()| {
            write!(
                err,
                "replace the live set with snapshot {} ({})? [y/N] ",
                short(&snap.id()),
                snap.snapshot.time.strftime("%Y-%m-%d %H:%M:%S")
            )
        })
        .and_then(|()| err.flush());
    drop(err);
    let mut answer = String::new();
    if asked.is_ok() {
        let _ = std::io::stdin().read_line(&mut answer);
    }
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        return Ok(());
    }
    Err(Error::Refused(
        "the in-place restore was not confirmed; nothing was changed (--yes answers for scripts)"
            .into(),
    ))
}

/// Checks a snapshot id given on the command line (`restore`, `diff`, `drill`): an empty or
/// blank one (an unset shell variable) is a usage error, not a prefix of every id — which would
/// pick the only snapshot there is.
///
/// # Errors
/// A usage error when `id` is empty or blank.
pub fn snapshot_id(id: &str) -> Result<&str> {
    if id.trim().is_empty() {
        return Err(Error::Usage(format!(
            "the snapshot id is empty ('{id}'; an unset variable?); give an id from `lockstep snapshots`, or `latest`"
        )));
    }
    Ok(id)
}

/// Makes sure `dir`'s parent exists (for a new repository or target).
pub fn ensure_dir_parent(dir: &std::path::Path) -> Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    Ok(())
}
