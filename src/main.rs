mod cli;

fn main() {
    limit_malloc_arenas();
    std::process::exit(cli::main());
}

/// glibc gives every thread that allocates its own arena (up to 8 per core) and keeps freed
/// memory in each. rustic_core's restorer reads on 20 threads, so a restore's RSS was mostly freed
/// buffers spread over arenas; two arenas keep it down at no measurable cost in time (figures:
/// bench/FINDINGS.md, F5).
///
/// And glibc serves a buffer from its heap, not a mapping of its own, once a buffer that size was
/// freed (it raises its mapping threshold to the largest freed, up to 32 MiB): the engine's
/// chunk and pack buffers, megabytes each, then fragment the heap, and a first backup at scale
/// l peaked at 317 MiB resident for a 225 MiB heap. A fixed threshold of 1 MiB maps every
/// larger buffer and returns it when freed: 245 MiB, in the same time (F30).
///
/// The one `unsafe` outside `lockstep::util` (the crate denies `unsafe_code`): mallopt is sound
/// only before other threads allocate, which only `main` can promise, so it stays here rather
/// than behind a safe function anyone could call later.
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
