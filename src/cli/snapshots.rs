//! `lockstep snapshots`: the lockstep snapshots in the repository.

use serde::Serialize;

use super::{Ctx, print_json, short, table};
use lockstep::Result;
use lockstep::ops::drill::record::{self, DrillHistory};
use lockstep::repo::manifest::Manifest;
use lockstep::repo::{all_snapshots, set_snapshots_among};

/// Arguments of `snapshots`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only snapshots of this set (`--host NAME`, or `LOCKSTEP_HOST`, limits them to a host).
    #[arg(long)]
    set: Option<String>,
}

#[derive(Serialize)]
struct Row {
    id: String,
    time: String,
    host: String,
    set: Option<String>,
    label: String,
    paths: Vec<String>,
    summary: String,
    manifest: Option<Manifest>,
    /// The latest drill and when the snapshot was last proven restorable.
    drill: DrillHistory,
}

#[derive(Serialize)]
struct Output {
    schema_version: u32,
    snapshots: Vec<Row>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let repo = ctx.open_repo()?;
    // The snapshot files are read once, for the sets' snapshots and the drill records.
    let all = all_snapshots(&repo)?;
    let mut drills = record::history(&record::among(&all));
    let rows: Vec<Row> = set_snapshots_among(all, args.set.as_deref(), ctx.host_filter())
        .into_iter()
        .map(|s| Row {
            id: s.id(),
            time: s.snapshot.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            host: s.snapshot.hostname.clone(),
            set: s.set_name(),
            label: s.snapshot.label.clone(),
            paths: s.snapshot.paths.iter().cloned().collect(),
            summary: s.manifest.as_ref().map_or_else(
                || "(no manifest)".to_owned(),
                |m| match m.consistency.verdict {
                    lockstep::repo::manifest::Verdict::Consistent => m.inventory.summary(),
                    // An interrupted backup: restore refuses it without --force.
                    lockstep::repo::manifest::Verdict::Unverified => {
                        format!("UNVERIFIED {}", m.inventory.summary())
                    }
                },
            ),
            drill: drills.remove(&s.id()).unwrap_or_default(),
            manifest: s.manifest,
        })
        .collect();
    if ctx.global.json {
        return print_json(&Output {
            schema_version: 1,
            snapshots: rows,
        })
        .map(|()| 0);
    }
    if rows.is_empty() {
        println!("no lockstep snapshots yet: run `lockstep backup`");
        return Ok(0);
    }
    let mut t = table::new(&["id", "time", "host", "set", "label", "proven", "inventory"]);
    for r in &rows {
        t.add_row(vec![
            short(&r.id).to_owned(),
            r.time.clone(),
            r.host.clone(),
            r.set.clone().unwrap_or_else(|| "-".to_owned()),
            r.label.clone(),
            proven(&r.drill),
            r.summary.clone(),
        ]);
    }
    table::print(t, "");
    println!(
        "{} snapshot{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}

/// When the snapshot was last proven restorable: `2026-05-01 03:12`, `FAILED 2026-05-08`
/// (the latest drill failed), or `-` (never drilled).
fn proven(h: &DrillHistory) -> String {
    let day = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
    match (&h.last, &h.proven_at) {
        (Some(last), _) if !last.ok => {
            format!("FAILED {}", day(&last.time).get(..10).unwrap_or(""))
        }
        (_, Some(at)) => day(at),
        _ => "-".to_owned(),
    }
}
