//! `lockstep status`: is the live host still in step with the latest snapshot of its set?

use super::Ctx;
use super::short;
use lockstep::Result;
use lockstep::ops::compare::FileChanges;
use lockstep::ops::status::{
    Restored, SnapshotRef, StatusReport, SyncState, compared_with, status,
};
use lockstep::repo::set_snapshots;

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also list the paths of the entries added, changed and removed.
    #[arg(long, short)]
    verbose: bool,
    /// Compare with `remote` (the configuration's disaster-recovery repository) instead of the
    /// repository: on a machine rebuilt from the remote, whose local repository was lost.
    #[arg(long, value_name = "TIER", value_parser = ["repository", "remote"], default_value = "repository")]
    from: String,
    /// The set the host is compared as (default: the configuration's `set`, else the IM
    /// instance's name).
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
}

impl Args {
    /// Whether the snapshots are read from the remote.
    pub fn uses_remote(&self) -> bool {
        self.from == "remote"
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let host = ctx.host()?;
    // Damaged IM records are drift to report, not a reason to stop.
    let (instance, problems) = lockstep::im::discover::discover_one_lenient(
        &host,
        &ctx.discover_options(),
        ctx.global.instance.as_deref(),
    )?;
    let repo = ctx.open_repo()?;
    let host_name = ctx.host_name();
    // What the host should equal: `latest` as every command means it, or what was restored
    // in place since.
    let set = ctx.set_for(&instance, args.set.as_deref())?;
    let snaps = set_snapshots(&repo, None, None)?;
    let restored = ctx.state()?.last_restore(&host_name, &set).and_then(|r| {
        let when = r.time.parse().ok()?;
        let snap = snaps.iter().find(|s| s.id() == r.snapshot)?.clone();
        Some(Restored { snap, when })
    });
    let compared = compared_with(ctx.latest_of_host(snaps, &set), restored);
    let mut report = status(
        repo,
        (&host, &ctx.config.excludes),
        &instance,
        &host_name,
        compared.as_ref(),
        &problems,
    )?;
    report.set = set;
    if !args.verbose {
        report.files = report.files.without_paths();
    }
    ctx.note_metrics(lockstep::ops::metrics::RunMetrics {
        command: "status".into(),
        labels: Ctx::set_labels(&report.set, &report.host),
        success: true,
        seconds: 0.0,
        values: [(
            "in_sync".to_owned(),
            if report.verdict == SyncState::InSync {
                1.0
            } else {
                0.0
            },
        )]
        .into(),
    });
    super::render(ctx, &report, print_report)?;
    Ok(match report.verdict {
        SyncState::InSync => 0,
        SyncState::Drift | SyncState::NoSnapshot => 1,
    })
}

fn print_report(r: &StatusReport) {
    let Some(snap) = &r.snapshot else {
        println!("no snapshot yet");
        println!(
            "  set {} has no snapshot from host {}: take one with `lockstep backup`",
            r.set, r.host
        );
        return;
    };
    match r.verdict {
        SyncState::InSync => println!("in sync with {} ({})", short(&snap.id), age(snap)),
        _ => println!(
            "DRIFT since {} ({}): {}",
            short(&snap.id),
            age(snap),
            drift_headline(r)
        ),
    }
    if !r.vanished.is_empty() {
        println!("  vanished from the set since the snapshot:");
        for v in &r.vanished {
            println!("    {v}");
        }
    }
    if !r.unreadable_records.is_empty() {
        println!("  IM's records that cannot be read:");
        for p in &r.unreadable_records {
            println!("    {p}");
        }
    }
    let lines = r.inventory_diff.lines();
    if !lines.is_empty() {
        println!("  IM's records:");
        for line in lines {
            println!("    {line}");
        }
    }
    println!("  files since the snapshot:");
    print_files(&r.files, "    ");
    if r.verdict == SyncState::InSync && !r.files.is_empty() {
        println!("  (only product and extra files changed: IM and the products are still in step)");
    }
}

/// The verdict line's reason: the inventory's headline, or which of IM's roles changed.
fn drift_headline(r: &StatusReport) -> String {
    if !r.vanished.is_empty() || !r.unreadable_records.is_empty() {
        let mut parts = Vec::new();
        if !r.vanished.is_empty() {
            parts.push(format!(
                "the set lost {} member{}",
                r.vanished.len(),
                if r.vanished.len() == 1 { "" } else { "s" }
            ));
        }
        if !r.unreadable_records.is_empty() {
            parts.push(format!(
                "{} of IM's records cannot be read",
                r.unreadable_records.len()
            ));
        }
        return parts.join("; ");
    }
    if !r.inventory_diff.is_empty() {
        return r.inventory_diff.headline();
    }
    let roles: Vec<String> = r
        .files
        .roles
        .iter()
        .filter(|(role, c)| role.is_im() && c.total() > 0)
        .map(|(role, c)| format!("{role} {}", counts(c.added, c.changed, c.removed)))
        .collect();
    format!("IM's files changed ({})", roles.join("; "))
}

/// How long ago a snapshot was taken: `45s ago`, `12m ago`, `3h ago`, `5d ago`.
pub fn age(snap: &SnapshotRef) -> String {
    let s = snap.age_seconds.max(0);
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..172_800 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// `2 added, 5 changed, 1 removed`, or `no change`.
pub fn counts(added: usize, changed: usize, removed: usize) -> String {
    if added + changed + removed == 0 {
        return "no change".to_owned();
    }
    format!("{added} added, {changed} changed, {removed} removed")
}

/// One line per role, then the paths when the report carries them.
pub fn print_files(files: &FileChanges, indent: &str) {
    for (role, c) in &files.roles {
        println!(
            "{indent}{:<14} {}",
            role.as_str(),
            counts(c.added, c.changed, c.removed)
        );
        for (mark, paths) in [
            ('+', &c.added_paths),
            ('~', &c.changed_paths),
            ('-', &c.removed_paths),
        ] {
            for p in paths {
                println!("{indent}  {mark} {p}");
            }
        }
    }
}
