//! One verifier for every restored copy: a staged unit before it is swapped in (an in-place
//! restore) and a scratch copy (a drill) are checked by the same rules.
//!
//! An entry matches its snapshot node when its type, permission bits (not a symlink's), mtime
//! to the nanosecond (directories and symlinks included), symlink target, numeric owner (when
//! owners are restored: as root) and extended attributes (`user.*` always, the others as root)
//! are the node's, and a regular file's content hashes, chunk by chunk, to the node's blob ids:
//! the index gives each chunk's length, so the restored bytes are compared with what was backed
//! up without reading the repository again.

use std::io::Read;
use std::path::Path;

use rustic_core::repofile::{Node, NodeType};
use rustic_core::{IndexedFull, Progress, Repository};
use sha2::{Digest, Sha256};

use crate::ops::compare::{EntryKind, EntryMeta};

/// What to check beyond type, mode, mtime and link target.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    /// Compare numeric owners and every extended attribute (owners are restored only as root).
    pub owners: bool,
    /// Re-hash a regular file's content (not for files proven equal another way).
    pub content: bool,
}

/// Every difference between the restored entry at `path` and `node`, one short phrase each
/// (empty: it matches), and the bytes re-hashed. `progress` counts the bytes hashed.
pub fn entry<S: IndexedFull>(
    repo: &Repository<S>,
    node: &Node,
    path: &Path,
    checks: Checks,
    progress: Option<&Progress>,
) -> (Vec<String>, u64) {
    let (mut problems, same_size) = entry_metadata(node, path, checks.owners);
    let mut hashed = 0;
    if same_size && checks.content && matches!(node.node_type, NodeType::File) {
        match content(repo, node, path, progress) {
            Ok(bytes) => hashed = bytes,
            Err(problem) => problems.push(problem),
        }
    }
    (problems, hashed)
}

/// Every difference between the entry at `path` and `node` but their content: type, mode,
/// mtime, size, link target, extended attributes and, with `owners`, the numeric owner. The
/// second value is whether the entry is of the node's type and size (its content can be
/// compared).
pub fn entry_metadata(node: &Node, path: &Path, owners: bool) -> (Vec<String>, bool) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => entry_metadata_of(node, path, &meta, owners),
        Err(e) => (vec![format!("missing from the restored copy ({e})")], false),
    }
}

/// [`entry_metadata`] for the entry at `path` whose `lstat` gave `meta`.
pub fn entry_metadata_of(
    node: &Node,
    path: &Path,
    meta: &std::fs::Metadata,
    owners: bool,
) -> (Vec<String>, bool) {
    let link = meta
        .file_type()
        .is_symlink()
        .then(|| std::fs::read_link(path).ok())
        .flatten();
    let want = EntryMeta::from_node(node);
    let have = EntryMeta::from_metadata(meta, link);
    if want.kind != have.kind {
        return (
            vec![format!("type {:?} restored as {:?}", want.kind, have.kind)],
            false,
        );
    }
    let mut problems = metadata(&want, &have, owners);
    let mut same_size = true;
    match &node.node_type {
        NodeType::Symlink { .. } if want.link != have.link => {
            problems.push(format!(
                "link target {:?} restored as {:?}",
                want.link, have.link
            ));
        }
        NodeType::File if want.size != have.size => {
            same_size = false;
            problems.push(format!("size {} restored as {}", want.size, have.size));
        }
        _ => {}
    }
    if let Some(problem) = xattrs(node, path, owners) {
        problems.push(problem);
    }
    (problems, same_size)
}

/// Mode (not a symlink's), mtime and, with `owners`, the numeric owner.
fn metadata(want: &EntryMeta, have: &EntryMeta, owners: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if want.kind != EntryKind::Symlink && want.mode.is_some() && want.mode != have.mode {
        problems.push(format!(
            "mode {:o} restored as {:o}",
            want.mode.unwrap_or_default(),
            have.mode.unwrap_or_default()
        ));
    }
    if want.mtime.is_some() && want.mtime != have.mtime {
        problems.push(format!(
            "mtime {:?} restored as {:?}",
            want.mtime.unwrap_or_default(),
            have.mtime.unwrap_or_default()
        ));
    }
    if owners && want.uid.is_some() && (want.uid, want.gid) != (have.uid, have.gid) {
        problems.push(format!(
            "owner {}:{} restored as {}:{}",
            want.uid.unwrap_or_default(),
            want.gid.unwrap_or_default(),
            have.uid.unwrap_or_default(),
            have.gid.unwrap_or_default()
        ));
    }
    problems
}

/// Re-hashes the restored file chunk by chunk against the snapshot's blob ids; the bytes
/// hashed, or what differs.
///
/// # Errors
/// A phrase: unreadable, a chunk missing from the index, shorter or longer content, or the
/// first chunk that differs.
pub fn content<S: IndexedFull>(
    repo: &Repository<S>,
    node: &Node,
    path: &Path,
    progress: Option<&Progress>,
) -> Result<u64, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut buf = Vec::new();
    let mut hashed = 0;
    for (i, id) in node.content.iter().flatten().enumerate() {
        let entry = repo
            .get_index_entry(id)
            .map_err(|_| format!("chunk {i} is not in the repository's index"))?;
        let len = usize::try_from(entry.location.data_length()).unwrap_or(usize::MAX);
        buf.resize(len, 0);
        file.read_exact(&mut buf)
            .map_err(|e| format!("content shorter than the snapshot's ({e})"))?;
        if crate::util::report::hex(&Sha256::digest(&buf)) != id.to_hex().as_str() {
            return Err(format!("content differs from the snapshot in chunk {i}"));
        }
        hashed += len as u64;
        if let Some(p) = progress {
            p.inc(len as u64);
        }
    }
    let mut rest = [0u8; 1];
    if file
        .read(&mut rest)
        .map_err(|e| format!("cannot read it: {e}"))?
        != 0
    {
        return Err("content longer than the snapshot's".into());
    }
    Ok(hashed)
}

/// Extended attributes as (name, value) pairs, sorted.
type Xattrs = Vec<(String, Option<Vec<u8>>)>;

/// The extended attributes compared (`user.*`, and every one with `owners`), when they differ.
fn xattrs(node: &Node, path: &Path, owners: bool) -> Option<String> {
    if matches!(node.node_type, NodeType::Symlink { .. }) {
        return None;
    }
    let wanted_name = |name: &str| owners || name.starts_with("user.");
    let mut want: Xattrs = crate::ops::restore::xattrs_of(node)
        .into_iter()
        .map(|(n, v)| (n, Some(v)))
        .filter(|(n, _)| wanted_name(n))
        .collect();
    let mut have: Xattrs = match xattr::list(path) {
        Ok(names) => names
            .map(|n| {
                let value = xattr::get(path, &n).ok().flatten();
                (n.to_string_lossy().into_owned(), value)
            })
            .filter(|(n, _)| wanted_name(n))
            .collect(),
        Err(_) => Vec::new(),
    };
    // An empty value and no value are the same attribute.
    for list in [&mut want, &mut have] {
        for (_, v) in list.iter_mut() {
            if v.as_ref().is_some_and(Vec::is_empty) {
                *v = None;
            }
        }
        list.sort();
    }
    (want != have).then(|| {
        format!(
            "extended attributes {:?} restored as {:?}",
            want.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            have.iter().map(|(n, _)| n).collect::<Vec<_>>()
        )
    })
}
