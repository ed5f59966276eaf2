//! `lockstep snapshots`: the lockstep snapshots in the repository.

use serde::Serialize;

use super::{Ctx, print_json, short};
use crate::Result;
use crate::manifest::Manifest;
use crate::repo::set_snapshots;

/// Arguments of `snapshots`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only snapshots of this set.
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
}

#[derive(Serialize)]
struct Output {
    schema_version: u32,
    snapshots: Vec<Row>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let rows: Vec<Row> = set_snapshots(&repo, args.set.as_deref(), None)?
        .into_iter()
        .map(|s| Row {
            id: s.id(),
            time: s.snapshot.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            host: s.snapshot.hostname.clone(),
            set: s.set_name(),
            label: s.snapshot.label.clone(),
            paths: s.snapshot.paths.iter().cloned().collect(),
            summary: s
                .manifest
                .as_ref()
                .map_or_else(|| "(no manifest)".to_owned(), |m| m.inventory.summary()),
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
    println!(
        "{:<8}  {:<19}  {:<12}  {:<10}  {:<16}  inventory",
        "id", "time", "host", "set", "label"
    );
    for r in &rows {
        println!(
            "{:<8}  {:<19}  {:<12}  {:<10}  {:<16}  {}",
            short(&r.id),
            r.time,
            r.host,
            r.set.as_deref().unwrap_or("-"),
            r.label,
            r.summary
        );
    }
    println!(
        "{} snapshot{}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    Ok(0)
}
