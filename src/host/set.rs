//! The sync set: the directories (and the registry file) that must stay in lockstep.
//!
//! Each member has a [`Role`] and a logical path. The IM roles (registry, install, agent data,
//! shared resources) and the product roles are backed up and restored together; that is the
//! whole point of lockstep.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a set member is to IM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `InstallationManager.dat`: where IM is installed.
    ImRegistry,
    /// IM's install directory (the parent of `eclipse`).
    ImInstall,
    /// IM's agent data (`cic.appDataLocation`): installed.xml, installRegistry.xml, rollback state.
    ImAgentData,
    /// IM's shared resources (`cacheLocation`, often `IMShared`): rollback payloads.
    ImShared,
    /// A package group's install directory (AppServer, PortalServer …).
    Product,
    /// Anything else that belongs to the set: profiles, ConfigEngine, custom files.
    Extra,
}

impl Role {
    /// All roles, in set order.
    pub const ALL: [Role; 6] = [
        Role::ImRegistry,
        Role::ImInstall,
        Role::ImAgentData,
        Role::ImShared,
        Role::Product,
        Role::Extra,
    ];

    /// The name used on the command line and in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ImRegistry => "im-registry",
            Role::ImInstall => "im-install",
            Role::ImAgentData => "im-agent-data",
            Role::ImShared => "im-shared",
            Role::Product => "product",
            Role::Extra => "extra",
        }
    }

    /// Whether this role belongs to IM itself (as opposed to a product or extra).
    #[must_use]
    pub fn is_im(self) -> bool {
        matches!(
            self,
            Role::ImRegistry | Role::ImInstall | Role::ImAgentData | Role::ImShared
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role '{s}'; roles are {}",
                    Role::ALL.map(Role::as_str).join(", ")
                )
            })
    }
}

/// One member of a sync set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// What the member is.
    pub role: Role,
    /// The logical path, as IM's records (or the configuration) name it.
    pub path: PathBuf,
    /// The package group this member belongs to (product members), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_group: Option<String>,
    /// The logical path after resolving symlinks on the host, when it differs from `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<PathBuf>,
    /// Whether the member exists on the host (directory, or file for the registry).
    pub exists: bool,
    /// Whether the member is a single file rather than a directory.
    #[serde(default)]
    pub is_file: bool,
}

impl Member {
    /// The logical path where the member's data really lives (symlinks resolved).
    #[must_use]
    pub fn data_path(&self) -> &Path {
        self.resolved.as_deref().unwrap_or(&self.path)
    }
}

/// The members that must be backed up and restored together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSet {
    /// Members in role order, then path order.
    pub members: Vec<Member>,
}

impl SyncSet {
    /// Adds a member unless the same role and path is already there.
    pub fn push(&mut self, member: Member) {
        if !self
            .members
            .iter()
            .any(|m| m.path == member.path && m.role == member.role)
        {
            self.members.push(member);
        }
        self.members
            .sort_by(|a, b| a.role.cmp(&b.role).then_with(|| a.path.cmp(&b.path)));
    }

    /// Members that do not exist on the host.
    pub fn missing(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| !m.exists)
    }

    /// The members of `earlier` (the set as a parent snapshot recorded it) that this set no
    /// longer has, matched by role and path: what a backup of this set would silently drop
    /// (rule 6 of the design: the set never shrinks without the administrator saying so).
    /// A `product` member inside this set's `im-install` is not lost: it is IM's own `eclipse`
    /// directory, which sets recorded before issue 22 counted as a product, and it is still
    /// backed up as part of IM.
    #[must_use]
    pub fn vanished_since<'a>(&self, earlier: &'a [Member]) -> Vec<&'a Member> {
        earlier
            .iter()
            .filter(|old| {
                !self
                    .members
                    .iter()
                    .any(|m| m.role == old.role && m.path == old.path)
            })
            .filter(|old| {
                !(old.role == Role::Product
                    && self
                        .members
                        .iter()
                        .any(|m| m.role == Role::ImInstall && old.path.starts_with(&m.path)))
            })
            .collect()
    }

    /// Members whose data is the whole filesystem (`/`, or a link to it): no restore can put
    /// `/` back as one directory of the set, and a backup of it would read the whole host.
    pub fn at_root(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.path == Path::new("/") || m.data_path() == Path::new("/"))
    }

    /// The data paths to back up: existing members, with members nested inside another member
    /// dropped (their data is already inside the outer one), sorted.
    #[must_use]
    pub fn top_level_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .members
            .iter()
            .filter(|m| m.exists)
            .map(|m| m.data_path().to_path_buf())
            .collect();
        paths.sort();
        paths.dedup();
        let mut out: Vec<PathBuf> = Vec::new();
        for p in paths {
            if !out.iter().any(|outer| p.starts_with(outer)) {
                out.push(p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role, path: &str) -> Member {
        Member {
            role,
            path: path.into(),
            package_group: None,
            resolved: None,
            exists: true,
            is_file: false,
        }
    }

    #[test]
    fn nested_members_are_backed_up_once() {
        let mut set = SyncSet::default();
        set.push(member(Role::Product, "/opt/HCL/WebSphere/AppServer"));
        set.push(member(
            Role::Extra,
            "/opt/HCL/WebSphere/AppServer/profiles/cw_profile",
        ));
        set.push(member(Role::ImAgentData, "/var/ibm/InstallationManager"));
        set.push(member(Role::ImAgentData, "/var/ibm/InstallationManager"));
        assert_eq!(set.members.len(), 3);
        assert_eq!(set.members[0].role, Role::ImAgentData);
        assert_eq!(
            set.top_level_paths(),
            vec![
                PathBuf::from("/opt/HCL/WebSphere/AppServer"),
                PathBuf::from("/var/ibm/InstallationManager")
            ]
        );
    }

    #[test]
    fn prefix_of_a_name_is_not_nesting() {
        let mut set = SyncSet::default();
        set.push(member(Role::Product, "/opt/IBM/WebSphere/AppServer"));
        set.push(member(Role::Product, "/opt/IBM/WebSphere/AppServer2"));
        assert_eq!(set.top_level_paths().len(), 2);
    }

    #[test]
    fn vanished_members_are_matched_by_role_and_path() {
        let mut before = SyncSet::default();
        before.push(member(Role::ImAgentData, "/var/ibm/InstallationManager"));
        before.push(member(Role::Product, "/opt/HCL/WebSphere/AppServer"));
        before.push(member(Role::Product, "/opt/HCL/WebSphere/PortalServer"));
        let mut now = SyncSet::default();
        now.push(member(Role::ImAgentData, "/var/ibm/InstallationManager"));
        now.push(member(Role::Extra, "/opt/HCL/WebSphere/AppServer"));
        let gone: Vec<&Path> = now
            .vanished_since(&before.members)
            .iter()
            .map(|m| m.path.as_path())
            .collect();
        assert_eq!(
            gone,
            [
                Path::new("/opt/HCL/WebSphere/AppServer"),
                Path::new("/opt/HCL/WebSphere/PortalServer")
            ]
        );
        assert!(before.vanished_since(&before.members).is_empty());
    }

    #[test]
    fn im_counted_as_a_product_by_an_older_set_has_not_vanished() {
        let mut before = SyncSet::default();
        before.push(member(Role::ImInstall, "/opt/IBM/InstallationManager"));
        before.push(member(
            Role::Product,
            "/opt/IBM/InstallationManager/eclipse",
        ));
        before.push(member(Role::Product, "/opt/HCL/WebSphere/AppServer"));
        let mut now = SyncSet::default();
        now.push(member(Role::ImInstall, "/opt/IBM/InstallationManager"));
        let gone: Vec<&Path> = now
            .vanished_since(&before.members)
            .iter()
            .map(|m| m.path.as_path())
            .collect();
        assert_eq!(gone, [Path::new("/opt/HCL/WebSphere/AppServer")]);
    }

    #[test]
    fn a_member_at_the_root_is_found_through_its_link() {
        let mut set = SyncSet::default();
        set.push(member(Role::ImAgentData, "/var/ibm/InstallationManager"));
        let mut linked = member(Role::Product, "/opt/linked");
        linked.resolved = Some("/".into());
        set.push(linked);
        let found: Vec<&Path> = set.at_root().map(|m| m.path.as_path()).collect();
        assert_eq!(found, [Path::new("/opt/linked")]);
    }

    #[test]
    fn roles_parse_and_print() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!(
            "portal"
                .parse::<Role>()
                .unwrap_err()
                .contains("im-agent-data")
        );
    }
}
