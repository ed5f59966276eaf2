//! File-level comparison of a sync set between two moments, by metadata only.
//!
//! A [`Tree`] is every entry under the set's members at one moment — the live host
//! ([`live_tree`]) or a snapshot ([`snapshot_tree`], read from the snapshot's tree objects through
//! rustic_core; no file data is read). [`compare`] lines two trees up and counts, per role, the
//! entries added, changed and removed. Each entry belongs to the member whose path is its longest
//! prefix, so a profile nested in a product directory counts for its own role.
//!
//! An entry *changed* when its type differs, or for a file its size, mtime, permissions or
//! numeric owner, for a symlink its target or owner, for a directory its permissions or owner.
//! A directory's mtime is not compared: it only says that entries were added or removed, and
//! those are counted themselves. Content is never read, so a file rewritten with the same size and
//! mtime is not seen — the same trade-off restic makes to find changed files.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustic_core::repofile::{Node, NodeType, SnapshotFile};
use rustic_core::{IndexedTree, LsOptions, Repository};
use serde::Serialize;

use crate::host::root::HostRoot;
use crate::host::set::{Member, Role};
use crate::repo::tree::posix_perm;
use crate::{Error, Result};

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device, fifo or socket.
    Other,
}

/// The metadata of one entry that the comparison looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// The entry's type.
    pub kind: EntryKind,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time (seconds, nanoseconds), when known.
    pub mtime: Option<(i64, i32)>,
    /// Permission bits with setuid/setgid/sticky, when known.
    pub mode: Option<u32>,
    /// Numeric owner, when known.
    pub uid: Option<u32>,
    /// Numeric group, when known.
    pub gid: Option<u32>,
    /// A symlink's target.
    pub link: Option<PathBuf>,
}

impl EntryMeta {
    /// The metadata a snapshot node records.
    #[must_use]
    pub fn from_node(node: &Node) -> Self {
        let (kind, link) = match &node.node_type {
            NodeType::File => (EntryKind::File, None),
            NodeType::Dir => (EntryKind::Dir, None),
            t @ NodeType::Symlink { .. } => (EntryKind::Symlink, Some(t.to_link().to_path_buf())),
            _ => (EntryKind::Other, None),
        };
        Self {
            kind,
            size: node.meta.size,
            mtime: node
                .meta
                .mtime
                .map(|t| (t.as_second(), t.subsec_nanosecond())),
            mode: node.meta.mode.map(posix_perm),
            uid: node.meta.uid,
            gid: node.meta.gid,
            link,
        }
    }

    /// The metadata of a live entry (`m` from `symlink_metadata`; `link` its target if a symlink).
    #[must_use]
    pub fn from_metadata(m: &std::fs::Metadata, link: Option<PathBuf>) -> Self {
        let ft = m.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        #[allow(clippy::cast_possible_truncation)]
        let nanos = m.mtime_nsec() as i32;
        Self {
            kind,
            size: if kind == EntryKind::Dir { 0 } else { m.len() },
            mtime: Some((m.mtime(), nanos)),
            mode: Some(m.mode() & 0o7777),
            uid: Some(m.uid()),
            gid: Some(m.gid()),
            link,
        }
    }

    /// Whether `other` is a changed version of this entry (see the module documentation).
    #[must_use]
    pub fn differs(&self, other: &Self) -> bool {
        if self.kind != other.kind || (self.uid, self.gid) != (other.uid, other.gid) {
            return true;
        }
        match self.kind {
            EntryKind::File | EntryKind::Other => {
                self.size != other.size || self.mtime != other.mtime || self.mode != other.mode
            }
            EntryKind::Dir => self.mode != other.mode,
            EntryKind::Symlink => self.link != other.link,
        }
    }
}

/// Every entry under a set's members at one moment, by logical path.
pub type Tree = BTreeMap<PathBuf, EntryMeta>;

/// What changed in one role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoleChanges {
    /// Entries that exist only in the later tree.
    pub added: usize,
    /// Entries whose metadata differs.
    pub changed: usize,
    /// Entries that exist only in the earlier tree.
    pub removed: usize,
    /// The added entries' logical paths, sorted ([`crate::host::root::shown`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added_paths: Vec<String>,
    /// The changed entries' logical paths, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_paths: Vec<String>,
    /// The removed entries' logical paths, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_paths: Vec<String>,
}

impl RoleChanges {
    /// Added + changed + removed.
    #[must_use]
    pub fn total(&self) -> usize {
        self.added + self.changed + self.removed
    }
}

/// What changed, per role (every role of the set, also those without changes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FileChanges {
    /// Changes by role, in role order.
    pub roles: BTreeMap<Role, RoleChanges>,
}

impl FileChanges {
    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// All changes of all roles.
    #[must_use]
    pub fn total(&self) -> usize {
        self.roles.values().map(RoleChanges::total).sum()
    }

    /// Whether anything in IM's own roles (registry, install, agent data, shared) changed.
    #[must_use]
    pub fn im_changed(&self) -> bool {
        self.roles
            .iter()
            .any(|(role, c)| role.is_im() && c.total() > 0)
    }

    /// The same counts without the path lists (for output without `--verbose`).
    #[must_use]
    pub fn without_paths(&self) -> Self {
        Self {
            roles: self
                .roles
                .iter()
                .map(|(role, c)| {
                    (
                        *role,
                        RoleChanges {
                            added: c.added,
                            changed: c.changed,
                            removed: c.removed,
                            ..RoleChanges::default()
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The members of both sides of a comparison (a set may gain or lose members between two
/// moments), without repeats.
#[must_use]
pub fn union_members(a: &[Member], b: &[Member]) -> Vec<Member> {
    let mut out: Vec<Member> = a.to_vec();
    for m in b {
        if !out
            .iter()
            .any(|o| o.role == m.role && o.data_path() == m.data_path())
        {
            out.push(m.clone());
        }
    }
    out
}

/// Where each member's data lives, longest path first, for [`role_of`].
fn member_roots(members: &[Member]) -> Vec<(PathBuf, Role)> {
    let mut roots: Vec<(PathBuf, Role)> = members
        .iter()
        .map(|m| (m.data_path().to_path_buf(), m.role))
        .collect();
    roots.sort_by(|a, b| {
        b.0.components()
            .count()
            .cmp(&a.0.components().count())
            .then_with(|| a.1.cmp(&b.1))
    });
    roots.dedup_by(|a, b| a.0 == b.0);
    roots
}

/// The role of the member whose path is the longest prefix of `path`.
fn role_of(path: &Path, roots: &[(PathBuf, Role)]) -> Option<Role> {
    roots
        .iter()
        .find(|(root, _)| path.starts_with(root))
        .map(|(_, role)| *role)
}

/// Every entry under the members' data paths on the live host, the member roots included.
/// Members that do not exist contribute nothing. Symlinks are not followed.
///
/// # Errors
/// When an entry of the set cannot be read.
pub fn live_tree(host: &HostRoot, members: &[Member]) -> Result<Tree> {
    let mut tops: Vec<PathBuf> = members
        .iter()
        .map(|m| m.data_path().to_path_buf())
        .collect();
    tops.sort();
    tops.dedup();
    let mut out = Tree::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for top in tops {
        if seen.iter().any(|s| top.starts_with(s)) {
            continue;
        }
        seen.push(top.clone());
        let physical = host.physical(&top);
        if std::fs::symlink_metadata(&physical).is_err() {
            continue;
        }
        let unreadable = |path: &Path, e: &dyn std::fmt::Display| {
            let logical = host.logical(path).unwrap_or_else(|| path.to_path_buf());
            Error::Other(format!(
                "cannot read {}: {e}; run lockstep as a user who can read the whole set (usually root)",
                logical.display()
            ))
        };
        for entry in walkdir::WalkDir::new(&physical).follow_root_links(false) {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&physical).to_path_buf();
                unreadable(&path, &e)
            })?;
            let path = entry.path();
            let m = entry.metadata().map_err(|e| unreadable(path, &e))?;
            let link = if m.file_type().is_symlink() {
                Some(std::fs::read_link(path).map_err(|e| unreadable(path, &e))?)
            } else {
                None
            };
            let rel = path.strip_prefix(&physical).unwrap_or(Path::new(""));
            let logical = if rel.as_os_str().is_empty() {
                top.clone()
            } else {
                top.join(rel)
            };
            out.insert(logical, EntryMeta::from_metadata(&m, link));
        }
    }
    Ok(out)
}

/// Every entry under the members' data paths in a snapshot, read from its tree objects (no file
/// data is read).
///
/// # Errors
/// When the repository cannot be read.
pub fn snapshot_tree<S: IndexedTree>(
    repo: &Repository<S>,
    snap: &SnapshotFile,
    members: &[Member],
) -> Result<Tree> {
    let roots = member_roots(members);
    let node = repo.node_from_snapshot_and_path(snap, "")?;
    let mut opts = LsOptions::default();
    opts.recursive = true;
    let mut out = Tree::new();
    for item in repo.ls(&node, &opts)? {
        let (path, node) = item?;
        let logical = Path::new("/").join(path);
        if role_of(&logical, &roots).is_some() {
            out.insert(logical, EntryMeta::from_node(&node));
        }
    }
    Ok(out)
}

/// What changed from `from` to `to`, per role of `members`; entries outside every member are
/// ignored.
#[must_use]
pub fn compare(from: &Tree, to: &Tree, members: &[Member]) -> FileChanges {
    let roots = member_roots(members);
    let mut changes = FileChanges::default();
    for m in members {
        changes.roles.entry(m.role).or_default();
    }
    // Escaped where not printable UTF-8 (a Latin-1 name, a newline): one line each, lossless.
    let shown = crate::host::root::shown;
    for (path, old) in from {
        let Some(role) = role_of(path, &roots) else {
            continue;
        };
        let c = changes.roles.entry(role).or_default();
        match to.get(path) {
            None => {
                c.removed += 1;
                c.removed_paths.push(shown(path));
            }
            Some(new) if old.differs(new) => {
                c.changed += 1;
                c.changed_paths.push(shown(path));
            }
            Some(_) => {}
        }
    }
    for path in to.keys().filter(|p| !from.contains_key(*p)) {
        let Some(role) = role_of(path, &roots) else {
            continue;
        };
        let c = changes.roles.entry(role).or_default();
        c.added += 1;
        c.added_paths.push(shown(path));
    }
    changes
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

    fn file(size: u64, mtime: i64) -> EntryMeta {
        EntryMeta {
            kind: EntryKind::File,
            size,
            mtime: Some((mtime, 0)),
            mode: Some(0o644),
            uid: Some(0),
            gid: Some(0),
            link: None,
        }
    }

    fn dir(mtime: i64) -> EntryMeta {
        EntryMeta {
            kind: EntryKind::Dir,
            size: 0,
            mtime: Some((mtime, 0)),
            mode: Some(0o755),
            uid: Some(0),
            gid: Some(0),
            link: None,
        }
    }

    #[test]
    fn counts_per_role_by_longest_prefix() {
        let members = vec![
            member(Role::Product, "/opt/was"),
            member(Role::Extra, "/opt/was/profiles/p1"),
            member(Role::ImAgentData, "/var/ibm/im"),
        ];
        let mut a = Tree::new();
        a.insert("/opt".into(), dir(1));
        a.insert("/opt/was".into(), dir(1));
        a.insert("/opt/was/lib/a.jar".into(), file(10, 1));
        a.insert("/opt/was/lib/gone.jar".into(), file(10, 1));
        a.insert("/opt/was/profiles/p1/x.xml".into(), file(5, 1));
        a.insert("/var/ibm/im/installed.xml".into(), file(100, 1));
        let mut b = a.clone();
        b.insert("/opt".into(), dir(9)); // outside every member: ignored
        b.insert("/opt/was".into(), dir(9)); // a directory's mtime alone is no change
        b.insert("/opt/was/lib/a.jar".into(), file(11, 2));
        b.remove(Path::new("/opt/was/lib/gone.jar"));
        b.insert("/opt/was/lib/new.jar".into(), file(1, 2));
        b.insert("/opt/was/profiles/p1/x.xml".into(), file(5, 3));

        let c = compare(&a, &b, &members);
        let product = &c.roles[&Role::Product];
        assert_eq!((product.added, product.changed, product.removed), (1, 1, 1));
        assert_eq!(product.changed_paths, vec!["/opt/was/lib/a.jar"]);
        assert_eq!(c.roles[&Role::Extra].changed, 1);
        assert_eq!(c.roles[&Role::ImAgentData].total(), 0);
        assert!(!c.im_changed());
        assert_eq!(c.total(), 4);

        b.insert("/var/ibm/im/installed.xml".into(), file(101, 1));
        let c = compare(&a, &b, &members);
        assert!(c.im_changed());
        let json = serde_json::to_value(c.without_paths()).unwrap();
        assert_eq!(json["im-agent-data"]["changed"], 1);
        assert!(json["product"].get("added_paths").is_none());
    }

    #[test]
    fn what_counts_as_a_change() {
        let f = file(1, 1);
        assert!(!f.differs(&f.clone()));
        assert!(f.differs(&EntryMeta {
            mode: Some(0o600),
            ..f.clone()
        }));
        assert!(f.differs(&EntryMeta {
            uid: Some(1001),
            ..f.clone()
        }));
        assert!(f.differs(&dir(1)));
        let link = |t: &str| EntryMeta {
            kind: EntryKind::Symlink,
            link: Some(t.into()),
            ..file(8, 1)
        };
        assert!(link("a").differs(&link("b")));
        assert!(!link("a").differs(&EntryMeta {
            mtime: Some((5, 0)),
            ..link("a")
        }));
    }

    #[test]
    fn live_tree_walks_members_at_logical_paths() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        let was = host.root().join("opt/was");
        std::fs::create_dir_all(was.join("lib")).unwrap();
        std::fs::write(was.join("lib/a.jar"), "jar").unwrap();
        std::os::unix::fs::symlink("a.jar", was.join("lib/current.jar")).unwrap();
        let members = vec![
            member(Role::Product, "/opt/was"),
            member(Role::Extra, "/opt/was/lib"),
            member(Role::ImShared, "/opt/missing"),
        ];
        let tree = live_tree(&host, &members).unwrap();
        let paths: Vec<&Path> = tree.keys().map(PathBuf::as_path).collect();
        assert_eq!(
            paths,
            vec![
                Path::new("/opt/was"),
                Path::new("/opt/was/lib"),
                Path::new("/opt/was/lib/a.jar"),
                Path::new("/opt/was/lib/current.jar"),
            ]
        );
        let link = &tree[Path::new("/opt/was/lib/current.jar")];
        assert_eq!(link.kind, EntryKind::Symlink);
        assert_eq!(link.link.as_deref(), Some(Path::new("a.jar")));
        assert_eq!(tree[Path::new("/opt/was/lib/a.jar")].size, 3);
    }
}
