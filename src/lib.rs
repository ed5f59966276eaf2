//! lockstep backs up and restores IBM Installation Manager (IM) together with every product
//! directory IM manages (WebSphere Application Server, HCL Digital Experience / Portal) as one
//! consistent *sync set*.
//!
//! # Layers
//!
//! Each folder is one layer, and imports point down only:
//!
//! 1. The command line lives in the `lockstep` binary (`src/main.rs`, `src/cli/`): flags, one
//!    call into [`ops`], and rendering. The library never prints; reports come back as data.
//! 2. [`ops`] — one module per operation: [`ops::backup`], [`ops::restore`] (into a target, or
//!    in place: plan, then execute, under a journal), [`ops::guard`], [`ops::drill`],
//!    [`ops::status`], [`ops::check`], [`ops::copy`], [`ops::retention`] (forget),
//!    [`ops::prune`], [`ops::repair`], [`ops::fleet`], [`ops::doctor`], [`ops::metrics`].
//! 3. [`host`] — the live host: logical and physical paths, the set, fingerprints and the state
//!    digest, excludes, preflight, lockstep's own state. [`im`] — IBM's records: discovery,
//!    the parsers, the inventory and its diff. [`repo`] — the repository: opening it, snapshots
//!    and their manifests, tree listing, progress, the engine's panics contained.
//! 4. [`util`] — small helpers: the I/O pool, fault points, timings, report formats.
//!
//! [`config`] (the configuration file) and [`error`] (errors whose variants are exit codes)
//! serve every layer.
//!
//! # Glossary
//!
//! - **set** (sync set): IM's registry file, install directory, agent data and shared
//!   resources, and every product directory IM manages — what must be backed up and restored
//!   together ([`host::set::SyncSet`]).
//! - **member**: one path of the set, with its **role** (`im-registry`, `im-install`,
//!   `im-agent-data`, `im-shared`, `product`, `extra`: [`host::set::Role`]).
//! - **unit**: what a restore swaps as one piece — a top-level member's data path
//!   ([`ops::restore::RestoreUnit`]); a member nested in another restores with it.
//! - **logical / physical path**: the path as IM records it on the host (`/opt/IBM/…`), and
//!   where it is on disk under `--root` ([`host::root::HostRoot`]); they are the same on a real
//!   host.
//! - **manifest**: what lockstep stores with each snapshot — the set, IM's inventory, the
//!   consistency verdict, the state digest ([`repo::manifest::Manifest`]).
//! - **state digest**: one hash of every entry's metadata of the set; equal to a snapshot's
//!   recorded one, it **proves** the live set is that snapshot without reading a file
//!   ([`host::digest`]).
//! - **stage / old copy**: an in-place restore writes each unit into a staging copy beside the
//!   live one, verifies it, then swaps it in; the replaced live copy is the old copy, removed
//!   after the swap (or kept with `--keep-replaced`). The **journal** records each step so a
//!   crash leaves the old or the new set ([`ops::restore::journal`]).
//! - **difference / carry**: the fast rollback stages only what differs from the live set; a
//!   whole copy **carries** over (hard-links) live files proven to be the target's.
//! - **baseline**: what proves live files unchanged during a rollback — the set's newest
//!   consistent snapshot, content hashes alone, or nothing (`--full`).
//! - **tier**: the repository, and the disaster-recovery **remote** that `copy` fills.

pub mod config;
pub mod error;
pub mod host;
pub mod im;
pub mod ops;
#[cfg(test)]
mod patched_zstd;
pub mod repo;
pub mod util;

pub use error::{Error, Result};
