//! The live host: what is on disk now, read without writing.
//!
//! 1. [`root`]: logical paths (as IM records them) and physical ones (under `--root`), symlinks
//!    resolved inside the host, mount points.
//! 2. [`set`]: the sync set — the members, their roles, the units a restore swaps.
//! 3. [`excludes`]: what a backup leaves out (never inside IM's directories).
//! 4. [`fingerprint`]: the set's metadata walked once; [`digest`] makes it the state digest that
//!    proves a snapshot still describes the host.
//! 5. [`prefetch`]: file contents read ahead of the engine.
//! 6. [`state`]: lockstep's own state on the host (the restore journal, restore records).

pub mod digest;
pub mod excludes;
pub mod fingerprint;
pub mod prefetch;
pub mod root;
pub mod set;
pub mod state;
