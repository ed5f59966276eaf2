//! The standing fault suite: one row per bad input or fault a hostile world produces (damaged IM
//! records, a damaged repository, a full disk, missing permissions, kills, signals, odd names,
//! special files), each asserting what the administrator would notice — the exit code, one clear
//! line on stderr without engine internals — and that the host and the repository are unchanged,
//! or exactly in the state the row documents.
//!
//! The table is the source of `docs/failure-modes.md`: the row `failure_modes_doc_is_current`
//! fails when the two differ (`LOCKSTEP_BLESS=1 cargo test --test faults` rewrites the document).
//!
//! Rows live in one file per area; a new fault is a new row there. The harness
//! (`libtest-mimic`) runs each row as a test of its own, in parallel, with the usual filters. It
//! is a test binary of its own for that harness, beside the integration tests' (`tests/it/`),
//! whose helpers (`tests/it/common/`) it shares.

#[path = "../it/common/mod.rs"]
mod common;
mod harness;

mod basics;
mod im;
mod machine;
mod operations;
mod repository;
mod restore;

use harness::Fault;
use libtest_mimic::{Arguments, Failed, Trial};

/// Every row of the suite, in the order the document lists them.
fn rows() -> Vec<Fault> {
    let mut rows = Vec::new();
    rows.extend(basics::rows());
    rows.extend(im::rows());
    rows.extend(repository::rows());
    rows.extend(machine::rows());
    rows.extend(restore::rows());
    rows.extend(operations::rows());
    rows
}

fn main() {
    let args = Arguments::from_args();
    let rows = rows();
    let mut seen = std::collections::BTreeSet::new();
    for row in &rows {
        assert!(seen.insert(row.id), "two rows share the id {}", row.id);
    }
    let doc = harness::render_doc(&rows);
    let mut trials: Vec<Trial> = rows
        .iter()
        .map(|row| {
            let test = row.test;
            Trial::test(row.id, move || {
                test();
                Ok(())
            })
            .with_kind(row.area.kind())
        })
        .collect();
    trials.push(Trial::test("failure_modes_doc_is_current", move || {
        harness::check_doc(&doc).map_err(Failed::from)
    }));
    libtest_mimic::run(&args, trials).exit();
}
