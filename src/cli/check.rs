//! `lockstep check`: the repository's integrity, and which snapshots any damage hits.

use super::{Ctx, short};
use lockstep::ops::check::{CheckReport, ReadData, check};
use lockstep::ops::metrics::RunMetrics;
use lockstep::{Error, Result};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also read and verify every pack file (downloads the whole repository).
    #[arg(long, conflicts_with = "read_data_subset")]
    read_data: bool,
    /// Read a random subset of the pack files: N% of the data, a size (500MiB) or n/m.
    #[arg(long, value_name = "N%")]
    read_data_subset: Option<String>,
}

impl Args {
    /// Whether pack data is read (long work).
    pub fn reads_data(&self) -> bool {
        self.read_data || self.read_data_subset.is_some()
    }

    fn read(&self) -> ReadData {
        match (&self.read_data_subset, self.read_data) {
            (Some(s), _) => ReadData::Subset(s.clone()),
            (None, true) => ReadData::All,
            (None, false) => ReadData::None,
        }
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let spec = ctx.repo_spec()?;
    let repo = ctx.open_repo()?;
    let mut report = check(repo, &args.read())?;
    report.exposed =
        lockstep::ops::check::exposed(spec.local_dir().as_deref(), ctx.state()?.path());
    for warning in &report.exposed {
        eprintln!("lockstep: warning: {warning}");
    }
    #[allow(clippy::cast_precision_loss)]
    ctx.note_metrics(RunMetrics {
        command: "check".into(),
        labels: [("repository".to_owned(), spec.describe())].into(),
        success: report.ok,
        seconds: 0.0,
        values: [
            ("check_errors".to_owned(), report.errors.len() as f64),
            (
                "check_hit_snapshots".to_owned(),
                report.hit_snapshots.len() as f64,
            ),
        ]
        .into(),
    });
    super::render(ctx, &report, print_report)?;
    if report.ok {
        return Ok(0);
    }
    let hit = &report.hit_snapshots;
    Err(Error::Other(format!(
        "check found {} error{} in the repository; {}: {}",
        report.errors.len(),
        if report.errors.len() == 1 { "" } else { "s" },
        match hit.len() {
            0 => "no snapshot is hit".to_owned(),
            n => format!(
                "{n} snapshot{} hit ({})",
                if n == 1 { " is" } else { "s are" },
                hit.iter()
                    .map(|h| short(&h.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        report.advice()
    )))
}

fn print_report(r: &CheckReport) {
    let data = match r.read_data.as_str() {
        "none" => "structure only (add --read-data to read the pack files)".to_owned(),
        "all" => "all pack data read".to_owned(),
        subset => format!("pack data read: {subset}"),
    };
    if r.ok {
        println!(
            "repository OK: {} snapshots, {data}, {:.1}s",
            r.snapshots, r.seconds
        );
    } else {
        println!(
            "repository DAMAGED: {} error{}, {data}",
            r.errors.len(),
            if r.errors.len() == 1 { "" } else { "s" }
        );
    }
    for e in &r.errors {
        println!("  error: {e}");
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    if !r.damaged_packs.is_empty() {
        println!("  damaged pack files: {}", r.damaged_packs.join(", "));
    }
    for d in &r.damaged_snapshots {
        println!(
            "  damaged snapshot file: snapshots/{} ({})",
            d.id, d.problem
        );
    }
    if !r.ok {
        if r.hit_snapshots.is_empty() {
            println!("  no snapshot uses the damaged data");
        } else {
            println!("  snapshots hit (they cannot be restored completely):");
            for h in &r.hit_snapshots {
                println!(
                    "    {}  {}  {}  {}  {}",
                    short(&h.id),
                    h.time.get(..16).unwrap_or(&h.time).replace('T', " "),
                    h.host,
                    h.set.as_deref().unwrap_or("(not lockstep)"),
                    h.label
                );
            }
        }
    }
}
