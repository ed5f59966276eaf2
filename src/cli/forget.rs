//! `lockstep forget`: remove snapshots by a retention policy, per set and host.

use serde::Serialize;

use super::{Ctx, print_json, short, table};
use lockstep::Result;
use lockstep::ops::prune::{PruneReport, prune};
use lockstep::ops::retention::{
    ForgetByIds, ForgetPlan, ForgetReport, RetentionPolicy, forget, forget_ids, plan, resolve_ids,
};
use lockstep::repo::OpenRepo;

/// Arguments of `forget`. Each flag overrides the same key of the configuration's `[forget]`
/// table; labels from both are kept.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove exactly these snapshots (ids or unique prefixes, as `snapshots` shows them),
    /// instead of applying a policy; also removes a damaged snapshot file named by its id.
    #[arg(value_name = "ID", conflicts_with_all = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_within", "keep_labels", "set"])]
    ids: Vec<String>,
    /// Keep the N newest snapshots of each set and host.
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours that have one.
    #[arg(long, value_name = "N")]
    keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days that have one.
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest (ISO) weeks that have one.
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months that have one.
    #[arg(long, value_name = "N")]
    keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years that have one.
    #[arg(long, value_name = "N")]
    keep_yearly: Option<u32>,
    /// Keep every snapshot taken within DURATION before the newest one of its set and host
    /// (30d, 2w, 6m, 1y6m, 12h; as in restic `m` is months, minutes are written `min`).
    #[arg(long, value_name = "DURATION")]
    keep_within: Option<String>,
    /// Never forget snapshots with this label (repeatable).
    #[arg(long = "keep-label", value_name = "LABEL")]
    keep_labels: Vec<String>,
    /// Only the snapshots of this set (default: every set and host in the repository).
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
    /// Show what would be removed; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Prune afterwards (`lockstep prune`).
    #[arg(long)]
    prune: bool,
    /// With the prune: delete unused data now, not a day later (`prune --instant-delete`, for
    /// a full disk). UNSAFE while any backup runs against the repository: a running backup may
    /// reference data this deletes. Stop every backup first.
    #[arg(long)]
    instant_delete: bool,
}

impl Args {
    /// Whether this run prunes (long repository work).
    pub fn prunes(&self) -> bool {
        self.prune && !self.dry_run
    }
}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    dry_run: bool,
    #[serde(flatten)]
    plan: &'a ForgetPlan,
    /// Ids of the snapshots removed (or, with dry_run, that would be).
    removed: Vec<String>,
    kept: usize,
    drill_records_removed: usize,
    prune: Option<PruneReport>,
}

impl Ctx {
    /// The retention policy: flags over the configuration's `[forget]` table.
    fn policy(&self, args: &Args) -> RetentionPolicy {
        let c = &self.config.forget;
        let mut keep_labels = c.keep_labels.clone();
        for l in &args.keep_labels {
            if !keep_labels.contains(l) {
                keep_labels.push(l.clone());
            }
        }
        RetentionPolicy {
            keep_last: args.keep_last.or(c.keep_last),
            keep_hourly: args.keep_hourly.or(c.keep_hourly),
            keep_daily: args.keep_daily.or(c.keep_daily),
            keep_weekly: args.keep_weekly.or(c.keep_weekly),
            keep_monthly: args.keep_monthly.or(c.keep_monthly),
            keep_yearly: args.keep_yearly.or(c.keep_yearly),
            keep_within: args.keep_within.clone().or_else(|| c.keep_within.clone()),
            keep_labels,
        }
    }

    /// `forget --prune`'s prune, noted as a prune run for the metrics (failed until it returns).
    fn pruned(&self, repo: &OpenRepo, args: &Args) -> Result<PruneReport> {
        self.note_prune_started();
        let start = std::time::Instant::now();
        let report = prune(repo, false, super::prune::deletion(args.instant_delete))?;
        self.note_prune_metrics(&report, start.elapsed().as_secs_f64());
        Ok(report)
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let prune_asked = args.prune || (args.ids.is_empty() && ctx.config.forget.prune == Some(true));
    if args.instant_delete && !prune_asked {
        return Err(lockstep::Error::Usage(
            "--instant-delete says how `forget --prune` deletes; add --prune (or leave it out)"
                .into(),
        ));
    }
    if !args.ids.is_empty() {
        return by_ids(ctx, args);
    }
    let policy = ctx.policy(args);
    if !policy.has_rule() {
        return Err(lockstep::ops::retention::no_policy());
    }
    policy.within()?;
    let repo = ctx.open_repo()?;
    let plan = plan(&repo, &policy, args.set.as_deref(), ctx.host_filter())?;
    let outcome = if args.dry_run {
        ctx.skip_metrics();
        ForgetReport {
            removed: plan.removed().map(|d| d.id.clone()).collect(),
            drill_records_removed: 0,
        }
    } else {
        forget(&repo, &plan)?
    };
    if !args.dry_run {
        ctx.note_forget_metrics(outcome.removed.len(), Some(plan.kept()));
    }
    let do_prune = !args.dry_run && (args.prune || ctx.config.forget.prune.unwrap_or(false));
    let pruned = if do_prune {
        Some(ctx.pruned(&repo, args)?)
    } else {
        None
    };
    let output = Output {
        schema_version: 1,
        dry_run: args.dry_run,
        plan: &plan,
        removed: outcome.removed.clone(),
        kept: plan.kept(),
        drill_records_removed: outcome.drill_records_removed,
        prune: pruned,
    };
    if ctx.global.json {
        print_json(&output)?;
        return Ok(0);
    }
    // for the [notify] commands: what --json would have printed
    ctx.keep_document(&output);
    print_plan(&plan, args.dry_run);
    let n = outcome.removed.len();
    let s = if n == 1 { "" } else { "s" };
    if args.dry_run {
        println!(
            "dry run: {n} snapshot{s} would be removed, {} kept; nothing was changed",
            plan.kept()
        );
    } else {
        println!(
            "removed {n} snapshot{s}{}, kept {}",
            match outcome.drill_records_removed {
                0 => String::new(),
                1 => " and 1 drill record".to_owned(),
                r => format!(" and {r} drill records"),
            },
            plan.kept()
        );
        match &output.prune {
            Some(report) => super::prune::print_report(report),
            None if n > 0 => {
                println!("  their data stays in the repository until `lockstep prune`");
            }
            None => {}
        }
    }
    Ok(0)
}

/// `forget ID…`: exactly the named snapshots, damaged snapshot files included.
fn by_ids(ctx: &Ctx, args: &Args) -> Result<i32> {
    #[derive(Serialize)]
    struct ByIds<'a> {
        schema_version: u32,
        dry_run: bool,
        #[serde(flatten)]
        found: &'a ForgetByIds,
        removed: Vec<String>,
        drill_records_removed: usize,
        prune: Option<PruneReport>,
    }
    let repo = ctx.open_repo()?;
    let found = resolve_ids(&repo, &args.ids)?;
    let outcome = if args.dry_run {
        ctx.skip_metrics();
        ForgetReport {
            removed: found.all(),
            drill_records_removed: 0,
        }
    } else {
        forget_ids(&repo, &found)?
    };
    if !args.dry_run {
        ctx.note_forget_metrics(outcome.removed.len(), None);
    }
    let pruned = if args.prunes() {
        Some(ctx.pruned(&repo, args)?)
    } else {
        None
    };
    if ctx.global.json {
        print_json(&ByIds {
            schema_version: 1,
            dry_run: args.dry_run,
            found: &found,
            removed: outcome.removed,
            drill_records_removed: outcome.drill_records_removed,
            prune: pruned,
        })?;
        return Ok(0);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for id in &found.snapshots {
        println!("{verb} snapshot {}", short(id));
    }
    for id in &found.damaged {
        println!("{verb} damaged snapshot file snapshots/{id}");
    }
    if let Some(report) = &pruned {
        super::prune::print_report(report);
    } else if !args.dry_run && !found.snapshots.is_empty() {
        println!("  their data stays in the repository until `lockstep prune`");
    }
    Ok(0)
}

fn print_plan(plan: &ForgetPlan, dry_run: bool) {
    for g in &plan.groups {
        let keep = g.snapshots.iter().filter(|d| d.keep).count();
        println!(
            "set {} on {}: keep {keep}, {} {}",
            g.set.as_deref().unwrap_or("-"),
            g.host,
            if dry_run { "would remove" } else { "remove" },
            g.snapshots.len() - keep
        );
        let mut t = table::new(&[]);
        for d in &g.snapshots {
            t.add_row(vec![
                if d.keep { "keep" } else { "remove" }.to_owned(),
                short(&d.id).to_owned(),
                d.time.get(..16).unwrap_or(&d.time).replace('T', " "),
                d.label.clone(),
                d.reasons.join(", "),
            ]);
        }
        table::print(t, "  ");
    }
}
