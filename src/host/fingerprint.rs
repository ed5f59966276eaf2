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
    /// Its inode number.
    pub inode: u64,
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
        let mut p = Packer::with_capacity(entries.len());
        for (key, stamp) in entries {
            p.push(&key, stamp);
        }
        p.finish()
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

/// Builds a [`Packed`] from entries given one at a time, in path order.
struct Packer {
    packed: Packed,
    previous: Vec<u8>,
    /// Whether every path came after the one before it (false: they must be sorted again).
    sorted: bool,
}

impl Packer {
    /// For about `entries` entries.
    fn with_capacity(entries: usize) -> Self {
        Self {
            packed: Packed {
                keys: Vec::new(),
                restarts: Vec::with_capacity(entries.div_ceil(RESTART)),
                stamps: Vec::with_capacity(entries),
            },
            previous: Vec::new(),
            sorted: true,
        }
    }

    fn push(&mut self, key: &[u8], stamp: Stamp) {
        let p = &mut self.packed;
        let first = p.stamps.is_empty();
        if !first && key <= self.previous.as_slice() {
            self.sorted = false;
        }
        let shared = if p.stamps.len().is_multiple_of(RESTART) {
            p.restarts.push(p.keys.len());
            0
        } else {
            self.previous
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        let rest = &key[shared..];
        p.keys.extend_from_slice(&len_u32(shared).to_le_bytes());
        p.keys.extend_from_slice(&len_u32(rest.len()).to_le_bytes());
        p.keys.extend_from_slice(rest);
        p.stamps.push(stamp);
        self.previous.truncate(shared);
        self.previous.extend_from_slice(rest);
    }

    /// The packed entries, sorted (entries pushed out of order, or twice — members nested in
    /// one another — are sorted and deduplicated here, the slow way).
    fn finish(self) -> Packed {
        let mut packed = self.packed;
        if !self.sorted {
            #[cfg(test)]
            tests::RESORTED.with(|n| n.set(n.get() + 1));
            let mut entries = Vec::with_capacity(packed.stamps.len());
            let mut c = packed.cursor_at(0);
            while let Some((key, stamp)) = c.get() {
                entries.push((Box::<[u8]>::from(key), *stamp));
                c.advance();
            }
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            packed = Packed::from_sorted(entries);
        }
        packed.keys.shrink_to_fit();
        packed.restarts.shrink_to_fit();
        packed.stamps.shrink_to_fit();
        packed
    }
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
        let mut out = Packer::with_capacity(0);
        let unreadable = walk(host, members, excludes, &mut out);
        let fp = Fingerprint {
            entries: out.finish(),
            unreadable,
        };
        // The listings were allocated on the I/O pool's threads, in arenas of their own that
        // the engine's threads do not reuse: what packing freed is handed back.
        crate::util::par::release_free_memory();
        fp
    }

    /// What changed from `self` to the entries under `members` now: [`Fingerprint::changes`]
    /// with [`Fingerprint::take`], without holding the second fingerprint (each entry is
    /// compared as the walk lists it).
    #[must_use]
    pub fn changes_now(
        &self,
        host: &HostRoot,
        members: &[PathBuf],
        excludes: &Excludes,
    ) -> Changes {
        let mut compare = Compare::new(self);
        let unreadable = walk(host, members, excludes, &mut compare);
        let changes = if compare.sorted {
            compare.finish(&unreadable)
        } else {
            // Members nested in one another list some entries twice, out of order.
            self.changes(&Fingerprint::take(host, members, excludes))
        };
        crate::util::par::release_free_memory();
        changes
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
                        inode: stamp.inode,
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
            match rest.iter().position(|&b| b == b'/') {
                // Below a child: everything under `dir/child/` sorts before `dir/child0`
                // ('0' follows '/'), so the child's contents are skipped, not read.
                Some(slash) => {
                    let mut past = key[..prefix.len() + slash].to_vec();
                    past.push(b'/' + 1);
                    c = self.entries.seek(&past);
                }
                None => {
                    if !rest.is_empty() {
                        names.push(OsString::from_vec(rest.to_vec()));
                    }
                    c.advance();
                }
            }
        }
        names
    }

    /// What changed from `self` (earlier) to `later`.
    #[must_use]
    pub fn changes(&self, later: &Fingerprint) -> Changes {
        let mut compare = Compare::new(self);
        let mut c = later.entries.cursor_at(0);
        while let Some((key, stamp)) = c.get() {
            compare.push(key, *stamp);
            c.advance();
        }
        compare.finish(&later.unreadable)
    }
}

/// Receives a walk's entries, in path order.
trait Sink: Send {
    fn push(&mut self, key: &[u8], stamp: Stamp);
}

impl Sink for Packer {
    fn push(&mut self, key: &[u8], stamp: Stamp) {
        Packer::push(self, key, stamp);
    }
}

/// Compares entries given in path order with an earlier fingerprint's.
struct Compare<'a> {
    earlier: &'a Fingerprint,
    cursor: Cursor<'a>,
    changes: Changes,
    previous: Option<Vec<u8>>,
    /// Whether every path came after the one before it (false: the comparison is void).
    sorted: bool,
}

impl<'a> Compare<'a> {
    fn new(earlier: &'a Fingerprint) -> Self {
        Self {
            earlier,
            cursor: earlier.entries.cursor_at(0),
            changes: Changes::default(),
            previous: None,
            sorted: true,
        }
    }

    /// The changes, with `unreadable` the later listing's unreadable entries.
    fn finish(mut self, unreadable: &[PathBuf]) -> Changes {
        let path = |key: &[u8]| PathBuf::from(OsStr::from_bytes(key));
        while let Some((key, _)) = self.cursor.get() {
            self.changes.removed.push(path(key));
            self.cursor.advance();
        }
        let c = &mut self.changes;
        // An entry that could not be listed either time is a change we cannot rule out.
        for p in unreadable.iter().chain(&self.earlier.unreadable) {
            if !c.changed.contains(p) {
                c.changed.push(p.clone());
            }
        }
        c.added.sort();
        c.changed.sort();
        c.removed.sort();
        self.changes
    }
}

impl Sink for Compare<'_> {
    fn push(&mut self, key: &[u8], stamp: Stamp) {
        use std::cmp::Ordering;
        if !self.sorted {
            return;
        }
        match &mut self.previous {
            Some(previous) if key <= previous.as_slice() => {
                self.sorted = false;
                return;
            }
            Some(previous) => {
                previous.clear();
                previous.extend_from_slice(key);
            }
            None => self.previous = Some(key.to_vec()),
        }
        let path = |key: &[u8]| PathBuf::from(OsStr::from_bytes(key));
        // Both are in the same byte order: one merge finds every difference.
        while let Some((earlier, was)) = self.cursor.get() {
            match earlier.cmp(key) {
                Ordering::Less => {
                    self.changes.removed.push(path(earlier));
                    self.cursor.advance();
                }
                Ordering::Equal => {
                    if *was != stamp {
                        self.changes.changed.push(path(key));
                    }
                    self.cursor.advance();
                    return;
                }
                Ordering::Greater => break,
            }
        }
        self.changes.added.push(path(key));
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

/// Walks everything under `members` (logical paths) on `host` that a backup with `excludes`
/// reads, symlinks not followed, and hands every entry to `sink` in path order; returns the
/// entries that could not be listed. An excluded entry is left out with everything under it, as
/// the backup's source leaves it out.
///
/// Each directory is listed by a task of its own on the I/O pool ([`crate::util::par`]): on a
/// cold cache each directory's stats wait on the disk, so many directories are read at once.
/// Meanwhile this thread takes the listings in path order as they arrive, hands their entries
/// to `sink` and frees them: what a walk holds is the listings read ahead of the one awaited,
/// by name, not a whole path allocated per entry (bench/FINDINGS.md, F29).
fn walk(
    host: &HostRoot,
    members: &[PathBuf],
    excludes: &Excludes,
    sink: &mut dyn Sink,
) -> Vec<PathBuf> {
    let mut unreadable = Vec::new();
    crate::util::par::io(|| {
        rayon::scope(|scope| {
            let walk = Walk { excludes };
            let mut tops: Vec<(Vec<u8>, Stamp, Option<Slot>)> = Vec::new();
            for member in members {
                if excludes.excludes(member) {
                    continue;
                }
                let physical = host.physical(member);
                match std::fs::symlink_metadata(&physical) {
                    Ok(m) => {
                        let key = member.as_os_str().as_bytes().to_vec();
                        let below = m.is_dir().then(|| walk.spawn(scope, physical, key.clone()));
                        tops.push((key, Stamp::of(&m), below));
                    }
                    // A member that does not exist has nothing to fingerprint.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(_) => unreadable.push(member.clone()),
                }
            }
            // The members in path order: each one's own entry at its path, what is below it at
            // its path and a slash (members nested in one another come out of order, and the
            // sink says so).
            let order = path_order(tops.len(), |i| &tops[i].0, |i| tops[i].2.is_some());
            for (i, below) in order {
                let (key, stamp, slot) = &mut tops[i];
                if below {
                    if let Some(slot) = slot.take() {
                        emit_below(&slot, key, sink, &mut unreadable);
                    }
                } else {
                    sink.push(key, *stamp);
                }
            }
        });
    });
    unreadable.sort();
    unreadable.dedup();
    unreadable
}

/// Hands `sink`, in path order, the entries below the directory `key` that its walk lists
/// into `slot`, each listing freed once handed on.
fn emit_below(slot: &Slot, key: &mut Vec<u8>, sink: &mut dyn Sink, unreadable: &mut Vec<PathBuf>) {
    let mut listing = slot.take();
    unreadable.append(&mut listing.unreadable);
    let order = path_order(
        listing.entries.len(),
        |i| listing.name(i),
        |i| listing.entries[i].2.is_some(),
    );
    let base = key.len();
    if !key.ends_with(b"/") {
        key.push(b'/');
    }
    let names_at = key.len();
    for (i, below) in order {
        key.truncate(names_at);
        key.extend_from_slice(listing.name(i));
        if below {
            if let Some(slot) = listing.entries[i].2.take() {
                emit_below(&slot, key, sink, unreadable);
            }
        } else {
            sink.push(key, listing.entries[i].1);
        }
    }
    key.truncate(base);
}

/// The order in which `n` entries named `name(i)` (under one directory, or whole paths) and
/// what is below those for which `has_below(i)` come in byte order of their paths: `(i, false)`
/// for the entry itself, `(i, true)` for what is below it. An entry's own path is `…/name`;
/// what is below a directory is at `…/name/`, which sorts after `…/name.x` and before
/// `…/name0`: each directory is placed twice.
fn path_order<'a>(
    n: usize,
    name: impl Fn(usize) -> &'a [u8],
    has_below: impl Fn(usize) -> bool,
) -> Vec<(usize, bool)> {
    let mut order: Vec<(usize, bool)> = (0..n)
        .flat_map(|i| [(i, false), (i, true)])
        .filter(|&(i, below)| !below || has_below(i))
        .collect();
    order.sort_by(|&(i, a), &(j, b)| {
        let key = |k: usize, below: bool| name(k).iter().chain(below.then_some(&b'/'));
        key(i, a).cmp(key(j, b))
    });
    order
}

/// One directory's entries, sorted by name: the names end to end, and per entry where its name
/// ends, its stamp and, for a directory, where its own listing arrives.
#[derive(Default)]
struct Listing {
    names: Vec<u8>,
    entries: Vec<(u32, Stamp, Option<Slot>)>,
    unreadable: Vec<PathBuf>,
}

impl Listing {
    fn name(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |p| self.entries[p].0 as usize);
        &self.names[start..self.entries[i].0 as usize]
    }
}

/// Where a directory's listing arrives.
#[derive(Clone, Default)]
struct Slot(std::sync::Arc<(std::sync::Mutex<Option<Listing>>, std::sync::Condvar)>);

impl Slot {
    fn fill(&self, listing: Listing) {
        let (cell, arrived) = &*self.0;
        *cell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(listing);
        arrived.notify_all();
    }

    /// The listing, once its walk has filled it. While it has not, this thread runs other
    /// walks of the pool; when none is left to run, the one awaited is running elsewhere.
    fn take(&self) -> Listing {
        let (cell, arrived) = &*self.0;
        let lock = || {
            cell.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        loop {
            if let Some(listing) = lock().take() {
                return listing;
            }
            if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                break;
            }
        }
        let mut cell = lock();
        loop {
            if let Some(listing) = cell.take() {
                return listing;
            }
            cell = arrived
                .wait(cell)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// Fills a slot when dropped: with the listing made, or, if the walk ended before it was made,
/// with its directory marked unreadable (a listing never arriving would leave its reader
/// waiting).
struct Filling<'a> {
    slot: &'a Slot,
    listing: Listing,
}

impl Drop for Filling<'_> {
    fn drop(&mut self) {
        self.slot.fill(std::mem::take(&mut self.listing));
    }
}

#[derive(Clone, Copy)]
struct Walk<'s> {
    excludes: &'s Excludes,
}

impl<'s> Walk<'s> {
    /// Starts listing the directory `dir` (logical path `key`) as a task of `scope`; its
    /// listing arrives in the slot returned.
    fn spawn(self, scope: &rayon::Scope<'s>, dir: PathBuf, key: Vec<u8>) -> Slot {
        let slot = Slot::default();
        let into = slot.clone();
        scope.spawn(move |scope| self.dir(scope, &dir, &key, &into));
        slot
    }

    /// Lists `dir` (logical path `key`) into `slot`, and starts listing each directory in it.
    fn dir(self, scope: &rayon::Scope<'s>, dir: &Path, key: &[u8], slot: &Slot) {
        let mut filling = Filling {
            slot,
            listing: Listing {
                unreadable: vec![PathBuf::from(OsStr::from_bytes(key))],
                ..Listing::default()
            },
        };
        let mut found: Vec<(OsString, Stamp, Option<Slot>)> = Vec::new();
        let mut unreadable = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(children) => {
                let mut child_key = key.to_vec();
                if !child_key.ends_with(b"/") {
                    child_key.push(b'/');
                }
                let base = child_key.len();
                for child in children {
                    let Ok(child) = child else {
                        unreadable.push(PathBuf::from(OsStr::from_bytes(key)));
                        continue;
                    };
                    let name = child.file_name();
                    child_key.truncate(base);
                    child_key.extend_from_slice(name.as_bytes());
                    if self
                        .excludes
                        .excludes(Path::new(OsStr::from_bytes(&child_key)))
                    {
                        continue;
                    }
                    match child.metadata() {
                        Ok(m) => {
                            let below = m
                                .is_dir()
                                .then(|| self.spawn(scope, child.path(), child_key.clone()));
                            found.push((name, Stamp::of(&m), below));
                        }
                        Err(_) => unreadable.push(PathBuf::from(OsStr::from_bytes(&child_key))),
                    }
                }
            }
            Err(_) => unreadable.push(PathBuf::from(OsStr::from_bytes(key))),
        }
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let listing = &mut filling.listing;
        listing.unreadable = unreadable;
        listing.names = Vec::with_capacity(found.iter().map(|f| f.0.len()).sum());
        listing.entries = Vec::with_capacity(found.len());
        for (name, stamp, below) in found {
            listing.names.extend_from_slice(name.as_bytes());
            listing
                .entries
                .push((len_u32(listing.names.len()), stamp, below));
        }
    }
}

/// A logical path as a fingerprint's key.
fn key_of(path: &Path) -> Box<[u8]> {
    path.as_os_str().as_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// How many times this thread's fingerprints had to be sorted again after packing.
        pub(super) static RESORTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

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
        // Compared as it is walked, the same changes (and with the member named twice, nested
        // in itself, the same again).
        assert_eq!(before.changes_now(&host, &members, &Excludes::default()), c);
        let nested = [members[0].clone(), members[0].join("logs")];
        assert_eq!(before.changes_now(&host, &nested, &Excludes::default()), c);
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

    /// A walk lists what a plain recursive listing finds, in byte order, whatever the names
    /// (`a`, `a.x`, `a/…` and `a0` interleave: `.` sorts before `/`, `0` after it), with an
    /// excluded directory left out with its contents, and members named twice or nested in one
    /// another listed once.
    #[test]
    fn a_walk_lists_every_entry_once_in_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        let mut leaves: Vec<String> = ["a-b", "a.y", "b0"].map(String::from).to_vec();
        for top in ["a", "a.x", "a0", "cache"] {
            for sub in ["a.x", "a/x", "a/x.y/z", "a0/b", "\u{e9}t\u{e9}/f", "a-"] {
                leaves.push(format!("{top}/{sub}"));
            }
        }
        for (n, leaf) in leaves.iter().enumerate() {
            let path = dir.path().join("opt/App").join(leaf);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, n.to_string()).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("opt/App/b")).unwrap();
        for i in 0..40 {
            std::fs::write(dir.path().join(format!("opt/App/b/many{i}")), "m").unwrap();
        }
        std::os::unix::fs::symlink("a/x", dir.path().join("opt/App/link")).unwrap();
        let root = Path::new("/opt/App");
        let naive = |excluded: Option<&str>| {
            let mut all = vec![root.as_os_str().as_bytes().to_vec()];
            let mut dirs = vec![dir.path().join("opt/App")];
            while let Some(d) = dirs.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let e = e.unwrap();
                    let logical = Path::new("/").join(e.path().strip_prefix(dir.path()).unwrap());
                    if excluded.is_some_and(|x| logical.starts_with(x)) {
                        continue;
                    }
                    if e.file_type().unwrap().is_dir() {
                        dirs.push(e.path());
                    }
                    all.push(logical.into_os_string().into_vec());
                }
            }
            all.sort();
            all
        };
        let keys = |fp: &Fingerprint| {
            let mut keys = Vec::new();
            let mut c = fp.entries.cursor_at(0);
            while let Some((k, _)) = c.get() {
                keys.push(k.to_vec());
                c.advance();
            }
            keys
        };
        let plain = Fingerprint::take(&host, &[root.into()], &Excludes::default());
        assert_eq!(keys(&plain), naive(None));
        assert!(plain.complete());
        // Packed in order as it was listed: not sorted again.
        assert_eq!(RESORTED.with(std::cell::Cell::get), 0);
        let twice = Fingerprint::take(
            &host,
            &[
                root.join("a"),
                root.into(),
                root.into(),
                root.join("b/many3"),
            ],
            &Excludes::default(),
        );
        assert_eq!(twice, plain);
        assert_eq!(RESORTED.with(std::cell::Cell::get), 1);
        let excludes = Excludes::new(&["/opt/App/cache".to_string()], &[]).unwrap();
        let without = Fingerprint::take(&host, &[root.into()], &excludes);
        assert_eq!(keys(&without), naive(Some("/opt/App/cache")));
        // Read back by path, the packed entries are the ones listed: the digest of the walk
        // is the digest of the same entries taken one by one.
        let one_by_one = Fingerprint::of_paths(
            &host,
            &naive(None)
                .iter()
                .map(|k| PathBuf::from(OsStr::from_bytes(k)))
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            Fingerprint::digest(&[&plain], b""),
            Fingerprint::digest(&[&one_by_one], b"")
        );
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
            // The names directly under it, as a scan of every entry finds them (the cursor
            // skips whole subdirectories).
            let mut dir = probe.clone();
            dir.push(b'/');
            let naive: Vec<OsString> = plain
                .iter()
                .filter_map(|(k, _)| k.strip_prefix(dir.as_slice()))
                .filter(|rest| !rest.contains(&b'/'))
                .map(|rest| OsString::from_vec(rest.to_vec()))
                .collect();
            assert_eq!(fp.children(path), naive, "{}", path.display());
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
