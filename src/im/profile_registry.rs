//! WebSphere's `<AppServer>/properties/profileRegistry.xml`: where the profiles live.
//!
//! ```xml
//! <profiles>
//!   <profile isAReservationTicket="false" isDefault="true" name="wp_profile"
//!            path="/opt/HCL/WebSphere/wp_profile" template="…/profileTemplates/default"/>
//! </profiles>
//! ```
//! Profiles hold a server's runtime configuration (`wp_profile`, `cw_profile`, `dmgr01` …) and
//! must be restored from the same moment as the binaries. Reservation tickets (profiles being
//! created) are skipped.

use std::path::Path;

use serde::Serialize;

use super::ImError;

/// One WebSphere profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// The profile's name, e.g. `wp_profile`.
    pub name: String,
    /// Its directory.
    pub path: String,
}

/// Parses `profileRegistry.xml`.
///
/// # Errors
/// When the text is not XML, the root is not `profiles`, or a profile lacks `name` or `path`.
pub fn parse_profile_registry(text: &str, path: &Path) -> Result<Vec<Profile>, ImError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = roxmltree::Document::parse(text).map_err(|e| ImError::Parse {
        path: path.to_path_buf(),
        line: Some(e.pos().row),
        msg: e.to_string(),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "profiles" {
        return Err(ImError::Parse {
            path: path.to_path_buf(),
            line: Some(doc.text_pos_at(root.range().start).row),
            msg: format!(
                "root element is <{}>, expected <profiles>",
                root.tag_name().name()
            ),
        });
    }
    let mut out = Vec::new();
    for node in root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "profile")
    {
        if node.attribute("isAReservationTicket") == Some("true") {
            continue;
        }
        let line = Some(doc.text_pos_at(node.range().start).row);
        let (Some(name), Some(p)) = (node.attribute("name"), node.attribute("path")) else {
            return Err(ImError::Parse {
                path: path.to_path_buf(),
                line,
                msg: "<profile> without name or path".into(),
            });
        };
        out.push(Profile {
            name: name.to_owned(),
            path: p.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles_and_skips_reservations() {
        let text = "\u{feff}<?xml version='1.0' encoding='UTF-8'?>\r\n<profiles>\r\n\
            <profile path='/opt/HCL/WebSphere/wp_profile' name='wp_profile' isDefault='true'/>\r\n\
            <profile name=\"new\" path=\"/x\" isAReservationTicket=\"true\"/>\r\n\
            <unknown/></profiles>";
        let p = parse_profile_registry(text, Path::new("/p.xml")).unwrap();
        assert_eq!(
            p,
            vec![Profile {
                name: "wp_profile".into(),
                path: "/opt/HCL/WebSphere/wp_profile".into()
            }]
        );
    }

    #[test]
    fn garbage_names_the_file() {
        let err = parse_profile_registry("<profiles><profile", Path::new("/a/profileRegistry.xml"))
            .unwrap_err();
        assert!(err.to_string().contains("/a/profileRegistry.xml"));
        let err = parse_profile_registry(
            "<profiles>\n<profile name='x'/></profiles>",
            Path::new("/b"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/b:2"), "{err}");
    }
}
