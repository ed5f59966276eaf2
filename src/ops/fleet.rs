//! The fleet view: every host and set that backs up into one repository.
//!
//! For each host and set: the latest snapshot, its age, the inventory summary and the latest
//! drill of that snapshot. Hosts of the same set name are meant to be nodes of one cluster with
//! the same IM and product levels, so each host's latest inventory is compared with the
//! inventory most of them share: a node left behind at an older fix pack is flagged, with what
//! differs. The shared-resources location is not compared (nodes may keep IMShared elsewhere).
//! Deduplication across hosts is reported as the bytes the latest snapshots reference against
//! the bytes the repository stores. Reads only.

use std::collections::BTreeMap;

use rustic_core::jiff::Zoned;
use serde::Serialize;

use crate::im::drift::InventoryDiff;
use crate::im::inventory::Inventory;
use crate::ops::drill::record::{self, DrillHistory};
use crate::repo::{OpenRepo, SetSnapshot};
use crate::{Error, Result};

/// How a host's inventory compares with the others of its set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// It has the inventory most hosts of the set have.
    Majority,
    /// It differs from the inventory most hosts of the set have.
    Differs,
    /// No inventory is shared by more than half the hosts of the set.
    NoMajority,
    /// The only host of its set (nothing to compare with).
    Alone,
    /// Its latest snapshot has no manifest lockstep can read.
    Unknown,
}

/// One host and set.
#[derive(Debug, Clone, Serialize)]
pub struct FleetEntry {
    /// The set's name.
    pub set: String,
    /// The host.
    pub host: String,
    /// The latest snapshot's id.
    pub latest: String,
    /// When it was taken.
    pub time: String,
    /// Its age in seconds.
    pub age_seconds: i64,
    /// How many snapshots this host has of this set.
    pub snapshots: usize,
    /// The inventory summary (`WAS ND 9.0.5.17, DX 9.5 CF219, IM 1.9.2.8`).
    pub summary: String,
    /// How the inventory compares with the set's majority.
    pub agreement: Agreement,
    /// What differs from the majority's inventory (empty unless `differs`).
    pub differences: Vec<String>,
    /// The latest drill of the latest snapshot.
    pub drill: DrillHistory,
    /// Bytes of the set as the latest snapshot saw them (before dedup and compression).
    pub bytes: u64,
}

/// Deduplication across the repository.
#[derive(Debug, Clone, Serialize)]
pub struct Dedup {
    /// The sum of the latest snapshots' sizes (what plain copies of every host would take).
    pub bytes_referenced: u64,
    /// What the repository stores (packed blobs after dedup, compression and encryption; all
    /// snapshots, not only the latest).
    pub bytes_stored: u64,
    /// `bytes_stored / bytes_referenced` (0 when nothing is referenced).
    pub ratio: f64,
}

/// The fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// One entry per set and host, by set then host.
    pub hosts: Vec<FleetEntry>,
    /// How many entries differ from their set's majority.
    pub differing: usize,
    /// Deduplication across hosts.
    pub dedup: Dedup,
}

/// The fleet in `repo`, ages measured from `now`.
///
/// # Errors
/// When the repository cannot be read.
pub fn fleet(repo: &OpenRepo, now: &Zoned) -> Result<FleetReport> {
    // The snapshot files are read once, for the sets' snapshots and the drill records.
    let all = crate::repo::all_snapshots(repo)?;
    let mut drills = record::history(&record::among(&all));
    let snaps = crate::repo::set_snapshots_among(all, None, None);
    let mut groups: BTreeMap<(String, String), Vec<SetSnapshot>> = BTreeMap::new();
    for s in snaps {
        let set = s.set_name().unwrap_or_else(|| "-".to_owned());
        groups
            .entry((set, s.snapshot.hostname.clone()))
            .or_default()
            .push(s);
    }
    let mut hosts = Vec::new();
    let mut inventories: BTreeMap<String, Vec<Option<Inventory>>> = BTreeMap::new();
    for ((set, host), list) in groups {
        let count = list.len();
        let Some(latest) = list.into_iter().next_back() else {
            continue;
        };
        let inventory = latest.manifest.as_ref().map(|m| m.inventory.clone());
        inventories
            .entry(set.clone())
            .or_default()
            .push(inventory.clone());
        hosts.push(entry(
            set,
            host,
            count,
            &latest,
            inventory.as_ref(),
            &mut drills,
            now,
        ));
    }
    compare_with_majority(&mut hosts, &inventories);
    let differing = hosts
        .iter()
        .filter(|h| h.agreement == Agreement::Differs)
        .count();
    let dedup = dedup(repo, &hosts)?;
    Ok(FleetReport {
        hosts,
        differing,
        dedup,
    })
}

/// The entry of one set and host from its latest snapshot (of `snapshots`), before it is
/// compared with the rest of its set; the snapshot's drill is taken out of `drills`.
fn entry(
    set: String,
    host: String,
    snapshots: usize,
    latest: &SetSnapshot,
    inventory: Option<&Inventory>,
    drills: &mut BTreeMap<String, DrillHistory>,
    now: &Zoned,
) -> FleetEntry {
    let id = latest.id();
    let age = now
        .timestamp()
        .as_second()
        .saturating_sub(latest.snapshot.time.timestamp().as_second());
    FleetEntry {
        set,
        host,
        time: latest
            .snapshot
            .time
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        age_seconds: age.max(0),
        snapshots,
        summary: inventory.map_or_else(|| "(no manifest)".to_owned(), Inventory::summary),
        agreement: Agreement::Unknown,
        differences: Vec::new(),
        drill: drills.remove(&id).unwrap_or_default(),
        bytes: latest
            .snapshot
            .summary
            .as_ref()
            .map_or(0, |s| s.total_bytes_processed),
        latest: id,
    }
}

/// Sets each entry's agreement with its set's majority inventory, and what differs from it.
/// `hosts` are grouped by set in the order of `inventories`, one inventory per entry; an
/// entry without one stays [`Agreement::Unknown`].
fn compare_with_majority(
    hosts: &mut [FleetEntry],
    inventories: &BTreeMap<String, Vec<Option<Inventory>>>,
) {
    let mut entries = hosts.iter_mut();
    for invs in inventories.values() {
        let majority = majority(invs);
        for (inv, entry) in invs.iter().zip(entries.by_ref()) {
            let Some(inv) = inv else { continue };
            (entry.agreement, entry.differences) = match (&majority, invs.len()) {
                (_, 1) => (Agreement::Alone, Vec::new()),
                (None, _) => (Agreement::NoMajority, Vec::new()),
                (Some(m), _) => {
                    let diff = comparable_diff(m, inv);
                    if diff.is_empty() {
                        (Agreement::Majority, Vec::new())
                    } else {
                        (Agreement::Differs, diff.lines())
                    }
                }
            };
        }
    }
}

/// Deduplication across hosts: what the repository stores against what the latest snapshots
/// of `hosts` reference.
///
/// # Errors
/// When the repository's index cannot be read.
fn dedup(repo: &OpenRepo, hosts: &[FleetEntry]) -> Result<Dedup> {
    let infos = repo.infos_index().map_err(|e| {
        Error::Repo(format!(
            "cannot read the repository's index: {}",
            crate::error::rustic_message(&e)
        ))
    })?;
    let bytes_stored = infos.blobs.iter().map(|b| b.size).sum();
    let bytes_referenced: u64 = hosts.iter().map(|h| h.bytes).sum();
    #[allow(clippy::cast_precision_loss)]
    let ratio = if bytes_referenced == 0 {
        0.0
    } else {
        bytes_stored as f64 / bytes_referenced as f64
    };
    Ok(Dedup {
        bytes_referenced,
        bytes_stored,
        ratio,
    })
}

/// What differs between two hosts' inventories, leaving out where IMShared lives.
fn comparable_diff(from: &Inventory, to: &Inventory) -> InventoryDiff {
    let mut diff = InventoryDiff::between(from, to);
    diff.shared_location = None;
    diff
}

/// The inventory more than half of `invs` share (unreadable ones count against it).
fn majority(invs: &[Option<Inventory>]) -> Option<Inventory> {
    let known: Vec<&Inventory> = invs.iter().flatten().collect();
    known
        .iter()
        .find(|candidate| {
            let agree = known
                .iter()
                .filter(|other| comparable_diff(candidate, other).is_empty())
                .count();
            agree * 2 > invs.len()
        })
        .map(|i| (*i).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::im::inventory::PackageGroup;

    fn inv(version: &str) -> Inventory {
        Inventory {
            im_version: Some("1.9.2.8".into()),
            package_groups: vec![PackageGroup {
                id: "IBM WebSphere Application Server V9.0".into(),
                path: "/opt/IBM/WebSphere/AppServer".into(),
                offerings: vec![crate::im::inventory::Offering {
                    id: "com.ibm.websphere.ND.v90".into(),
                    version: version.into(),
                    display_version: None,
                    name: None,
                }],
                fixes: Vec::new(),
            }],
            ..Inventory::default()
        }
    }

    #[test]
    fn the_majority_needs_more_than_half() {
        let a = inv("9.0.5.18");
        let b = inv("9.0.5.17");
        assert_eq!(
            majority(&[Some(a.clone()), Some(a.clone()), Some(b.clone())]),
            Some(a.clone())
        );
        assert_eq!(majority(&[Some(a.clone()), Some(b.clone())]), None);
        assert_eq!(majority(&[Some(a.clone()), None, None]), None);
        let mut moved = a.clone();
        moved.shared_location = Some("/elsewhere".into());
        assert!(comparable_diff(&a, &moved).is_empty());
        assert!(!comparable_diff(&a, &b).is_empty());
    }
}
