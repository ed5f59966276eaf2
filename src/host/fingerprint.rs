//! Fingerprints: proof that nothing in the set changed while it was read.
//!
//! A fingerprint is every entry's type, size, mtime, ctime, inode, mode and owner under a set of
//! members, taken from metadata alone. lockstep takes one before the backup reads any data and
//! one after the snapshot is written; any difference in an IM role means the snapshot may hold a
//! torn set (IM rewrote its records half-way), so it is not kept. ctime catches what mtime alone
//! misses (a file rewritten with its old mtime restored).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::host::excludes::Excludes;
use crate::host::root::HostRoot;

/// One entry's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    kind: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: u64,
    mode: u32,
    owner: (u32, u32),
}

/// Some of an entry's metadata, as [`Fingerprint::changed_after`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// A directory.
    pub is_dir: bool,
    /// A regular file.
    pub is_file: bool,
    /// Its size (0 for a directory).
    pub size: u64,
    /// Its mtime (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Its ctime (seconds, nanoseconds).
    pub ctime: (i64, i64),
}

/// The metadata of every entry under some members, by logical path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// Each entry's logical path (as bytes) and stamp, sorted by the bytes with no path twice.
    entries: Packed,
    /// Entries that vanished while they were being listed.
    unreadable: Vec<PathBuf>,
}

/// A fingerprint as it is taken: entries in any order.
#[derive(Default)]
struct Raw {
    entries: Vec<(Box<[u8]>, Stamp)>,
    unreadable: Vec<PathBuf>,
}

/// Sorted entries, stored as compactly as they are read: in path order, each path keeps only
/// what differs from the one before it (every [`RESTART`]th path is whole, so a path can be
/// found by binary search). A backup holds its first fingerprint while the engine reads the whole
/// set, so its paths are packed instead of allocated one by one (figures: bench/FINDINGS.md, F20).
/// Bytes, not `Path`s: comparing paths walks components; the order is the digest's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Packed {
    /// Per entry: the length of the prefix shared with the previous path (u32, little endian),
    /// the length of the rest (u32) and the rest.
    keys: Vec<u8>,
    /// Where every [`RESTART`]th entry starts in `keys`.
    restarts: Vec<usize>,
    stamps: Vec<Stamp>,
}

/// Every how many entries a path is stored whole.
const RESTART: usize = 16;

impl Packed {
    /// Packs `entries`, sorted by path with no path twice.
    fn from_sorted(entries: Vec<(Box<[u8]>, Stamp)>) -> Self {
        let mut p = Packed {
            keys: Vec::new(),
            restarts: Vec::with_capacity(entries.len().div_ceil(RESTART)),
            stamps: Vec::with_capacity(entries.len()),
        };
        let mut previous: Box<[u8]> = Box::default();
        for (i, (key, stamp)) in entries.into_iter().enumerate() {
            let shared = if i % RESTART == 0 {
                p.restarts.push(p.keys.len());
                0
            } else {
                previous
                    .iter()
                    .zip(key.iter())
                    .take_while(|(a, b)| a == b)
                    .count()
            };
            let rest = &key[shared..];
            p.keys.extend_from_slice(&len_u32(shared).to_le_bytes());
            p.keys.extend_from_slice(&len_u32(rest.len()).to_le_bytes());
            p.keys.extend_from_slice(rest);
            p.stamps.push(stamp);
            previous = key;
        }
        p.keys.shrink_to_fit();
        p
    }

    /// The entries from the `restart`th whole path on.
    fn cursor_at(&self, restart: usize) -> Cursor<'_> {
        let mut c = Cursor {
            packed: self,
            at: restart * RESTART,
            next: self
                .restarts
                .get(restart)
                .copied()
                .unwrap_or(self.keys.len()),
            key: Vec::new(),
        };
        c.load();
        c
    }

    /// The whole path stored at `pos` of `keys` (where a restart begins).
    fn whole_key(&self, pos: usize) -> &[u8] {
        let (_, len, rest) = split_entry(&self.keys[pos..]);
        &rest[..len]
    }

    /// The first entry whose path is not below `key` in byte order.
    fn seek(&self, key: &[u8]) -> Cursor<'_> {
        let after = self
            .restarts
            .partition_point(|&pos| self.whole_key(pos) < key);
        let mut c = self.cursor_at(after.saturating_sub(1));
        while c.get().is_some_and(|(k, _)| k < key) {
            c.advance();
        }
        c
    }
}

/// A path length as stored; no path on any filesystem comes near 4 GiB.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// An entry's shared length, rest length and the bytes from its rest on.
fn split_entry(b: &[u8]) -> (usize, usize, &[u8]) {
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    (word(0), word(4), &b[8..])
}

/// Reads [`Packed`] entries in order, each path rebuilt in one buffer.
struct Cursor<'a> {
    packed: &'a Packed,
    /// The index of the current entry.
    at: usize,
    /// Where the entry after the current one starts in `keys`.
    next: usize,
    /// The current entry's path.
    key: Vec<u8>,
}

impl<'a> Cursor<'a> {
    /// The current entry, `None` past the last.
    fn get(&self) -> Option<(&[u8], &'a Stamp)> {
        self.packed.stamps.get(self.at).map(|s| (&self.key[..], s))
    }

    fn advance(&mut self) {
        self.at += 1;
        self.load();
    }

    /// Rebuilds the path of the entry `at`, stored at `next`.
    fn load(&mut self) {
        if self.at >= self.packed.stamps.len() {
            return;
        }
        let (shared, len, rest) = split_entry(&self.packed.keys[self.next..]);
        self.key.truncate(shared);
        self.key.extend_from_slice(&rest[..len]);
        self.next += 8 + len;
    }
}

impl Raw {
    /// Sorts the entries by their bytes, drops a path listed twice (a member named twice) and
    /// packs them.
    fn finish(mut self) -> Fingerprint {
        self.entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.entries.dedup_by(|a, b| a.0 == b.0);
        self.unreadable.sort();
        self.unreadable.dedup();
        Fingerprint {
            entries: Packed::from_sorted(self.entries),
            unreadable: self.unreadable,
        }
    }
}

/// What changed between two fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Entries present only in the later fingerprint.
    pub added: Vec<PathBuf>,
    /// Entries whose metadata differs.
    pub changed: Vec<PathBuf>,
    /// Entries present only in the earlier fingerprint.
    pub removed: Vec<PathBuf>,
}

impl Changes {
    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// All changed paths, sorted.
    #[must_use]
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = self
            .added
            .iter()
            .chain(&self.changed)
            .chain(&self.removed)
            .cloned()
            .collect();
        all.sort();
        all
    }

    /// Up to `n` changed paths, for a message: `a, b, c and 4 more`.
    #[must_use]
    pub fn sample(&self, n: usize) -> String {
        let all = self.paths();
        let shown: Vec<String> = all
            .iter()
            .take(n)
            .map(|p| p.display().to_string())
            .collect();
        if all.len() > n {
            format!("{} and {} more", shown.join(", "), all.len() - n)
        } else {
            shown.join(", ")
        }
    }
}

impl Fingerprint {
    /// Fingerprints everything under `members` (logical paths) on `host` that a backup with
    /// `excludes` reads: an excluded entry is left out with everything under it, as the
    /// backup's source leaves it out. Directories are walked in parallel on the I/O pool
    /// ([`crate::util::par`]).
    #[must_use]
    pub fn take(host: &HostRoot, members: &[PathBuf], excludes: &Excludes) -> Self {
        use rayon::prelude::*;
        let mut fp = Raw::default();
        // (member, its physical root, a subtree to walk)
        let mut subtrees: Vec<(&Path, PathBuf, PathBuf)> = Vec::new();
        for member in members {
            if excludes.excludes(member) {
                continue;
            }
            let physical = host.physical(member);
            match std::fs::symlink_metadata(&physical) {
                Ok(m) => {
                    fp.entries.push((key_of(member), Stamp::of(&m)));
                    if m.is_dir() {
                        match std::fs::read_dir(&physical) {
                            Ok(children) => {
                                for child in children {
                                    match child {
                                        Ok(c) => {
                                            subtrees.push((member, physical.clone(), c.path()))
                                        }
                                        Err(_) => fp.unreadable.push(member.clone()),
                                    }
                                }
                            }
                            Err(_) => fp.unreadable.push(member.clone()),
                        }
                    }
                }
                // A member that does not exist has nothing to fingerprint.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => fp.unreadable.push(member.clone()),
            }
        }
        let parts: Vec<Raw> = crate::util::par::io(|| {
            subtrees
                .par_iter()
                .map(|(member, root, subtree)| walk(member, root, subtree, excludes))
                .collect()
        });
        // // Reserved at the exact size: a doubling vector of a whole set's entries wastes up to
        // half (bench/FINDINGS.md, F14).
        fp.entries
            .reserve_exact(parts.iter().map(|p| p.entries.len()).sum::<usize>());
        for part in parts {
            fp.entries.extend(part.entries);
            fp.unreadable.extend(part.unreadable);
        }
        let fp = fp.finish();
        // The walk's paths were allocated on the I/O pool's threads, in arenas of their own
        // that the engine's threads do not reuse: what packing freed is handed back.
        crate::util::par::release_free_memory();
        fp
    }

    /// The metadata of `paths` (logical) themselves, not of their contents.
    #[must_use]
    pub fn of_paths(host: &HostRoot, paths: &[PathBuf]) -> Self {
        let mut fp = Raw::default();
        for path in paths {
            match std::fs::symlink_metadata(host.physical(path)) {
                Ok(m) => fp.entries.push((key_of(path), Stamp::of(&m))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => fp.unreadable.push(path.clone()),
            }
        }
        fp.finish()
    }

    /// A SHA-256 digest of `context` and of every entry (path and metadata, in path order) of
    /// `parts`: equal digests mean the same entries with the same metadata. `None` when an entry
    /// could not be read, so an unreadable entry never looks unchanged.
    #[must_use]
    pub fn digest(parts: &[&Fingerprint], context: &[u8]) -> Option<String> {
        use sha2::{Digest, Sha256};
        if parts.iter().any(|p| !p.unreadable.is_empty()) {
            return None;
        }
        // Byte order: each part is sorted already, so the parts are merged.
        let mut cursors: Vec<Cursor<'_>> = parts.iter().map(|p| p.entries.cursor_at(0)).collect();
        let mut h = Sha256::new();
        h.update((context.len() as u64).to_le_bytes());
        h.update(context);
        // The part whose current path is first (the earlier part on a tie).
        let first = |cursors: &[Cursor<'_>]| {
            cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.get().map(|(k, _)| (k, i)))
                .min()
                .map(|(_, i)| i)
        };
        while let Some(first) = first(&cursors) {
            let Some((bytes, s)) = cursors[first].get() else {
                break;
            };
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
            for n in [
                u64::from(s.kind),
                s.size,
                s.mtime.0 as u64,
                s.mtime.1 as u64,
                s.ctime.0 as u64,
                s.ctime.1 as u64,
                s.inode,
                u64::from(s.mode),
                u64::from(s.owner.0),
                u64::from(s.owner.1),
            ] {
                h.update(n.to_le_bytes());
            }
            cursors[first].advance();
        }
        Some(crate::util::report::hex(&h.finalize()))
    }

    /// Bytes in the regular files fingerprinted.
    #[must_use]
    pub fn file_bytes(&self) -> u64 {
        self.entries
            .stamps
            .iter()
            .filter(|s| s.kind == libc::S_IFREG)
            .map(|s| s.size)
            .sum()
    }

    /// The regular files at or under the logical path `path`: how many, and their bytes. `None`
    /// when the fingerprint does not hold `path` itself.
    #[must_use]
    pub fn files_under(&self, path: &Path) -> Option<(u64, u64)> {
        let key = path.as_os_str().as_bytes();
        // Everything under `path` starts with its bytes, so it is one run of the sorted entries.
        let mut c = self.entries.seek(key);
        if c.get().is_none_or(|(k, _)| k != key) {
            return None;
        }
        let (mut files, mut bytes) = (0, 0);
        while let Some((k, stamp)) = c.get() {
            if !k.starts_with(key) {
                break;
            }
            let inside = k.len() == key.len() || k[key.len()] == b'/' || key.ends_with(b"/");
            if inside && stamp.kind == libc::S_IFREG {
                files += 1;
                bytes += stamp.size;
            }
            c.advance();
        }
        Some((files, bytes))
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.stamps.len()
    }

    /// Whether the fingerprint is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.stamps.is_empty()
    }

    /// Whether every entry could be listed.
    #[must_use]
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty()
    }

    /// The entries whose ctime is later than `after` (seconds, nanoseconds), by logical path,
    /// with what a proof needs of their metadata.
    #[must_use]
    pub fn changed_after(&self, after: (i64, i64)) -> Vec<(PathBuf, Seen)> {
        let mut found = Vec::new();
        let mut c = self.entries.cursor_at(0);
        while let Some((key, stamp)) = c.get() {
            if stamp.ctime > after {
                found.push((
                    PathBuf::from(OsStr::from_bytes(key)),
                    Seen {
                        is_dir: stamp.kind == libc::S_IFDIR,
                        is_file: stamp.kind == libc::S_IFREG,
                        size: stamp.size,
                        mtime: stamp.mtime,
                        ctime: stamp.ctime,
                    },
                ));
            }
            c.advance();
        }
        found
    }

    /// The names of the entries directly under the logical directory `dir`, in byte order.
    #[must_use]
    pub fn children(&self, dir: &Path) -> Vec<OsString> {
        let mut prefix = dir.as_os_str().as_bytes().to_vec();
        if !prefix.ends_with(b"/") {
            prefix.push(b'/');
        }
        let mut names = Vec::new();
        let mut c = self.entries.seek(&prefix);
        while let Some((key, _)) = c.get() {
            let Some(rest) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            if !rest.is_empty() && !rest.contains(&b'/') {
                names.push(OsString::from_vec(rest.to_vec()));
            }
            c.advance();
        }
        names
    }

    /// What changed from `self` (earlier) to `later`.
    #[must_use]
    pub fn changes(&self, later: &Fingerprint) -> Changes {
        use std::cmp::Ordering;
        let path = |key: &[u8]| PathBuf::from(OsStr::from_bytes(key));
        let mut c = Changes::default();
        // Both are sorted by the same bytes: one merge finds every difference.
        let (mut earlier, mut now) = (self.entries.cursor_at(0), later.entries.cursor_at(0));
        loop {
            // (advance the earlier, advance the later)
            let step = match (earlier.get(), now.get()) {
                (Some((a, sa)), Some((b, sb))) => match a.cmp(b) {
                    Ordering::Less => {
                        c.removed.push(path(a));
                        (true, false)
                    }
                    Ordering::Greater => {
                        c.added.push(path(b));
                        (false, true)
                    }
                    Ordering::Equal => {
                        if sa != sb {
                            c.changed.push(path(a));
                        }
                        (true, true)
                    }
                },
                (Some((a, _)), None) => {
                    c.removed.push(path(a));
                    (true, false)
                }
                (None, Some((b, _))) => {
                    c.added.push(path(b));
                    (false, true)
                }
                (None, None) => break,
            };
            if step.0 {
                earlier.advance();
            }
            if step.1 {
                now.advance();
            }
        }
        // An entry that could not be listed either time is a change we cannot rule out.
        for p in later.unreadable.iter().chain(&self.unreadable) {
            if !c.changed.contains(p) {
                c.changed.push(p.clone());
            }
        }
        c.added.sort();
        c.changed.sort();
        c.removed.sort();
        c
    }
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Self {
        Stamp {
            kind: m.mode() & libc::S_IFMT,
            size: if m.is_dir() { 0 } else { m.size() },
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            inode: m.ino(),
            mode: m.mode() & 0o7777,
            owner: (m.uid(), m.gid()),
        }
    }
}

/// Fingerprints `subtree` (inside `member`, whose physical root is `root`), symlinks not followed.
fn walk(member: &Path, root: &Path, subtree: &Path, excludes: &Excludes) -> Raw {
    let mut fp = Raw::default();
    let key = logical(member, root, subtree).into_os_string();
    if excludes.excludes(Path::new(&key)) {
        return fp;
    }
    match std::fs::symlink_metadata(subtree) {
        Ok(m) => {
            if m.is_dir() {
                let parts = std::sync::Mutex::new(Vec::new());
                rayon::scope(|scope| {
                    walk_dir(
                        scope,
                        (&parts, excludes),
                        subtree.to_path_buf(),
                        key.clone(),
                    );
                });
                let parts = parts.into_inner().unwrap_or_else(|e| e.into_inner());
                fp.entries
                    .reserve_exact(1 + parts.iter().map(|p: &Raw| p.entries.len()).sum::<usize>());
                for part in parts {
                    fp.entries.extend(part.entries);
                    fp.unreadable.extend(part.unreadable);
                }
            }
            fp.entries
                .push((key.into_vec().into_boxed_slice(), Stamp::of(&m)));
        }
        Err(_) => fp.unreadable.push(key.into()),
    }
    fp
}

/// Fingerprints the entries of `dir` (logical path `key`) and, as tasks of `scope`, every
/// directory below it: on a cold cache each directory's stats wait on the disk, so many
/// directories are read at once, not one subtree per thread.
fn walk_dir<'s>(
    scope: &rayon::Scope<'s>,
    (parts, excludes): (&'s std::sync::Mutex<Vec<Raw>>, &'s Excludes),
    dir: PathBuf,
    key: OsString,
) {
    let mut fp = Raw::default();
    match std::fs::read_dir(&dir) {
        Ok(children) => {
            for child in children {
                let Ok(child) = child else {
                    fp.unreadable.push(key.clone().into());
                    continue;
                };
                let mut child_key = Vec::with_capacity(key.len() + 1 + child.file_name().len());
                child_key.extend_from_slice(key.as_bytes());
                if !key.as_bytes().ends_with(b"/") {
                    child_key.push(b'/');
                }
                child_key.extend_from_slice(child.file_name().as_bytes());
                if excludes.excludes(Path::new(OsStr::from_bytes(&child_key))) {
                    continue;
                }
                match child.metadata() {
                    Ok(m) => {
                        if m.is_dir() {
                            let sub_key = OsString::from_vec(child_key.clone());
                            let sub = child.path();
                            scope.spawn(move |scope| {
                                walk_dir(scope, (parts, excludes), sub, sub_key);
                            });
                        }
                        fp.entries
                            .push((child_key.into_boxed_slice(), Stamp::of(&m)));
                    }
                    Err(_) => fp
                        .unreadable
                        .push(PathBuf::from(OsString::from_vec(child_key))),
                }
            }
        }
        Err(_) => fp.unreadable.push(key.into()),
    }
    fp.entries.shrink_to_fit();
    parts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(fp);
}

/// A logical path as a fingerprint's key.
fn key_of(path: &Path) -> Box<[u8]> {
    path.as_os_str().as_bytes().into()
}

fn logical(member: &Path, physical_root: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix(physical_root) {
        Ok(rel) if rel.as_os_str().is_empty() => member.to_path_buf(),
        Ok(rel) => member.join(rel),
        Err(_) => member.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_content_rewrites_that_keep_the_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("var/ibm/IM/logs")).unwrap();
        let file = dir.path().join("var/ibm/IM/installed.xml");
        std::fs::write(&file, "one").unwrap();
        let members = vec![PathBuf::from("/var/ibm/IM")];
        let before = Fingerprint::take(&host, &members, &Excludes::default());
        assert_eq!(before.len(), 3);
        assert!(
            before
                .changes(&Fingerprint::take(&host, &members, &Excludes::default()))
                .is_empty()
        );

        let mtime =
            filetime::FileTime::from_last_modification_time(&std::fs::metadata(&file).unwrap());
        std::fs::write(&file, "two").unwrap();
        filetime::set_file_mtime(&file, mtime).unwrap();
        std::fs::write(dir.path().join("var/ibm/IM/logs/new.xml"), "x").unwrap();
        let after = Fingerprint::take(&host, &members, &Excludes::default());
        let c = before.changes(&after);
        assert_eq!(
            c.changed.first(),
            Some(&PathBuf::from("/var/ibm/IM/installed.xml"))
        );
        assert_eq!(c.added, vec![PathBuf::from("/var/ibm/IM/logs/new.xml")]);
        assert!(c.sample(1).ends_with("and 2 more"), "{}", c.sample(1));

        // Entries before and after others in byte order: removals and additions at both ends
        // of the merge.
        std::fs::remove_file(&file).unwrap();
        std::fs::write(dir.path().join("var/ibm/IM/a.xml"), "a").unwrap();
        std::fs::write(dir.path().join("var/ibm/IM/z.xml"), "z").unwrap();
        let c = after.changes(&Fingerprint::take(&host, &members, &Excludes::default()));
        assert_eq!(c.removed, vec![PathBuf::from("/var/ibm/IM/installed.xml")]);
        assert_eq!(
            c.added,
            vec![
                PathBuf::from("/var/ibm/IM/a.xml"),
                PathBuf::from("/var/ibm/IM/z.xml")
            ]
        );
        assert_eq!(c.changed, vec![PathBuf::from("/var/ibm/IM")]);
    }

    #[test]
    fn the_digest_covers_every_entry_the_context_and_the_directories_above() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("opt/IBM/App/lib")).unwrap();
        std::fs::write(dir.path().join("opt/IBM/App/lib/a.jar"), "jar").unwrap();
        let members = vec![PathBuf::from("/opt/IBM/App")];
        let above = vec![PathBuf::from("/opt"), PathBuf::from("/opt/IBM")];
        let digest = |context: &[u8]| {
            let fp = Fingerprint::take(&host, &members, &Excludes::default());
            Fingerprint::digest(&[&fp, &Fingerprint::of_paths(&host, &above)], context)
        };
        let first = digest(b"set").unwrap();
        assert_eq!(digest(b"set").unwrap(), first);
        assert_ne!(digest(b"other set").unwrap(), first);
        std::fs::write(dir.path().join("opt/IBM/App/lib/a.jar"), "JAR").unwrap();
        let rewritten = digest(b"set").unwrap();
        assert_ne!(rewritten, first);
        std::fs::create_dir(dir.path().join("opt/IBM/Other")).unwrap();
        assert_ne!(
            digest(b"set").unwrap(),
            rewritten,
            "a change above a member"
        );
        let mut unreadable = Fingerprint::take(&host, &members, &Excludes::default());
        unreadable
            .unreadable
            .push(PathBuf::from("/opt/IBM/App/lib"));
        assert_eq!(Fingerprint::digest(&[&unreadable], b"set"), None);
    }

    #[test]
    fn files_under_counts_a_subtree_and_not_its_namesakes() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        for (path, body) in [
            ("opt/App/lib/a.jar", "aaa"),
            ("opt/App/lib/b.jar", "bb"),
            ("opt/App/lib.bak", "0123456789"),
            ("opt/App/lib2/c.jar", "c"),
            ("opt/App/top.xml", "xml"),
        ] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, body).unwrap();
        }
        let fp = Fingerprint::take(&host, &[PathBuf::from("/opt/App")], &Excludes::default());
        assert_eq!(fp.files_under(Path::new("/opt/App/lib")), Some((2, 5)));
        assert_eq!(fp.files_under(Path::new("/opt/App")), Some((5, 19)));
        assert_eq!(fp.files_under(Path::new("/opt/App/top.xml")), Some((1, 3)));
        assert_eq!(fp.files_under(Path::new("/opt/App/li")), None);
    }

    #[test]
    fn children_and_changes_after_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        for path in [
            "opt/App/lib/a.jar",
            "opt/App/lib/b.jar",
            "opt/App/lib.bak",
            "opt/App/top",
        ] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, "x").unwrap();
        }
        let fp = Fingerprint::take(&host, &[PathBuf::from("/opt/App")], &Excludes::default());
        assert_eq!(
            fp.children(Path::new("/opt/App")),
            vec![OsString::from("lib"), "lib.bak".into(), "top".into()]
        );
        assert_eq!(
            fp.children(Path::new("/opt/App/lib")),
            vec![OsString::from("a.jar"), "b.jar".into()]
        );
        assert!(fp.children(Path::new("/opt/App/top")).is_empty());
        let all = fp.changed_after((0, 0));
        assert_eq!(all.len(), fp.len());
        let latest = all.iter().map(|(_, s)| s.ctime).max().unwrap();
        assert!(fp.changed_after(latest).is_empty());
        let jar = all
            .iter()
            .find(|(p, _)| p == Path::new("/opt/App/lib/a.jar"))
            .unwrap();
        assert!(jar.1.is_file && !jar.1.is_dir && jar.1.size == 1);
        assert!(fp.complete());
    }

    /// Many paths sharing prefixes (and restarts falling anywhere), with stamps that differ
    /// in every field: the packed entries read back exactly as given, and the digest, the
    /// counts and the changes are those of the plain sorted list.
    #[test]
    fn packed_entries_read_back_and_answer_like_a_plain_sorted_list() {
        use sha2::{Digest, Sha256};
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let names = [
            "lib", "lib.bak", "lib2", "a.jar", "b", "config", "cells", "x", "\u{e9}",
        ];
        let mut plain: Vec<(Vec<u8>, Stamp)> = Vec::new();
        for _ in 0..2000 {
            let depth = 1 + next(6) as usize;
            let mut path = b"/opt/App".to_vec();
            for _ in 0..depth {
                path.push(b'/');
                path.extend_from_slice(names[next(names.len() as u64) as usize].as_bytes());
            }
            let stamp = Stamp {
                kind: if next(3) == 0 {
                    libc::S_IFDIR
                } else {
                    libc::S_IFREG
                },
                size: next(1 << 20),
                mtime: (next(1000) as i64, next(1000) as i64),
                ctime: (next(1000) as i64, next(1000) as i64),
                inode: next(1 << 30),
                mode: next(0o7777) as u32,
                owner: (next(3) as u32, next(3) as u32),
            };
            plain.push((path, stamp));
        }
        plain.sort_by(|a, b| a.0.cmp(&b.0));
        plain.dedup_by(|a, b| a.0 == b.0);
        let pack = |entries: &[(Vec<u8>, Stamp)]| {
            Raw {
                entries: entries
                    .iter()
                    .rev()
                    .map(|(k, s)| (k.clone().into_boxed_slice(), *s))
                    .collect(),
                unreadable: Vec::new(),
            }
            .finish()
        };
        let fp = pack(&plain);

        let mut read = Vec::new();
        let mut c = fp.entries.cursor_at(0);
        while let Some((k, s)) = c.get() {
            read.push((k.to_vec(), *s));
            c.advance();
        }
        assert_eq!(read, plain);

        // The digest as it has always been computed (snapshots record it).
        let mut h = Sha256::new();
        h.update(3u64.to_le_bytes());
        h.update(b"ctx");
        for (bytes, s) in &plain {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
            for n in [
                u64::from(s.kind),
                s.size,
                s.mtime.0 as u64,
                s.mtime.1 as u64,
                s.ctime.0 as u64,
                s.ctime.1 as u64,
                s.inode,
                u64::from(s.mode),
                u64::from(s.owner.0),
                u64::from(s.owner.1),
            ] {
                h.update(n.to_le_bytes());
            }
        }
        let expected = crate::util::report::hex(&h.finalize());
        assert_eq!(Fingerprint::digest(&[&fp], b"ctx"), Some(expected.clone()));
        // Split in three parts (as IM, product and the directories above are), the same.
        let parts: Vec<Fingerprint> = (0..3)
            .map(|i| {
                pack(
                    &plain
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| j % 3 == i)
                        .map(|(_, e)| e.clone())
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let parts: Vec<&Fingerprint> = parts.iter().collect();
        assert_eq!(Fingerprint::digest(&parts, b"ctx"), Some(expected));

        for (probe, _) in plain.iter().step_by(7) {
            let naive = plain
                .iter()
                .filter(|(k, s)| {
                    s.kind == libc::S_IFREG
                        && k.starts_with(probe)
                        && (k.len() == probe.len() || k[probe.len()] == b'/')
                })
                .fold((0, 0), |(f, b), (_, s)| (f + 1, b + s.size));
            let path = Path::new(OsStr::from_bytes(probe));
            assert_eq!(fp.files_under(path), Some(naive), "{}", path.display());
            let mut absent = probe.clone();
            absent.push(b'~');
            let absent = Path::new(OsStr::from_bytes(&absent));
            assert_eq!(fp.files_under(absent), None, "{}", absent.display());
        }

        // Every third entry removed, every fifth changed, one added.
        let mut later: Vec<(Vec<u8>, Stamp)> = Vec::new();
        for (i, (k, s)) in plain.iter().enumerate() {
            if i % 3 == 1 {
                continue;
            }
            let mut s = *s;
            if i % 5 == 0 {
                s.ctime.1 += 1;
            }
            later.push((k.clone(), s));
        }
        later.push((b"/opt/App/zz-new".to_vec(), plain[0].1));
        let changes = fp.changes(&pack(&later));
        let as_path = |k: &Vec<u8>| PathBuf::from(OsStr::from_bytes(k));
        let removed: Vec<PathBuf> = plain
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 1)
            .map(|(_, (k, _))| as_path(k))
            .collect();
        let changed: Vec<PathBuf> = plain
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 1 && i % 5 == 0)
            .map(|(_, (k, _))| as_path(k))
            .collect();
        let sorted = |mut v: Vec<PathBuf>| {
            v.sort();
            v
        };
        assert_eq!(changes.removed, sorted(removed));
        assert_eq!(changes.changed, sorted(changed));
        assert_eq!(changes.added, vec![PathBuf::from("/opt/App/zz-new")]);
    }
}
