//! Inventory drift: what changed in IM's records between two moments of a set.
//!
//! [`InventoryDiff::between`] compares two [`Inventory`] values — snapshot against snapshot, or a
//! snapshot against the live host — package group by package group: offerings added, removed,
//! upgraded or downgraded, fixes added or removed, and IM's own version and shared-resources
//! location. It is the fact the sync guard rests on: a package group whose inventory differs
//! between a snapshot and the host must not have its product files restored apart from IM's
//! records (or the reverse).
//!
//! Groups are matched by id, then by path. A group that keeps its id but moves to another path is
//! reported as removed at the old path and added at the new one: it is a different directory.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::Serialize;

use crate::im::installed::is_agent_offering;
use crate::im::inventory::{Fix, Inventory, Offering, PackageGroup, level_rank, short_name};

/// How one offering differs between two inventories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum OfferingChange {
    /// Installed in `to`, not in `from`.
    Added {
        /// The offering as `to` records it.
        offering: Offering,
    },
    /// Installed in `from`, not in `to`.
    Removed {
        /// The offering as `from` records it.
        offering: Offering,
    },
    /// A newer version in `to` (a fix pack or cumulative fix was applied).
    Upgraded {
        /// IM's offering id.
        id: String,
        /// IM's internal version in `from`.
        from: String,
        /// IM's internal version in `to`.
        to: String,
        /// The display version in `from`, when recorded.
        from_display: Option<String>,
        /// The display version in `to`, when recorded.
        to_display: Option<String>,
    },
    /// An older version in `to` (a fix pack was rolled back).
    Downgraded {
        /// IM's offering id.
        id: String,
        /// IM's internal version in `from`.
        from: String,
        /// IM's internal version in `to`.
        to: String,
        /// The display version in `from`, when recorded.
        from_display: Option<String>,
        /// The display version in `to`, when recorded.
        to_display: Option<String>,
    },
}

/// How one fix differs between two inventories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum FixChange {
    /// Installed in `to`, not in `from`.
    Added {
        /// The fix as `to` records it.
        fix: Fix,
    },
    /// Installed in `from`, not in `to`.
    Removed {
        /// The fix as `from` records it.
        fix: Fix,
    },
}

/// Whether a package group appeared, disappeared or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupStatus {
    /// Only in `to`.
    Added,
    /// Only in `from`.
    Removed,
    /// In both, with different offerings or fixes.
    Changed,
}

/// The differences in one package group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDiff {
    /// The group's id (as `to` records it, or `from` for a removed group).
    pub id: String,
    /// The group's install directory (logical path), likewise.
    pub path: String,
    /// Added, removed or changed.
    pub status: GroupStatus,
    /// Offering changes, sorted by offering id.
    pub offerings: Vec<OfferingChange>,
    /// Fix changes, sorted by fix id.
    pub fixes: Vec<FixChange>,
}

/// Everything that differs between two inventories; empty when IM's records agree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InventoryDiff {
    /// Package groups that differ, in the order of `from`, then groups only `to` has.
    pub groups: Vec<GroupDiff>,
    /// IM's own version `(from, to)`, when it differs.
    pub im_version: Option<(Option<String>, Option<String>)>,
    /// The shared-resources location `(from, to)`, when it differs.
    pub shared_location: Option<(Option<String>, Option<String>)>,
}

impl InventoryDiff {
    /// What changed from `from` to `to`.
    #[must_use]
    pub fn between(from: &Inventory, to: &Inventory) -> Self {
        let mut groups = Vec::new();
        let mut used = vec![false; to.package_groups.len()];
        // Snapshots taken before lockstep told IM's own profile apart hold it as a package
        // group; IM is compared by its version, so that group is no change of the products.
        for old in from.package_groups.iter().filter(|g| !is_im_group(g)) {
            let by_id = to
                .package_groups
                .iter()
                .enumerate()
                .find(|(i, g)| !used[*i] && g.id == old.id);
            let matched = by_id.or_else(|| {
                to.package_groups
                    .iter()
                    .enumerate()
                    .find(|(i, g)| !used[*i] && g.path == old.path)
            });
            match matched {
                Some((i, new)) if new.path == old.path => {
                    used[i] = true;
                    let offerings = offering_changes(&old.offerings, &new.offerings);
                    let fixes = fix_changes(&old.fixes, &new.fixes);
                    if !offerings.is_empty() || !fixes.is_empty() {
                        groups.push(GroupDiff {
                            id: new.id.clone(),
                            path: new.path.clone(),
                            status: GroupStatus::Changed,
                            offerings,
                            fixes,
                        });
                    }
                }
                // Same id, another directory: the old one is gone, the new one is new (it is
                // reported with the groups only `to` has).
                _ => groups.push(whole_group(old, GroupStatus::Removed)),
            }
        }
        for (i, new) in to.package_groups.iter().enumerate() {
            if !used[i] && !is_im_group(new) {
                groups.push(whole_group(new, GroupStatus::Added));
            }
        }
        let pair =
            |a: &Option<String>, b: &Option<String>| (a != b).then(|| (a.clone(), b.clone()));
        Self {
            groups,
            im_version: pair(&from.im_version, &to.im_version),
            shared_location: pair(&from.shared_location, &to.shared_location),
        }
    }

    /// Whether the two inventories agree.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.im_version.is_none() && self.shared_location.is_none()
    }

    /// Package-group paths (as in the inventories) whose content differs.
    #[must_use]
    pub fn changed_group_paths(&self) -> Vec<String> {
        let paths: BTreeSet<&str> = self.groups.iter().map(|g| g.path.as_str()).collect();
        paths.into_iter().map(str::to_owned).collect()
    }

    /// Human lines, e.g. "HCL Digital Experience (/opt/HCL/WebSphere/PortalServer):
    /// com.ibm.websphere.PORTAL.SERVER.v95 upgraded 9.5 CF219 → 9.5 CF220".
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in &self.groups {
            let head = format!("{} ({})", g.id, g.path);
            match g.status {
                GroupStatus::Added | GroupStatus::Removed => {
                    let word = if g.status == GroupStatus::Added {
                        "added"
                    } else {
                        "removed"
                    };
                    let mut content: Vec<String> = g
                        .offerings
                        .iter()
                        .filter_map(|c| match c {
                            OfferingChange::Added { offering }
                            | OfferingChange::Removed { offering } => {
                                Some(format!("{} {}", offering.id, shown(offering)))
                            }
                            _ => None,
                        })
                        .collect();
                    content.extend(g.fixes.iter().map(|c| {
                        let (FixChange::Added { fix } | FixChange::Removed { fix }) = c;
                        format!("fix {}", fix.id)
                    }));
                    if content.is_empty() {
                        out.push(format!("{head}: package group {word}"));
                    } else {
                        out.push(format!(
                            "{head}: package group {word} ({})",
                            content.join(", ")
                        ));
                    }
                }
                GroupStatus::Changed => {
                    for c in &g.offerings {
                        out.push(format!("{head}: {}", offering_line(c)));
                    }
                    for c in &g.fixes {
                        let line = match c {
                            FixChange::Added { fix } => {
                                format!("fix {} {} added", fix.id, fix.version)
                            }
                            FixChange::Removed { fix } => {
                                format!("fix {} {} removed", fix.id, fix.version)
                            }
                        };
                        out.push(format!("{head}: {line}"));
                    }
                }
            }
        }
        if let Some((a, b)) = &self.im_version {
            out.push(format!(
                "Installation Manager version {} → {}",
                or_unknown(a.as_deref()),
                or_unknown(b.as_deref())
            ));
        }
        if let Some((a, b)) = &self.shared_location {
            out.push(format!(
                "shared resources location {} → {}",
                or_unknown(a.as_deref()),
                or_unknown(b.as_deref())
            ));
        }
        out
    }

    /// One short phrase for verdict lines, e.g. "2 offerings upgraded (WAS ND 9.0.5.17 →
    /// 9.0.5.18, …)".
    #[must_use]
    pub fn headline(&self) -> String {
        if self.is_empty() {
            return "no inventory change".to_owned();
        }
        let mut parts = Tally::of(&self.groups).parts();
        if let Some((a, b)) = &self.im_version {
            parts.push(format!(
                "IM {} → {}",
                or_unknown(a.as_deref()),
                or_unknown(b.as_deref())
            ));
        }
        if self.shared_location.is_some() {
            parts.push("shared resources location changed".to_owned());
        }
        parts.join("; ")
    }
}

/// The changes of a difference's package groups sorted into the kinds a headline names, each
/// list in the groups' order.
#[derive(Default)]
struct Tally {
    /// One "product from → to" per product and group (see [`moved_products`]).
    upgraded: Vec<String>,
    /// Offerings upgraded: the count the headline gives, which `upgraded` may not reach.
    upgraded_count: usize,
    /// Like `upgraded`, for downgrades.
    downgraded: Vec<String>,
    /// Like `upgraded_count`, for downgrades.
    downgraded_count: usize,
    /// Offerings added to a group both sides have, as "product version".
    added: Vec<String>,
    /// Offerings removed from a group both sides have, likewise.
    removed: Vec<String>,
    /// Fix ids added.
    fixes_added: Vec<String>,
    /// Fix ids removed.
    fixes_removed: Vec<String>,
    /// Ids of package groups only `to` has.
    groups_added: Vec<String>,
    /// Ids of package groups only `from` has.
    groups_removed: Vec<String>,
}

impl Tally {
    /// Sorts every change of `groups`; a group added or removed whole counts as one group, not
    /// as its offerings and fixes.
    fn of(groups: &[GroupDiff]) -> Self {
        let mut tally = Self::default();
        for g in groups {
            match g.status {
                GroupStatus::Added => tally.groups_added.push(g.id.clone()),
                GroupStatus::Removed => tally.groups_removed.push(g.id.clone()),
                GroupStatus::Changed => tally.changed_group(g),
            }
        }
        tally
    }

    /// Sorts the offering and fix changes of a group both sides have.
    fn changed_group(&mut self, g: &GroupDiff) {
        for c in &g.offerings {
            match c {
                OfferingChange::Added { offering } => self.added.push(offering_phrase(offering)),
                OfferingChange::Removed { offering } => {
                    self.removed.push(offering_phrase(offering));
                }
                OfferingChange::Upgraded { .. } => self.upgraded_count += 1,
                OfferingChange::Downgraded { .. } => self.downgraded_count += 1,
            }
        }
        for (up, line) in moved_products(&g.offerings) {
            if up {
                self.upgraded.push(line);
            } else {
                self.downgraded.push(line);
            }
        }
        for c in &g.fixes {
            match c {
                FixChange::Added { fix } => self.fixes_added.push(fix.id.clone()),
                FixChange::Removed { fix } => self.fixes_removed.push(fix.id.clone()),
            }
        }
    }

    /// One phrase per kind that has changes, e.g. "2 offerings upgraded (…)", in a fixed order:
    /// upgrades and downgrades first, as they are what a fix pack does.
    fn parts(&self) -> Vec<String> {
        let mut parts = Vec::new();
        for (items, count, one, many, verb) in [
            (
                &self.upgraded,
                self.upgraded_count,
                "offering",
                "offerings",
                "upgraded",
            ),
            (
                &self.downgraded,
                self.downgraded_count,
                "offering",
                "offerings",
                "downgraded",
            ),
            (
                &self.added,
                self.added.len(),
                "offering",
                "offerings",
                "added",
            ),
            (
                &self.removed,
                self.removed.len(),
                "offering",
                "offerings",
                "removed",
            ),
            (
                &self.groups_added,
                self.groups_added.len(),
                "package group",
                "package groups",
                "added",
            ),
            (
                &self.groups_removed,
                self.groups_removed.len(),
                "package group",
                "package groups",
                "removed",
            ),
            (
                &self.fixes_added,
                self.fixes_added.len(),
                "fix",
                "fixes",
                "added",
            ),
            (
                &self.fixes_removed,
                self.fixes_removed.len(),
                "fix",
                "fixes",
                "removed",
            ),
        ] {
            if items.is_empty() {
                continue;
            }
            let noun = if count == 1 { one } else { many };
            parts.push(format!("{count} {noun} {verb} ({})", list(items)));
        }
        parts
    }
}

/// An offering added or removed, as "product version" for a headline.
fn offering_phrase(offering: &Offering) -> String {
    format!(
        "{} {}",
        short_name(&offering.id, offering.name.as_deref()),
        shown(offering)
    )
}

/// The upgrades and downgrades among one group's offering changes as `(upgraded, "product from
/// → to")`, in first-seen order.
///
/// Each product is named once per direction, by the offering that carries its level (a DX group
/// moves several PORTAL offerings at once), so the headline lists products, not offerings.
fn moved_products(offerings: &[OfferingChange]) -> Vec<(bool, String)> {
    let mut moved: Vec<(bool, String, &str, String)> = Vec::new();
    for c in offerings {
        let (up, id, from, to, from_display, to_display) = match c {
            OfferingChange::Upgraded {
                id,
                from,
                to,
                from_display,
                to_display,
            } => (true, id, from, to, from_display, to_display),
            OfferingChange::Downgraded {
                id,
                from,
                to,
                from_display,
                to_display,
            } => (false, id, from, to, from_display, to_display),
            OfferingChange::Added { .. } | OfferingChange::Removed { .. } => continue,
        };
        let name = short_name(id, None);
        let line = format!(
            "{name} {} → {}",
            from_display.as_deref().unwrap_or(from),
            to_display.as_deref().unwrap_or(to)
        );
        match moved.iter_mut().find(|(u, n, _, _)| *u == up && *n == name) {
            Some(entry) if level_rank(id) > level_rank(entry.2) => {
                *entry = (up, name, id, line);
            }
            Some(_) => {}
            None => moved.push((up, name, id, line)),
        }
    }
    moved
        .into_iter()
        .map(|(up, _, _, line)| (up, line))
        .collect()
}

/// Whether `g` is IM's own package group (it holds IM's offering), as inventories recorded
/// before issue 22 may list it.
fn is_im_group(g: &PackageGroup) -> bool {
    g.offerings.iter().any(|o| is_agent_offering(&o.id))
}

/// At most three items, then "…".
fn list(items: &[String]) -> String {
    let mut shown: Vec<&str> = items.iter().take(3).map(String::as_str).collect();
    if items.len() > 3 {
        shown.push("…");
    }
    shown.join(", ")
}

fn or_unknown(v: Option<&str>) -> &str {
    v.unwrap_or("(unknown)")
}

/// The version people know an offering by.
fn shown(o: &Offering) -> &str {
    o.display_version.as_deref().unwrap_or(&o.version)
}

fn offering_line(c: &OfferingChange) -> String {
    match c {
        OfferingChange::Added { offering } => format!("{} {} added", offering.id, shown(offering)),
        OfferingChange::Removed { offering } => {
            format!("{} {} removed", offering.id, shown(offering))
        }
        OfferingChange::Upgraded {
            id,
            from,
            to,
            from_display,
            to_display,
        } => format!(
            "{id} upgraded {} → {}",
            from_display.as_deref().unwrap_or(from),
            to_display.as_deref().unwrap_or(to)
        ),
        OfferingChange::Downgraded {
            id,
            from,
            to,
            from_display,
            to_display,
        } => format!(
            "{id} downgraded {} → {}",
            from_display.as_deref().unwrap_or(from),
            to_display.as_deref().unwrap_or(to)
        ),
    }
}

/// A group only one side has: everything in it was added or removed.
fn whole_group(g: &PackageGroup, status: GroupStatus) -> GroupDiff {
    let added = status == GroupStatus::Added;
    GroupDiff {
        id: g.id.clone(),
        path: g.path.clone(),
        status,
        offerings: g
            .offerings
            .iter()
            .map(|o| {
                if added {
                    OfferingChange::Added {
                        offering: o.clone(),
                    }
                } else {
                    OfferingChange::Removed {
                        offering: o.clone(),
                    }
                }
            })
            .collect(),
        fixes: g
            .fixes
            .iter()
            .map(|f| {
                if added {
                    FixChange::Added { fix: f.clone() }
                } else {
                    FixChange::Removed { fix: f.clone() }
                }
            })
            .collect(),
    }
}

fn offering_changes(from: &[Offering], to: &[Offering]) -> Vec<OfferingChange> {
    let ids: BTreeSet<&str> = from.iter().chain(to).map(|o| o.id.as_str()).collect();
    let mut out = Vec::new();
    for id in ids {
        let a = from.iter().find(|o| o.id == id);
        let b = to.iter().find(|o| o.id == id);
        match (a, b) {
            (Some(a), None) => out.push(OfferingChange::Removed {
                offering: a.clone(),
            }),
            (None, Some(b)) => out.push(OfferingChange::Added {
                offering: b.clone(),
            }),
            (Some(a), Some(b)) if a.version != b.version => {
                let order = compare_versions(&a.version, &b.version)
                    .then_with(|| a.version.cmp(&b.version));
                let (id, from, to) = (a.id.clone(), a.version.clone(), b.version.clone());
                let (from_display, to_display) =
                    (a.display_version.clone(), b.display_version.clone());
                out.push(if order == Ordering::Greater {
                    OfferingChange::Downgraded {
                        id,
                        from,
                        to,
                        from_display,
                        to_display,
                    }
                } else {
                    OfferingChange::Upgraded {
                        id,
                        from,
                        to,
                        from_display,
                        to_display,
                    }
                });
            }
            _ => {}
        }
    }
    out
}

fn fix_changes(from: &[Fix], to: &[Fix]) -> Vec<FixChange> {
    let mut out: Vec<FixChange> = Vec::new();
    for f in from.iter().filter(|f| !to.contains(f)) {
        out.push(FixChange::Removed { fix: f.clone() });
    }
    for f in to.iter().filter(|f| !from.contains(f)) {
        out.push(FixChange::Added { fix: f.clone() });
    }
    out.sort_by(|a, b| fix_of(a).id.cmp(&fix_of(b).id));
    out
}

fn fix_of(c: &FixChange) -> &Fix {
    match c {
        FixChange::Added { fix } | FixChange::Removed { fix } => fix,
    }
}

/// Orders two IM versions (`9.0.5017.20230404_1425`): components split on `.` and `_`, compared
/// as numbers where both are digits, as text otherwise; a version that is a prefix of the other
/// is the older one.
#[must_use]
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> Vec<String> { s.split(['.', '_']).map(str::to_owned).collect() };
    let (pa, pb) = (split(a), split(b));
    for (x, y) in pa.iter().zip(&pb) {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        let order = if digits(x) && digits(y) {
            // Numbers of any length: fewer significant digits is smaller.
            let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        } else {
            x.cmp(y)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAS: &str = "IBM WebSphere Application Server V9.0";
    const WAS_PATH: &str = "/opt/HCL/WebSphere/AppServer";
    const DX: &str = "HCL Digital Experience";
    const DX_PATH: &str = "/opt/HCL/WebSphere/PortalServer";

    fn offering(id: &str, version: &str, display: &str) -> Offering {
        Offering {
            id: id.into(),
            version: version.into(),
            display_version: Some(display.into()),
            name: None,
        }
    }

    fn group(id: &str, path: &str, offerings: Vec<Offering>, fixes: Vec<Fix>) -> PackageGroup {
        PackageGroup {
            id: id.into(),
            path: path.into(),
            offerings,
            fixes,
        }
    }

    fn fix(id: &str) -> Fix {
        Fix {
            id: id.into(),
            version: "9.5.0.20240322_0915".into(),
        }
    }

    fn was(fp: u32) -> Offering {
        offering(
            "com.ibm.websphere.ND.v90",
            &format!("9.0.5{fp:03}.20230404_1425"),
            &format!("9.0.5.{fp}"),
        )
    }

    fn dx(cf: u32, date: &str) -> Offering {
        offering(
            "com.ibm.websphere.PORTAL.SERVER.v95",
            &format!("9.5.0.{date}"),
            &format!("9.5 CF{cf}"),
        )
    }

    fn host(was_fp: u32, cf: u32, date: &str, fixes: Vec<Fix>) -> Inventory {
        Inventory {
            im_version: Some("1.9.2.8".into()),
            mode: Some("admin".into()),
            shared_location: Some("/opt/IBM/IMShared".into()),
            package_groups: vec![
                group(DX, DX_PATH, vec![dx(cf, date)], fixes),
                group(WAS, WAS_PATH, vec![was(was_fp)], vec![]),
            ],
        }
    }

    #[test]
    fn equal_inventories_have_no_diff() {
        let a = host(17, 219, "20240315_0915", vec![]);
        let d = InventoryDiff::between(&a, &a.clone());
        assert!(d.is_empty());
        assert!(d.lines().is_empty());
        assert_eq!(d.headline(), "no inventory change");
        assert!(d.changed_group_paths().is_empty());
    }

    #[test]
    fn a_fix_pack_is_an_upgrade() {
        let a = host(17, 219, "20240315_0915", vec![]);
        let b = host(18, 220, "20240419_0915", vec![]);
        let d = InventoryDiff::between(&a, &b);
        assert_eq!(d.groups.len(), 2);
        assert!(d.groups.iter().all(|g| g.status == GroupStatus::Changed));
        assert!(matches!(
            &d.groups[0].offerings[0],
            OfferingChange::Upgraded { id, .. } if id == "com.ibm.websphere.PORTAL.SERVER.v95"
        ));
        assert_eq!(
            d.lines()[0],
            "HCL Digital Experience (/opt/HCL/WebSphere/PortalServer): com.ibm.websphere.PORTAL.SERVER.v95 upgraded 9.5 CF219 → 9.5 CF220"
        );
        assert_eq!(
            d.headline(),
            "2 offerings upgraded (DX 9.5 CF219 → 9.5 CF220, WAS ND 9.0.5.17 → 9.0.5.18)"
        );
        assert_eq!(d.changed_group_paths(), vec![WAS_PATH, DX_PATH]);
    }

    #[test]
    fn a_rollback_is_a_downgrade() {
        let a = host(18, 220, "20240419_0915", vec![]);
        let b = host(17, 220, "20240419_0915", vec![]);
        let d = InventoryDiff::between(&a, &b);
        assert_eq!(d.groups.len(), 1);
        assert_eq!(d.groups[0].path, WAS_PATH);
        assert!(matches!(
            d.groups[0].offerings[0],
            OfferingChange::Downgraded { .. }
        ));
        assert_eq!(
            d.headline(),
            "1 offering downgraded (WAS ND 9.0.5.18 → 9.0.5.17)"
        );
        assert!(d.lines()[0].ends_with("com.ibm.websphere.ND.v90 downgraded 9.0.5.18 → 9.0.5.17"));
    }

    #[test]
    fn fixes_added_and_removed() {
        let a = host(
            17,
            219,
            "20240315_0915",
            vec![fix("9.5.0.0-DXPortal-IFPH1")],
        );
        let b = host(
            17,
            219,
            "20240315_0915",
            vec![fix("9.5.0.0-DXPortal-IFPH2")],
        );
        let d = InventoryDiff::between(&a, &b);
        assert_eq!(d.groups.len(), 1);
        assert_eq!(
            d.groups[0].fixes,
            vec![
                FixChange::Removed {
                    fix: fix("9.5.0.0-DXPortal-IFPH1")
                },
                FixChange::Added {
                    fix: fix("9.5.0.0-DXPortal-IFPH2")
                },
            ]
        );
        assert_eq!(
            d.headline(),
            "1 fix added (9.5.0.0-DXPortal-IFPH2); 1 fix removed (9.5.0.0-DXPortal-IFPH1)"
        );
        assert!(d.lines()[1].ends_with("fix 9.5.0.0-DXPortal-IFPH2 9.5.0.20240322_0915 added"));
    }

    #[test]
    fn groups_added_and_removed() {
        let a = host(17, 219, "20240315_0915", vec![]);
        let mut b = a.clone();
        let removed = b.package_groups.remove(0);
        let d = InventoryDiff::between(&a, &b);
        assert_eq!(d.groups.len(), 1);
        assert_eq!(d.groups[0].status, GroupStatus::Removed);
        assert_eq!(d.groups[0].path, DX_PATH);
        assert!(matches!(
            d.groups[0].offerings[0],
            OfferingChange::Removed { .. }
        ));
        assert_eq!(
            d.headline(),
            "1 package group removed (HCL Digital Experience)"
        );
        assert_eq!(
            d.lines(),
            vec![
                "HCL Digital Experience (/opt/HCL/WebSphere/PortalServer): package group removed (com.ibm.websphere.PORTAL.SERVER.v95 9.5 CF219)"
            ]
        );

        let back = InventoryDiff::between(&b, &a);
        assert_eq!(back.groups[0].status, GroupStatus::Added);
        assert_eq!(back.groups[0].id, removed.id);
        assert!(matches!(
            back.groups[0].offerings[0],
            OfferingChange::Added { .. }
        ));
    }

    #[test]
    fn a_group_that_moved_is_removed_and_added() {
        let a = host(17, 219, "20240315_0915", vec![]);
        let mut b = a.clone();
        b.package_groups[1].path = "/opt/IBM/WebSphere/AppServer".into();
        let d = InventoryDiff::between(&a, &b);
        let statuses: Vec<GroupStatus> = d.groups.iter().map(|g| g.status).collect();
        assert_eq!(statuses, vec![GroupStatus::Removed, GroupStatus::Added]);
        assert_eq!(
            d.changed_group_paths(),
            vec![
                "/opt/HCL/WebSphere/AppServer",
                "/opt/IBM/WebSphere/AppServer"
            ]
        );
    }

    #[test]
    fn a_renamed_group_is_matched_by_path() {
        let a = host(17, 219, "20240315_0915", vec![]);
        let mut b = host(18, 219, "20240315_0915", vec![]);
        b.package_groups[1].id = "IBM WebSphere Application Server V9.0 (renamed)".into();
        let d = InventoryDiff::between(&a, &b);
        assert_eq!(d.groups.len(), 1);
        assert_eq!(d.groups[0].status, GroupStatus::Changed);
        assert!(matches!(
            d.groups[0].offerings[0],
            OfferingChange::Upgraded { .. }
        ));
    }

    #[test]
    fn im_and_shared_location_changes() {
        let a = host(17, 219, "20240315_0915", vec![]);
        let mut b = a.clone();
        b.im_version = Some("1.9.3".into());
        b.shared_location = None;
        let d = InventoryDiff::between(&a, &b);
        assert!(!d.is_empty());
        assert_eq!(
            d.im_version,
            Some((Some("1.9.2.8".into()), Some("1.9.3".into())))
        );
        assert_eq!(
            d.lines(),
            vec![
                "Installation Manager version 1.9.2.8 → 1.9.3",
                "shared resources location /opt/IBM/IMShared → (unknown)"
            ]
        );
        assert_eq!(
            d.headline(),
            "IM 1.9.2.8 → 1.9.3; shared resources location changed"
        );
    }

    #[test]
    fn versions_compare_numerically_by_component() {
        use Ordering::*;
        assert_eq!(
            compare_versions("9.0.5017.20230404_1425", "9.0.5018.20230703_1425"),
            Less
        );
        assert_eq!(compare_versions("9.0.5.9", "9.0.5.10"), Less);
        assert_eq!(compare_versions("8.5.5020.1", "8.5.5006.9"), Greater);
        assert_eq!(
            compare_versions("9.5.0.20240315_0915", "9.5.0.20240315_0915"),
            Equal
        );
        assert_eq!(compare_versions("1.9.2", "1.9.2.8"), Less);
        assert_eq!(compare_versions("1.0a", "1.0b"), Less);
        assert_eq!(compare_versions("007", "7"), Equal);
        assert_eq!(compare_versions("99999999999999999999999", "1"), Greater);
    }

    #[test]
    fn json_uses_kebab_case_tags() {
        let a = host(17, 219, "20240315_0915", vec![]);
        let b = host(18, 219, "20240315_0915", vec![fix("F")]);
        let v = serde_json::to_value(InventoryDiff::between(&a, &b)).unwrap();
        assert_eq!(v["groups"][0]["status"], "changed");
        assert_eq!(v["groups"][0]["fixes"][0]["change"], "added");
        assert_eq!(v["groups"][1]["offerings"][0]["change"], "upgraded");
        assert_eq!(v["groups"][1]["offerings"][0]["to_display"], "9.0.5.18");
        assert!(v["im_version"].is_null());
    }

    #[test]
    fn a_dx_group_moving_several_offerings_is_named_once() {
        let dx_group = |cf: u32| {
            let mut offerings = vec![dx(cf, &format!("20240315_{cf}"))];
            for id in [
                "com.ibm.websphere.PORTAL.ENABLE.v85",
                "com.ibm.websphere.PORTAL.SERVER.v85",
                "com.ibm.websphere.PORTAL.ENABLE.v95",
            ] {
                offerings.push(offering(id, &format!("8.5.0.{cf}"), &format!("8.5 CF{cf}")));
            }
            offerings.sort();
            Inventory {
                package_groups: vec![group(DX, DX_PATH, offerings, vec![])],
                ..Inventory::default()
            }
        };
        let d = InventoryDiff::between(&dx_group(219), &dx_group(220));
        assert_eq!(
            d.headline(),
            "4 offerings upgraded (DX 9.5 CF219 → 9.5 CF220)"
        );
        assert_eq!(
            d.lines().len(),
            4,
            "every offering is still listed in the detail"
        );
    }

    #[test]
    fn im_listed_as_a_group_by_an_older_snapshot_is_no_change() {
        let now = host(17, 219, "20240315_0915", vec![]);
        let mut before = now.clone();
        before.package_groups.push(group(
            "IBM Installation Manager",
            "/opt/IBM/InstallationManager/eclipse",
            vec![offering(
                "com.ibm.cic.agent",
                "1.9.2008.20240227_0018",
                "1.9.2.8",
            )],
            vec![],
        ));
        assert!(InventoryDiff::between(&before, &now).is_empty());
        assert!(InventoryDiff::between(&now, &before).is_empty());
    }
}
