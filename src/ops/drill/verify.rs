//! Verifying a restored tree against the snapshot it came from.
//!
//! Every entry of the snapshot's tree is looked up in the restored copy and checked by the
//! verifier in-place restores use ([`crate::ops::restore::verify`]): type, permission bits,
//! size, mtime, symlink target, numeric owner and extended attributes, and each file's content
//! re-hashed chunk by chunk. Entries in the restored copy that the snapshot does not have are
//! problems too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rustic_core::repofile::{Node, NodeType, SnapshotFile};
use rustic_core::{IndexedFull, LsOptions, Progress, Repository};

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

/// The differences of one entry, as short phrases ([`crate::ops::restore::verify`], the one
/// verifier restores use too).
fn check_entry<S: IndexedFull>(
    repo: &Repository<S>,
    node: &Node,
    restored: &Path,
    owners: bool,
    out: &mut Verification,
    progress: &Progress,
) -> Vec<String> {
    let checks = crate::ops::restore::verify::Checks {
        owners,
        content: true,
    };
    let (problems, hashed) =
        crate::ops::restore::verify::entry(repo, node, restored, checks, Some(progress));
    if node.node_type == NodeType::File {
        out.files += 1;
        out.bytes += hashed;
    }
    problems
}
