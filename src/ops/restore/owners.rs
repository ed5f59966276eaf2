//! Owners without an account: a set restored onto a new host keeps its numeric owners.
//!
//! Owners are restored by number, as restic and rustic restore them: the uid that owned
//! `/opt/IBM/WebSphere` on the old host owns it on the new one. On a host rebuilt for disaster
//! recovery the accounts may not exist yet (`wasadm` is created by a later step of the runbook),
//! so the restore completes and says which numbers have no account here, what the old host
//! called them (the names a snapshot records beside the numbers) and which paths they own —
//! the accounts to create, with those numbers, before WebSphere or IM runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustic_core::repofile::Node;
use serde::Serialize;

/// A user or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A user (uid).
    User,
    /// A group (gid).
    Group,
}

/// An owner of restored entries that has no account on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingOwner {
    /// User or group.
    pub kind: Kind,
    /// The uid or gid the entries carry.
    pub id: u32,
    /// The name the old host had for it, as the snapshot recorded it.
    pub name: Option<String>,
    /// How many restored entries it owns.
    pub entries: u64,
    /// The first of them (a logical path).
    pub example: PathBuf,
}

/// The owners of the entries a restore writes, gathered as they are planned.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    seen: BTreeMap<(Kind, u32), (Option<String>, u64, PathBuf)>,
}

impl Owners {
    /// Notes the owners of `node`, at logical path `path`.
    pub(crate) fn note(&mut self, path: &Path, node: &Node) {
        let owners = [
            (Kind::User, node.meta.uid, &node.meta.user),
            (Kind::Group, node.meta.gid, &node.meta.group),
        ];
        for (kind, id, name) in owners {
            let Some(id) = id else { continue };
            self.seen
                .entry((kind, id))
                .and_modify(|(_, n, _)| *n += 1)
                .or_insert_with(|| (name.clone(), 1, path.to_path_buf()));
        }
    }

    /// Notes every entry of a tree listed under the logical path `root`.
    pub(crate) fn note_tree<'a>(
        &mut self,
        root: &Path,
        entries: impl IntoIterator<Item = &'a (PathBuf, Node)>,
    ) {
        for (path, node) in entries {
            self.note(&root.join(path), node);
        }
    }

    /// The owners noted that have no account on this host (looked up through the system's
    /// name service, so LDAP or SSSD accounts count).
    pub(crate) fn missing(&self) -> Vec<MissingOwner> {
        self.seen
            .iter()
            .filter(|((kind, id), _)| !has_account(*kind, *id))
            .map(|((kind, id), (name, entries, example))| MissingOwner {
                kind: *kind,
                id: *id,
                name: name.clone(),
                entries: *entries,
                example: example.clone(),
            })
            .collect()
    }
}

/// Whether `id` names an account of `kind` here. A lookup that fails (the name service is
/// down) counts as an account: only a number known to be unknown is reported.
fn has_account(kind: Kind, id: u32) -> bool {
    use nix::unistd::{Gid, Group, Uid, User};
    match kind {
        Kind::User => !matches!(User::from_uid(Uid::from_raw(id)), Ok(None)),
        Kind::Group => !matches!(Group::from_gid(Gid::from_raw(id)), Ok(None)),
    }
}

/// One line per missing owner, for the reports: what to create.
#[must_use]
pub fn describe(owner: &MissingOwner) -> String {
    let (what, create) = match owner.kind {
        Kind::User => ("uid", "useradd -u"),
        Kind::Group => ("gid", "groupadd -g"),
    };
    let name = owner.name.as_deref().unwrap_or("NAME");
    format!(
        "{what} {} ({} on the old host) has no account here and owns {} restored entr{}, e.g. {}: create it with `{create} {} {name}`",
        owner.id,
        owner
            .name
            .as_deref()
            .map_or_else(|| "no name recorded".to_owned(), |n| format!("'{n}'")),
        owner.entries,
        if owner.entries == 1 { "y" } else { "ies" },
        crate::host::root::shown(&owner.example),
        owner.id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uid: u32, gid: u32, user: &str) -> Node {
        let mut n = Node::new_node(
            std::ffi::OsStr::new("f"),
            rustic_core::repofile::NodeType::File,
            rustic_core::repofile::Metadata::default(),
        );
        n.meta.uid = Some(uid);
        n.meta.gid = Some(gid);
        n.meta.user = Some(user.into());
        n
    }

    #[test]
    fn only_numbers_without_an_account_are_reported_with_their_old_names() {
        let mut owners = Owners::default();
        // uid and gid 0 exist everywhere; 4_000_000_123 nowhere.
        owners.note(Path::new("/opt/a"), &node(0, 0, "root"));
        owners.note(Path::new("/opt/b"), &node(4_000_000_123, 0, "wasadm"));
        owners.note(
            Path::new("/opt/c"),
            &node(4_000_000_123, 4_000_000_124, "wasadm"),
        );
        let missing = owners.missing();
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert_eq!(missing[0].kind, Kind::User);
        assert_eq!(missing[0].id, 4_000_000_123);
        assert_eq!(missing[0].name.as_deref(), Some("wasadm"));
        assert_eq!(missing[0].entries, 2);
        assert_eq!(missing[0].example, Path::new("/opt/b"));
        assert_eq!(missing[1].kind, Kind::Group);
        assert_eq!(missing[1].entries, 1);
        let line = describe(&missing[0]);
        assert!(line.contains("useradd -u 4000000123 wasadm"), "{line}");
    }
}
