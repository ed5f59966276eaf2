//! Reads IM's Unix registry file, `InstallationManager.dat` (for example
//! `/etc/.ibm/registry/InstallationManager.dat`), which tells where IM is installed.
//!
//! The file is Java properties (read with [`super::read_properties`]: ISO-8859-1, or UTF-16
//! with a byte-order mark). `location` is IM's root directory *without* `/eclipse`; it is the
//! one key every use depends on, so a file without it, or with one that is not an absolute
//! directory path, is refused naming the file and the value. Windows keeps the same
//! values in the registry instead, which this module does not read.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ImError;
use super::text::parse_properties;

/// The contents of `InstallationManager.dat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryFile {
    /// IM's root directory (`location`), e.g. `/opt/IBM/InstallationManager`; its binaries are
    /// in `<location>/eclipse`. Always `Some` in a value returned by [`parse_registry`].
    pub location: Option<String>,
    /// The launcher executable (`launcher`), e.g. `…/eclipse/IBMIM`.
    pub launcher: Option<String>,
    /// IM's version (`version`), e.g. `1.9.2`.
    pub version: Option<String>,
    /// IM's build version (`internalVersion`), e.g. `1.9.2008.20240227_0018`.
    pub internal_version: Option<String>,
    /// The agent data directory (`appDataLocation`), where recorded.
    pub app_data_location: Option<String>,
    /// Every other key (`is64bit`, …), by name.
    pub other: BTreeMap<String, String>,
}

/// Parses the text of `InstallationManager.dat`; `path` is used in error messages only.
///
/// Empty values read as `None`. A line that is not a property, a bad escape, or a missing or
/// empty `location` is an error.
pub fn parse_registry(text: &str, path: &Path) -> Result<RegistryFile, ImError> {
    let mut file = RegistryFile::default();
    let mut location_line = None;
    for prop in parse_properties(text, path)? {
        let value = Some(prop.value).filter(|v| !v.trim().is_empty());
        match prop.key.as_str() {
            "location" => {
                file.location = value;
                location_line = Some(prop.line);
            }
            "launcher" => file.launcher = value,
            "version" => file.version = value,
            "internalVersion" => file.internal_version = value,
            "appDataLocation" => file.app_data_location = value,
            _ => {
                file.other.insert(prop.key, value.unwrap_or_default());
            }
        }
    }
    if file.location.is_none() {
        let msg = match location_line {
            Some(_) => "`location` is empty, so IM's install directory is unknown",
            None => {
                "no `location` key, so IM's install directory is unknown; this is not an \
                 InstallationManager.dat registry file or it was damaged"
            }
        };
        return Err(ImError::parse(path, location_line, msg));
    }
    if let Some(location) = &file.location
        && let Some(why) = not_a_directory_path(location)
    {
        return Err(ImError::parse(
            path,
            location_line,
            format!(
                "`location` is '{location}', {why}; IM writes the absolute path of its install \
                 directory there (the parent of `eclipse`)"
            ),
        ));
    }
    Ok(file)
}

/// Why `value`, a directory path read from an IM record, cannot be one of the set's
/// directories: not absolute, holding `..`, or the root directory itself. `None` when it can.
pub(crate) fn not_a_directory_path(value: &str) -> Option<&'static str> {
    let path = Path::new(value);
    if is_windows_path(value) {
        Some(
            "a Windows path (a record copied from a Windows install?), which this host cannot hold",
        )
    } else if !path.is_absolute() {
        Some("not an absolute path")
    } else if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        Some("a path with '..' in it")
    } else if path.components().all(|c| {
        matches!(
            c,
            std::path::Component::RootDir | std::path::Component::CurDir
        )
    }) {
        Some("the root directory, which is never one directory of the set")
    } else {
        None
    }
}

/// Whether `value` is a Windows path: a drive letter (`C:\…`, `c:/…`) or a UNC share
/// (`\\server\share`). IM on Windows writes these into every record.
pub(crate) fn is_windows_path(value: &str) -> bool {
    let v = value.trim().as_bytes();
    matches!(v, [d, b':', b'\\' | b'/', ..] | [d, b':'] if d.is_ascii_alphabetic())
        || v.starts_with(br"\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/.ibm/registry/InstallationManager.dat";

    /// The shape of docs/im-facts.md §2.1, with the timestamp comment Java writes.
    const SAMPLE: &str = "#Tue Feb 27 00:18:00 UTC 2024
location=/opt/IBM/InstallationManager
launcher=/opt/IBM/InstallationManager/eclipse/IBMIM
version=1.9.2
internalVersion=1.9.2008.20240227_0018
is64bit=true
appDataLocation=/var/ibm/InstallationManager
";

    fn parse(text: &str) -> Result<RegistryFile, ImError> {
        parse_registry(text, Path::new(PATH))
    }

    #[test]
    fn realistic_sample() {
        let reg = parse(SAMPLE).unwrap();
        assert_eq!(
            reg,
            RegistryFile {
                location: Some("/opt/IBM/InstallationManager".into()),
                launcher: Some("/opt/IBM/InstallationManager/eclipse/IBMIM".into()),
                version: Some("1.9.2".into()),
                internal_version: Some("1.9.2008.20240227_0018".into()),
                app_data_location: Some("/var/ibm/InstallationManager".into()),
                other: BTreeMap::from([("is64bit".into(), "true".into())]),
            }
        );
    }

    #[test]
    fn bom_and_crlf_are_tolerated() {
        let text = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n"));
        assert_eq!(parse(&text).unwrap(), parse(SAMPLE).unwrap());
    }

    #[test]
    fn other_separators_and_key_order() {
        let text = "  version : 1.8.5\nappDataLocation /home/wasadm/var/ibm/InstallationManager\n\
                    location = /home/wasadm/IBM/InstallationManager\n";
        let reg = parse(text).unwrap();
        assert_eq!(
            reg.location.as_deref(),
            Some("/home/wasadm/IBM/InstallationManager")
        );
        assert_eq!(reg.version.as_deref(), Some("1.8.5"));
        assert_eq!(
            reg.app_data_location.as_deref(),
            Some("/home/wasadm/var/ibm/InstallationManager")
        );
    }

    #[test]
    fn missing_optional_keys_and_empty_values_are_none() {
        let reg = parse("location=/opt/IBM/InstallationManager\nlauncher=\nfuture.key=\n").unwrap();
        assert_eq!(reg.launcher, None);
        assert_eq!(reg.version, None);
        assert_eq!(reg.internal_version, None);
        assert_eq!(reg.app_data_location, None);
        assert_eq!(reg.other["future.key"], "");
    }

    #[test]
    fn path_with_spaces_and_escapes() {
        let reg = parse("location=/opt/IBM/Installation\\ Manager\\u00e9\n").unwrap();
        assert_eq!(
            reg.location.as_deref(),
            Some("/opt/IBM/Installation Manageré")
        );
    }

    #[test]
    fn missing_location_is_an_error_naming_the_file() {
        let err = parse("version=1.9.2\n").unwrap_err();
        assert!(matches!(err, ImError::Parse { line: None, .. }));
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("{PATH}: ")), "{shown}");
        assert!(shown.contains("`location`"), "{shown}");
    }

    #[test]
    fn empty_location_is_an_error_with_line() {
        let err = parse("version=1.9.2\nlocation=\n").unwrap_err();
        assert!(err.to_string().starts_with(&format!("{PATH}:2: ")), "{err}");
    }

    #[test]
    fn a_line_without_separator_is_a_key_as_in_java() {
        let reg = parse("location=/opt/IBM/InstallationManager\n\nstray\n").unwrap();
        assert_eq!(reg.other["stray"], "");
    }

    #[test]
    fn binary_garbage_has_no_location() {
        let err = parse("\u{0}\u{1}\u{ff}\u{fe}garbage\n").unwrap_err();
        assert!(err.to_string().contains("`location`"), "{err}");
    }

    #[test]
    fn a_location_that_is_not_an_install_directory_names_the_file_and_value() {
        for (value, why) in [
            ("opt/IBM/InstallationManager", "not an absolute path"),
            ("/opt/IBM/../IBM/InstallationManager", "'..'"),
            ("/", "the root directory"),
            ("///", "the root directory"),
        ] {
            let err = parse(&format!("version=1\nlocation={value}\n")).unwrap_err();
            let shown = err.to_string();
            assert!(shown.starts_with(&format!("{PATH}:2: ")), "{shown}");
            assert!(shown.contains(&format!("'{value}'")), "{shown}");
            assert!(shown.contains(why), "{shown}");
        }
        // A trailing slash is harmless.
        let reg = parse("location=/opt/IBM/InstallationManager/\n").unwrap();
        assert_eq!(
            reg.location.as_deref(),
            Some("/opt/IBM/InstallationManager/")
        );
    }

    #[test]
    fn windows_paths_are_named_as_such() {
        for value in [
            r"C:\Program Files\IBM\Installation Manager",
            "c:/IBM/InstallationManager",
            r"\\fileserver\IBM\IMShared",
            "D:",
        ] {
            assert!(is_windows_path(value), "{value}");
            assert!(
                not_a_directory_path(value).is_some_and(|why| why.contains("Windows")),
                "{value}"
            );
        }
        for value in ["/opt/IBM/C:/x", "opt/IBM", "/C:"] {
            assert!(!is_windows_path(value), "{value}");
        }
    }

    #[test]
    fn xml_is_not_a_registry_file() {
        assert!(parse("<installInfo>\n</installInfo>\n").is_err());
    }
}
