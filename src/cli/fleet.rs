//! `lockstep fleet`: every host and set in the repository, and the nodes left behind.

use rustic_core::jiff::Zoned;

use super::{Ctx, bytes, short};
use lockstep::Result;
use lockstep::ops::fleet::{Agreement, fleet};

/// Arguments of `fleet`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let mut report = fleet(&repo, &Zoned::now())?;
    // Each host is compared with its whole set; `--host` only limits what is shown.
    if let Some(host) = ctx.host_filter() {
        report.hosts.retain(|h| h.host == host);
        report.differing = report
            .hosts
            .iter()
            .filter(|h| h.agreement == Agreement::Differs)
            .count();
    }
    if ctx.global.json {
        super::print_versioned(&report)?;
        return Ok(0);
    }
    if report.hosts.is_empty() {
        println!("no lockstep snapshots yet: run `lockstep backup` on each host");
        return Ok(0);
    }
    println!(
        "{:<10}  {:<14}  {:<8}  {:<8}  {:<10}  {:<10}  inventory",
        "set", "host", "latest", "age", "drill", "agreement"
    );
    for h in &report.hosts {
        println!(
            "{:<10}  {:<14}  {:<8}  {:<8}  {:<10}  {:<10}  {}",
            h.set,
            h.host,
            short(&h.latest),
            age(h.age_seconds),
            match &h.drill.last {
                Some(d) if d.ok => "ok",
                Some(_) => "FAILED",
                None => "-",
            },
            match h.agreement {
                Agreement::Majority => "same",
                Agreement::Differs => "DIFFERS",
                Agreement::NoMajority => "no-majority",
                Agreement::Alone => "alone",
                Agreement::Unknown => "unknown",
            },
            h.summary
        );
        for line in &h.differences {
            println!("    {line}");
        }
    }
    let d = &report.dedup;
    println!(
        "stored {} for {} referenced by the latest snapshots (ratio {:.2})",
        bytes(d.bytes_stored),
        bytes(d.bytes_referenced),
        d.ratio
    );
    if report.differing > 0 {
        println!(
            "{} host{} differ{} from the majority of {} set: bring {} to the same level",
            report.differing,
            if report.differing == 1 { "" } else { "s" },
            if report.differing == 1 { "s" } else { "" },
            if report.differing == 1 {
                "its"
            } else {
                "their"
            },
            if report.differing == 1 { "it" } else { "them" },
        );
    }
    Ok(0)
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
