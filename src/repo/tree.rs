//! Snapshot-tree nodes for the directories rustic_core does not record by itself.
//!
//! rustic's local source skips the metadata of a backup root and of the directories above it
//! (a restore then gives them default modes, root ownership and the restore time). lockstep
//! records them itself: [`dir_node`] builds the same node rustic builds for a directory it walks —
//! restic's Go mode bits, numeric owner, times, extended attributes — so member roots and their
//! parents come back exactly.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustic_core::jiff::Timestamp;
use rustic_core::repofile::{Metadata, Node, NodeType};

/// Go's `fs.ModeDir` (restic stores modes in Go's layout).
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_STICKY: u32 = 1 << 20;

/// Maps a directory's POSIX `st_mode` to restic's (Go's) mode bits.
#[must_use]
pub fn go_dir_mode(mode: u32) -> u32 {
    let mut go = (mode & 0o777) | GO_MODE_DIR;
    if mode & 0o4000 != 0 {
        go |= GO_MODE_SETUID;
    }
    if mode & 0o2000 != 0 {
        go |= GO_MODE_SETGID;
    }
    if mode & 0o1000 != 0 {
        go |= GO_MODE_STICKY;
    }
    go
}

/// The POSIX permission bits (with setuid, setgid and sticky) of a restic (Go) mode.
#[must_use]
pub fn posix_perm(go_mode: u32) -> u32 {
    let mut mode = go_mode & 0o777;
    if go_mode & GO_MODE_SETUID != 0 {
        mode |= 0o4000;
    }
    if go_mode & GO_MODE_SETGID != 0 {
        mode |= 0o2000;
    }
    if go_mode & GO_MODE_STICKY != 0 {
        mode |= 0o1000;
    }
    mode
}

/// The snapshot node for directory `path` (physical), named `name`.
///
/// # Errors
/// When the directory's metadata cannot be read.
pub fn dir_node(name: &OsStr, path: &Path) -> std::io::Result<Node> {
    let m = std::fs::symlink_metadata(path)?;
    let mtime = m.modified().ok().and_then(|t| Timestamp::try_from(t).ok());
    #[allow(clippy::cast_possible_truncation)]
    let ctime = Timestamp::new(m.ctime(), m.ctime_nsec() as i32).ok();
    let mut meta = Metadata {
        mode: Some(go_dir_mode(m.mode())),
        mtime,
        atime: mtime,
        ctime,
        uid: Some(m.uid()),
        gid: Some(m.gid()),
        user: None,
        group: None,
        inode: m.ino(),
        device_id: 0,
        size: 0,
        links: 0,
        extended_attributes: Vec::new(),
    };
    meta.extended_attributes = xattrs(path)?;
    Ok(Node::new_node(name, NodeType::Dir, meta))
}

/// The extended attributes of `path`, in the form rustic stores them. rustic_core does not
/// export its attribute type, so the list is built through its serde form (name + base64 value).
fn xattrs<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Vec<T>> {
    use base64::Engine;
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut list = Vec::new();
    for name in names {
        let value = xattr::get(path, &name)?;
        list.push(serde_json::json!({
            "name": name.to_string_lossy(),
            "value": value.map(|v| base64::engine::general_purpose::STANDARD.encode(v)),
        }));
    }
    serde_json::from_value(serde_json::Value::Array(list)).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn dir_nodes_carry_mode_owner_time_and_xattrs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o2750)).unwrap();
        filetime::set_file_mtime(&d, filetime::FileTime::from_unix_time(1_600_000_000, 5)).unwrap();
        let has_xattr = xattr::set(&d, "user.lockstep.t", b"v").is_ok();
        let node = dir_node(OsStr::new("d"), &d).unwrap();
        assert!(node.is_dir());
        assert_eq!(node.meta.mode, Some(0o750 | GO_MODE_DIR | GO_MODE_SETGID));
        assert_eq!(posix_perm(node.meta.mode.unwrap()), 0o2750);
        assert_eq!(node.meta.mtime.unwrap().as_second(), 1_600_000_000);
        assert_eq!(node.meta.uid, Some(std::fs::metadata(&d).unwrap().uid()));
        if has_xattr {
            let json = serde_json::to_value(&node.meta.extended_attributes).unwrap();
            assert_eq!(json[0]["name"], "user.lockstep.t");
            assert_eq!(json[0]["value"], "dg==");
        }
    }
}
