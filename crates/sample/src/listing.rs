//! Entry-by-entry listings of directory trees, to prove that two trees are the same.
//!
//! A listing records, for every entry under the given paths: its type, permission bits, numeric
//! owner, size, mtime (to the nanosecond), symlink target, content digest, extended attributes
//! and which paths share an inode (hard links). The demo uses it to show that a restore equals the
//! host it came from; the tests use it as their oracle. It reads the trees directly and shares no
//! code with backup or restore (it lives outside lockstep for that reason).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: &'static str,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Size in bytes (files only; 0 otherwise).
    pub size: u64,
    /// Modification time, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// Symlink target.
    pub link: Option<PathBuf>,
    /// SHA-256 of a file's content, hex.
    pub digest: Option<String>,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// For a file with several links: the first path (in listing order) sharing its inode.
    pub hardlink_of: Option<PathBuf>,
}

/// A listing: logical path → entry.
pub type Listing = BTreeMap<PathBuf, EntryInfo>;

/// What to leave out of a comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignore {
    /// Ignore owners (a restore by a non-root user cannot set them).
    pub owner: bool,
}

/// Lists everything under each of `paths` (logical, interpreted under `root`), the paths
/// themselves included. Paths that do not exist are skipped.
///
/// # Errors
/// When an entry cannot be read.
pub fn list(root: &Path, paths: &[PathBuf]) -> std::io::Result<Listing> {
    let mut out = Listing::new();
    let mut inodes: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    for logical in paths {
        let rel = logical.strip_prefix("/").unwrap_or(logical);
        let start = root.join(rel);
        if std::fs::symlink_metadata(&start).is_err() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&start)
            .follow_root_links(false)
            .sort_by_file_name()
        {
            let entry = entry.map_err(std::io::Error::other)?;
            let path = entry.path();
            let logical_path = Path::new("/").join(path.strip_prefix(root).unwrap_or(path));
            let m = std::fs::symlink_metadata(path)?;
            let ft = m.file_type();
            let kind = if ft.is_file() {
                "file"
            } else if ft.is_dir() {
                "dir"
            } else if ft.is_symlink() {
                "symlink"
            } else {
                "other"
            };
            let hardlink_of = if ft.is_file() && m.nlink() > 1 {
                let first = inodes
                    .entry((m.dev(), m.ino()))
                    .or_insert_with(|| logical_path.clone());
                (first != &logical_path).then(|| first.clone())
            } else {
                None
            };
            let mut xattrs = Vec::new();
            if !ft.is_symlink()
                && let Ok(names) = xattr::list(path)
            {
                for name in names {
                    let value = xattr::get(path, &name)?.unwrap_or_default();
                    xattrs.push((name.to_string_lossy().into_owned(), value));
                }
                xattrs.sort();
            }
            out.insert(
                logical_path,
                EntryInfo {
                    kind,
                    mode: m.mode() & 0o7777,
                    uid: m.uid(),
                    gid: m.gid(),
                    size: if ft.is_file() { m.len() } else { 0 },
                    mtime: (m.mtime(), m.mtime_nsec()),
                    link: if ft.is_symlink() {
                        Some(std::fs::read_link(path)?)
                    } else {
                        None
                    },
                    digest: if ft.is_file() {
                        Some(digest(path)?)
                    } else {
                        None
                    },
                    xattrs,
                    hardlink_of,
                },
            );
        }
    }
    Ok(out)
}

fn digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of `bytes`, as lockstep's reports write a digest.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The differences between two listings, one line each (empty when they are equal).
#[must_use]
pub fn diff(expected: &Listing, actual: &Listing, ignore: Ignore) -> Vec<String> {
    let mut out = Vec::new();
    for (path, e) in expected {
        match actual.get(path) {
            None => out.push(format!("missing: {}", path.display())),
            Some(a) => {
                let mut fields = Vec::new();
                if e.kind != a.kind {
                    fields.push(format!("type {} ≠ {}", e.kind, a.kind));
                }
                if e.mode != a.mode && e.kind != "symlink" {
                    fields.push(format!("mode {:o} ≠ {:o}", e.mode, a.mode));
                }
                if !ignore.owner && (e.uid, e.gid) != (a.uid, a.gid) {
                    fields.push(format!("owner {}:{} ≠ {}:{}", e.uid, e.gid, a.uid, a.gid));
                }
                if e.size != a.size || e.digest != a.digest {
                    fields.push("content".to_owned());
                }
                if e.mtime != a.mtime {
                    fields.push(format!("mtime {:?} ≠ {:?}", e.mtime, a.mtime));
                }
                if e.link != a.link {
                    fields.push(format!("link {:?} ≠ {:?}", e.link, a.link));
                }
                if e.xattrs != a.xattrs {
                    fields.push("xattrs".to_owned());
                }
                if e.hardlink_of != a.hardlink_of {
                    fields.push(format!(
                        "hard link {:?} ≠ {:?}",
                        e.hardlink_of, a.hardlink_of
                    ));
                }
                if !fields.is_empty() {
                    out.push(format!("{}: {}", path.display(), fields.join(", ")));
                }
            }
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        out.push(format!("unexpected: {}", path.display()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_content_mode_and_link_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/sub")).unwrap();
        std::fs::write(root.join("a/f"), "one").unwrap();
        std::fs::hard_link(root.join("a/f"), root.join("a/g")).unwrap();
        std::os::unix::fs::symlink("f", root.join("a/l")).unwrap();
        let before = list(root, &[PathBuf::from("/a")]).unwrap();
        assert_eq!(before.len(), 5);
        assert_eq!(
            before[Path::new("/a/g")].hardlink_of,
            Some(PathBuf::from("/a/f"))
        );
        assert!(diff(&before, &before, Ignore::default()).is_empty());

        let mtime = std::fs::metadata(root.join("a/f"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::write(root.join("a/f"), "two").unwrap();
        filetime::set_file_mtime(root.join("a/f"), filetime::FileTime::from(mtime)).unwrap();
        std::fs::remove_dir(root.join("a/sub")).unwrap();
        let after = list(root, &[PathBuf::from("/a")]).unwrap();
        let d = diff(&before, &after, Ignore::default());
        assert!(d.iter().any(|l| l.starts_with("/a/f: content")), "{d:?}");
        assert!(d.iter().any(|l| l == "missing: /a/sub"), "{d:?}");
    }
}
