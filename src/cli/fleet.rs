//! `lockstep fleet`: every host and set in the repository, and the nodes left behind.

use rustic_core::jiff::Zoned;

use super::{Ctx, bytes, short, table};
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
    let mut t = table::new(&[
        "set",
        "host",
        "latest",
        "age",
        "drill",
        "agreement",
        "inventory",
    ]);
    for h in &report.hosts {
        t.add_row(vec![
            h.set.clone(),
            h.host.clone(),
            short(&h.latest).to_owned(),
            age(h.age_seconds),
            match &h.drill.last {
                Some(d) if d.ok => "ok",
                Some(_) => "FAILED",
                None => "-",
            }
            .to_owned(),
            match h.agreement {
                Agreement::Majority => "same",
                Agreement::Differs => "DIFFERS",
                Agreement::NoMajority => "no-majority",
                Agreement::Alone => "alone",
                Agreement::Unknown => "unknown",
            }
            .to_owned(),
            h.summary.clone(),
        ]);
    }
    // one line per host (no cell spans lines), each followed by what differs
    let mut lines = table::lines(t).into_iter();
    if let Some(header) = lines.next() {
        println!("{header}");
    }
    for (h, line) in report.hosts.iter().zip(lines) {
        println!("{line}");
        for difference in &h.differences {
            println!("    {difference}");
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
