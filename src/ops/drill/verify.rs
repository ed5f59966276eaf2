//! Verifying a restored tree against the snapshot it came from.
//!
//! Every entry of the snapshot's tree is looked up in the restored copy: its type, permission
//! bits, size, mtime (to the nanosecond, directories and symlinks included), symlink target,
//! numeric owner (when running as root, the only case where a restore sets owners) and extended
//! attributes (`user.*` always, the others as root). A regular file's content is verified by
//! re-hashing it blob by blob: the snapshot lists the SHA-256 of each chunk of the file, and the
//! index gives each chunk's length, so the restored bytes are compared with what was backed up
//! without reading the repository a second time. Entries in the restored copy that the
//! snapshot does not have are problems too.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use rustic_core::repofile::{Node, NodeType, SnapshotFile};
use rustic_core::{IndexedFull, LsOptions, Progress, Repository};
use sha2::{Digest, Sha256};

use crate::ops::compare::{EntryKind, EntryMeta};
use crate::{Error, Result};

/// What the verification found.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Entries of the snapshot checked.
    pub entries: u64,
    /// Regular files whose content was re-hashed.
    pub files: u64,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Every difference, one line each (logical paths).
    pub problems: Vec<String>,
}

/// Compares the restored copy under `root` with `snap`'s tree.
///
/// # Errors
/// When the snapshot's tree cannot be read from the repository.
pub fn verify<S: IndexedFull>(
    repo: &Repository<S>,
    snap: &SnapshotFile,
    root: &Path,
    owners: bool,
    progress: &Progress,
) -> Result<Verification> {
    let mut out = Verification::default();
    let top = repo.node_from_snapshot_and_path(snap, "")?;
    let mut opts = LsOptions::default();
    opts.recursive = true;
    let mut expected: BTreeSet<PathBuf> = BTreeSet::new();
    for item in repo.ls(&top, &opts)? {
        let (path, node) = item?;
        let restored = root.join(&path);
        let logical = Path::new("/").join(&path);
        out.entries += 1;
        for problem in check_entry(repo, &node, &restored, owners, &mut out, progress) {
            out.problems
                .push(format!("{}: {problem}", logical.display()));
        }
        expected.insert(path);
    }
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry =
            entry.map_err(|e| Error::Other(format!("cannot read the restored copy: {e}")))?;
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        // The ancestors of the members are in the snapshot as directories; anything else is not.
        if !expected.contains(rel) {
            out.problems.push(format!(
                "{}: restored but not in the snapshot",
                Path::new("/").join(rel).display()
            ));
        }
    }
    progress.finish();
    Ok(out)
}

/// The differences of one entry, as short phrases.
fn check_entry<S: IndexedFull>(
    repo: &Repository<S>,
    node: &Node,
    restored: &Path,
    owners: bool,
    out: &mut Verification,
    progress: &Progress,
) -> Vec<String> {
    let meta = match std::fs::symlink_metadata(restored) {
        Ok(m) => m,
        Err(e) => return vec![format!("missing from the restored copy ({e})")],
    };
    let link = meta
        .file_type()
        .is_symlink()
        .then(|| std::fs::read_link(restored).ok())
        .flatten();
    let want = EntryMeta::from_node(node);
    let have = EntryMeta::from_metadata(&meta, link);
    let mut problems = Vec::new();
    if want.kind != have.kind {
        problems.push(format!("type {:?} restored as {:?}", want.kind, have.kind));
        return problems;
    }
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
    match &node.node_type {
        NodeType::Symlink { .. } if want.link != have.link => {
            problems.push(format!(
                "link target {:?} restored as {:?}",
                want.link, have.link
            ));
        }
        NodeType::File => {
            if want.size != have.size {
                problems.push(format!("size {} restored as {}", want.size, have.size));
            } else if let Err(problem) = check_content(repo, node, restored, out, progress) {
                problems.push(problem);
            }
        }
        _ => {}
    }
    if let Some(problem) = check_xattrs(node, restored, owners) {
        problems.push(problem);
    }
    problems
}

/// Re-hashes the restored file chunk by chunk against the snapshot's blob ids.
fn check_content<S: IndexedFull>(
    repo: &Repository<S>,
    node: &Node,
    restored: &Path,
    out: &mut Verification,
    progress: &Progress,
) -> Result<(), String> {
    out.files += 1;
    let Some(content) = &node.content else {
        return Ok(());
    };
    let mut file = std::fs::File::open(restored).map_err(|e| format!("cannot read it: {e}"))?;
    let mut buf = Vec::new();
    for (i, id) in content.iter().enumerate() {
        let entry = repo
            .get_index_entry(id)
            .map_err(|_| format!("chunk {i} is not in the repository's index"))?;
        let len = usize::try_from(entry.location.data_length()).unwrap_or(usize::MAX);
        buf.resize(len, 0);
        file.read_exact(&mut buf)
            .map_err(|e| format!("content shorter than the snapshot's ({e})"))?;
        let digest: String = Sha256::digest(&buf)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if digest != id.to_hex().as_str() {
            return Err(format!("content differs from the snapshot in chunk {i}"));
        }
        out.bytes += len as u64;
        progress.inc(len as u64);
    }
    Ok(())
}

/// Extended attributes as (name, value) pairs, sorted.
type Xattrs = Vec<(String, Option<Vec<u8>>)>;

fn check_xattrs(node: &Node, restored: &Path, owners: bool) -> Option<String> {
    use base64::Engine;
    if matches!(node.node_type, NodeType::Symlink { .. }) {
        return None;
    }
    let wanted_name = |name: &str| owners || name.starts_with("user.");
    let json = serde_json::to_value(&node.meta.extended_attributes).ok()?;
    let mut want: Xattrs = json
        .as_array()?
        .iter()
        .filter_map(|a| {
            let name = a.get("name")?.as_str()?.to_owned();
            let value = a
                .get("value")
                .and_then(|v| v.as_str())
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok());
            Some((name, value))
        })
        .filter(|(n, _)| wanted_name(n))
        .collect();
    let mut have: Xattrs = match xattr::list(restored) {
        Ok(names) => names
            .map(|n| {
                let value = xattr::get(restored, &n).ok().flatten();
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
