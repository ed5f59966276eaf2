//! Reads `installRegistry.xml` from IM's agent data directory: the package groups IM knows
//! (IM calls them profiles), their install directories, and every version of each offering and
//! fix that IM recorded, oldest first.
//!
//! Unlike `installed.xml`, this file keeps history across fix packs, so the last `version` of
//! an offering is the current one. The `repoInfo` attribute of each version is not read. Names
//! are matched by local name (namespace prefixes ignored) and unknown content is skipped.
//!
//! IM keeps a profile for itself here too (`IBM Installation Manager`, installed at its own
//! `eclipse` directory, holding `com.ibm.cic.agent`; docs/im-facts.md §9), with or without
//! `kind='self'`: [`RegistryProfile::is_self`] tells it apart from the products' profiles.

use std::collections::BTreeMap;
use std::path::Path;

use roxmltree::Node;
use serde::{Deserialize, Serialize};

use super::installed::is_agent_offering;
use super::xml::{attr, children, parse_document, properties, required_attr, root};
use super::{ImError, non_empty};

/// Everything lockstep reads from `installRegistry.xml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRegistryXml {
    /// The top-level `<property>` elements (`cacheLocation`, `accessRights`, …), by name.
    pub properties: BTreeMap<String, String>,
    /// One entry per package group (`<profile>`), in file order.
    pub profiles: Vec<RegistryProfile>,
}

impl InstallRegistryXml {
    /// The shared resources directory (`cacheLocation`): the top-level property if present,
    /// otherwise the first profile that records one (where IM puts it is not confirmed).
    pub fn cache_location(&self) -> Option<&str> {
        non_empty(&self.properties, "cacheLocation").or_else(|| {
            self.profiles
                .iter()
                .find_map(|p| non_empty(&p.properties, "cacheLocation"))
        })
    }

    /// The profile whose id (package group name) is `id`.
    pub fn profile(&self, id: &str) -> Option<&RegistryProfile> {
        self.profiles.iter().find(|p| p.id == id)
    }

    /// IM's own profile, where recorded (see [`RegistryProfile::is_self`]).
    pub fn self_profile(&self) -> Option<&RegistryProfile> {
        self.profiles.iter().find(|p| p.is_self())
    }

    /// The current version of IM's own offering (`com.ibm.cic.agent`), where recorded.
    pub fn agent_version(&self) -> Option<&str> {
        self.profiles
            .iter()
            .flat_map(|p| &p.offerings)
            .find(|o| is_agent_offering(&o.id))
            .and_then(RegistryOffering::current_version)
    }
}

/// One package group as IM's install registry knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryProfile {
    /// The package group's name, e.g. `IBM WebSphere Application Server V9.0`.
    pub id: String,
    /// The profile's `kind` attribute (`self` for IM itself) as written; empty when absent,
    /// which is usual: only IM's response files are known to write it.
    #[serde(default)]
    pub kind: String,
    /// The group's install directory (`installLocation` property), where recorded.
    pub install_location: Option<String>,
    /// All of the profile's `<property>` elements, by name (`installLocation` included).
    pub properties: BTreeMap<String, String>,
    /// The offerings installed in the group, in file order.
    pub offerings: Vec<RegistryOffering>,
    /// The fixes (interim fixes) installed in the group, in file order.
    pub fixes: Vec<RegistryFix>,
}

impl RegistryProfile {
    /// Whether this is IM's own profile: `kind='self'`, or a profile holding IM's own offering.
    /// Its id is a display name, so neither reader relies on it.
    pub fn is_self(&self) -> bool {
        self.kind.trim().eq_ignore_ascii_case("self")
            || self.offerings.iter().any(|o| is_agent_offering(&o.id))
    }
}

/// An offering and the versions IM recorded for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryOffering {
    /// The offering id, e.g. `com.ibm.websphere.ND.v90`.
    pub id: String,
    /// The recorded versions in document order; the last one is current.
    pub versions: Vec<String>,
}

impl RegistryOffering {
    /// The current version (the last one recorded), if any.
    pub fn current_version(&self) -> Option<&str> {
        self.versions.last().map(String::as_str)
    }
}

/// A fix and the versions IM recorded for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryFix {
    /// The fix id, e.g. `9.0.5.7-WS-WAS-IFPH12345`.
    pub id: String,
    /// The recorded versions in document order; the last one is current.
    pub versions: Vec<String>,
}

impl RegistryFix {
    /// The current version (the last one recorded), if any.
    pub fn current_version(&self) -> Option<&str> {
        self.versions.last().map(String::as_str)
    }
}

/// Parses the text of `installRegistry.xml`; `path` is used in error messages only.
///
/// Fails if the text is not well-formed XML (including a file cut short), if the root element
/// is not `installRegistry`, or if a profile, offering or fix lacks its `id`, or a `version`
/// its `value`.
pub fn parse_install_registry(text: &str, path: &Path) -> Result<InstallRegistryXml, ImError> {
    let doc = parse_document(text, path)?;
    let root = root(&doc, "installRegistry", path)?;
    let profiles = children(root, "profile")
        .map(|node| parse_profile(node, path))
        .collect::<Result<_, _>>()?;
    Ok(InstallRegistryXml {
        properties: properties(root),
        profiles,
    })
}

fn parse_profile(node: Node<'_, '_>, path: &Path) -> Result<RegistryProfile, ImError> {
    let id = required_attr(node, "id", "a package group <profile>", path)?;
    let props = properties(node);
    let offerings = children(node, "offering")
        .map(|o| {
            let (id, versions) = parse_versioned(o, "an <offering>", path)?;
            Ok(RegistryOffering { id, versions })
        })
        .collect::<Result<_, ImError>>()?;
    let fixes = children(node, "fix")
        .map(|f| {
            let (id, versions) = parse_versioned(f, "a <fix>", path)?;
            Ok(RegistryFix { id, versions })
        })
        .collect::<Result<_, ImError>>()?;
    Ok(RegistryProfile {
        id: id.to_string(),
        kind: attr(node, "kind").unwrap_or("").to_string(),
        install_location: non_empty(&props, "installLocation").map(str::to_string),
        properties: props,
        offerings,
        fixes,
    })
}

/// The `id` of an offering or fix and the `value` of each of its `<version>` children.
fn parse_versioned(
    node: Node<'_, '_>,
    what: &str,
    path: &Path,
) -> Result<(String, Vec<String>), ImError> {
    let id = required_attr(node, "id", what, path)?;
    let versions = children(node, "version")
        .map(|v| required_attr(v, "value", &format!("a <version> of {id:?}"), path))
        .map(|v| v.map(str::to_string))
        .collect::<Result<_, _>>()?;
    Ok((id.to_string(), versions))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/var/ibm/InstallationManager/installRegistry.xml";

    /// The shape of docs/im-facts.md §2.6, with a fix pack history and a Portal group.
    const SAMPLE: &str = "<?xml version='1.0' encoding='UTF-8'?>
<installRegistry>
  <property name='cacheLocation' value='/opt/IBM/IMShared'/>
  <property name='accessRights' value='admin'/>
  <profile id='IBM WebSphere Application Server V9.0'>
    <property name='installLocation' value='/opt/IBM/WebSphere/AppServer'/>
    <property name='eclipseLocation' value='/opt/IBM/WebSphere/AppServer'/>
    <offering id='com.ibm.websphere.ND.v90'>
      <version value='9.0.5007.20210301_1241' repoInfo='repositoryLocation=/repo/was9,repositoryId=x'/>
      <version value='9.0.5017.20230725_1437' repoInfo='repositoryLocation=/repo/was9fp17'/>
    </offering>
    <offering id='com.ibm.java.jdk.v8'>
      <version value='8.0.8010.20230721_0850' repoInfo='repositoryLocation=/repo/java8'/>
    </offering>
    <fix id='9.0.5.7-WS-WAS-IFPH12345'><version value='9.0.5.7' repoInfo='repositoryLocation=/repo/ifix'/></fix>
  </profile>
  <profile id='IBM WebSphere Portal Server V8.5'>
    <property name='installLocation' value='/opt/IBM/WebSphere/PortalServer'/>
    <offering id='com.ibm.websphere.PORTAL.SERVER.v85'>
      <version value='8.5.0.20140424_2155' repoInfo='repositoryLocation=/repo/portal'/>
    </offering>
  </profile>
</installRegistry>
";

    fn parse(text: &str) -> Result<InstallRegistryXml, ImError> {
        parse_install_registry(text, Path::new(PATH))
    }

    fn parse_err(text: &str) -> (Option<u32>, String) {
        match parse(text) {
            Err(err @ ImError::Parse { line, .. }) => (line, err.to_string()),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn realistic_sample() {
        let reg = parse(SAMPLE).unwrap();
        assert_eq!(reg.cache_location(), Some("/opt/IBM/IMShared"));
        assert_eq!(reg.properties["accessRights"], "admin");
        assert_eq!(reg.profiles.len(), 2);
        let was = reg
            .profile("IBM WebSphere Application Server V9.0")
            .unwrap();
        assert_eq!(
            was.install_location.as_deref(),
            Some("/opt/IBM/WebSphere/AppServer")
        );
        assert_eq!(was.properties.len(), 2);
        assert_eq!(
            was.offerings[0],
            RegistryOffering {
                id: "com.ibm.websphere.ND.v90".into(),
                versions: vec![
                    "9.0.5007.20210301_1241".into(),
                    "9.0.5017.20230725_1437".into()
                ],
            }
        );
        assert_eq!(
            was.offerings[0].current_version(),
            Some("9.0.5017.20230725_1437")
        );
        assert_eq!(was.offerings[1].id, "com.ibm.java.jdk.v8");
        assert_eq!(
            was.fixes,
            vec![RegistryFix {
                id: "9.0.5.7-WS-WAS-IFPH12345".into(),
                versions: vec!["9.0.5.7".into()],
            }]
        );
        assert_eq!(was.fixes[0].current_version(), Some("9.0.5.7"));
        assert_eq!(
            reg.profiles[1].install_location.as_deref(),
            Some("/opt/IBM/WebSphere/PortalServer")
        );
        assert!(reg.profiles[1].fixes.is_empty());
    }

    #[test]
    fn bom_and_crlf_are_tolerated() {
        let text = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n"));
        assert_eq!(parse(&text).unwrap(), parse(SAMPLE).unwrap());
    }

    #[test]
    fn double_quotes_and_shuffled_attributes_read_the_same() {
        let single = "<installRegistry><profile id='G'><property name='installLocation' value='/p'/>\
            <offering id='o'><version value='1' repoInfo='r'/></offering></profile></installRegistry>";
        let double = "<installRegistry>\n<profile id=\"G\">\n<property value=\"/p\" name=\"installLocation\"/>\n\
            <offering id=\"o\"><version repoInfo=\"r\" value=\"1\"/></offering>\n</profile>\n</installRegistry>";
        assert_eq!(parse(single).unwrap(), parse(double).unwrap());
    }

    #[test]
    fn cache_location_falls_back_to_first_profile_that_has_it() {
        let text = "<installRegistry>
  <profile id='A'><property name='installLocation' value='/a'/></profile>
  <profile id='B'><property name='cacheLocation' value='/data/IMShared'/></profile>
  <profile id='C'><property name='cacheLocation' value='/other'/></profile>
</installRegistry>";
        assert_eq!(
            parse(text).unwrap().cache_location(),
            Some("/data/IMShared")
        );
        let top = "<installRegistry><property name='cacheLocation' value='/top'/>\
            <profile id='B'><property name='cacheLocation' value='/inner'/></profile></installRegistry>";
        assert_eq!(parse(top).unwrap().cache_location(), Some("/top"));
    }

    #[test]
    fn unknown_elements_attributes_and_namespaces_are_ignored() {
        let text = r#"<r:installRegistry xmlns:r="urn:ibm" xmlns:x="urn:x" schema="2">
  <x:future/>
  <r:profile id="G" created="2024">
    <r:offering id="o" x:note="n"><r:version value="1" installDate="2024-01-01"/><notes/></r:offering>
    <nested><offering id="not-direct"/></nested>
  </r:profile>
</r:installRegistry>"#;
        let reg = parse(text).unwrap();
        assert_eq!(reg.profiles[0].offerings.len(), 1);
        assert_eq!(reg.profiles[0].offerings[0].versions, vec!["1".to_string()]);
    }

    #[test]
    fn missing_optional_items_are_none_or_empty() {
        let reg = parse(
            "<installRegistry><profile id='G'><offering id='o'/></profile></installRegistry>",
        )
        .unwrap();
        assert_eq!(reg.cache_location(), None);
        assert_eq!(reg.profiles[0].install_location, None);
        assert!(reg.profiles[0].offerings[0].versions.is_empty());
        assert_eq!(reg.profiles[0].offerings[0].current_version(), None);
        assert!(parse("<installRegistry/>").unwrap().profiles.is_empty());
    }

    #[test]
    fn missing_required_attributes_are_errors_with_line() {
        let (line, shown) =
            parse_err("<installRegistry>\n<profile>\n</profile>\n</installRegistry>");
        assert_eq!(line, Some(2));
        assert!(shown.starts_with(&format!("{PATH}:2: ")), "{shown}");
        let (line, _) = parse_err(
            "<installRegistry>\n<profile id='G'>\n<offering id='o'>\n<version repoInfo='r'/>\n</offering>\n</profile>\n</installRegistry>",
        );
        assert_eq!(line, Some(4));
        let (line, _) = parse_err(
            "<installRegistry>\n<profile id='G'>\n\n<fix><version value='1'/></fix>\n</profile>\n</installRegistry>",
        );
        assert_eq!(line, Some(4));
    }

    #[test]
    fn wrong_root_is_an_error() {
        let (_, shown) = parse_err("<installInfo/>");
        assert!(shown.contains("installRegistry"), "{shown}");
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        for garbage in [
            "",
            "garbage",
            "<installRegistry",
            "<<>>",
            "cacheLocation=/opt",
        ] {
            let (_, shown) = parse_err(garbage);
            assert!(shown.contains(PATH), "{shown}");
        }
    }

    #[test]
    fn truncated_file_is_an_error_with_line() {
        let cut = SAMPLE.find("<profile id='IBM WebSphere Portal").unwrap();
        let (line, shown) = parse_err(&SAMPLE[..cut]);
        assert_eq!(line, Some(17), "{shown}");
        assert!(shown.starts_with(&format!("{PATH}:17: ")), "{shown}");
        let (_, shown) = parse_err(&SAMPLE[..SAMPLE.len() - 5]);
        assert!(shown.contains(PATH), "{shown}");
    }

    #[test]
    fn im_own_profile_is_told_apart_with_or_without_its_kind() {
        for head in [
            "<profile id='IBM Installation Manager' kind='self'>",
            "<profile kind=\"self\" id=\"IBM Installation Manager\">",
            "<profile id='IBM Installation Manager'>",
        ] {
            let text = format!(
                "<installRegistry>{head}\
                 <property name='installLocation' value='/opt/IBM/InstallationManager/eclipse'/>\
                 <offering id='com.ibm.cic.agent'><version value='1.9.1003.20200730_2125' repoInfo='r'/></offering>\
                 </profile><profile id='WAS'><offering id='com.ibm.websphere.ND.v90'/></profile></installRegistry>"
            );
            let reg = parse(&text).unwrap();
            let own = reg.self_profile().unwrap();
            assert_eq!(own.id, "IBM Installation Manager", "{head}");
            assert!(!reg.profiles[1].is_self());
            assert_eq!(reg.agent_version(), Some("1.9.1003.20200730_2125"));
        }
        let kind_only =
            parse("<installRegistry><profile id='X' kind='self'/></installRegistry>").unwrap();
        assert!(kind_only.profiles[0].is_self());
        assert_eq!(kind_only.agent_version(), None);
    }
}
