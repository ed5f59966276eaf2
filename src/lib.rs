//! lockstep backs up and restores IBM Installation Manager (IM) together with every product
//! directory IM manages (WebSphere Application Server, HCL Digital Experience / Portal) as one
//! consistent *sync set*.
//!
//! The library holds all logic; the `lockstep` binary only starts [`cli::main`]. Data flows one
//! way: [`im::discover`] finds the instances and their [`set::SyncSet`], [`backup`] snapshots a
//! set into a restic-format repository ([`repo`]), [`restore`] brings a snapshot back, and the
//! CLI renders what the library returns. [`drift`] (IM's inventory) and [`compare`] (the files)
//! tell two moments of a set apart, [`status`] puts them together for `status` and `diff`, and
//! [`doctor`] checks IM's records against the live disk.
//!
//! Operations over time: [`retention`] decides what `forget` keeps and [`prune`] reclaims the
//! space; [`check`] verifies the repository and names the snapshots a damage hits; [`drill`]
//! proves a snapshot restores and records that it did. [`progress`] shows long repository work,
//! [`metrics`] writes Prometheus textfile metrics, and [`contain`] keeps the engine's panics
//! from reaching the administrator as a crash.
//!
//! Tiers and many hosts: [`copy`] copies snapshots to the disaster-recovery remote, and
//! [`fleet`] shows every host and set of a repository, flagging nodes left behind.

pub mod cli;
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
