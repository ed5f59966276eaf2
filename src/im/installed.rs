//! Reads `installed.xml` from IM's agent data directory: IM's own settings (where it is
//! installed, its access rights, the shared resources directory) and, for every package group,
//! its install path and the offerings installed there at their current versions.
//!
//! The file shows the present state only: IM overwrites an offering's `version` when a fix pack
//! goes on, so history comes from `installRegistry.xml` instead. Interim fixes are packages of
//! kind `fix` nested in their product's location and are read as such; feature packages nested
//! inside offerings are not read. IM lists itself as a package group too (kind `self`, offering
//! [`AGENT_OFFERING`]; docs/im-facts.md §2.5, §9): [`InstalledLocation::is_self`] tells it
//! apart. Element and attribute names are matched by local name, so any namespace prefix is
//! ignored; unknown elements and attributes are skipped.

use std::collections::BTreeMap;
use std::path::Path;

use roxmltree::Node;
use serde::{Deserialize, Serialize};

use super::xml::{attr, children, parse_document, properties, required_attr, root};
use super::{ImError, non_empty};

/// The offering id of IM itself (`com.ibm.cic.agent`), in both of IM's records.
pub const AGENT_OFFERING: &str = "com.ibm.cic.agent";

/// Whether `id` is IM's own offering.
#[must_use]
pub fn is_agent_offering(id: &str) -> bool {
    id.trim().eq_ignore_ascii_case(AGENT_OFFERING)
}

/// Everything lockstep reads from `installed.xml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledXml {
    /// The top-level `<property>` elements (`agent.install.location`, `cic.appDataLocation`,
    /// `accessRights`, `cacheLocation`, …), by name.
    pub properties: BTreeMap<String, String>,
    /// One entry per package group (`<location>`), in file order; IM itself is the one whose
    /// `kind` is `self`.
    pub locations: Vec<InstalledLocation>,
}

impl InstalledXml {
    /// The shared resources directory (`cacheLocation`), if recorded. IM-only hosts may lack it.
    pub fn cache_location(&self) -> Option<&str> {
        non_empty(&self.properties, "cacheLocation")
    }

    /// The install mode IM runs in (`accessRights`: `admin`, `nonAdmin` or `group`), as written.
    pub fn access_rights(&self) -> Option<&str> {
        non_empty(&self.properties, "accessRights")
    }

    /// The agent data directory (`cic.appDataLocation`), as IM recorded it.
    pub fn app_data_location(&self) -> Option<&str> {
        non_empty(&self.properties, "cic.appDataLocation")
    }

    /// IM's own `eclipse` directory (`agent.install.location`).
    pub fn agent_install_location(&self) -> Option<&str> {
        non_empty(&self.properties, "agent.install.location")
    }

    /// The package group holding IM itself (`kind='self'`, or holding IM's own offering). Its
    /// `id` is a display name that varies, so the kind and the offering are the markers.
    pub fn self_location(&self) -> Option<&InstalledLocation> {
        self.locations.iter().find(|l| l.is_self())
    }

    /// The package groups of installed products (every location that is not IM itself).
    pub fn product_locations(&self) -> impl Iterator<Item = &InstalledLocation> {
        self.locations.iter().filter(|l| !l.is_self())
    }

    /// IM's own offering (in its `self` location), where recorded.
    pub fn agent_offering(&self) -> Option<&InstalledOffering> {
        self.locations
            .iter()
            .filter(|l| l.is_self())
            .flat_map(|l| &l.offerings)
            .find(|o| is_agent_offering(&o.id))
            .or_else(|| self.self_location()?.offerings.first())
    }
}

/// One package group: a directory into which IM installed one or more offerings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledLocation {
    /// The package group's name, e.g. `IBM WebSphere Application Server V9.0`.
    pub id: String,
    /// `product` for installed products, `self` for IM itself; empty if IM wrote none.
    pub kind: String,
    /// The package group's install directory, e.g. `/opt/IBM/WebSphere/AppServer`.
    pub path: String,
    /// The group's `<property>` elements (`eclipseLocation`, `cic.selector.*`, `user.*`, …).
    pub properties: BTreeMap<String, String>,
    /// The offerings installed in this group, in file order.
    pub offerings: Vec<InstalledOffering>,
    /// The interim fixes installed in this group (`<package kind='fix'>`), in file order.
    #[serde(default)]
    pub fixes: Vec<InstalledFix>,
}

impl InstalledLocation {
    /// Whether this is IM's own package group: `kind='self'`, or (a file that left the kind
    /// out) a group holding IM's own offering.
    pub fn is_self(&self) -> bool {
        self.kind.trim().eq_ignore_ascii_case("self")
            || self.offerings.iter().any(|o| is_agent_offering(&o.id))
    }

    /// Whether this is an installed product's package group (`kind='product'`, and not IM).
    pub fn is_product(&self) -> bool {
        self.kind.trim().eq_ignore_ascii_case("product") && !self.is_self()
    }
}

/// One interim fix installed in a package group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledFix {
    /// The fix id, e.g. `8.5.5.9-WS-WAS-IFPI73197`.
    pub id: String,
    /// The fix's display name, where recorded.
    pub name: Option<String>,
    /// IM's version of the fix, e.g. `8.5.5009.20180123_1059`.
    pub version: String,
}

/// One installed offering (a product or IM itself) at its current version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledOffering {
    /// The offering id, e.g. `com.ibm.websphere.ND.v90`.
    pub id: String,
    /// The offering's display name, where recorded.
    pub name: Option<String>,
    /// IM's internal version, e.g. `9.0.5017.20230725_1437`.
    pub version: String,
    /// The version people use (`cic.info.version`), e.g. `9.0.5.17`.
    pub display_version: Option<String>,
    /// The WebSphere product id (`was.install.productid`: `ND`, `BASE`, `IHS`, `PLG`…): the id
    /// in the product's `properties/version/*.product` file, whatever the edition's offering id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
}

/// Parses the text of `installed.xml`; `path` is used in error messages only.
///
/// Fails if the text is not well-formed XML (including a file cut short), if the root element
/// is not `installInfo`, if a `location` lacks `id` or `path`, or if an offering lacks `id` or
/// `version`.
pub fn parse_installed(text: &str, path: &Path) -> Result<InstalledXml, ImError> {
    let doc = parse_document(text, path)?;
    let root = root(&doc, "installInfo", path)?;
    let locations = children(root, "location")
        .map(|node| parse_location(node, path))
        .collect::<Result<_, _>>()?;
    Ok(InstalledXml {
        properties: properties(root),
        locations,
    })
}

fn parse_location(node: Node<'_, '_>, path: &Path) -> Result<InstalledLocation, ImError> {
    let id = required_attr(node, "id", "a package group <location>", path)?;
    let what = format!("package group <location> {id:?}");
    let dir = required_attr(node, "path", &what, path)?;
    let offerings = children(node, "package")
        .filter(|p| attr(*p, "kind").is_none_or(|k| k.trim().eq_ignore_ascii_case("offering")))
        .map(|p| parse_offering(p, path))
        .collect::<Result<_, _>>()?;
    let fixes = children(node, "package")
        .filter(|p| attr(*p, "kind").is_some_and(|k| k.trim().eq_ignore_ascii_case("fix")))
        .map(|p| parse_fix(p, path))
        .collect::<Result<_, _>>()?;
    Ok(InstalledLocation {
        id: id.to_string(),
        kind: attr(node, "kind").unwrap_or("").to_string(),
        path: dir.to_string(),
        properties: properties(node),
        offerings,
        fixes,
    })
}

fn parse_fix(node: Node<'_, '_>, path: &Path) -> Result<InstalledFix, ImError> {
    let id = required_attr(node, "id", "an interim fix <package kind='fix'>", path)?;
    let version = required_attr(node, "version", &format!("fix {id:?}"), path)?;
    Ok(InstalledFix {
        id: id.to_string(),
        name: attr(node, "name")
            .filter(|n| !n.trim().is_empty())
            .map(str::to_string),
        version: version.to_string(),
    })
}

fn parse_offering(node: Node<'_, '_>, path: &Path) -> Result<InstalledOffering, ImError> {
    let id = required_attr(node, "id", "an offering <package>", path)?;
    let version = required_attr(node, "version", &format!("offering {id:?}"), path)?;
    let props = properties(node);
    Ok(InstalledOffering {
        id: id.to_string(),
        name: attr(node, "name")
            .filter(|n| !n.trim().is_empty())
            .map(str::to_string),
        version: version.to_string(),
        display_version: non_empty(&props, "cic.info.version").map(str::to_string),
        product_id: non_empty(&props, "was.install.productid").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/var/ibm/InstallationManager/installed.xml";

    /// Shaped after docs/im-facts.md §2.5 and the Puppet module's fixtures, with a second product
    /// group and IM's own group.
    const SAMPLE: &str = r#"<?xml version='1.0' encoding='UTF-8'?>
<?installInfo version='0.0.3'?>
<?xml-stylesheet type='text/xsl' href='installed.xsl'?>
<installInfo xmlns:xsi='http://www.ibm.com/rational/com.ibm.cic.installed' xmlns:installed='http://www.ibm.com/rational/com.ibm.cic.installed' xsi:schemaLocation='http://www.ibm.com/rational/com.ibm.cic.installed'>
  <property name='agent.launch.command' value='/opt/IBM/InstallationManager/eclipse/tools/imcl'/>
  <property name='agent.install.location' value='/opt/IBM/InstallationManager/eclipse'/>
  <property name='cic.appDataLocation' value='/var/ibm/InstallationManager'/>
  <property name='accessRights' value='admin'/>
  <property name='cacheLocation' value='/opt/IBM/IMShared'/>
  <location id='IBM WebSphere Application Server V8.5' kind='product' path='/opt/IBM/WebSphere/AppServer'>
    <property name='eclipseLocation' value='/opt/IBM/WebSphere/AppServer'/>
    <property name='cic.selector.os' value='linux'/>
    <property name='user.import.profile' value='false'/>
    <package kind='offering' name='IBM WebSphere Application Server' id='com.ibm.websphere.BASE.v85' version='8.5.5006.20150529_0536'>
      <property name='cic.info.version' value='8.5.5.6'/>
      <property name='agent.sourceRepositoryLocation' value='https://mycompany.com:8001/repo'/>
      <property name='default.location.win32' value='${specialFolder:PROGRAM_FILES}\IBM\WebSphere\AppServer'/>
      <property name='cic.fixed.problem.description_com.ibm.ws.apar.PM71102' value='PM71102: &lt;location&gt; settings do not affect some content'/>
      <package kind='feature' id='core.feature'><property name='cic.feature.kind' value='RequiredAndNotVisible'/></package>
      <package kind='feature' id='ejbdeploy'/>
    </package>
  </location>
  <location id='IBM WebSphere Portal Server V8.5' kind='product' path='/opt/IBM/WebSphere/PortalServer'>
    <package kind='offering' name='IBM WebSphere Portal Server' id='com.ibm.websphere.PORTAL.SERVER.v85' version='8.5.0.20140424_2155'>
      <property name='cic.info.version' value='8.5.0.0'/>
    </package>
    <package kind='offering' name='HCL Digital Experience Combined Cumulative Fix' id='com.ibm.websphere.PORTAL.CF.v85' version='8.5.0.CF223'/>
  </location>
  <location id='IBM Installation Manager' kind='self' path='/opt/IBM/InstallationManager/eclipse'>
    <property name='agent.java.home' value='/opt/IBM/InstallationManager/eclipse/jre_7.0.100020.20150305_1513/jre'/>
    <package kind='offering' id='com.ibm.cic.agent' version='1.8.3000.20150606_0047' name='IBM® Installation Manager'>
      <property name='cic.info.version' value='1.8.3'/>
    </package>
  </location>
</installInfo>
"#;

    fn parse(text: &str) -> Result<InstalledXml, ImError> {
        parse_installed(text, Path::new(PATH))
    }

    fn parse_err(text: &str) -> (Option<u32>, String) {
        match parse(text) {
            Err(err @ ImError::Parse { line, .. }) => (line, err.to_string()),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn realistic_sample() {
        let info = parse(SAMPLE).unwrap();
        assert_eq!(info.cache_location(), Some("/opt/IBM/IMShared"));
        assert_eq!(info.access_rights(), Some("admin"));
        assert_eq!(
            info.app_data_location(),
            Some("/var/ibm/InstallationManager")
        );
        assert_eq!(
            info.agent_install_location(),
            Some("/opt/IBM/InstallationManager/eclipse")
        );
        assert_eq!(info.properties.len(), 5);
        assert_eq!(info.locations.len(), 3);

        let was = &info.locations[0];
        assert_eq!(was.id, "IBM WebSphere Application Server V8.5");
        assert_eq!(was.kind, "product");
        assert_eq!(was.path, "/opt/IBM/WebSphere/AppServer");
        assert_eq!(was.properties["cic.selector.os"], "linux");
        assert_eq!(
            was.offerings,
            vec![InstalledOffering {
                id: "com.ibm.websphere.BASE.v85".into(),
                name: Some("IBM WebSphere Application Server".into()),
                version: "8.5.5006.20150529_0536".into(),
                display_version: Some("8.5.5.6".into()),
                product_id: None,
            }]
        );

        let portal = &info.locations[1];
        assert_eq!(portal.offerings.len(), 2);
        assert_eq!(portal.offerings[1].version, "8.5.0.CF223");
        assert_eq!(portal.offerings[1].display_version, None);

        let im = info.self_location().unwrap();
        assert_eq!(im.path, "/opt/IBM/InstallationManager/eclipse");
        assert_eq!(im.offerings[0].id, "com.ibm.cic.agent");
        assert_eq!(
            im.offerings[0].name.as_deref(),
            Some("IBM® Installation Manager")
        );
        assert_eq!(info.product_locations().count(), 2);
    }

    #[test]
    fn bom_and_crlf_are_tolerated() {
        let text = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n"));
        assert_eq!(parse(&text).unwrap(), parse(SAMPLE).unwrap());
    }

    #[test]
    fn double_quotes_and_shuffled_attributes_read_the_same() {
        let single = "<installInfo><property name='accessRights' value='nonAdmin'/>\
            <location id='G' kind='product' path='/p'>\
            <package kind='offering' id='o' name='N' version='1.0'/></location></installInfo>";
        let double = "<installInfo>\n<property value=\"nonAdmin\" name=\"accessRights\"/>\n\
            <location path=\"/p\" kind=\"product\" id=\"G\">\n\
            <package version=\"1.0\" name=\"N\" id=\"o\" kind=\"offering\"/>\n</location>\n</installInfo>";
        let a = parse(single).unwrap();
        assert_eq!(a, parse(double).unwrap());
        assert_eq!(a.access_rights(), Some("nonAdmin"));
        assert_eq!(a.locations[0].offerings[0].name.as_deref(), Some("N"));
    }

    #[test]
    fn unknown_elements_attributes_and_namespaces_are_ignored() {
        let text = r#"<i:installInfo xmlns:i="urn:x" xmlns:z="urn:z" newAttr="1">
  <i:property name="cacheLocation" value="/data/IMShared" z:extra="y"/>
  <futureThing><location id="not-top-level" path="/nope"/></futureThing>
  <!-- a comment -->
  <i:location z:id="ignored-prefixed" id="G" path="/opt/app" installDate="2024-01-01">
    <i:package id="o" version="2.0" z:note="x" sizeBytes="10"><unknown/></i:package>
    <package kind="feature" id="f"/>
  </i:location>
</i:installInfo>"#;
        let info = parse(text).unwrap();
        assert_eq!(info.cache_location(), Some("/data/IMShared"));
        assert_eq!(info.locations.len(), 1);
        assert_eq!(info.locations[0].id, "G");
        assert_eq!(info.locations[0].kind, "");
        let offerings = &info.locations[0].offerings;
        assert_eq!(offerings.len(), 1, "the feature package is not an offering");
        assert_eq!(offerings[0].id, "o");
    }

    #[test]
    fn missing_optional_items_are_none_or_empty() {
        let info =
            parse("<installInfo><property name='cacheLocation' value=''/></installInfo>").unwrap();
        assert!(info.locations.is_empty());
        assert_eq!(info.cache_location(), None);
        assert_eq!(info.access_rights(), None);
        assert_eq!(info.app_data_location(), None);
        assert_eq!(info.agent_install_location(), None);
        assert!(info.self_location().is_none());

        let info = parse("<installInfo><location id='G' path='/p'/></installInfo>").unwrap();
        assert!(info.locations[0].offerings.is_empty());
        assert!(info.locations[0].properties.is_empty());
    }

    #[test]
    fn location_without_path_is_an_error_with_line() {
        let (line, shown) =
            parse_err("<installInfo>\n\n  <location id='G' kind='product'/>\n</installInfo>");
        assert_eq!(line, Some(3));
        assert!(shown.starts_with(&format!("{PATH}:3: ")), "{shown}");
        assert!(shown.contains("`path`"), "{shown}");
    }

    #[test]
    fn location_without_id_is_an_error_with_line() {
        let (line, _) = parse_err("<installInfo>\n<location path='/p'/>\n</installInfo>");
        assert_eq!(line, Some(2));
    }

    #[test]
    fn offering_without_id_or_version_is_an_error_with_line() {
        let (line, shown) = parse_err(
            "<installInfo>\n<location id='G' path='/p'>\n<package kind='offering' id='o'/>\n</location>\n</installInfo>",
        );
        assert_eq!(line, Some(3));
        assert!(shown.contains("`version`"), "{shown}");
        let (line, shown) = parse_err(
            "<installInfo>\n<location id='G' path='/p'>\n\n<package version='1'/>\n</location>\n</installInfo>",
        );
        assert_eq!(line, Some(4));
        assert!(shown.contains("`id`"), "{shown}");
    }

    #[test]
    fn wrong_root_is_an_error() {
        let (_, shown) = parse_err("<installRegistry/>");
        assert!(shown.contains("installInfo"), "{shown}");
        assert!(shown.contains(PATH), "{shown}");
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        for garbage in [
            "",
            "not xml at all",
            "\u{0}\u{1}binary",
            "location=/opt/IBM",
        ] {
            let (_, shown) = parse_err(garbage);
            assert!(shown.contains(PATH), "{shown}");
        }
    }

    #[test]
    fn truncated_file_is_an_error_with_line() {
        // Cut at many points through the sample: every cut must be refused, never read as a
        // shorter but valid list of package groups.
        let end = SAMPLE.trim_end().len();
        let mut cut = 0;
        while cut < end {
            if SAMPLE.is_char_boundary(cut) {
                match parse(&SAMPLE[..cut]) {
                    Err(ImError::Parse { .. }) => {}
                    other => panic!("cut at {cut} gave {other:?}"),
                }
            }
            cut += 7;
        }
        let (line, shown) =
            parse_err(&SAMPLE[..SAMPLE.find("<location id='IBM Installation").unwrap()]);
        assert!(line.unwrap() > 20, "{shown}");
        assert!(shown.contains(&format!("{PATH}:")), "{shown}");
    }

    #[test]
    fn nested_fixes_are_read_and_features_are_not() {
        let text = "<installInfo>\n<location id='G' kind='product' path='/opt/was'>\n\
            <package kind='offering' id='com.ibm.websphere.BASE.v85' version='8.5.5009.1'>\
            <package kind='feature' id='core.feature'/></package>\n\
            <package id='8.5.5.9-WS-WAS-IFPI73197' kind='fix' name='IFPI73197' version='8.5.5009.20180123_1059'/>\n\
            <package version=\"2\" kind=\"Fix\" id=\"other\"/>\n</location>\n</installInfo>";
        let info = parse(text).unwrap();
        let group = &info.locations[0];
        assert_eq!(group.offerings.len(), 1);
        assert_eq!(
            group.fixes,
            vec![
                InstalledFix {
                    id: "8.5.5.9-WS-WAS-IFPI73197".into(),
                    name: Some("IFPI73197".into()),
                    version: "8.5.5009.20180123_1059".into(),
                },
                InstalledFix {
                    id: "other".into(),
                    name: None,
                    version: "2".into(),
                },
            ]
        );
        let (line, shown) = parse_err(
            "<installInfo>\n<location id='G' path='/p'>\n<package kind='fix' id='f'/>\n</location>\n</installInfo>",
        );
        assert_eq!(line, Some(3));
        assert!(shown.contains("`version`"), "{shown}");
    }

    #[test]
    fn im_is_recognised_by_its_kind_or_its_offering() {
        for location in [
            "<location id='IBM Installation Manager' kind='self' path='/opt/IBM/InstallationManager/eclipse'>",
            "<location path=\"/opt/Apps/WebSphere/was8.5/product/eclipse\" kind=\"SELF\" id=\"IIM\">",
            "<location id='Installation Manager' path='/opt/IIM/eclipse'>",
            "<location id='Installation Manager' kind='product' path='/opt/IIM/eclipse'>",
        ] {
            let text = format!(
                "<installInfo>{location}<package kind='offering' id='com.ibm.cic.agent' \
                 version='1.9.1003.20200730_2125'/></location>\
                 <location id='WAS' kind='product' path='/opt/was'/></installInfo>"
            );
            let info = parse(&text).unwrap();
            let own = info.self_location().unwrap();
            assert!(own.path.ends_with("/eclipse"), "{location}");
            assert!(!own.is_product(), "{location}");
            assert_eq!(
                info.agent_offering().unwrap().version,
                "1.9.1003.20200730_2125"
            );
            let products: Vec<&str> = info
                .locations
                .iter()
                .filter(|l| l.is_product())
                .map(|l| l.id.as_str())
                .collect();
            assert_eq!(products, ["WAS"], "{location}");
        }
    }
}
