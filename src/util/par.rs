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

/// Hands the memory freed so far back to the system. glibc keeps what the engine's 20 restore
/// threads freed in its arenas, so a restore's RSS grew with every pass although the live heap
/// stayed flat; called between passes and between units, where the freed buffers are garbage.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}
