//! `lockstep demo`: the whole story on a realistic sample host, in a temporary directory.
//!
//! discover → init → backup → a simulated fix pack → backup → snapshots → restore of the first
//! snapshot into a scratch root → proof, entry by entry, that it equals the host before the fix
//! pack. Nothing outside the temporary directory is touched.

use std::path::{Path, PathBuf};

use lockstep_sample::listing::{Ignore, Listing, diff, list};
use lockstep_sample::{self as sample, SampleOptions};

use super::backup::print_outcome;
use super::short;
use super::{Ctx, bytes};
use lockstep::host::root::HostRoot;
use lockstep::im::discover::{DiscoverOptions, Instance, discover, select};
use lockstep::ops::backup::{BackupRequest, backup};
use lockstep::ops::restore::{RestoreReport, restore_to_target};
use lockstep::repo::{OpenRepo, RepoSpec, find_snapshot, set_snapshots};
use lockstep::{Error, Result};

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Build the sample host and repository in DIR (must be empty or new) and keep them.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

const PASSWORD: &str = "lockstep-demo";

pub fn run(_ctx: &Ctx, args: &Args) -> Result<i32> {
    let temp;
    let base: PathBuf = match &args.keep {
        Some(dir) => {
            lockstep::ops::restore::check_empty_target(dir)?;
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
            std::fs::canonicalize(dir).map_err(|e| Error::io("cannot resolve", dir, e))?
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("lockstep-demo-")
                .tempdir()
                .map_err(|e| Error::io("cannot create", std::env::temp_dir(), e))?;
            temp.path().to_path_buf()
        }
    };
    story(&base)?;
    if args.keep.is_some() {
        println!();
        for line in keep_hint(&base) {
            println!("{line}");
        }
    }
    Ok(0)
}

/// How to explore a kept demo: the variables that name its host, repository, password, state
/// and host name (its snapshots are of host `dx-demo`), then commands that work as printed.
fn keep_hint(base: &std::path::Path) -> Vec<String> {
    let at = |name: &str| {
        shell_escape::unix::escape(base.join(name).to_string_lossy().into_owned().into())
            .into_owned()
    };
    vec![
        format!("kept in {}: explore it in a shell with", base.display()),
        format!(
            "  export LOCKSTEP_ROOT={} LOCKSTEP_REPOSITORY={} LOCKSTEP_PASSWORD_FILE={} LOCKSTEP_STATE_DIR={} LOCKSTEP_HOST=dx-demo",
            at("host"),
            at("repo"),
            at("password"),
            at("state")
        ),
        "  lockstep snapshots".into(),
        "  lockstep status".into(),
        "  lockstep diff latest".into(),
        "  lockstep drill latest".into(),
    ]
}

fn step(n: u32, title: &str) {
    println!();
    println!("== {n}. {title}");
}

/// The demo's nine numbered steps, each announced by [`step`], on a sample host built in `base`.
fn story(base: &Path) -> Result<()> {
    let host_dir = base.join("host");
    let repo_dir = base.join("repo");
    let scratch = base.join("restored");
    std::fs::write(base.join("password"), format!("{PASSWORD}\n"))
        .map_err(|e| Error::io("cannot write", base.join("password"), e))?;

    step(1, "a sample HCL DX host: IM, WebSphere, Portal, profiles");
    let built = sample::build(&host_dir, &SampleOptions::default())
        .map_err(|e| Error::io("cannot build the sample host in", &host_dir, e))?;
    let host = HostRoot::new(&host_dir)?;
    println!("built under {}", host_dir.display());

    step(2, "discover: IM's records name every directory of the set");
    let instance = find_instance(&host)?;
    for m in &instance.set.members {
        println!("  {:<14} {}", m.role.as_str(), m.path.display());
    }
    println!("  inventory: {}", instance.inventory.summary());
    let members: Vec<PathBuf> = instance.set.top_level_paths();
    let before =
        list(host.root(), &members).map_err(|e| Error::io("cannot list", host.root(), e))?;

    step(3, "init: a local restic-format repository");
    let spec = RepoSpec {
        location: repo_dir.to_string_lossy().into_owned(),
        options: Default::default(),
    };
    spec.init(PASSWORD)?;
    println!("  {}", repo_dir.display());

    step(
        4,
        "backup: the whole set as ONE snapshot, before maintenance",
    );
    let first = run_backup(&spec, &host, &instance, "before fix pack")?;

    step(
        5,
        "maintenance: a fix pack changes product files AND IM's records",
    );
    let instance_after = fix_pack(&built, &host, &host_dir)?;

    step(6, "backup again: only the change is stored");
    run_backup(&spec, &host, &instance_after, "after fix pack")?;

    step(7, "snapshots");
    let repo = spec.open(PASSWORD)?;
    print_snapshots(&repo)?;

    step(8, "restore the pre-fix-pack snapshot into a scratch root");
    let snap = find_snapshot(&repo, &first, None, None)?;
    let outcome = restore_to_target(repo, &snap, &scratch, None)?;
    println!(
        "  {} files, {} directories, {} into {}",
        outcome.files,
        outcome.dirs,
        bytes(outcome.bytes),
        scratch.display()
    );

    step(
        9,
        "proof: the restored set equals the host before the fix pack",
    );
    prove(&before, &scratch, &members, &outcome)?;
    println!();
    println!(
        "IM and the products came back from the same moment: in sync, as if the fix pack had never happened."
    );
    Ok(())
}

/// Step 5: applies the sample's first fix pack, says what it changed, and discovers the
/// instance again (IM's records changed with it).
fn fix_pack(built: &sample::SampleHost, host: &HostRoot, host_dir: &Path) -> Result<Instance> {
    let report = sample::apply_fix_pack(built, 0)
        .map_err(|e| Error::io("cannot apply the sample fix pack in", host_dir, e))?;
    println!(
        "  {} → {}: {} files changed, {} added, {} removed",
        report.from_version,
        report.to_version,
        report.files_changed,
        report.files_added,
        report.files_removed
    );
    let instance_after = find_instance(host)?;
    println!("  inventory now: {}", instance_after.inventory.summary());
    Ok(instance_after)
}

/// Step 7: one line per snapshot in the repository.
fn print_snapshots(repo: &OpenRepo) -> Result<()> {
    for s in set_snapshots(repo, None, None)? {
        println!(
            "  {}  {}  {:<16} {}",
            short(&s.id()),
            s.snapshot.time.strftime("%Y-%m-%d %H:%M:%S"),
            s.snapshot.label,
            s.manifest
                .as_ref()
                .map_or_else(String::new, |m| m.inventory.summary())
        );
    }
    Ok(())
}

/// Step 9: lists the restored `members` under `scratch` and compares them, entry by entry, with
/// the listing taken `before` the fix pack (owners only when the restore could set them); any
/// difference fails the demo.
fn prove(
    before: &Listing,
    scratch: &Path,
    members: &[PathBuf],
    outcome: &RestoreReport,
) -> Result<()> {
    let restored = list(scratch, members).map_err(|e| Error::io("cannot list", scratch, e))?;
    let differences = diff(
        before,
        &restored,
        Ignore {
            owner: !outcome.ownership_restored,
        },
    );
    if !differences.is_empty() {
        for d in differences.iter().take(10) {
            println!("  DIFFERENT {d}");
        }
        return Err(Error::Other(format!(
            "the demo's restore differs from the original in {} entries",
            differences.len()
        )));
    }
    println!(
        "  {} entries compared (type, content, mode, {}mtime, symlink target, hard links, xattrs): identical",
        before.len(),
        if outcome.ownership_restored {
            "owner, "
        } else {
            ""
        }
    );
    Ok(())
}

fn find_instance(host: &HostRoot) -> Result<Instance> {
    let all = discover(host, &DiscoverOptions::default())?;
    select(&all, None).cloned()
}

fn run_backup(
    spec: &RepoSpec,
    host: &HostRoot,
    instance: &Instance,
    label: &str,
) -> Result<String> {
    let repo = spec.open(PASSWORD)?;
    let mut req = BackupRequest::new(host, instance, DiscoverOptions::default(), "dx-demo".into());
    req.label = Some(label.into());
    let outcome = backup(repo, &req).map_err(|f| f.error)?;
    print_outcome(&outcome, instance);
    Ok(outcome.snapshot)
}
