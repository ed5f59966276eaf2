//! Real-host tests: see main.rs.
