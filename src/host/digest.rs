//! The set's state digest: one hash of every entry's metadata (type, size, mtime, ctime, inode,
//! mode, owner) of the members, of the directories above them, and of the set's members and
//! excludes. A consistent backup records it; a digest equal to a snapshot's recorded one proves
//! the live set is exactly that snapshot, without reading a file (the no-change backup, the
//! fast rollback's proof).

use std::path::{Path, PathBuf};

use crate::host::excludes::{Excludes, role_paths};
use crate::host::fingerprint::Fingerprint;
use crate::host::root::HostRoot;
use crate::host::set::SyncSet;
use crate::{Error, Result};

/// What shapes a snapshot's tree besides the entries under its members: the members (roles,
/// paths, which exist) and the excludes, as bytes; and the directories above the members, whose
/// metadata the tree records too.
fn state_context(set: &SyncSet, excludes: &[String]) -> Result<(Vec<u8>, Vec<PathBuf>)> {
    let mut context = b"lockstep set state 1\n".to_vec();
    serde_json::to_writer(&mut context, &(&set.members, excludes))
        .map_err(|e| Error::Other(format!("cannot encode the set: {e}")))?;
    let mut above: Vec<PathBuf> = set
        .top_level_paths()
        .iter()
        .flat_map(|p| {
            p.ancestors()
                .skip(1)
                .map(Path::to_path_buf)
                .collect::<Vec<_>>()
        })
        .filter(|p| p != Path::new("/"))
        .collect();
    above.sort();
    above.dedup();
    Ok((context, above))
}

/// The fingerprints of `set`'s IM and product members as they are now, leaving out what a
/// backup with `excludes` leaves out.
///
/// # Errors
/// On an invalid exclude pattern.
pub(crate) fn walk_set(
    host: &HostRoot,
    set: &SyncSet,
    excludes: &[String],
) -> Result<[Fingerprint; 2]> {
    let im = role_paths(set, true);
    let excludes = Excludes::new(excludes, &im)?;
    Ok([
        Fingerprint::take(host, &im, &excludes),
        Fingerprint::take(host, &role_paths(set, false), &excludes),
    ])
}

/// The digest a consistent backup of `set` with `excludes` records, for the members'
/// fingerprints `fingerprints` ([`walk_set`]) and the directories above the members as they
/// are now; `None` when an entry could not be read. A digest equal to a snapshot's recorded
/// state proves the live set is exactly that snapshot's, entry by entry (type, size, mtime,
/// ctime, inode, mode, owner).
///
/// # Errors
/// When the set cannot be encoded.
pub(crate) fn state_digest(
    host: &HostRoot,
    set: &SyncSet,
    excludes: &[String],
    [im, other]: [&Fingerprint; 2],
) -> Result<Option<String>> {
    let (context, above) = state_context(set, excludes)?;
    let above = Fingerprint::of_paths(host, &above);
    Ok(Fingerprint::digest(&[im, other, &above], &context))
}
