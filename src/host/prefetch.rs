//! Reading a backup's files ahead of the engine.
//!
//! rustic_core's archiver reads the files on as many threads as there are cores, one file at a
//! time each. On a cold cache every one of them waits for the disk at every small file, and the
//! cores idle meanwhile (an IM host is mostly small files; figures: bench/FINDINGS.md, F25).
//! When the engine will read every file — a backup with no parent — [`Prefetch`] takes the
//! source's entries a bounded window ahead of the engine and, on a thread of its own, asks the
//! kernel to start reading those files (`posix_fadvise(WILLNEED)`): the disk gets a queue of
//! requests, and the engine's reads find the data in the page cache.
//!
//! Only *when* the disk delivers the bytes changes. The engine still opens and reads every file
//! itself, so what it stores, and every error it meets, is what it would have been without the
//! hints; a hint that fails is dropped without a word.

use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

/// How far ahead of the engine the hints run: bytes…
const WINDOW_BYTES: u64 = 64 << 20;
/// …and entries (directories and symlinks count, so a tree of empty files stays bounded too).
const WINDOW_ENTRIES: usize = 2048;
/// The most of one file hinted: the kernel's own readahead follows the engine's sequential reads
/// through the rest of a large file.
const PER_FILE: u64 = 8 << 20;

/// A file to hint: its sequence number (the entry's position), path and the bytes to hint.
type Hint = (u64, PathBuf, NonZeroU64);

/// An iterator over `inner`'s items, in the same order, that hints the files of the next items
/// to the kernel ahead of the consumer. `file_of` says which file an item will read, and how
/// much of it (`None` for items that read nothing).
pub struct Prefetch<I: Iterator, F> {
    inner: I,
    file_of: F,
    /// Items taken from `inner` and not yet handed on, with the bytes hinted for each.
    queue: VecDeque<(I::Item, u64)>,
    /// The bytes hinted for the items in `queue`.
    ahead: u64,
    /// Items handed on so far, shared with the hinting thread: hints for them are stale.
    handed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    hints: Option<SyncSender<Hint>>,
    worker: Option<JoinHandle<()>>,
    exhausted: bool,
}

impl<I, F> Prefetch<I, F>
where
    I: Iterator,
    F: FnMut(&I::Item) -> Option<(PathBuf, u64)>,
{
    /// Wraps `inner`. Without a thread for the hints (the system refused one), the items pass
    /// through unchanged.
    pub fn new(inner: I, file_of: F) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(WINDOW_ENTRIES);
        let handed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (handed, stop) = (Arc::clone(&handed), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("lockstep-prefetch".into())
                .spawn(move || hint_files(&rx, &handed, &stop))
                .ok()
        };
        Self {
            inner,
            file_of,
            queue: VecDeque::new(),
            ahead: 0,
            handed,
            stop,
            hints: worker.is_some().then_some(tx),
            worker,
            exhausted: false,
        }
    }

    /// Takes items from `inner` until the window is full, hinting their files.
    fn fill(&mut self) {
        while !self.exhausted && self.queue.len() < WINDOW_ENTRIES && self.ahead < WINDOW_BYTES {
            let Some(item) = self.inner.next() else {
                self.exhausted = true;
                break;
            };
            let mut hinted = 0;
            if let (Some(hints), Some((path, size))) = (&self.hints, (self.file_of)(&item))
                && let Some(len) = NonZeroU64::new(size.min(PER_FILE))
            {
                // The item's sequence number: those handed on, then those waiting before it.
                let seq = self.handed.load(Ordering::Relaxed) + self.queue.len() as u64;
                match hints.try_send((seq, path, len)) {
                    Ok(()) => hinted = len.get(),
                    // The thread is behind: this file is read without a hint.
                    Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => self.hints = None,
                }
            }
            self.ahead += hinted;
            self.queue.push_back((item, hinted));
        }
    }
}

impl<I, F> Iterator for Prefetch<I, F>
where
    I: Iterator,
    F: FnMut(&I::Item) -> Option<(PathBuf, u64)>,
{
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.fill();
        let (item, hinted) = self.queue.pop_front()?;
        self.ahead -= hinted;
        self.handed.fetch_add(1, Ordering::Relaxed);
        Some(item)
    }
}

impl<I: Iterator, F> Drop for Prefetch<I, F> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.hints = None;
        if let Some(worker) = self.worker.take() {
            // It stops at its next hint; a panic in it has nothing to report.
            let _ = worker.join();
        }
    }
}

/// The hinting thread: for each file not yet handed to the engine, open it and ask the kernel to
/// read it in. Opened without blocking, so a file replaced by a FIFO since the walk cannot hang
/// it.
fn hint_files(rx: &Receiver<Hint>, handed: &AtomicU64, stop: &AtomicBool) {
    use rustix::fs::{Advice, Mode, OFlags};
    for (seq, path, len) in rx {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if seq < handed.load(Ordering::Relaxed) {
            continue;
        }
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        if let Ok(fd) = rustix::fs::open(&path, flags, Mode::empty()) {
            let _ = rustix::fs::fadvise(&fd, 0, Some(len), Advice::WillNeed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_on_every_item_in_order_and_keeps_the_window() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sizes: Vec<u64> = (0..5000).map(|i| (i % 7) * 40_000).collect();
        for (i, size) in sizes.iter().enumerate() {
            let data = vec![b'x'; usize::try_from(*size).expect("small")];
            std::fs::write(dir.path().join(i.to_string()), data).expect("write");
        }
        let root = dir.path().to_path_buf();
        // Every item the wrapper has taken from the source but not handed on yet.
        let pulled = std::cell::Cell::new(0usize);
        let source = (0..sizes.len()).inspect(|_| pulled.set(pulled.get() + 1));
        let mut prefetch = Prefetch::new(source, |&i: &usize| {
            // every third entry is not a file
            (i % 3 != 0).then(|| (root.join(i.to_string()), sizes[i]))
        });
        let mut out = Vec::new();
        let mut most_ahead = 0;
        while let Some(i) = prefetch.next() {
            most_ahead = most_ahead.max(pulled.get() - out.len() - 1);
            assert!(prefetch.ahead <= WINDOW_BYTES + PER_FILE);
            out.push(i);
        }
        assert_eq!(out, (0..sizes.len()).collect::<Vec<_>>());
        // It read ahead, and no further than the window.
        assert!(most_ahead > 0 && most_ahead < WINDOW_ENTRIES);
        assert_eq!(prefetch.ahead, 0);
    }

    #[test]
    fn missing_files_and_an_early_drop_are_harmless() {
        let source = (0..100_000u64).map(|i| PathBuf::from(format!("/nonexistent/{i}")));
        let mut prefetch = Prefetch::new(source, |p: &PathBuf| Some((p.clone(), 4096)));
        let first: Vec<PathBuf> = prefetch.by_ref().take(3).collect();
        assert_eq!(first[2], PathBuf::from("/nonexistent/2"));
        drop(prefetch);
    }
}
