//! The inventory: a set's fingerprint in IM's own terms.
//!
//! Package groups (id and install path), each with its offerings (id, version, display version)
//! and fixes, plus IM's own version and mode and the shared-resources location. IM's own
//! package group is not among the package groups: it is IM, whose version is `im_version`. Two states of a
//! host are in sync for a package group when these agree. Built from IM's records (parsed by
//! [`crate::im`]); stored in every snapshot's manifest.

use serde::{Deserialize, Serialize};

use crate::im::install_registry::{InstallRegistryXml, RegistryProfile};
use crate::im::installed::{InstalledLocation, InstalledXml, is_agent_offering};

/// One installed offering (a product edition at a version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Offering {
    /// IM's offering id, e.g. `com.ibm.websphere.ND.v90`.
    pub id: String,
    /// IM's internal version, e.g. `9.0.5017.20230404_1425`.
    pub version: String,
    /// The version as people write it, e.g. `9.0.5.17`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_version: Option<String>,
    /// The offering's name, when IM records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One installed fix (interim fix) in a package group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fix {
    /// IM's fix id, e.g. `9.0.5.7-WS-WAS-IFPH12345`.
    pub id: String,
    /// The fix's version.
    pub version: String,
}

/// A package group: one install directory shared by one or more offerings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageGroup {
    /// The group's name, e.g. `IBM WebSphere Application Server V9.0`.
    pub id: String,
    /// The group's install directory (logical path).
    pub path: String,
    /// Offerings installed in the group, sorted by id.
    pub offerings: Vec<Offering>,
    /// Fixes installed in the group, sorted by id.
    #[serde(default)]
    pub fixes: Vec<Fix>,
}

/// What IM says is installed, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// IM's own version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im_version: Option<String>,
    /// IM's mode: `admin`, `nonAdmin` or `group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The shared-resources location IM records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_location: Option<String>,
    /// Package groups (products), sorted by id.
    pub package_groups: Vec<PackageGroup>,
}

impl Inventory {
    /// Builds the inventory from `installed.xml` (current state) and, when present,
    /// `installRegistry.xml` (groups `installed.xml` does not list). Fixes come from whichever
    /// record has them: `installed.xml` nests them in their product's location, the registry
    /// lists them per profile, and either may be missing or damaged when an administrator needs
    /// them most. IM's own package group — its `self` location and its profile, however the
    /// files spell them — is IM, never a product.
    #[must_use]
    pub fn from_records(
        installed: &InstalledXml,
        registry: Option<&InstallRegistryXml>,
        im_version: Option<String>,
        mode: Option<String>,
    ) -> Self {
        let mut groups = installed_groups(installed);
        if let Some(reg) = registry {
            let own = installed.self_location();
            for profile in reg.profiles.iter().filter(|p| !is_im_profile(p, own)) {
                add_registry_profile(&mut groups, profile);
            }
        }
        for group in &mut groups {
            group.fixes.sort();
            group.fixes.dedup_by(|a, b| a.id == b.id);
        }
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        let shared_location = registry
            .and_then(|r| r.cache_location())
            .or_else(|| installed.cache_location())
            .map(str::to_owned);
        Self {
            im_version,
            mode,
            shared_location,
            package_groups: groups,
        }
    }

    /// One line for listings, naming each product once by what an administrator calls it:
    /// `DX 9.5 CF219, WAS ND 9.0.5.17, IHS 9.0.5.17, 1 fix, IM 1.9.2`. The Java SDKs that come
    /// with WebSphere are left out (they are part of the product), and a DX group's several
    /// PORTAL offerings show as one DX at the level of its server offering.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for group in &self.package_groups {
            // Per product name, the offering that carries the product's level.
            let mut chosen: Vec<(String, &Offering)> = Vec::new();
            for o in &group.offerings {
                if is_java(&o.id) || is_agent_offering(&o.id) {
                    continue;
                }
                let name = short_name(&o.id, o.name.as_deref());
                match chosen.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, best)) if level_rank(&o.id) > level_rank(&best.id) => *best = o,
                    Some(_) => {}
                    None => chosen.push((name, o)),
                }
            }
            for (name, o) in chosen {
                let part = format!("{name} {}", shown_version(o));
                if !parts.contains(&part) {
                    parts.push(part);
                }
            }
        }
        let fixes: usize = self.package_groups.iter().map(|g| g.fixes.len()).sum();
        if fixes > 0 {
            parts.push(format!("{fixes} fix{}", if fixes == 1 { "" } else { "es" }));
        }
        if let Some(v) = &self.im_version {
            parts.push(format!("IM {}", common_version(v)));
        }
        if parts.is_empty() {
            "no packages".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// The package groups `installed.xml` lists (IM's own location left out), each with its
/// offerings sorted and its fixes as nested there: the record of the current state.
fn installed_groups(installed: &InstalledXml) -> Vec<PackageGroup> {
    installed
        .locations
        .iter()
        .filter(|l| l.is_product())
        .map(|l| {
            let mut offerings: Vec<Offering> = l
                .offerings
                .iter()
                .map(|o| Offering {
                    id: o.id.clone(),
                    version: o.version.clone(),
                    display_version: o.display_version.clone(),
                    name: o.name.clone(),
                })
                .collect();
            offerings.sort();
            PackageGroup {
                id: l.id.clone(),
                path: l.path.clone(),
                offerings,
                fixes: l
                    .fixes
                    .iter()
                    .map(|f| Fix {
                        id: f.id.clone(),
                        version: f.version.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Whether an `installRegistry.xml` profile is IM's own: marked as such, or matching
/// `installed.xml`'s `self` location (`own`) by id or install directory, however the files
/// spell them.
fn is_im_profile(profile: &RegistryProfile, own: Option<&InstalledLocation>) -> bool {
    profile.is_self()
        || own.is_some_and(|o| {
            o.id == profile.id
                || profile
                    .install_location
                    .as_deref()
                    .is_some_and(|p| same_dir(p, &o.path))
        })
}

/// Adds what a product profile of `installRegistry.xml` knows to `groups`: the fixes of the
/// group it matches (by id or install directory) that the group lacks, or the whole group
/// when `installed.xml` does not list it.
fn add_registry_profile(groups: &mut Vec<PackageGroup>, profile: &RegistryProfile) {
    let matching = groups.iter_mut().find(|g| {
        g.id == profile.id
            || profile
                .install_location
                .as_deref()
                .is_some_and(|p| same_dir(p, &g.path))
    });
    let group = match matching {
        Some(g) => g,
        None => {
            // A group only installRegistry.xml knows about (installed.xml may lag
            // behind on a damaged host); it still belongs to the set.
            let Some(group) = registry_only_group(profile) else {
                return;
            };
            groups.push(group);
            let Some(last) = groups.last_mut() else {
                return;
            };
            last
        }
    };
    for fix in &profile.fixes {
        let Some(version) = fix.versions.last() else {
            continue;
        };
        if !group.fixes.iter().any(|f| f.id == fix.id) {
            group.fixes.push(Fix {
                id: fix.id.clone(),
                version: version.clone(),
            });
        }
    }
}

/// A package group only `installRegistry.xml` records, with each offering at its last
/// version; none when the profile names no install directory or no offering.
fn registry_only_group(profile: &RegistryProfile) -> Option<PackageGroup> {
    let path = profile.install_location.clone()?;
    if profile.offerings.is_empty() {
        return None;
    }
    Some(PackageGroup {
        id: profile.id.clone(),
        path,
        offerings: profile
            .offerings
            .iter()
            .filter_map(|o| {
                Some(Offering {
                    id: o.id.clone(),
                    version: o.versions.last()?.clone(),
                    display_version: None,
                    name: None,
                })
            })
            .collect(),
        fixes: Vec::new(),
    })
}

/// Whether two install paths as IM wrote them name the same directory (a trailing `/` aside).
fn same_dir(a: &str, b: &str) -> bool {
    let trim = |p: &str| p.trim().trim_end_matches('/').to_owned();
    trim(a) == trim(b)
}

/// Whether an offering is one of the Java SDKs IM installs with WebSphere
/// (`com.ibm.java.jdk.v8`, `com.ibm.websphere.IBMJAVA.v80`, …).
fn is_java(id: &str) -> bool {
    let upper = id.to_ascii_uppercase();
    upper.starts_with("COM.IBM.JAVA") || upper.contains(".IBMJAVA")
}

/// Which of a product's offerings carries its level: a server offering over the others
/// (`PORTAL.SERVER` over `PORTAL.ENABLE`), then the newer release (`v95` over `v85`).
pub(crate) fn level_rank(id: &str) -> (bool, u32) {
    let upper = id.to_ascii_uppercase();
    let release = upper
        .rsplit('.')
        .next()
        .and_then(|last| last.strip_prefix('V'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (upper.contains(".SERVER."), release)
}

/// An offering's version as people write it.
fn shown_version(o: &Offering) -> String {
    o.display_version
        .clone()
        .unwrap_or_else(|| common_version(&o.version))
}

/// IBM's internal version (`9.0.5017.20230725_1437`, `1.9.2008.20240227_0018`) the way people
/// write it (`9.0.5.17`, `1.9.2.8`): the third number holds the fix pack times 1000 plus the
/// refresh, and the build stamp is dropped. Anything else is shown as written.
fn common_version(version: &str) -> String {
    let parts: Vec<&str> = version.split('.').collect();
    if let [major, minor, micro, _stamp] = parts.as_slice()
        && let Ok(micro) = micro.parse::<u32>()
        && micro >= 1000
        && major.parse::<u32>().is_ok()
        && minor.parse::<u32>().is_ok()
    {
        return format!("{major}.{minor}.{}.{}", micro / 1000, micro % 1000);
    }
    version.to_owned()
}

/// A short, recognisable name for an offering — what an administrator calls the product:
/// `WAS ND`, `WAS`, `IHS`, `DX`, `IM`, `Java` — or the offering's name or id.
pub(crate) fn short_name(id: &str, name: Option<&str>) -> String {
    let upper = id.to_ascii_uppercase();
    if upper.contains("PORTAL") {
        return if upper.contains("REMOTESEARCH") {
            "DX Remote Search".to_owned()
        } else {
            "DX".to_owned()
        };
    }
    if is_agent_offering(id) {
        return "IM".to_owned();
    }
    if is_java(id) {
        return "Java".to_owned();
    }
    if let Some(rest) = id.strip_prefix("com.ibm.websphere.") {
        let edition = rest.split('.').next().unwrap_or_default();
        return match edition.to_ascii_uppercase().as_str() {
            "ND" | "ND9" => "WAS ND".to_owned(),
            "NDTRIAL" => "WAS ND Trial".to_owned(),
            "BASE" => "WAS".to_owned(),
            "BASETRIAL" => "WAS Trial".to_owned(),
            "EXPRESS" => "WAS Express".to_owned(),
            "EXPRESSTRIAL" => "WAS Express Trial".to_owned(),
            "ILAN" | "DEVELOPERSILAN" | "DEVELOPERS" => "WAS for Developers".to_owned(),
            "IHS" => "IHS".to_owned(),
            "PLG" | "PLUGINS" => "Plug-ins".to_owned(),
            "WCT" => "WCT".to_owned(),
            _ => name.map_or_else(|| format!("WAS {edition}"), str::to_owned),
        };
    }
    name.map_or_else(|| id.to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offering(id: &str, display: &str) -> Offering {
        Offering {
            id: id.into(),
            version: "1".into(),
            display_version: Some(display.into()),
            name: None,
        }
    }

    #[test]
    fn summary_names_products_and_im() {
        let inv = Inventory {
            im_version: Some("1.9.2".into()),
            mode: Some("admin".into()),
            shared_location: None,
            package_groups: vec![
                PackageGroup {
                    id: "HCL Digital Experience".into(),
                    path: "/opt/HCL/WebSphere/PortalServer".into(),
                    offerings: vec![offering("com.ibm.websphere.PORTAL.SERVER.v95", "9.5 CF219")],
                    fixes: vec![Fix {
                        id: "PH1".into(),
                        version: "1".into(),
                    }],
                },
                PackageGroup {
                    id: "IBM WebSphere Application Server V9.0".into(),
                    path: "/opt/HCL/WebSphere/AppServer".into(),
                    offerings: vec![offering("com.ibm.websphere.ND.v90", "9.0.5.17")],
                    fixes: vec![],
                },
            ],
        };
        assert_eq!(
            inv.summary(),
            "DX 9.5 CF219, WAS ND 9.0.5.17, 1 fix, IM 1.9.2"
        );
        assert_eq!(Inventory::default().summary(), "no packages");
    }

    fn installed_offering(id: &str, version: &str, display: &str) -> Offering {
        Offering {
            id: id.into(),
            version: version.into(),
            display_version: (!display.is_empty()).then(|| display.into()),
            name: None,
        }
    }

    #[test]
    fn summary_names_each_product_once() {
        let inv = Inventory {
            im_version: Some("1.9.1003.20200730_2125".into()),
            mode: None,
            shared_location: None,
            package_groups: vec![
                PackageGroup {
                    id: "IBM WebSphere Portal Server V8.5".into(),
                    path: "/opt/IBM/WebSphere/PortalServer".into(),
                    offerings: vec![
                        installed_offering(
                            "com.ibm.websphere.PORTAL.ENABLE.v85",
                            "8.5.0.1",
                            "8.5.0.0",
                        ),
                        installed_offering(
                            "com.ibm.websphere.PORTAL.ENABLE.v95",
                            "9.5.0.1",
                            "9.5.0.0",
                        ),
                        installed_offering(
                            "com.ibm.websphere.PORTAL.SERVER.v85",
                            "8.5.0.1",
                            "8.5.0.0",
                        ),
                        installed_offering(
                            "com.ibm.websphere.PORTAL.SERVER.v95",
                            "9.5.0.1",
                            "9.5 CF219",
                        ),
                    ],
                    fixes: vec![],
                },
                PackageGroup {
                    id: "IBM WebSphere Application Server V9.0".into(),
                    path: "/opt/IBM/WebSphere/AppServer".into(),
                    offerings: vec![
                        installed_offering(
                            "com.ibm.websphere.IBMJAVA.v80",
                            "8.0.3000.1",
                            "8.0.3.0",
                        ),
                        installed_offering(
                            "com.ibm.websphere.ND.v90",
                            "9.0.5017.20230725_1437",
                            "",
                        ),
                    ],
                    fixes: vec![],
                },
                PackageGroup {
                    id: "IBM HTTP Server V9.0".into(),
                    path: "/opt/IBM/HTTPServer".into(),
                    offerings: vec![installed_offering(
                        "com.ibm.websphere.IHS.v90",
                        "9.0.5017.1",
                        "9.0.5.17",
                    )],
                    fixes: vec![],
                },
            ],
        };
        assert_eq!(
            inv.summary(),
            "DX 9.5 CF219, WAS ND 9.0.5.17, IHS 9.0.5.17, IM 1.9.1.3"
        );
    }

    #[test]
    fn short_names_of_editions() {
        for (id, want) in [
            ("com.ibm.websphere.BASE.v85", "WAS"),
            ("com.ibm.websphere.NDTRIAL.v85", "WAS ND Trial"),
            ("com.ibm.websphere.DEVELOPERSILAN.v85", "WAS for Developers"),
            ("com.ibm.websphere.ILAN.v90", "WAS for Developers"),
            ("com.ibm.websphere.PLG.v90", "Plug-ins"),
            ("com.ibm.websphere.IBMJAVA.v80", "Java"),
            (
                "com.ibm.websphere.PORTAL.REMOTESEARCH.v85",
                "DX Remote Search",
            ),
            ("com.ibm.cic.agent", "IM"),
        ] {
            assert_eq!(short_name(id, None), want, "{id}");
        }
    }

    #[test]
    fn im_profile_is_never_a_group_and_fixes_come_from_either_record() {
        use crate::im::install_registry::parse_install_registry;
        use crate::im::installed::parse_installed;
        use std::path::Path;
        let installed = parse_installed(
            "<installInfo>\
             <location path='/opt/IIM/eclipse' id='IBM Installation Manager' kind='self'>\
             <package kind='offering' id='com.ibm.cic.agent' version='1.9.1003.1'/></location>\
             <location id='WAS' kind='product' path='/opt/was'>\
             <package kind='offering' id='com.ibm.websphere.BASE.v85' version='8.5.5009.1'/>\
             <package id='8.5.5.9-WS-WAS-IFPI73197' kind='fix' version='8.5.5009.20180123_1059'/>\
             </location></installInfo>",
            Path::new("installed.xml"),
        )
        .unwrap();
        let registry = parse_install_registry(
            "<installRegistry>\
             <profile id='IBM Installation Manager'><property name='installLocation' value='/opt/IIM/eclipse/'/>\
             <offering id='com.ibm.cic.agent'><version value='1.9.1003.1'/></offering></profile>\
             <profile id='WAS'><property name='installLocation' value='/opt/was'/>\
             <offering id='com.ibm.websphere.BASE.v85'><version value='8.5.5009.1'/></offering>\
             <fix id='8.5.5.9-WS-WAS-IFPI73197'><version value='8.5.5009.20180123_1059'/></fix>\
             <fix id='8.5.5.9-WS-WAS-IFPI99999'><version value='8.5.5009.20180301_0000'/></fix>\
             </profile></installRegistry>",
            Path::new("installRegistry.xml"),
        )
        .unwrap();
        let both = Inventory::from_records(&installed, Some(&registry), None, None);
        assert_eq!(both.package_groups.len(), 1, "{both:?}");
        let fixes: Vec<&str> = both.package_groups[0]
            .fixes
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(
            fixes,
            ["8.5.5.9-WS-WAS-IFPI73197", "8.5.5.9-WS-WAS-IFPI99999"]
        );

        let alone = Inventory::from_records(&installed, None, None, None);
        assert_eq!(alone.package_groups[0].fixes.len(), 1);
        // With installed.xml lost, the registry's IM profile is still not a product.
        let registry_only =
            Inventory::from_records(&InstalledXml::default(), Some(&registry), None, None);
        let ids: Vec<&str> = registry_only
            .package_groups
            .iter()
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(ids, ["WAS"]);
    }
}
