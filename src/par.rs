//! Parallel filesystem work. Walking, stat-ing, hashing and unlinking tens of thousands of
//! files on a cold cache waits on the disk, not the CPU, so these run on a pool with more
//! threads than cores (the device gets a queue of requests instead of one at a time).

use std::sync::OnceLock;

/// Threads for filesystem-bound work: at least 8, or twice the cores.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(8, |n| (n.get() * 2).max(8))
}

/// Runs `f` on the I/O pool, so rayon's parallel iterators inside it use that pool (or the
/// global pool, when the I/O pool could not be created).
pub fn io<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads())
            .thread_name(|i| format!("lockstep-io-{i}"))
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}
