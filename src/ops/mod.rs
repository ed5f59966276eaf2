//! The operations, one module each: what a command does, below the command line. Each takes a
//! request and returns a report the CLI renders; none prints.
//!
//! - Saving: [`backup`] (a consistent snapshot of the set), [`copy`] (to the remote tier).
//! - Bringing back: [`restore`] (into a target, or in place all or nothing, with its journal
//!   and the fast rollback by difference), [`guard`] (maintenance wrapped between snapshots,
//!   rolled back when it fails), [`drill`] (a restore proven and recorded).
//! - Looking: [`status`] and [`compare`] (the host against a snapshot, or two snapshots),
//!   [`doctor`] (IM's records against the disk), [`fleet`] (every host of a repository),
//!   [`check`] (the repository's integrity), [`metrics`] (Prometheus textfile).
//! - Keeping the repository: [`retention`] (what `forget` keeps), [`prune`], [`repair`].
//! - [`preflight`]: what must hold before a backup or restore (IM not running, servers
//!   stopped, space, access).
//! - [`hooks`]: the administrator's commands run around backups.
//! - [`settle`]: before any command, an interrupted restore is finished or rolled back.

pub mod backup;
pub mod check;
pub mod compare;
pub mod copy;
pub mod doctor;
pub mod drill;
pub mod fleet;
pub mod guard;
pub mod hooks;
pub mod metrics;
pub mod preflight;
pub mod prune;
pub mod repair;
pub mod restore;
pub mod retention;
pub mod settle;
pub mod status;
