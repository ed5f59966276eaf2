//! Reads the version file a WebSphere or Portal product keeps about itself, such as
//! `<AppServer>/properties/version/ND.product` or `<PortalServer>/version/*.product`, so its
//! answer can be compared with what IM recorded: a host whose product files were restored
//! without IM's records (or the reverse) disagrees here.
//!
//! Only the `<product name="…"><id/><version/><build-info level/></product>` shape is read,
//! plus Portal's `wps.properties` (`WPVersion`, `WPCumulativeFix`); `.component` files and the
//! `history/` folder are not. [`check_group`] finds a package group's version files and compares
//! each with the offering IM records; a shape it does not know gives
//! [`VersionCheck::Unknown`], never a disagreement.

use std::path::{Path, PathBuf};

use roxmltree::Node;
use serde::{Deserialize, Serialize};

use super::text::parse_properties;
use super::xml::{attr, children, line_of, parse_document, root};
use super::{ImError, read_text};
use crate::hostfs::HostRoot;
use crate::inventory::{Offering, PackageGroup};

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
    /// `WPVersion`, e.g. `9.5.0.0`.
    pub version: Option<String>,
    /// `WPCumulativeFix`, e.g. `CF219`.
    pub cumulative_fix: Option<String>,
}

/// Parses `<PortalServer>/wps.properties` (Java properties); `path` is used in error messages.
pub fn parse_wps_properties(text: &str, path: &Path) -> Result<PortalProperties, ImError> {
    let mut out = PortalProperties::default();
    for prop in parse_properties(text, path)? {
        let value = Some(prop.value.trim().to_string()).filter(|v| !v.is_empty());
        match prop.key.as_str() {
            "WPVersion" => out.version = value,
            "WPCumulativeFix" => out.cumulative_fix = value,
            _ => {}
        }
    }
    Ok(out)
}

/// How one version file compares with IM's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum VersionCheck {
    /// The file and IM agree.
    Agrees {
        /// The offering the file speaks for.
        offering: String,
        /// The version both name.
        version: String,
    },
    /// The file names another level than IM records: the product files and IM's records are
    /// not from the same moment.
    Disagrees {
        /// The offering the file speaks for.
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
/// Portal's `version/*.product` and `wps.properties` — and compares each with the offering IM
/// records for the group.
#[must_use]
pub fn check_group(host: &HostRoot, group: &PackageGroup) -> Vec<ProductFileCheck> {
    let root = Path::new(&group.path);
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for (dir, portal) in [("properties/version", false), ("version", true)] {
        let logical_dir = root.join(dir);
        let Ok(entries) = std::fs::read_dir(host.physical(&logical_dir)) else {
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
            let check = match read_text(&host.physical(&path))
                .and_then(|text| parse_product_file(&text, &path))
            {
                Ok(product) => check_product(&product, portal, &group.offerings),
                Err(e) => VersionCheck::Unreadable {
                    error: e.with_path(&path).to_string(),
                },
            };
            ProductFileCheck { path, check }
        })
        .collect();
    let wps = root.join("wps.properties");
    let wps_physical = host.physical(&wps);
    if wps_physical.is_file() {
        let check =
            match read_text(&wps_physical).and_then(|text| parse_wps_properties(&text, &wps)) {
                Ok(props) => check_wps(&props, &group.offerings),
                Err(e) => VersionCheck::Unreadable {
                    error: e.with_path(&wps).to_string(),
                },
            };
        out.push(ProductFileCheck { path: wps, check });
    }
    out
}

/// The offering a `.product` file speaks for: WebSphere's `<ID>.product` belongs to
/// `com.ibm.websphere.<ID>.*`; a file in Portal's `version/` folder to the group's one Portal
/// offering.
fn offering_for<'a>(
    product_id: &str,
    portal: bool,
    offerings: &'a [Offering],
) -> Option<&'a Offering> {
    let by_edition = offerings.iter().find(|o| {
        o.id.strip_prefix("com.ibm.websphere.")
            .and_then(|rest| rest.split('.').next())
            .is_some_and(|edition| edition.eq_ignore_ascii_case(product_id))
    });
    if by_edition.is_some() {
        return by_edition;
    }
    if !portal {
        return None;
    }
    let mut portals = offerings.iter().filter(|o| is_portal(o));
    match (portals.next(), portals.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

fn is_portal(o: &Offering) -> bool {
    o.id.to_ascii_uppercase().contains("PORTAL")
}

/// Compares a `.product` file with the offering it speaks for.
fn check_product(product: &ProductVersion, portal: bool, offerings: &[Offering]) -> VersionCheck {
    let Some(offering) = offering_for(&product.id, portal, offerings) else {
        return VersionCheck::Unknown {
            reason: format!(
                "product id {} ({}) matches no offering IM records for this package group",
                product.id, product.version
            ),
        };
    };
    compare_level(
        offering,
        &product.version,
        product.level.as_deref().filter(|l| cf_number(l).is_some()),
        "its build level",
    )
}

/// Compares `wps.properties` with the group's Portal offering.
fn check_wps(props: &PortalProperties, offerings: &[Offering]) -> VersionCheck {
    let mut portals = offerings.iter().filter(|o| is_portal(o));
    let (Some(offering), None) = (portals.next(), portals.next()) else {
        return VersionCheck::Unknown {
            reason: "IM records no single Portal offering for this package group".into(),
        };
    };
    let Some(version) = &props.version else {
        return VersionCheck::Unknown {
            reason: "no WPVersion key".into(),
        };
    };
    compare_level(
        offering,
        version,
        props.cumulative_fix.as_deref(),
        "WPCumulativeFix",
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
/// `cf_source`) with the offering's display version. Two display shapes are known: WebSphere's
/// `9.0.5.17` and Portal's `9.5 CF219`; anything else is [`VersionCheck::Unknown`].
fn compare_level(
    offering: &Offering,
    version: &str,
    cf: Option<&str>,
    cf_source: &str,
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
    let prefix_matches = found.len() >= release.len() && found[..release.len()] == release[..]
        || same_release(&release, &found);
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
        let check =
            |v: &str| check_product(&product("ND", v, Some("cf172329.03")), false, &offerings);
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
            check_product(&product("BASE", "9.0.5.16", None), false, &offerings),
            VersionCheck::Unknown { .. }
        ));
        assert!(matches!(check("9.0.5.x"), VersionCheck::Unknown { .. }));
    }

    #[test]
    fn portal_levels_compare_release_and_cumulative_fix() {
        let offerings = [offering("com.ibm.websphere.PORTAL.SERVER.v95", "9.5 CF219")];
        let check = |v: &str, level: Option<&str>| {
            check_product(&product("MP", v, level), true, &offerings)
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
            check_product(&product("MP", "9.4.0.0", Some("CF1")), true, &odd),
            VersionCheck::Unknown { .. }
        ));
    }

    #[test]
    fn wps_properties_name_release_and_cf() {
        let text = "#WebSphere Portal installation properties\nWPVersion=9.5.0.0\nWPCumulativeFix=CF220\nPortalServer.root=/opt/x\n";
        let props = parse_wps_properties(text, Path::new("/p/wps.properties")).unwrap();
        assert_eq!(props.version.as_deref(), Some("9.5.0.0"));
        assert_eq!(props.cumulative_fix.as_deref(), Some("CF220"));
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
        let checks = check_group(&host, &group);
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
}
