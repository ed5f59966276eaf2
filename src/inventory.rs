//! The inventory: a set's fingerprint in IM's own terms.
//!
//! Package groups (id and install path), each with its offerings (id, version, display version)
//! and fixes, plus IM's own version and mode and the shared-resources location. Two states of a
//! host are in sync for a package group when these agree. Built from IM's records (parsed by
//! [`crate::im`]); stored in every snapshot's manifest.

use serde::{Deserialize, Serialize};

use crate::im::install_registry::InstallRegistryXml;
use crate::im::installed::InstalledXml;

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
    /// `installRegistry.xml` (fixes, and groups `installed.xml` does not list).
    #[must_use]
    pub fn from_records(
        installed: &InstalledXml,
        registry: Option<&InstallRegistryXml>,
        im_version: Option<String>,
        mode: Option<String>,
    ) -> Self {
        let mut groups: Vec<PackageGroup> = installed
            .locations
            .iter()
            .filter(|l| l.kind == "product")
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
                    fixes: Vec::new(),
                }
            })
            .collect();
        if let Some(reg) = registry {
            for profile in &reg.profiles {
                let matching = groups.iter_mut().find(|g| {
                    g.id == profile.id || profile.install_location.as_deref() == Some(&g.path)
                });
                let group = match matching {
                    Some(g) => g,
                    None => {
                        // A group only installRegistry.xml knows about (installed.xml may lag
                        // behind on a damaged host); it still belongs to the set.
                        let Some(path) = profile.install_location.clone() else {
                            continue;
                        };
                        if profile.offerings.is_empty() {
                            continue;
                        }
                        groups.push(PackageGroup {
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
                        });
                        let Some(last) = groups.last_mut() else {
                            continue;
                        };
                        last
                    }
                };
                group.fixes = profile
                    .fixes
                    .iter()
                    .filter_map(|f| {
                        Some(Fix {
                            id: f.id.clone(),
                            version: f.versions.last()?.clone(),
                        })
                    })
                    .collect();
                group.fixes.sort();
            }
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

    /// One line for listings: `WAS ND 9.0.5.17, DX 9.5 CF219, IM 1.9.2`.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .package_groups
            .iter()
            .flat_map(|g| g.offerings.iter())
            .map(|o| {
                format!(
                    "{} {}",
                    short_name(&o.id, o.name.as_deref()),
                    o.display_version.as_deref().unwrap_or(&o.version)
                )
            })
            .collect();
        let fixes: usize = self.package_groups.iter().map(|g| g.fixes.len()).sum();
        if fixes > 0 {
            parts.push(format!("{fixes} fix{}", if fixes == 1 { "" } else { "es" }));
        }
        if let Some(v) = &self.im_version {
            parts.push(format!("IM {v}"));
        }
        if parts.is_empty() {
            "no packages".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// A short, recognisable name for an offering: `WAS ND`, `DX`, or the offering's name or id.
pub(crate) fn short_name(id: &str, name: Option<&str>) -> String {
    let lower = id.to_ascii_lowercase();
    if lower.contains("portal") {
        return "DX".to_owned();
    }
    if let Some(rest) = id.strip_prefix("com.ibm.websphere.") {
        let edition = rest.split('.').next().unwrap_or_default();
        return match edition {
            "ND" | "ND9" => "WAS ND".to_owned(),
            "BASE" => "WAS".to_owned(),
            "IHS" => "IHS".to_owned(),
            "PLG" | "PLUGINS" => "Plug-ins".to_owned(),
            "WCT" => "WCT".to_owned(),
            other => format!("WAS {other}"),
        };
    }
    if lower.starts_with("com.ibm.java") {
        return "Java".to_owned();
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
}
