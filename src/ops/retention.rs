//! Retention: which snapshots of each set and host `forget` keeps.
//!
//! lockstep applies rustic_core's own keep rules ([`KeepOptions`]: `--keep-last`, `-hourly`,
//! `-daily`, `-weekly`, `-monthly`, `-yearly`, `--keep-within`, with restic's meaning) to each
//! group of lockstep snapshots with the same **set and host**, and then keeps, whatever those
//! rules say:
//!
//! - every snapshot whose label is one of the `keep_labels` (`--keep-label`), and
//! - the newest snapshot of each set and host whose label starts with `pre-maintenance` (what
//!   `lockstep guard` writes before a fix pack): the way back from the latest maintenance stays
//!   available however short the policy is.
//!
//! Only lockstep set snapshots (tag `lockstep`) are ever considered; other snapshots in the
//! repository and lockstep's drill records (tag `lockstep-drill`) are not set snapshots. When a
//! snapshot is forgotten, the drill records about it go with it. Forgetting removes snapshot
//! files only; [`crate::ops::prune`] reclaims the data no snapshot uses any more.

use std::collections::BTreeMap;

use rustic_core::KeepOptions;
use rustic_core::jiff::{Span, Zoned};
use rustic_core::repofile::{SnapshotFile, SnapshotId};
use serde::Serialize;

use crate::ops::drill::record::{self, DrillRecord};
use crate::repo::{OpenRepo, set_snapshots};
use crate::{Error, Result};

/// Labels starting with this are maintenance safety snapshots (written by `lockstep guard`).
pub const PRE_MAINTENANCE: &str = "pre-maintenance";

/// A retention policy, from flags and the configuration's `[forget]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// Keep the N newest snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// … of each of the N newest days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// … of each of the N newest ISO weeks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// … of each of the N newest months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// … of each of the N newest years.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot taken within this duration before the group's newest one
    /// (`30d`, `2w`, `6mo`, `1y6mo`, `12h`; `m` is minutes, `mo` months).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<String>,
    /// Never forget snapshots with one of these labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keep_labels: Vec<String>,
}

impl RetentionPolicy {
    /// Whether the policy has at least one time or count rule (labels alone would forget
    /// everything else, which lockstep refuses to guess). A rule of zero (`--keep-last 0`,
    /// `--keep-within 0d`) keeps nothing and is no rule, as in restic: a policy of zeros alone
    /// would forget every snapshot of the set.
    #[must_use]
    pub fn has_rule(&self) -> bool {
        self.counts().iter().any(Option::is_some)
            // a duration that does not parse counts as a rule, so that `within` reports it
            || self.within().map_or(true, |span| span.is_some())
    }

    /// The count rules, a zero read as no rule.
    fn counts(&self) -> [Option<i32>; 6] {
        [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ]
        .map(|v| {
            v.filter(|&n| n > 0)
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
        })
    }

    /// `--keep-within`'s duration; `None` also for a zero duration, which keeps nothing.
    ///
    /// # Errors
    /// When it does not parse.
    pub fn within(&self) -> Result<Option<Span>> {
        let Some(text) = self.keep_within.as_deref() else {
            return Ok(None);
        };
        let span = match restic_duration(text) {
            Some(span) => span,
            None => text.parse::<Span>().map_err(|e| {
                Error::Usage(format!(
                    "keep-within '{text}' is not a duration ({e}); write e.g. 30d, 2w, 6m (months, as in restic), 1y6m, 12h or 90min"
                ))
            })?,
        };
        Ok((!span.is_zero()).then_some(span))
    }

    fn keep_options(&self) -> Result<KeepOptions> {
        if !self.has_rule() {
            return Err(no_policy());
        }
        let [last, hourly, daily, weekly, monthly, yearly] = self.counts();
        Ok(KeepOptions::default()
            .keep_last(last)
            .keep_hourly(hourly)
            .keep_daily(daily)
            .keep_weekly(weekly)
            .keep_monthly(monthly)
            .keep_yearly(yearly)
            .keep_within(self.within()?))
    }
}

/// The refusal of a policy without a rule that keeps anything.
#[must_use]
pub fn no_policy() -> Error {
    Error::Usage(
        "no retention policy keeps anything: give at least one of --keep-last/-hourly/-daily/-weekly/-monthly/-yearly/--keep-within above zero, or a [forget] table in the configuration"
            .into(),
    )
}

/// What the policy decided for one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The snapshot's id.
    pub id: String,
    /// When it was taken (RFC 3339).
    pub time: String,
    /// Its label.
    pub label: String,
    /// Whether it is kept.
    pub keep: bool,
    /// Why it is kept: `last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`, `within`,
    /// `label <L>`, `latest pre-maintenance`, `never delete`; empty when it goes.
    pub reasons: Vec<String>,
    #[serde(skip)]
    snapshot_id: SnapshotId,
}

/// The decisions for one set and host, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPlan {
    /// The set (from the snapshot's `set=` tag).
    pub set: Option<String>,
    /// The host.
    pub host: String,
    /// Every snapshot of the group, newest first.
    pub snapshots: Vec<Decision>,
}

/// What `forget` would do.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetPlan {
    /// The policy applied.
    pub policy: RetentionPolicy,
    /// One entry per set and host.
    pub groups: Vec<GroupPlan>,
}

impl ForgetPlan {
    /// The snapshots the plan removes.
    pub fn removed(&self) -> impl Iterator<Item = &Decision> {
        self.groups
            .iter()
            .flat_map(|g| &g.snapshots)
            .filter(|d| !d.keep)
    }

    /// How many snapshots the plan keeps.
    #[must_use]
    pub fn kept(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.snapshots)
            .filter(|d| d.keep)
            .count()
    }
}

/// A duration in restic's `--keep-within` form: numbers each followed by `y` (years), `m`
/// (**months**), `d` (days) or `h` (hours), e.g. `1y6m`, `6m`, `30d`, `12h` — so a restic
/// user's `6m` keeps six months here too. `None` for anything else, which is then read as a
/// friendly duration (`2w`, `6mo`, `90min`, `1 year`): minutes are written `min`.
fn restic_duration(text: &str) -> Option<Span> {
    let mut span = Span::new();
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        span = match unit {
            'y' if span.get_years() == 0 => span.try_years(n).ok()?,
            'm' if span.get_months() == 0 => span.try_months(n).ok()?,
            'd' if span.get_days() == 0 => span.try_days(n).ok()?,
            'h' if span.get_hours() == 0 => span.try_hours(n).ok()?,
            _ => return None,
        };
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(span)
}

/// Applies `policy` to the snapshots of ONE set and host; returns the decisions, newest first.
///
/// # Errors
/// When the policy has no rule or `keep_within` does not parse.
pub fn decide(
    snapshots: Vec<SnapshotFile>,
    policy: &RetentionPolicy,
    now: &Zoned,
) -> Result<Vec<Decision>> {
    let keep = policy.keep_options()?;
    let pre_maintenance = snapshots
        .iter()
        .filter(|s| s.label.starts_with(PRE_MAINTENANCE))
        .max_by(|a, b| a.time.cmp(&b.time))
        .map(|s| s.id);
    let applied = keep.apply(snapshots, now)?;
    Ok(applied
        .into_iter()
        .map(|f| {
            let mut reasons: Vec<String> = f
                .reasons
                .iter()
                .filter(|_| f.keep)
                .map(|r| {
                    if r == "snapshot" {
                        "never delete".to_owned()
                    } else {
                        r.clone()
                    }
                })
                .collect();
            if policy.keep_labels.contains(&f.snapshot.label) {
                reasons.push(format!("label {}", f.snapshot.label));
            }
            if pre_maintenance == Some(f.snapshot.id) {
                reasons.push("latest pre-maintenance".to_owned());
            }
            Decision {
                id: f.snapshot.id.to_hex().as_str().to_owned(),
                time: crate::util::report::rfc3339(&f.snapshot.time),
                label: f.snapshot.label.clone(),
                keep: !reasons.is_empty(),
                reasons,
                snapshot_id: f.snapshot.id,
            }
        })
        .collect())
}

/// Plans `forget` over every lockstep snapshot (or those of `set`, of `host`), grouped by set
/// and host.
///
/// # Errors
/// On a policy without rules, or when the repository cannot be read.
pub fn plan(
    repo: &OpenRepo,
    policy: &RetentionPolicy,
    set: Option<&str>,
    host: Option<&str>,
) -> Result<ForgetPlan> {
    let mut groups: BTreeMap<(Option<String>, String), Vec<SnapshotFile>> = BTreeMap::new();
    for s in set_snapshots(repo, set, host)? {
        groups
            .entry((s.set_name(), s.snapshot.hostname.clone()))
            .or_default()
            .push(s.snapshot);
    }
    // A policy without rules, or with a bad duration, fails before anything is read.
    policy.keep_options()?;
    let now = Zoned::now();
    let groups = groups
        .into_iter()
        .map(|((set, host), snaps)| {
            Ok(GroupPlan {
                set,
                host,
                snapshots: decide(snaps, policy, &now)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ForgetPlan {
        policy: policy.clone(),
        groups,
    })
}

/// What `forget` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgetReport {
    /// Ids of the snapshots removed.
    pub removed: Vec<String>,
    /// Drill records removed with them (or left behind by snapshots removed earlier).
    pub drill_records_removed: usize,
}

/// The snapshots `forget ID…` names, found before anything is removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgetByIds {
    /// Full ids of the lockstep snapshots to remove.
    pub snapshots: Vec<String>,
    /// Full ids of snapshot files that cannot be read (damaged) to remove.
    pub damaged: Vec<String>,
}

impl ForgetByIds {
    /// Every id found: the snapshots, then the damaged files.
    #[must_use]
    pub fn all(&self) -> Vec<String> {
        self.snapshots
            .iter()
            .chain(&self.damaged)
            .cloned()
            .collect()
    }
}

/// Resolves the ids (unique prefixes) given to `forget ID…` among the repository's lockstep
/// snapshots and its damaged snapshot files, which no other rule can reach.
///
/// # Errors
/// A usage error for an empty, unknown or ambiguous id, or one naming a snapshot lockstep did
/// not write (restic's own forget is for those); nothing is removed then.
pub fn resolve_ids(repo: &OpenRepo, ids: &[String]) -> Result<ForgetByIds> {
    let loaded = crate::repo::load_snapshots(repo)?;
    let mut out = ForgetByIds::default();
    for given in ids {
        let id = given.trim().to_ascii_lowercase();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Usage(format!(
                "'{given}' is not a snapshot id; give the ids `lockstep snapshots` shows (or the damaged file's name under snapshots/)"
            )));
        }
        let intact: Vec<&SnapshotFile> = loaded
            .intact
            .iter()
            .filter(|s| s.id.to_hex().starts_with(&id))
            .collect();
        let damaged: Vec<&str> = loaded
            .damaged
            .iter()
            .filter(|d| d.id.starts_with(&id))
            .map(|d| d.id.as_str())
            .collect();
        match (intact.as_slice(), damaged.as_slice()) {
            ([snap], []) => {
                if !snap.tags.contains("lockstep") {
                    return Err(Error::Usage(format!(
                        "snapshot {given} was not written by lockstep (no `lockstep` tag); remove it with restic's own forget"
                    )));
                }
                out.snapshots.push(snap.id.to_hex().as_str().to_owned());
            }
            ([], [file]) => out.damaged.push((*file).to_owned()),
            ([], []) => {
                return Err(Error::Usage(format!(
                    "no snapshot {given} in the repository; `lockstep snapshots` lists them"
                )));
            }
            _ => {
                return Err(Error::Usage(format!(
                    "snapshot id {given} is ambiguous; give more of its digits"
                )));
            }
        }
    }
    out.snapshots.sort();
    out.snapshots.dedup();
    out.damaged.sort();
    out.damaged.dedup();
    Ok(out)
}

/// Removes the snapshots and damaged snapshot files [`resolve_ids`] found, and the drill
/// records of snapshots that no longer exist.
///
/// # Errors
/// When the repository cannot remove them.
pub fn forget_ids(repo: &OpenRepo, found: &ForgetByIds) -> Result<ForgetReport> {
    let ids = found
        .all()
        .iter()
        .map(|id| {
            id.parse::<SnapshotId>()
                .map_err(|e| Error::Other(format!("snapshot id {id}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    if !ids.is_empty() {
        repo.delete_snapshots(&ids)?;
    }
    Ok(ForgetReport {
        removed: found.all(),
        drill_records_removed: remove_orphan_records(repo)?,
    })
}

/// Carries out `plan`: removes the snapshots it does not keep, and the drill records of
/// snapshots that no longer exist.
///
/// # Errors
/// When the repository refuses (append-only) or fails.
pub fn forget(repo: &OpenRepo, plan: &ForgetPlan) -> Result<ForgetReport> {
    let ids: Vec<SnapshotId> = plan.removed().map(|d| d.snapshot_id).collect();
    if !ids.is_empty() {
        repo.delete_snapshots(&ids)?;
    }
    Ok(ForgetReport {
        removed: plan.removed().map(|d| d.id.clone()).collect(),
        drill_records_removed: remove_orphan_records(repo)?,
    })
}

/// Removes the drill records of snapshots that no longer exist; returns how many.
fn remove_orphan_records(repo: &OpenRepo) -> Result<usize> {
    let remaining: std::collections::BTreeSet<String> = set_snapshots(repo, None, None)?
        .into_iter()
        .map(|s| s.id())
        .collect();
    let mut orphan_ids: Vec<SnapshotId> = record::all(repo)?
        .iter()
        .filter(|r| !remaining.contains(&r.result.snapshot))
        .map(DrillRecord::record_id)
        .collect();
    orphan_ids.sort();
    orphan_ids.dedup();
    if !orphan_ids.is_empty() {
        repo.delete_snapshots(&orphan_ids)?;
    }
    Ok(orphan_ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustic_core::SnapshotOptions;

    fn snap(time: &str, label: &str) -> SnapshotFile {
        let time: Zoned = format!("{time}[UTC]").parse().unwrap();
        let mut s = SnapshotOptions::default()
            .host("h".to_owned())
            .label(label.to_owned())
            .time(time)
            .to_snapshot()
            .unwrap();
        // Distinct ids, as the repository gives them.
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&s.time.timestamp().as_second().to_be_bytes());
        s.id = SnapshotId::from(rustic_core::Id::new(bytes));
        s
    }

    fn kept(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.time[..16].to_owned())
            .collect()
    }

    fn series() -> Vec<SnapshotFile> {
        vec![
            snap("2026-01-10T08:00:00", ""),
            snap("2026-01-10T20:00:00", ""),
            snap("2026-01-11T08:00:00", "pre-maintenance CF230"),
            snap("2026-01-11T09:00:00", ""),
            snap("2026-01-12T08:00:00", "release"),
        ]
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        let policy = RetentionPolicy {
            keep_daily: Some(2),
            ..RetentionPolicy::default()
        };
        let d = decide(series(), &policy, &Zoned::now()).unwrap();
        assert_eq!(
            kept(&d),
            ["2026-01-12T08:00", "2026-01-11T09:00", "2026-01-11T08:00"],
            "two days, plus the latest pre-maintenance snapshot"
        );
        assert!(d[2].reasons.contains(&"latest pre-maintenance".to_owned()));
    }

    #[test]
    fn labels_and_pre_maintenance_survive_keep_last_1() {
        let policy = RetentionPolicy {
            keep_last: Some(1),
            keep_labels: vec!["nightly-special".into()],
            ..RetentionPolicy::default()
        };
        let mut s = series();
        s[0].label = "nightly-special".into();
        let d = decide(s, &policy, &Zoned::now()).unwrap();
        assert_eq!(
            kept(&d),
            ["2026-01-12T08:00", "2026-01-11T08:00", "2026-01-10T08:00"]
        );
    }

    #[test]
    fn only_the_newest_pre_maintenance_is_protected() {
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..RetentionPolicy::default()
        };
        let mut s = series();
        s[0].label = "pre-maintenance CF229".into();
        let d = decide(s, &policy, &Zoned::now()).unwrap();
        assert_eq!(kept(&d), ["2026-01-12T08:00", "2026-01-11T08:00"]);
    }

    #[test]
    fn within_counts_back_from_the_newest_snapshot() {
        let policy = RetentionPolicy {
            keep_within: Some("1d".into()),
            ..RetentionPolicy::default()
        };
        let mut s = series();
        s[2].label = String::new();
        let d = decide(s, &policy, &Zoned::now()).unwrap();
        assert_eq!(kept(&d), ["2026-01-12T08:00", "2026-01-11T09:00"]);
    }

    /// `--keep-within` reads durations as restic does: `6m` is six months (not minutes, which
    /// are written `min`), counted back from the newest snapshot.
    #[test]
    fn keep_within_6m_keeps_six_months_as_in_restic() {
        let within = |text: &str| {
            let policy = RetentionPolicy {
                keep_within: Some(text.into()),
                ..RetentionPolicy::default()
            };
            let snaps = vec![
                snap("2025-12-01T08:00:00", ""),
                snap("2026-01-15T08:00:00", ""),
                snap("2026-06-30T07:00:00", ""),
                snap("2026-06-30T08:00:00", ""),
            ];
            kept(&decide(snaps, &policy, &Zoned::now()).unwrap())
        };
        let six_months = ["2026-06-30T08:00", "2026-06-30T07:00", "2026-01-15T08:00"];
        assert_eq!(within("6m"), six_months);
        assert_eq!(within("6mo"), six_months);
        assert_eq!(within("90min"), ["2026-06-30T08:00", "2026-06-30T07:00"]);
        assert_eq!(within("1y"), within("1y0m0d"));
        assert_eq!(within("1y").len(), 4);
    }

    #[test]
    fn a_policy_needs_a_rule_and_a_valid_duration() {
        let labels_only = RetentionPolicy {
            keep_labels: vec!["x".into()],
            ..RetentionPolicy::default()
        };
        assert!(decide(series(), &labels_only, &Zoned::now()).is_err());
        let bad = RetentionPolicy {
            keep_within: Some("fortnight".into()),
            ..RetentionPolicy::default()
        };
        let err = decide(series(), &bad, &Zoned::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("fortnight") && err.contains("30d"), "{err}");
        for ok in ["30d", "2w", "6mo", "1y6mo", "12h", "6m", "1y6m", "90min"] {
            let p = RetentionPolicy {
                keep_within: Some(ok.into()),
                ..RetentionPolicy::default()
            };
            assert!(p.within().unwrap().is_some(), "{ok}");
        }
    }
}
