//! Fault-suite rows: see `harness::Area` for what this file covers.

use crate::harness::Fault;

pub fn rows() -> Vec<Fault> {
    vec![]
}
