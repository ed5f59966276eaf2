//! Reads the version files a WebSphere or Portal product keeps about itself —
//! `<AppServer>/properties/version/*.product` (`WAS.product`, `ND.product`…),
//! `<PortalServer>/version/*.product` and Portal's `wps.properties` (with the profile's copy
//! under `<wp_profile>/PortalServer/`) — so their answer can be compared with what IM recorded:
//! a host whose product files were restored without IM's records (or the reverse) disagrees here.
//!
//! Only the `<product name="…"><id/><version/><build-info level/></product>` shape is read, plus
//! `wps.properties`' `version` and `fixlevel` keys (docs/im-facts.md §9);
//! `.component` files and the `history/` folder are not. A WebSphere `.product` file is matched
//! to its offering through the offering's `was.install.productid` (editions such as
//! `DEVELOPERSILAN` or `NDTRIAL` carry `BASE` or `ND` there); Portal's files are compared with the
//! group's SERVER offering of the highest release (a DX 9.5 group holds the 8.5 and 9.5 SERVER and
//! ENABLE offerings at once). [`check_group`] finds a package group's version files and compares
//! each; a shape it does not know gives [`VersionCheck::Unknown`], never a disagreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use roxmltree::Node;
use serde::{Deserialize, Serialize};

use super::installed::parse_installed;
use super::text::parse_properties;
use super::xml::{attr, children, line_of, parse_document, root};
use super::{ImError, read_text};
use crate::host::root::HostRoot;
use crate::im::inventory::{Offering, PackageGroup};

/// What a product's `.product` file says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductVersion {
    /// The product id, e.g. `ND`, `BASE`, `PORTAL`.
    pub id: String,
    /// The product's display name (`name` attribute), where present.
    pub name: Option<String>,
    /// The product version, e.g. `9.0.5.17`.
    pub version: String,
    /// The build level (`<build-info level="…"/>`), e.g. `cf172329.03`, or `CF219` for Portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// Parses the text of a `.product` file; `path` is used in error messages only.
///
/// Fails if the text is not well-formed XML, if the root element is not `product`, or if the
/// `<id>` or `<version>` element is missing or empty.
pub fn parse_product_file(text: &str, path: &Path) -> Result<ProductVersion, ImError> {
    let doc = parse_document(text, path)?;
    let product = root(&doc, "product", path)?;
    Ok(ProductVersion {
        id: child_text(product, "id", path)?,
        name: attr(product, "name")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        version: child_text(product, "version", path)?,
        level: children(product, "build-info")
            .next()
            .and_then(|b| attr(b, "level"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    })
}

/// The trimmed text of the first `name` child of `product`; missing or empty is an error.
fn child_text(product: Node<'_, '_>, name: &'static str, path: &Path) -> Result<String, ImError> {
    let text: Option<String> = children(product, name).next().map(|node| {
        node.descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect()
    });
    match text {
        Some(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        _ => Err(ImError::parse(
            path,
            Some(line_of(product)),
            format!("product file has no <{name}> value"),
        )),
    }
}

/// What Portal's `wps.properties` says about the installed level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalProperties {
    /// `version`, e.g. `8.5.0.0`.
    pub version: Option<String>,
    /// `fixlevel`, the cumulative fix, e.g. `CF19`.
    pub fixlevel: Option<String>,
    /// `ProfileDirectory`, the Portal profile whose `PortalServer/wps.properties` is a copy.
    pub profile_directory: Option<String>,
}

/// Parses Portal's `wps.properties` (Java properties); `path` is used in error messages.
pub fn parse_wps_properties(text: &str, path: &Path) -> Result<PortalProperties, ImError> {
    let mut out = PortalProperties::default();
    for prop in parse_properties(text, path)? {
        let value = Some(prop.value.trim().to_string()).filter(|v| !v.is_empty());
        // Portal writes these keys in this case; a hand-edited file may not.
        match prop.key.trim().to_ascii_lowercase().as_str() {
            "version" => out.version = value,
            "fixlevel" => out.fixlevel = value,
            "profiledirectory" => out.profile_directory = value,
            _ => {}
        }
    }
    Ok(out)
}

/// Offering id → `was.install.productid`, as `installed.xml` records them.
pub type ProductIds = BTreeMap<String, String>;

/// Reads the `was.install.productid` of every offering from the `installed.xml` in
/// `agent_data`. A missing or damaged record gives an empty map: discovery reports the record,
/// and the version files then fall back to the offering ids.
#[must_use]
pub fn product_ids(host: &HostRoot, agent_data: &Path) -> ProductIds {
    let logical = agent_data.join("installed.xml");
    let Ok(text) = read_text(&on_host(host, &logical)) else {
        return ProductIds::new();
    };
    let Ok(installed) = parse_installed(&text, &logical) else {
        return ProductIds::new();
    };
    installed
        .locations
        .iter()
        .flat_map(|l| &l.offerings)
        .filter_map(|o| Some((o.id.clone(), o.product_id.clone()?)))
        .collect()
}

/// How one version file compares with IM's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum VersionCheck {
    /// The file and IM agree.
    Agrees {
        /// The offering the file was compared against.
        offering: String,
        /// The version both name.
        version: String,
    },
    /// The file names another level than IM records: the product files and IM's records are
    /// not from the same moment.
    Disagrees {
        /// The offering the file was compared against.
        offering: String,
        /// What IM records (the display version).
        recorded: String,
        /// What the file says.
        found: String,
    },
    /// The file cannot be compared (no matching offering, or a version shape lockstep does not
    /// know); says why.
    Unknown {
        /// Why the file was not compared.
        reason: String,
    },
    /// The file exists but cannot be read or parsed.
    Unreadable {
        /// The parse error, naming the file.
        error: String,
    },
}

/// One version file of a package group and how it compares with IM's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductFileCheck {
    /// The file's logical path.
    pub path: PathBuf,
    /// The comparison.
    pub check: VersionCheck,
}

/// Finds the version files of a package group — WebSphere's `properties/version/*.product`,
/// Portal's `version/*.product`, `wps.properties` and the Portal profile's copy of it — and
/// compares each with the offering IM records for the group; `ids` are the offerings'
/// `was.install.productid` values ([`product_ids`]).
#[must_use]
pub fn check_group(
    host: &HostRoot,
    group: &PackageGroup,
    ids: &ProductIds,
) -> Vec<ProductFileCheck> {
    let root = Path::new(&group.path);
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for (dir, portal) in [("properties/version", false), ("version", true)] {
        let logical_dir = root.join(dir);
        let Ok(entries) = std::fs::read_dir(on_host(host, &logical_dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".product"))
            .collect();
        names.sort();
        files.extend(names.into_iter().map(|n| (logical_dir.join(n), portal)));
    }
    let mut out: Vec<ProductFileCheck> = files
        .into_iter()
        .map(|(path, portal)| {
            let check = match read_text(&on_host(host, &path))
                .and_then(|text| parse_product_file(&text, &path))
            {
                Ok(product) => check_product(&product, portal, &group.offerings, ids),
                Err(e) => VersionCheck::Unreadable {
                    error: e.with_path(&path).to_string(),
                },
            };
            ProductFileCheck { path, check }
        })
        .collect();
    let wps = root.join("wps.properties");
    if let Some((check, props)) = check_wps_file(host, &wps, &group.offerings) {
        out.push(ProductFileCheck { path: wps, check });
        // The profile keeps a copy that Portal's tools read too; it moves with the profile.
        if let Some(profile) = props.and_then(|p| p.profile_directory) {
            let copy = Path::new(&profile).join("PortalServer/wps.properties");
            if copy.is_absolute()
                && let Some((check, _)) = check_wps_file(host, &copy, &group.offerings)
            {
                out.push(ProductFileCheck { path: copy, check });
            }
        }
    }
    out
}

/// Where a logical path is on disk, its symlinks resolved inside the host's root: a product path
/// IM records may be an absolute link to a relocated disk (docs/im-facts.md §9), which the
/// machine itself would follow outside the root.
fn on_host(host: &HostRoot, logical: &Path) -> PathBuf {
    host.resolve(logical)
        .map_or_else(|_| host.physical(logical), |r| host.physical(&r))
}

/// Reads and compares one `wps.properties`, when the file exists.
fn check_wps_file(
    host: &HostRoot,
    logical: &Path,
    offerings: &[Offering],
) -> Option<(VersionCheck, Option<PortalProperties>)> {
    let physical = on_host(host, logical);
    if !physical.is_file() {
        return None;
    }
    Some(
        match read_text(&physical).and_then(|text| parse_wps_properties(&text, logical)) {
            Ok(props) => (check_wps(&props, offerings), Some(props)),
            Err(e) => (
                VersionCheck::Unreadable {
                    error: e.with_path(logical).to_string(),
                },
                None,
            ),
        },
    )
}

/// The edition segment of a WebSphere offering id: `com.ibm.websphere.NDTRIAL.v85` → `NDTRIAL`.
fn edition(offering: &Offering) -> Option<&str> {
    offering
        .id
        .strip_prefix("com.ibm.websphere.")
        .and_then(|rest| rest.split('.').next())
}

/// The offering a WebSphere `.product` file speaks for: the one whose `was.install.productid`
/// is the file's id; without that property (older records), the one whose edition is the id,
/// or its trial (`NDTRIAL` for `ND`).
fn was_offering_for<'a>(
    product_id: &str,
    offerings: &'a [Offering],
    ids: &ProductIds,
) -> Option<&'a Offering> {
    let by_property = offerings.iter().find(|o| {
        ids.get(&o.id)
            .is_some_and(|id| id.trim().eq_ignore_ascii_case(product_id))
    });
    if by_property.is_some() {
        return by_property;
    }
    offerings
        .iter()
        .filter(|o| !ids.contains_key(&o.id))
        .find(|o| {
            edition(o).is_some_and(|e| {
                let e = e.to_ascii_uppercase();
                let id = product_id.trim().to_ascii_uppercase();
                e == id || e.strip_suffix("TRIAL") == Some(id.as_str())
            })
        })
}

fn is_portal(o: &Offering) -> bool {
    o.id.to_ascii_uppercase().contains(".PORTAL.")
}

/// The release suffix of an offering id: `…PORTAL.SERVER.v95` → 95.
fn release_suffix(o: &Offering) -> u32 {
    o.id.rsplit('.')
        .next()
        .and_then(|last| last.strip_prefix(['v', 'V']))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The Portal offering that carries the server's level: the SERVER offering of the highest
/// release (`PORTAL.SERVER.v95` over `PORTAL.SERVER.v85`); a group with no SERVER offering but a
/// single Portal offering (Remote Search in a group of its own) uses that one.
fn portal_server(offerings: &[Offering]) -> Option<&Offering> {
    let server = offerings
        .iter()
        .filter(|o| is_portal(o) && o.id.to_ascii_uppercase().contains(".SERVER."))
        .max_by_key(|o| release_suffix(o));
    if server.is_some() {
        return server;
    }
    let mut portals = offerings.iter().filter(|o| is_portal(o));
    match (portals.next(), portals.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// The releases of a group's Portal offerings, as numbers (`9.5 CF219` → `[9, 5]`): a DX 9.5
/// install's files may name the 8.5 base release, which is just as current.
fn portal_releases(offerings: &[Offering]) -> Vec<Vec<u64>> {
    offerings
        .iter()
        .filter(|o| is_portal(o))
        .filter_map(|o| o.display_version.as_deref()?.split_once(' '))
        .filter_map(|(release, _)| numeric(release))
        .collect()
}

/// Compares a `.product` file with the offering it speaks for.
fn check_product(
    product: &ProductVersion,
    portal: bool,
    offerings: &[Offering],
    ids: &ProductIds,
) -> VersionCheck {
    // Every `.product` file in Portal's own `version/` folder speaks for the Portal server.
    let offering = if portal {
        portal_server(offerings)
    } else {
        was_offering_for(&product.id, offerings, ids)
    };
    let Some(offering) = offering else {
        return VersionCheck::Unknown {
            reason: format!(
                "product id {} ({}) matches no offering IM records for this package group (by was.install.productid or edition)",
                product.id, product.version
            ),
        };
    };
    compare_level(
        offering,
        &product.version,
        product.level.as_deref().filter(|l| cf_number(l).is_some()),
        "its build level",
        &portal_releases(offerings),
    )
}

/// Compares `wps.properties` with the group's Portal SERVER offering.
fn check_wps(props: &PortalProperties, offerings: &[Offering]) -> VersionCheck {
    let Some(offering) = portal_server(offerings) else {
        return VersionCheck::Unknown {
            reason: "IM records no Portal SERVER offering for this package group".into(),
        };
    };
    let Some(version) = &props.version else {
        return VersionCheck::Unknown {
            reason: "no version key".into(),
        };
    };
    compare_level(
        offering,
        version,
        props.fixlevel.as_deref(),
        "fixlevel",
        &portal_releases(offerings),
    )
}

/// The number of a cumulative-fix level: `CF219` → 219.
fn cf_number(level: &str) -> Option<u32> {
    let n = level
        .trim()
        .strip_prefix("CF")
        .or_else(|| level.trim().strip_prefix("cf"))?;
    n.parse().ok()
}

/// Numeric components of a dotted version (`9.0.5.17`), or `None` when it is not one.
fn numeric(version: &str) -> Option<Vec<u64>> {
    version.trim().split('.').map(|c| c.parse().ok()).collect()
}

/// Whether two numeric versions are equal, missing trailing components counting as 0
/// (`9.5` = `9.5.0.0`).
fn same_release(a: &[u64], b: &[u64]) -> bool {
    let n = a.len().max(b.len());
    (0..n).all(|i| a.get(i).copied().unwrap_or(0) == b.get(i).copied().unwrap_or(0))
}

/// Compares a file's `version` (and cumulative-fix `cf`, where the file carries one, from
/// `cf_source`) with the offering's display version; for Portal, the file's release may be any of
/// the group's Portal `releases`. Two display shapes are known: WebSphere's
/// `9.0.5.17` and Portal's `9.5 CF219`; anything else is [`VersionCheck::Unknown`].
fn compare_level(
    offering: &Offering,
    version: &str,
    cf: Option<&str>,
    cf_source: &str,
    releases: &[Vec<u64>],
) -> VersionCheck {
    let Some(display) = offering.display_version.as_deref() else {
        return VersionCheck::Unknown {
            reason: format!("IM records no display version for {}", offering.id),
        };
    };
    let unknown = || VersionCheck::Unknown {
        reason: format!(
            "cannot compare version {version} with {} {display} as IM records it",
            offering.id
        ),
    };
    let Some(found) = numeric(version) else {
        return unknown();
    };
    let agrees = || VersionCheck::Agrees {
        offering: offering.id.clone(),
        version: display.to_string(),
    };
    let disagrees = |found: String| VersionCheck::Disagrees {
        offering: offering.id.clone(),
        recorded: display.to_string(),
        found,
    };
    if let Some(recorded) = numeric(display) {
        // WebSphere: the product file carries the whole fix-pack level.
        return if same_release(&recorded, &found) {
            agrees()
        } else {
            disagrees(version.trim().to_string())
        };
    }
    // Portal / DX: "<release> CF<n>"; the product file's version is the release, the
    // cumulative fix is a separate level.
    let Some((release, level)) = display.split_once(' ') else {
        return unknown();
    };
    let (Some(release), Some(recorded_cf)) = (numeric(release), cf_number(level)) else {
        return unknown();
    };
    let names = |release: &[u64]| {
        found.len() >= release.len() && found[..release.len()] == release[..]
            || same_release(release, &found)
    };
    let prefix_matches = names(&release) || releases.iter().any(|r| names(r));
    if !prefix_matches {
        return disagrees(version.trim().to_string());
    }
    let Some(found_cf) = cf.and_then(cf_number) else {
        return VersionCheck::Unknown {
            reason: format!(
                "version {version} names the release but {cf_source} names no cumulative fix to compare with {display}"
            ),
        };
    };
    if found_cf == recorded_cf {
        agrees()
    } else {
        disagrees(format!("{} CF{found_cf}", version.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/opt/IBM/WebSphere/AppServer/properties/version/ND.product";

    /// A WAS 9 `ND.product`, as `versionInfo.sh` reads it.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE product PUBLIC "productId" "product.dtd">

<product name="IBM WebSphere Application Server - ND">
   <id>ND</id>
   <version>9.0.5.17</version>
   <build-info date="7/25/23" level="cf172329.03"/>
</product>
"#;

    fn parse(text: &str) -> Result<ProductVersion, ImError> {
        parse_product_file(text, Path::new(PATH))
    }

    #[test]
    fn realistic_sample() {
        assert_eq!(
            parse(SAMPLE).unwrap(),
            ProductVersion {
                id: "ND".into(),
                name: Some("IBM WebSphere Application Server - ND".into()),
                version: "9.0.5.17".into(),
                level: Some("cf172329.03".into()),
            }
        );
    }

    #[test]
    fn portal_product_file() {
        let text = "<?xml version='1.0' encoding='UTF-8'?>\n<product name='IBM WebSphere Portal Server'>\
            <id>PORTAL</id><version>\n  8.5.0.0\n</version><build-info date='4/24/14' level='wp850_2155'/></product>";
        let p = parse(text).unwrap();
        assert_eq!(p.id, "PORTAL");
        assert_eq!(p.version, "8.5.0.0");
    }

    #[test]
    fn bom_crlf_and_single_quotes_are_tolerated() {
        let text = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n").replace('"', "'"));
        assert_eq!(parse(&text).unwrap(), parse(SAMPLE).unwrap());
    }

    #[test]
    fn unknown_content_and_namespaces_are_ignored() {
        let text = r#"<p:product xmlns:p="urn:p" edition="x" name="N"><extra/><p:id>BASE</p:id><!-- c --><p:version><![CDATA[9.0.5.17]]></p:version><later><id>no</id></later></p:product>"#;
        let p = parse(text).unwrap();
        assert_eq!((p.id.as_str(), p.version.as_str()), ("BASE", "9.0.5.17"));
        assert_eq!(p.name.as_deref(), Some("N"));
    }

    #[test]
    fn missing_name_is_none() {
        let p = parse("<product><id>ND</id><version>9.0</version></product>").unwrap();
        assert_eq!(p.name, None);
    }

    #[test]
    fn missing_version_is_an_error_with_line() {
        let err = parse("<?xml version='1.0'?>\n<product name='x'>\n<id>ND</id>\n<version> </version>\n</product>")
            .unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("{PATH}:2: ")), "{shown}");
        assert!(shown.contains("<version>"), "{shown}");
        assert!(parse("<product><version>9</version></product>").is_err());
    }

    #[test]
    fn wrong_root_garbage_and_truncation_are_errors_naming_the_file() {
        let cut = &SAMPLE[..SAMPLE.find("<version>").unwrap()];
        for bad in [
            "<websphere name='x' version='9.0'/>",
            "",
            "ND 9.0.5.17",
            cut,
        ] {
            match parse(bad) {
                Err(err @ ImError::Parse { .. }) => {
                    assert!(err.to_string().contains(PATH), "{err}")
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    fn offering(id: &str, display: &str) -> Offering {
        Offering {
            id: id.into(),
            version: "1".into(),
            display_version: Some(display.into()),
            name: None,
        }
    }

    fn none() -> ProductIds {
        ProductIds::new()
    }

    fn product(id: &str, version: &str, level: Option<&str>) -> ProductVersion {
        ProductVersion {
            id: id.into(),
            name: None,
            version: version.into(),
            level: level.map(Into::into),
        }
    }

    #[test]
    fn websphere_levels_compare_with_the_display_version() {
        let offerings = [
            offering("com.ibm.websphere.ND.v90", "9.0.5.17"),
            offering("com.ibm.java.jdk.v8", "8.0.8.15"),
        ];
        let check = |v: &str| {
            check_product(
                &product("ND", v, Some("cf172329.03")),
                false,
                &offerings,
                &none(),
            )
        };
        assert!(matches!(check("9.0.5.17"), VersionCheck::Agrees { .. }));
        assert!(matches!(check("9.0.5.17.0"), VersionCheck::Agrees { .. }));
        assert_eq!(
            check("9.0.5.16"),
            VersionCheck::Disagrees {
                offering: "com.ibm.websphere.ND.v90".into(),
                recorded: "9.0.5.17".into(),
                found: "9.0.5.16".into(),
            }
        );
        // Another edition's file, or a version that is not numeric: not compared.
        assert!(matches!(
            check_product(
                &product("BASE", "9.0.5.16", None),
                false,
                &offerings,
                &none()
            ),
            VersionCheck::Unknown { .. }
        ));
        assert!(matches!(check("9.0.5.x"), VersionCheck::Unknown { .. }));
    }

    #[test]
    fn portal_levels_compare_release_and_cumulative_fix() {
        let offerings = [offering("com.ibm.websphere.PORTAL.SERVER.v95", "9.5 CF219")];
        let check = |v: &str, level: Option<&str>| {
            check_product(&product("MP", v, level), true, &offerings, &none())
        };
        assert!(matches!(
            check("9.5.0.0", Some("CF219")),
            VersionCheck::Agrees { .. }
        ));
        assert_eq!(
            check("9.5.0.0", Some("CF218")),
            VersionCheck::Disagrees {
                offering: "com.ibm.websphere.PORTAL.SERVER.v95".into(),
                recorded: "9.5 CF219".into(),
                found: "9.5.0.0 CF218".into(),
            }
        );
        assert!(matches!(
            check("8.5.0.0", Some("CF219")),
            VersionCheck::Disagrees { .. }
        ));
        // A build level that is no CF (as older Portals write it) cannot be compared.
        assert!(matches!(
            check("9.5.0.0", Some("wp850_2155")),
            VersionCheck::Unknown { .. }
        ));
        assert!(matches!(
            check("9.5.0.0", None),
            VersionCheck::Unknown { .. }
        ));
        // An unknown display shape is never a disagreement.
        let odd = [offering(
            "com.ibm.websphere.PORTAL.SERVER.v95",
            "Version 9.5 (CF219)",
        )];
        assert!(matches!(
            check_product(&product("MP", "9.4.0.0", Some("CF1")), true, &odd, &none()),
            VersionCheck::Unknown { .. }
        ));
    }

    #[test]
    fn wps_properties_name_release_and_cf() {
        // As Portal writes it (HCL's own test rigs check `fixlevel=CF19` in it).
        let text = "#Wed Mar 15 09:15:00 UTC 2024\r\nWPFamilyName=MultiPlatform\r\nversion=9.5.0.0\r\nfixlevel=CF220\r\nPortalRootDir=/opt/x\r\nProfileName=wp_profile\r\nProfileDirectory=/opt/wp_profile\r\ncwProfileHome=/opt/was/profiles/cw_profile\r\n";
        let props = parse_wps_properties(text, Path::new("/p/wps.properties")).unwrap();
        assert_eq!(props.version.as_deref(), Some("9.5.0.0"));
        assert_eq!(props.fixlevel.as_deref(), Some("CF220"));
        assert_eq!(props.profile_directory.as_deref(), Some("/opt/wp_profile"));
        // Keys real files do not have are not read as the level.
        let invented = "WPVersion=9.5.0.0\nWPCumulativeFix=CF220\n";
        assert_eq!(
            parse_wps_properties(invented, Path::new("/p/wps.properties")).unwrap(),
            PortalProperties::default()
        );
        let offerings = [offering("com.ibm.websphere.PORTAL.SERVER.v95", "9.5 CF219")];
        assert!(matches!(
            check_wps(&props, &offerings),
            VersionCheck::Disagrees { ref found, .. } if found == "9.5.0.0 CF220"
        ));
        assert!(matches!(
            check_wps(&props, &[offering("com.ibm.websphere.ND.v90", "9.0.5.17")]),
            VersionCheck::Unknown { .. }
        ));
    }

    #[test]
    fn check_group_reads_the_files_of_a_sample_host() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        let was = dir.path().join("opt/was/properties/version");
        std::fs::create_dir_all(&was).unwrap();
        std::fs::write(was.join("ND.product"), SAMPLE).unwrap();
        std::fs::write(was.join("BASE.product"), "<product><id>BASE").unwrap();
        std::fs::write(was.join("platform.websphere"), "<websphere/>").unwrap();
        let group = PackageGroup {
            id: "WAS".into(),
            path: "/opt/was".into(),
            offerings: vec![offering("com.ibm.websphere.ND.v90", "9.0.5.17")],
            fixes: vec![],
        };
        let checks = check_group(&host, &group, &none());
        assert_eq!(checks.len(), 2);
        assert_eq!(
            checks[0].path,
            Path::new("/opt/was/properties/version/BASE.product")
        );
        match &checks[0].check {
            VersionCheck::Unreadable { error } => {
                assert!(
                    error.contains("/opt/was/properties/version/BASE.product"),
                    "{error}"
                );
                assert!(
                    !error.contains(&dir.path().display().to_string()),
                    "{error}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(checks[1].check, VersionCheck::Agrees { .. }));
    }

    #[test]
    fn editions_match_their_product_file_through_was_install_productid() {
        let offerings = [
            offering("com.ibm.java.jdk.v8", "8.0.8.15"),
            offering("com.ibm.websphere.DEVELOPERSILAN.v85", "8.5.5.9"),
        ];
        let ids: ProductIds = [(
            "com.ibm.websphere.DEVELOPERSILAN.v85".to_string(),
            "BASE".to_string(),
        )]
        .into();
        assert_eq!(
            check_product(&product("BASE", "8.5.5.13", None), false, &offerings, &ids),
            VersionCheck::Disagrees {
                offering: "com.ibm.websphere.DEVELOPERSILAN.v85".into(),
                recorded: "8.5.5.9".into(),
                found: "8.5.5.13".into(),
            }
        );
        assert!(matches!(
            check_product(&product("BASE", "8.5.5.9", None), false, &offerings, &ids),
            VersionCheck::Agrees { .. }
        ));
        // An ND file on a BASE-only group is not compared.
        assert!(matches!(
            check_product(&product("ND", "8.5.5.13", None), false, &offerings, &ids),
            VersionCheck::Unknown { .. }
        ));
        // Records without the property: a trial matches its edition's id.
        let trial = [offering("com.ibm.websphere.NDTRIAL.v85", "8.5.5.9")];
        assert!(matches!(
            check_product(&product("ND", "8.5.5.13", None), false, &trial, &none()),
            VersionCheck::Disagrees { .. }
        ));
        // IHS and the plug-ins carry their own ids.
        let ihs = [
            offering("com.ibm.websphere.IHS.v90", "9.0.5.17"),
            offering("com.ibm.websphere.PLG.v90", "9.0.5.16"),
        ];
        let ids: ProductIds = [
            ("com.ibm.websphere.IHS.v90".to_string(), "IHS".to_string()),
            ("com.ibm.websphere.PLG.v90".to_string(), "PLG".to_string()),
        ]
        .into();
        assert!(matches!(
            check_product(&product("PLG", "9.0.5.16", None), false, &ihs, &ids),
            VersionCheck::Agrees { ref offering, .. } if offering == "com.ibm.websphere.PLG.v90"
        ));
    }

    #[test]
    fn a_dx_group_compares_with_its_highest_server_offering() {
        let offerings = [
            offering("com.ibm.websphere.PORTAL.ENABLE.v85", "8.5 CF219"),
            offering("com.ibm.websphere.PORTAL.ENABLE.v95", "9.5 CF219"),
            offering("com.ibm.websphere.PORTAL.SERVER.v85", "8.5 CF219"),
            offering("com.ibm.websphere.PORTAL.SERVER.v95", "9.5 CF219"),
        ];
        let wps = |version: &str, cf: &str| PortalProperties {
            version: Some(version.into()),
            fixlevel: Some(cf.into()),
            profile_directory: None,
        };
        assert_eq!(
            check_wps(&wps("9.5.0.0", "CF218"), &offerings),
            VersionCheck::Disagrees {
                offering: "com.ibm.websphere.PORTAL.SERVER.v95".into(),
                recorded: "9.5 CF219".into(),
                found: "9.5.0.0 CF218".into(),
            }
        );
        assert!(matches!(
            check_wps(&wps("9.5.0.0", "CF219"), &offerings),
            VersionCheck::Agrees { ref offering, .. } if offering == "com.ibm.websphere.PORTAL.SERVER.v95"
        ));
        // The 8.5 base release is named by some 9.5 installs: still current.
        assert!(matches!(
            check_wps(&wps("8.5.0.0", "CF219"), &offerings),
            VersionCheck::Agrees { .. }
        ));
        assert!(matches!(
            check_wps(&wps("8.0.0.0", "CF219"), &offerings),
            VersionCheck::Disagrees { .. }
        ));
        assert!(matches!(
            check_product(&product("PORTAL", "9.5.0.0", Some("CF220")), true, &offerings, &none()),
            VersionCheck::Disagrees { ref offering, .. } if offering == "com.ibm.websphere.PORTAL.SERVER.v95"
        ));
        // Remote Search in a group of its own compares with its one offering.
        let rs = [offering(
            "com.ibm.websphere.PORTAL.REMOTESEARCH.v85",
            "8.5 CF19",
        )];
        assert!(matches!(
            check_wps(&wps("8.5.0.0", "CF19"), &rs),
            VersionCheck::Agrees { .. }
        ));
    }
}
