//! Integrity checks of the repository, and which snapshots a damage hits.
//!
//! [`check`] runs rustic_core's check (the same as `restic check`): index against pack files,
//! every snapshot's trees, and with `read_data` the content of the pack files (all of them, or
//! a random subset). When it finds damage, lockstep answers the administrator's next question —
//! *which backups can I no longer restore?* — by walking every snapshot's trees through the
//! index and marking a snapshot as hit when one of its trees or file chunks is missing from the
//! index, lives in a damaged pack file, or cannot be read.
//!
//! A snapshot file that cannot be read is a finding of its own (the engine's check would stop
//! at it, and check nothing): the other snapshots' trees are checked, and the damaged file is
//! named. What repairs each kind of damage is in [`CheckReport::advice`]; the repairs are
//! [`crate::ops::repair`]'s.
//!
//! rustic_core does not export the type of its findings, so the damaged pack files are taken
//! from each finding's debug form (its `id` field, the pack's full id); the walk itself reads
//! the repository and does not depend on that form.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Instant;

use rustic_core::repofile::{NodeType, SnapshotFile};
use rustic_core::{CheckOptions, IndexedFull, ReadSubsetOption, Repository, TreeId};
use serde::Serialize;

use crate::ops::drill::record::DRILL_TAG;
use crate::repo::manifest::TAG;
use crate::repo::{DamagedSnapshot, OpenRepo};
use crate::util::report::rfc3339;
use crate::{Error, Result};

/// How much pack data a check reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadData {
    /// None: structure only (index, packs listed, trees).
    None,
    /// Every pack file.
    All,
    /// A random subset: `N%`, a size (`500MiB`), or `n/m`.
    Subset(String),
}

impl ReadData {
    fn options(&self) -> Result<CheckOptions> {
        let opts = CheckOptions::default();
        Ok(match self {
            Self::None => opts,
            Self::All => opts.read_data(true),
            // rustic_core 0.13 fills a percentage subset while the remaining size is *greater*
            // than the next pack, so "100%" randomly leaves one pack unread: read them all.
            Self::Subset(text)
                if text
                    .trim()
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .is_some_and(|p| p >= 100.0) =>
            {
                opts.read_data(true)
            }
            Self::Subset(text) => {
                let subset = ReadSubsetOption::from_str(text).map_err(|_| {
                    Error::Usage(format!(
                        "--read-data-subset '{text}' is not a subset: write e.g. 10% (random packs of about that share of the data), 500MiB, or 1/7"
                    ))
                })?;
                opts.read_data(true).read_data_subset(subset)
            }
        })
    }

    /// How the report names it: `none`, `all` or the subset.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::All => "all".into(),
            Self::Subset(s) => s.clone(),
        }
    }
}

/// A snapshot that a damage hits.
#[derive(Debug, Clone, Serialize)]
pub struct HitSnapshot {
    /// Its id.
    pub id: String,
    /// When it was taken (RFC 3339).
    pub time: String,
    /// Its host.
    pub host: String,
    /// Its set, for lockstep snapshots.
    pub set: Option<String>,
    /// Its label.
    pub label: String,
    /// Whether it is a lockstep set snapshot (tag `lockstep`); other snapshots in the
    /// repository are listed too.
    pub lockstep: bool,
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// No error was found.
    pub ok: bool,
    /// How much pack data was read: `none`, `all`, or the subset.
    pub read_data: String,
    /// Snapshots in the repository (drill records not counted).
    pub snapshots: usize,
    /// Errors, one line each.
    pub errors: Vec<String>,
    /// Warnings (nothing lost, e.g. a pack a running backup has not indexed yet).
    pub warnings: Vec<String>,
    /// Damaged pack files (full ids).
    pub damaged_packs: Vec<String>,
    /// Snapshot files that cannot be read (their trees could not be checked).
    pub damaged_snapshots: Vec<DamagedSnapshot>,
    /// Whether an error is a pack or blob the index lists and the repository lacks (or holds
    /// differently): what `lockstep repair index` mends.
    pub index_damage: bool,
    /// The repository or state directory entries other users can read (see [`exposed`]).
    pub exposed: Vec<String>,
    /// Snapshots whose data is hit, oldest first.
    pub hit_snapshots: Vec<HitSnapshot>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Checks the repository.
///
/// # Errors
/// When `read` is an invalid subset or the repository cannot be read at all; damage found is a
/// report with `ok == false`.
pub fn check(repo: OpenRepo, read: &ReadData) -> Result<CheckReport> {
    let _step = crate::repo::progress::step("check");
    let start = Instant::now();
    let opts = read.options()?;
    let advice = "the repository is damaged in a way the check cannot describe; copy it before changing anything and run `restic check` on the copy";
    let loaded = crate::repo::load_snapshots(&repo)?;
    // what `all_snapshots` would warn about is this report's own finding
    let _ = crate::repo::take_damaged();
    let trees = loaded.intact.iter().map(|s| s.tree).collect();
    let findings = crate::repo::contain::engine("checking the repository", advice, || {
        let results = repo.check_with_trees(opts, trees)?;
        Ok(results
            .0
            .iter()
            .map(|(level, finding)| {
                (
                    format!("{level:?}") == "Error",
                    finding.to_string(),
                    format!("{finding:?}"),
                )
            })
            .collect::<Vec<_>>())
    })?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut damaged: BTreeSet<String> = BTreeSet::new();
    let mut index_damage = false;
    for (is_error, text, debug) in findings {
        let text = crate::repo::contain::concise(&text);
        if is_error {
            damaged.extend(field_ids(&debug));
            index_damage |= is_index_damage(&debug);
            errors.push(text);
        } else {
            warnings.push(text);
        }
    }
    for d in &loaded.damaged {
        errors.push(format!(
            "snapshot file snapshots/{} cannot be read: {}",
            d.id, d.problem
        ));
    }
    let snapshots: Vec<SnapshotFile> = loaded
        .intact
        .into_iter()
        .filter(|s| !s.tags.contains(DRILL_TAG))
        .collect();
    let count = snapshots.len();
    let hit_snapshots = if errors.is_empty() {
        Vec::new()
    } else {
        crate::repo::contain::engine("finding the snapshots hit", advice, || {
            let repo = repo.to_indexed()?;
            Ok(hits(&repo, snapshots, &damaged))
        })?
    };
    Ok(CheckReport {
        ok: errors.is_empty(),
        read_data: read.describe(),
        snapshots: count,
        errors,
        warnings,
        damaged_packs: damaged.into_iter().collect(),
        damaged_snapshots: loaded.damaged,
        index_damage,
        exposed: Vec::new(),
        hit_snapshots,
        seconds: start.elapsed().as_secs_f64(),
    })
}

impl CheckReport {
    /// What to do about the damage found, in the order to do it; empty when nothing was found.
    #[must_use]
    pub fn advice(&self) -> String {
        let mut steps = Vec::new();
        let pack_content = !self.damaged_packs.is_empty() && !self.index_damage;
        if pack_content {
            steps.push(
                "move the damaged pack files out of data/ (keep them), then run `lockstep repair index`".to_owned(),
            );
        } else if self.index_damage || self.damaged_snapshots.len() < self.errors.len() {
            steps.push("run `lockstep repair index`".to_owned());
        }
        if !steps.is_empty() {
            steps.push(
                "back up (the backup stores again what the host still has, which mends the older snapshots too)".to_owned(),
            );
            if !self.hit_snapshots.is_empty() {
                steps.push("run `lockstep repair snapshots` for what is lost for good".to_owned());
            }
        }
        if !self.damaged_snapshots.is_empty() {
            steps.push(format!(
                "`lockstep repair snapshots` removes the unreadable snapshot file{} {}",
                if self.damaged_snapshots.len() == 1 {
                    ""
                } else {
                    "s"
                },
                self.damaged_snapshots
                    .iter()
                    .map(|d| d.id.get(..8).unwrap_or(&d.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if steps.is_empty() {
            return String::new();
        }
        format!(
            "keep a copy of the repository, then {}",
            steps.join(", then ")
        )
    }
}

/// Whether a finding is one that `repair index` mends: a pack the index lists that is missing
/// or of another size, a pack the index does not list, a blob or tree the index lacks, a tree
/// that cannot be read.
fn is_index_damage(debug: &str) -> bool {
    [
        "NoPack",
        "PackMissing",
        "PackSize",
        "NotInIndex",
        "MissingInIndex",
        "PackNotReferenced",
        "ErrorCheckingTrees",
        "ListingPacks",
        "Missing",
    ]
    .iter()
    .any(|kind| debug.contains(kind))
}

/// Which entries of the repository (when it is local) and of the state directory other users
/// can read or enter, one warning each.
#[must_use]
pub fn exposed(repository: Option<&std::path::Path>, state: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for (what, dir) in [("repository", repository), ("state directory", Some(state))] {
        let Some(dir) = dir else { continue };
        if let Some((n, first)) = crate::repo::private::open_to_others(dir) {
            out.push(format!(
                "the {what} {} is readable by other users ({n} entr{}, e.g. {}): run `chmod -R go-rwx {}`",
                dir.display(),
                if n == 1 { "y" } else { "ies" },
                first.display(),
                dir.display()
            ));
        }
    }
    out
}

/// The full ids in a finding's `id` field (`id: PackId(<hex>)` or `id: <hex>`); other fields
/// (`blob_id`, `comp_id`) are not pack files.
fn field_ids(debug: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = debug;
    while let Some(at) = rest.find("id: ") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + 4..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let after = after
            .strip_prefix("PackId(")
            .or_else(|| after.strip_prefix("Id("))
            .unwrap_or(after);
        let hex: String = after.chars().take_while(char::is_ascii_hexdigit).collect();
        if hex.len() == 64 {
            out.push(hex);
        }
    }
    out
}

/// The snapshots whose trees or file chunks are missing, unreadable or in a damaged pack.
pub(crate) fn hits<S: IndexedFull>(
    repo: &Repository<S>,
    snapshots: Vec<SnapshotFile>,
    damaged: &BTreeSet<String>,
) -> Vec<HitSnapshot> {
    let mut memo: HashMap<TreeId, bool> = HashMap::new();
    let mut out: Vec<HitSnapshot> = snapshots
        .into_iter()
        .filter(|s| tree_hit(repo, s.tree, damaged, &mut memo))
        .map(|s| HitSnapshot {
            id: s.id.to_hex().as_str().to_owned(),
            time: rfc3339(&s.time),
            host: s.hostname.clone(),
            set: s
                .tags
                .iter()
                .find_map(|t| t.strip_prefix("set=").map(str::to_owned)),
            label: s.label.clone(),
            lockstep: s.tags.contains(TAG),
        })
        .collect();
    out.sort_by(|a, b| a.time.cmp(&b.time));
    out
}

fn tree_hit<S: IndexedFull>(
    repo: &Repository<S>,
    id: TreeId,
    damaged: &BTreeSet<String>,
    memo: &mut HashMap<TreeId, bool>,
) -> bool {
    if let Some(hit) = memo.get(&id) {
        return *hit;
    }
    let in_damaged = |pack: rustic_core::repofile::PackId| damaged.contains(pack.to_hex().as_str());
    let hit = match repo.get_index_entry(&id) {
        Err(_) => true,
        Ok(entry) if in_damaged(entry.pack) => true,
        Ok(_) => match repo.get_tree(&id) {
            Err(_) => true,
            Ok(tree) => tree.nodes.iter().any(|node| match &node.node_type {
                NodeType::File => node.content.iter().flatten().any(|blob| {
                    repo.get_index_entry(blob)
                        .map_or(true, |entry| in_damaged(entry.pack))
                }),
                NodeType::Dir => node
                    .subtree
                    .is_none_or(|sub| tree_hit(repo, sub, damaged, memo)),
                _ => false,
            }),
        },
    };
    memo.insert(id, hit);
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_ids_come_from_the_id_field_only() {
        let pack = "a".repeat(64);
        let blob = "b".repeat(64);
        let debug = format!(
            "PackBlobHashMismatch {{ id: PackId({pack}), blob_id: BlobId({blob}), comp_id: BlobId({blob}) }}"
        );
        assert_eq!(field_ids(&debug), vec![pack.clone()]);
        let plain = format!("PackSizeMismatchIndex {{ id: {pack}, to_delete: false }}");
        assert_eq!(field_ids(&plain), vec![pack]);
        assert!(field_ids("ErrorCheckingTrees { source: x }").is_empty());
    }

    #[test]
    fn subsets_parse_or_say_how() {
        assert!(ReadData::Subset("10%".into()).options().is_ok());
        assert!(ReadData::Subset("1/7".into()).options().is_ok());
        let err = ReadData::Subset("ten".into())
            .options()
            .unwrap_err()
            .to_string();
        assert!(err.contains("10%"), "{err}");
    }
}
