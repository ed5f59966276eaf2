//! Reads IM's `<root>/eclipse/configuration/config.ini`, which holds the agent data directory
//! (`cic.appDataLocation`) and IM's version.
//!
//! The file is Java properties (read with [`super::read_properties`]), so Windows paths arrive
//! escaped
//! (`C\:\\ProgramData\\IBM\\Installation Manager`) and are returned unescaped. When
//! `cic.appDataLocation` is absent IM uses its mode's default location (see
//! [`super::defaults`]); this module only reports what the file says.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::text::parse_properties;
use super::{ImError, non_empty};

/// The contents of `config.ini`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigIni {
    /// The agent data directory (`cic.appDataLocation`), unescaped; `None` when absent or empty.
    pub app_data_location: Option<String>,
    /// IM's version (`im.version`), e.g. `1.9.2.8`.
    pub im_version: Option<String>,
    /// Every key in the file, including the two above, unescaped; a repeated key keeps its
    /// last value, as in Java.
    pub keys: BTreeMap<String, String>,
}

impl ConfigIni {
    /// Whether `cic.repo.locking=false` is set, i.e. IM was told not to lock repository files.
    pub fn repo_locking_disabled(&self) -> bool {
        non_empty(&self.keys, "cic.repo.locking").is_some_and(|v| v.trim() == "false")
    }
}

/// Parses the text of `config.ini`; `path` is used in error messages only.
///
/// A line that is not a property or a bad escape is an error; missing keys are not.
pub fn parse_config_ini(text: &str, path: &Path) -> Result<ConfigIni, ImError> {
    let keys: BTreeMap<String, String> = parse_properties(text, path)?
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect();
    Ok(ConfigIni {
        app_data_location: non_empty(&keys, "cic.appDataLocation").map(str::to_string),
        im_version: non_empty(&keys, "im.version").map(str::to_string),
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/opt/IBM/InstallationManager/eclipse/configuration/config.ini";

    /// An installed IM's config.ini, after the IM 1.9.2.8 kit's (docs/im-facts.md §2.3).
    const SAMPLE: &str = "#Configuration File
#Tue Feb 27 00:18:00 UTC 2024
eclipse.product=com.ibm.cic.agent.ui.product
osgi.bundles=org.eclipse.equinox.common@2:start, org.eclipse.update.configurator@3:start, \\
  org.eclipse.core.runtime@start
osgi.instance.area=@noDefault
osgi.os=linux
osgi.ws=gtk
osgi.arch=x86_64
im.version=1.9.2.8
im.internal.version=1.9.2008.20240227_0018
im.installer.version=1.9.2.8
cic.appDataLocation=/var/ibm/InstallationManager
";

    fn parse(text: &str) -> Result<ConfigIni, ImError> {
        parse_config_ini(text, Path::new(PATH))
    }

    #[test]
    fn realistic_sample() {
        let ini = parse(SAMPLE).unwrap();
        assert_eq!(
            ini.app_data_location.as_deref(),
            Some("/var/ibm/InstallationManager")
        );
        assert_eq!(ini.im_version.as_deref(), Some("1.9.2.8"));
        assert_eq!(ini.keys["osgi.instance.area"], "@noDefault");
        assert_eq!(
            ini.keys["osgi.bundles"],
            "org.eclipse.equinox.common@2:start, org.eclipse.update.configurator@3:start, org.eclipse.core.runtime@start"
        );
        assert_eq!(ini.keys.len(), 10);
        assert!(!ini.repo_locking_disabled());
    }

    #[test]
    fn windows_escaped_path_is_unescaped() {
        let ini =
            parse("cic.appDataLocation=C\\:\\\\ProgramData\\\\IBM\\\\Installation Manager\r\n")
                .unwrap();
        assert_eq!(
            ini.app_data_location.as_deref(),
            Some("C:\\ProgramData\\IBM\\Installation Manager")
        );
    }

    #[test]
    fn windows_non_admin_path_with_unicode_escape() {
        let ini = parse(
            "cic.appDataLocation=C\\:\\\\Users\\\\Ren\\u00e9\\\\AppData\\\\Roaming\\\\IBM\\\\Installation Manager\n",
        )
        .unwrap();
        assert_eq!(
            ini.app_data_location.as_deref(),
            Some("C:\\Users\\René\\AppData\\Roaming\\IBM\\Installation Manager")
        );
    }

    #[test]
    fn bom_and_crlf_are_tolerated() {
        let text = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n"));
        assert_eq!(parse(&text).unwrap(), parse(SAMPLE).unwrap());
    }

    #[test]
    fn missing_optional_keys_are_none() {
        let ini =
            parse("eclipse.product=com.ibm.cic.agent.ui.product\ncic.appDataLocation=\n").unwrap();
        assert_eq!(ini.app_data_location, None);
        assert_eq!(ini.im_version, None);
        let empty = parse("").unwrap();
        assert!(empty.keys.is_empty());
    }

    #[test]
    fn repo_locking_flag() {
        assert!(
            parse("cic.repo.locking=false\n")
                .unwrap()
                .repo_locking_disabled()
        );
        assert!(
            !parse("cic.repo.locking=true\n")
                .unwrap()
                .repo_locking_disabled()
        );
    }

    #[test]
    fn a_line_without_separator_is_read_as_java_reads_it() {
        // Java reads any such line as a key with an empty value; the keys IM needs still count.
        let ini =
            parse("im.version=1.9\nosgi.noShutdown\n\u{7}\u{1b}junk\ncic.appDataLocation=/var/x\n")
                .unwrap();
        assert_eq!(ini.im_version.as_deref(), Some("1.9"));
        assert_eq!(ini.app_data_location.as_deref(), Some("/var/x"));
        assert_eq!(ini.keys["osgi.noShutdown"], "");
    }

    #[test]
    fn bad_unicode_escape_is_an_error() {
        let err = parse("cic.appDataLocation=C\\:\\\\Users\\\\x\\uZZZZ\n").unwrap_err();
        assert!(
            matches!(err, ImError::Parse { line: Some(1), .. }),
            "{err:?}"
        );
    }
}
