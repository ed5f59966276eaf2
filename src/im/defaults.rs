//! IM's default locations for each platform and install mode (docs/im-facts.md §1): where IM,
//! its agent data, its shared resources and its registry live when nobody chose otherwise.
//!
//! These are a last resort. Real hosts move every one of these paths (and container images
//! have no registry at all), so discovery must read IM's own records first and fall back to
//! these only for what the records leave out, such as a `config.ini` without
//! `cic.appDataLocation`. Unix spells the directory `InstallationManager`; Windows spells it
//! `Installation Manager`, with a space (IBM's documentation; HCL's spells the agent data
//! directory without one, so [`agent_data_candidates`] probes both). The shared resources name
//! here is the WebSphere default `IMShared`; the real name is fixed by the first product
//! installed, so always prefer the recorded `cacheLocation`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An operating system family IM runs on, as far as its default paths differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// Linux (and, for the paths here, other Unix systems except AIX).
    Linux,
    /// IBM AIX.
    Aix,
    /// Microsoft Windows.
    Windows,
}

impl Platform {
    /// The platform lockstep was built for, if IM supports it.
    pub fn current() -> Option<Platform> {
        if cfg!(target_os = "linux") {
            Some(Platform::Linux)
        } else if cfg!(target_os = "aix") {
            Some(Platform::Aix)
        } else if cfg!(windows) {
            Some(Platform::Windows)
        } else {
            None
        }
    }
}

/// The install mode IM was installed in (`-accessRights`). It cannot be changed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Installed by root or an administrator, for the whole machine.
    Admin,
    /// Installed by and for one ordinary user.
    NonAdmin,
    /// Installed for a Unix group (not available on Windows).
    Group,
}

impl Mode {
    /// Reads IM's spelling of a mode (`admin`, `nonAdmin`, `group`), ignoring case and
    /// surrounding whitespace.
    pub fn from_access_rights(s: &str) -> Option<Mode> {
        let s = s.trim();
        [Mode::Admin, Mode::NonAdmin, Mode::Group]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// IM's spelling of the mode: `admin`, `nonAdmin` or `group`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Admin => "admin",
            Mode::NonAdmin => "nonAdmin",
            Mode::Group => "group",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IM's default locations for one platform and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultLocations {
    /// IM's root directory (what the registry calls `location`); binaries are in
    /// `<install>/eclipse`.
    pub install: String,
    /// The agent data directory (`cic.appDataLocation`).
    pub agent_data: String,
    /// The shared resources directory (`cacheLocation`), under its WebSphere default name.
    pub shared: String,
    /// On Unix the registry file's path; on Windows the registry key, e.g.
    /// `HKLM\SOFTWARE\IBM\Installation Manager`.
    pub registry: Option<String>,
}

/// `home` without trailing separators, so joining never doubles one (a home of `/` gives
/// `/IBM/...`, still absolute).
fn base(home: &str) -> &str {
    home.trim_end_matches(['/', '\\'])
}

/// IM's default locations for `platform` and `mode`.
///
/// `home` is the user's home directory (Unix) or profile directory (Windows, e.g.
/// `C:\Users\wasadm`); it is used for non-admin and group mode only. Returns `None` for
/// Windows group mode, which IM does not offer.
pub fn default_locations(platform: Platform, mode: Mode, home: &str) -> Option<DefaultLocations> {
    let home = base(home);
    let unix_user = |suffix: &str| DefaultLocations {
        install: format!("{home}/IBM/InstallationManager{suffix}"),
        agent_data: format!("{home}/var/ibm/InstallationManager{suffix}"),
        shared: format!("{home}/IBM/IMShared"),
        registry: Some(format!("{home}/etc/.ibm/registry/InstallationManager.dat")),
    };
    let unix_admin = |shared: &str| DefaultLocations {
        install: "/opt/IBM/InstallationManager".into(),
        agent_data: "/var/ibm/InstallationManager".into(),
        shared: shared.into(),
        registry: Some("/etc/.ibm/registry/InstallationManager.dat".into()),
    };
    Some(match (platform, mode) {
        (Platform::Linux, Mode::Admin) => unix_admin("/opt/IBM/IMShared"),
        // AIX differs from Linux only in the admin shared resources directory (IBM's offerings
        // declare `/usr/IBM/IMShared` there); its user-mode defaults follow the "Linux and
        // UNIX" rows of IBM's tables.
        (Platform::Aix, Mode::Admin) => unix_admin("/usr/IBM/IMShared"),
        (Platform::Linux | Platform::Aix, Mode::NonAdmin) => unix_user(""),
        // IM's documentation gives no group-mode registry file. We assume it sits under the
        // installing user's home as in non-admin mode; this is unconfirmed, so check on a real
        // group-mode host before relying on it.
        (Platform::Linux | Platform::Aix, Mode::Group) => unix_user("_Group"),
        (Platform::Windows, Mode::Admin) => DefaultLocations {
            install: r"C:\Program Files\IBM\Installation Manager".into(),
            agent_data: r"C:\ProgramData\IBM\Installation Manager".into(),
            shared: r"C:\Program Files\IBM\IMShared".into(),
            registry: Some(r"HKLM\SOFTWARE\IBM\Installation Manager".into()),
        },
        (Platform::Windows, Mode::NonAdmin) => DefaultLocations {
            install: format!(r"{home}\IBM\Installation Manager"),
            agent_data: format!(r"{home}\AppData\Roaming\IBM\Installation Manager"),
            shared: format!(r"{home}\IBM\IMShared"),
            registry: Some(r"HKCU\Software\IBM\Installation Manager".into()),
        },
        (Platform::Windows, Mode::Group) => return None,
    })
}

/// The registry files to probe on Unix, most likely first: the documented
/// `InstallationManager.dat`, then `Installation Manager.dat` (a spelling some copies of IBM's
/// documentation print; no real host is known to use it, but probing costs nothing). Empty on
/// Windows, where IM uses the registry instead of a file, and for Windows group mode.
pub fn registry_file_candidates(platform: Platform, mode: Mode, home: &str) -> Vec<String> {
    if platform == Platform::Windows {
        return Vec::new();
    }
    let Some(primary) = default_locations(platform, mode, home).and_then(|d| d.registry) else {
        return Vec::new();
    };
    let alternative = primary.replace("InstallationManager.dat", "Installation Manager.dat");
    vec![primary, alternative]
}

/// The agent data directories to probe for `platform` and `mode`, most likely first. On Windows
/// IBM spells the directory `Installation Manager` (`C:\ProgramData\IBM\Installation Manager`)
/// while HCL's documentation spells it `InstallationManager`; either may be what a host has, so
/// both are probed. Unix has one spelling. Empty for Windows group mode.
pub fn agent_data_candidates(platform: Platform, mode: Mode, home: &str) -> Vec<String> {
    let Some(primary) = default_locations(platform, mode, home).map(|d| d.agent_data) else {
        return Vec::new();
    };
    if platform != Platform::Windows {
        return vec![primary];
    }
    let alternative = primary.replace(r"\IBM\Installation Manager", r"\IBM\InstallationManager");
    vec![primary, alternative]
}

/// The Windows registry keys to probe for `mode`, most likely first: the native key, then the
/// `Wow6432Node` key a 32-bit IM uses on 64-bit Windows. Empty on Unix and for group mode.
pub fn registry_key_candidates(platform: Platform, mode: Mode) -> Vec<String> {
    let hive = match (platform, mode) {
        (Platform::Windows, Mode::Admin) => r"HKLM\SOFTWARE",
        (Platform::Windows, Mode::NonAdmin) => r"HKCU\Software",
        _ => return Vec::new(),
    };
    vec![
        format!(r"{hive}\IBM\Installation Manager"),
        format!(r"{hive}\Wow6432Node\IBM\Installation Manager"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(platform: Platform, mode: Mode, home: &str) -> DefaultLocations {
        default_locations(platform, mode, home).unwrap()
    }

    #[test]
    fn linux_admin() {
        assert_eq!(
            loc(Platform::Linux, Mode::Admin, "/root"),
            DefaultLocations {
                install: "/opt/IBM/InstallationManager".into(),
                agent_data: "/var/ibm/InstallationManager".into(),
                shared: "/opt/IBM/IMShared".into(),
                registry: Some("/etc/.ibm/registry/InstallationManager.dat".into()),
            }
        );
    }

    #[test]
    fn linux_non_admin() {
        assert_eq!(
            loc(Platform::Linux, Mode::NonAdmin, "/home/wasadm/"),
            DefaultLocations {
                install: "/home/wasadm/IBM/InstallationManager".into(),
                agent_data: "/home/wasadm/var/ibm/InstallationManager".into(),
                shared: "/home/wasadm/IBM/IMShared".into(),
                registry: Some("/home/wasadm/etc/.ibm/registry/InstallationManager.dat".into()),
            }
        );
    }

    #[test]
    fn linux_group() {
        assert_eq!(
            loc(Platform::Linux, Mode::Group, "/home/wasgrp"),
            DefaultLocations {
                install: "/home/wasgrp/IBM/InstallationManager_Group".into(),
                agent_data: "/home/wasgrp/var/ibm/InstallationManager_Group".into(),
                shared: "/home/wasgrp/IBM/IMShared".into(),
                registry: Some("/home/wasgrp/etc/.ibm/registry/InstallationManager.dat".into()),
            }
        );
    }

    #[test]
    fn aix_admin_shares_under_usr() {
        let aix = loc(Platform::Aix, Mode::Admin, "/");
        assert_eq!(aix.shared, "/usr/IBM/IMShared");
        assert_eq!(aix.install, "/opt/IBM/InstallationManager");
        assert_eq!(aix.agent_data, "/var/ibm/InstallationManager");
        assert_eq!(
            aix.registry.as_deref(),
            Some("/etc/.ibm/registry/InstallationManager.dat")
        );
    }

    #[test]
    fn windows_admin_uses_spaced_name_and_hklm() {
        assert_eq!(
            loc(Platform::Windows, Mode::Admin, r"C:\Users\Administrator"),
            DefaultLocations {
                install: r"C:\Program Files\IBM\Installation Manager".into(),
                agent_data: r"C:\ProgramData\IBM\Installation Manager".into(),
                shared: r"C:\Program Files\IBM\IMShared".into(),
                registry: Some(r"HKLM\SOFTWARE\IBM\Installation Manager".into()),
            }
        );
    }

    #[test]
    fn windows_non_admin_under_profile() {
        assert_eq!(
            loc(Platform::Windows, Mode::NonAdmin, r"C:\Users\wasadm\"),
            DefaultLocations {
                install: r"C:\Users\wasadm\IBM\Installation Manager".into(),
                agent_data: r"C:\Users\wasadm\AppData\Roaming\IBM\Installation Manager".into(),
                shared: r"C:\Users\wasadm\IBM\IMShared".into(),
                registry: Some(r"HKCU\Software\IBM\Installation Manager".into()),
            }
        );
    }

    #[test]
    fn windows_group_is_not_available() {
        assert_eq!(
            default_locations(Platform::Windows, Mode::Group, r"C:\Users\x"),
            None
        );
        assert!(registry_file_candidates(Platform::Windows, Mode::Group, "x").is_empty());
        assert!(registry_key_candidates(Platform::Windows, Mode::Group).is_empty());
    }

    #[test]
    fn registry_file_candidates_probe_both_spellings() {
        assert_eq!(
            registry_file_candidates(Platform::Linux, Mode::Admin, "/root"),
            vec![
                "/etc/.ibm/registry/InstallationManager.dat".to_string(),
                "/etc/.ibm/registry/Installation Manager.dat".to_string(),
            ]
        );
        assert_eq!(
            registry_file_candidates(Platform::Aix, Mode::NonAdmin, "/users/wasadm")[0],
            "/users/wasadm/etc/.ibm/registry/InstallationManager.dat"
        );
        assert!(registry_file_candidates(Platform::Windows, Mode::Admin, r"C:\x").is_empty());
    }

    #[test]
    fn windows_agent_data_probes_ibm_and_hcl_spellings() {
        assert_eq!(
            agent_data_candidates(Platform::Windows, Mode::Admin, r"C:\Users\x"),
            vec![
                r"C:\ProgramData\IBM\Installation Manager".to_string(),
                r"C:\ProgramData\IBM\InstallationManager".to_string(),
            ]
        );
        assert_eq!(
            agent_data_candidates(Platform::Windows, Mode::NonAdmin, r"C:\Users\wasadm")[1],
            r"C:\Users\wasadm\AppData\Roaming\IBM\InstallationManager"
        );
        assert_eq!(
            agent_data_candidates(Platform::Linux, Mode::Admin, "/root"),
            vec!["/var/ibm/InstallationManager".to_string()]
        );
        assert!(agent_data_candidates(Platform::Windows, Mode::Group, "x").is_empty());
    }

    #[test]
    fn registry_keys_include_wow6432node() {
        assert_eq!(
            registry_key_candidates(Platform::Windows, Mode::NonAdmin),
            vec![
                r"HKCU\Software\IBM\Installation Manager".to_string(),
                r"HKCU\Software\Wow6432Node\IBM\Installation Manager".to_string(),
            ]
        );
        assert!(registry_key_candidates(Platform::Linux, Mode::Admin).is_empty());
    }

    #[test]
    fn mode_spellings() {
        assert_eq!(Mode::from_access_rights("admin"), Some(Mode::Admin));
        assert_eq!(Mode::from_access_rights("nonAdmin"), Some(Mode::NonAdmin));
        assert_eq!(
            Mode::from_access_rights(" NONADMIN\n"),
            Some(Mode::NonAdmin)
        );
        assert_eq!(Mode::from_access_rights("Group"), Some(Mode::Group));
        assert_eq!(Mode::from_access_rights("root"), None);
        assert_eq!(Mode::from_access_rights(""), None);
        for mode in [Mode::Admin, Mode::NonAdmin, Mode::Group] {
            assert_eq!(Mode::from_access_rights(mode.as_str()), Some(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
    }
}
