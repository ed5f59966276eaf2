//! A fleet for `bench/fleet.sh`: replicates the lockstep snapshots of a repository (made by real
//! backups) as many hosts' histories, without backing anything up again.
//!
//!   cargo run --example fleet_fixture -- REPO HOSTS PER_HOST [SETS_OF] [KEY=VALUE…]
//!
//! REPO is a directory or a backend string (`opendal:s3`), KEY=VALUE its backend options (as
//! in a configuration's `[repository-options]`); the password is `LOCKSTEP_PASSWORD`. Every
//! lockstep snapshot in REPO is a template; the fixture writes HOSTS × PER_HOST snapshot files,
//! host `host-NNNN` in set `set-NNN` (SETS_OF hosts per set, default 10), one snapshot a day
//! ending now, each a copy of a template (taken in turn; the last host of each set one behind)
//! with its hostname, time, `set=` tag and the manifest's `host` and `set` rewritten, so
//! `lockstep fleet` groups them as those hosts.
//! The copies point at the templates' trees: their data is in the repository. The snapshots
//! that were there (the templates, and any drill records) are removed, so REPO ends with
//! exactly HOSTS × PER_HOST snapshots.

use std::collections::BTreeMap;
use std::str::FromStr;

use rustic_backend::BackendOptions;
use rustic_core::jiff::{ToSpan, Zoned};
use rustic_core::repofile::{SnapshotFile, StringList};
use rustic_core::{Credentials, Repository, RepositoryOptions};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fleet_fixture REPO HOSTS PER_HOST [SETS_OF] [KEY=VALUE…]";
    let (Some(repo), Some(hosts), Some(per_host)) = (args.first(), args.get(1), args.get(2)) else {
        return Err(usage.into());
    };
    let hosts: usize = hosts.parse()?;
    let per_host: usize = per_host.parse()?;
    let mut rest = args[3..].iter().peekable();
    let sets_of: usize = match rest.peek() {
        Some(n) if !n.contains('=') => rest.next().map_or(Ok(10), |n| n.parse())?,
        _ => 10,
    };
    let mut options = BTreeMap::new();
    for kv in rest {
        let (k, v) = kv.split_once('=').ok_or(usage)?;
        options.insert(k.to_owned(), v.to_owned());
    }
    let password = std::env::var("LOCKSTEP_PASSWORD").map_err(|_| "set LOCKSTEP_PASSWORD")?;

    let mut backend = BackendOptions::default().repository(repo.clone());
    backend.options = options;
    let mut repo_options = RepositoryOptions::default();
    // The fixture writes snapshot files only; a cache would only be in the way.
    repo_options.no_cache = true;
    let repository = Repository::new(&repo_options, &backend.to_backends()?)?
        .open(&Credentials::password(password))?;

    let originals = repository.get_all_snapshots()?;
    let templates: Vec<&SnapshotFile> = originals
        .iter()
        .filter(|s| s.tags.contains("lockstep"))
        .collect();
    if templates.is_empty() {
        return Err("no lockstep snapshot in the repository to copy".into());
    }
    let now = Zoned::now();
    let mut copies = Vec::with_capacity(hosts * per_host);
    for h in 0..hosts {
        let host = format!("host-{h:04}");
        let set = format!("set-{:03}", h / sets_of.max(1));
        for d in 0..per_host {
            // the last host of each full set one template behind the others: with the demo's
            // two snapshots, its latest is the one before the fix pack, a node left behind
            let behind = usize::from(sets_of > 1 && h % sets_of == sets_of - 1);
            let mut snap = (*templates[(d + behind) % templates.len()]).clone();
            snap.hostname.clone_from(&host);
            // one a day, the newest today; hosts a minute apart so no two times are equal
            let days = i64::try_from(per_host - 1 - d)?;
            let minutes = i64::try_from(h)?;
            snap.time = now.checked_sub(days.days().minutes(minutes))?;
            let old_sets: Vec<StringList> = snap
                .tags
                .iter()
                .filter(|t| t.starts_with("set="))
                .map(|t| StringList::from_str(t))
                .collect::<Result<_, _>>()?;
            snap.tags.remove_all(&old_sets);
            snap.tags.add(format!("set={set}"));
            snap.parent = None;
            if let Some(text) = snap.description.as_deref() {
                let mut manifest: serde_json::Value = serde_json::from_str(text)?;
                manifest["host"] = host.clone().into();
                manifest["set"] = set.clone().into();
                snap.description = Some(serde_json::to_string(&manifest)?);
            }
            copies.push(snap);
        }
    }
    let count = copies.len();
    repository.save_snapshots(copies)?;
    let ids: Vec<_> = originals.iter().map(|s| s.id).collect();
    repository.delete_snapshots(&ids)?;
    eprintln!(
        "fleet_fixture: {count} snapshots written ({hosts} hosts × {per_host}, from {} templates)",
        templates.len()
    );
    Ok(())
}
