//! Small helpers every layer uses, and nothing else: the I/O thread pool ([`par`]), the fault
//! points the test suite kills lockstep at ([`fault`]), phase timings ([`timing`]) and the
//! formats reports share — sizes, hex, times ([`report`]) — and the system calls that need
//! `unsafe` ([`sys`]).

// Cargo.toml's `[workspace.lints.rust]` rules out `unsafe_code` everywhere but here: each unsafe
// block below sits behind a safe function and says why it is sound. rustix is used instead
// wherever it offers the call safely.
#![allow(unsafe_code)]

pub mod fault;
pub mod par;
pub mod report;
pub mod sys;
pub mod timing;
