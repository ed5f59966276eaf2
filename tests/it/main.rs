//! lockstep's integration tests, built as one test binary (as ripgrep's `tests/tests.rs`): one
//! module per area, each running the real `lockstep` binary against sample hosts through the
//! shared helpers in [`common`]. Run one area or one test with a filter on the module path:
//! `cargo test --test it inplace::`, `cargo test --test it real_hosts::layouts::`.
//!
//! The standing fault suite is a binary of its own (`tests/faults/`, its own harness) that shares
//! [`common`].
//!
//! All modules run in one process, in parallel: a test that changes something outside its own
//! temporary directory (the machine's `/etc/lockstep`, an installed package) says so and takes
//! [`common::machine`].

mod cli_surface;
mod cluster;
mod common;

mod consistency;
mod conventions;
mod demo;
mod discover;
mod drift;
mod guard;
mod inplace;
mod integrity;
mod interop;
mod json;
mod metrics;
mod notify;
mod package;
mod real_hosts;
mod recovery;
mod retention;
mod roundtrip;
mod s3;
mod schedules;
mod tiers;
