//! `lockstep discover`: the IM instances on the host, each set member and the inventory.

use serde::Serialize;

use super::{Ctx, print_json};
use lockstep::Result;
use lockstep::im::discover::Instance;

/// Arguments of `discover`.
#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Output<'a> {
    schema_version: u32,
    root: String,
    instances: &'a [Instance],
}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<i32> {
    let host = ctx.host()?;
    let instances = ctx.instances()?;
    if ctx.global.json {
        print_json(&Output {
            schema_version: 1,
            root: host.root().display().to_string(),
            instances: &instances,
        })?;
        return Ok(0);
    }
    if instances.is_empty() {
        println!("no IBM Installation Manager found on this host");
        println!(
            "({}; give --agent-data DIR for an install without a registry)",
            lockstep::im::discover::searched(&host)
        );
        return Ok(0);
    }
    for (n, i) in instances.iter().enumerate() {
        if n > 0 {
            println!();
        }
        println!(
            "instance {} ({} mode{})",
            i.name,
            i.mode.as_str(),
            i.inventory
                .im_version
                .as_ref()
                .map(|v| format!(", IM {v}"))
                .unwrap_or_default()
        );
        println!("  sync set:");
        for m in &i.set.members {
            let state = if m.exists { "" } else { "   MISSING" };
            let via = m
                .resolved
                .as_ref()
                .map(|r| format!(" -> {}", r.display()))
                .unwrap_or_default();
            println!(
                "    {:<14} {}{via}{state}",
                m.role.as_str(),
                m.path.display()
            );
        }
        for note in &i.notes {
            println!("  note: {note}");
        }
        println!("  inventory: {}", i.inventory.summary());
        for g in &i.inventory.package_groups {
            println!("    {} ({})", g.id, g.path);
            for o in &g.offerings {
                println!(
                    "      {} {}{}",
                    o.id,
                    o.version,
                    o.display_version
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            }
            for f in &g.fixes {
                println!("      fix {} {}", f.id, f.version);
            }
        }
    }
    Ok(0)
}
