//! Small helpers every layer uses, and nothing else: the I/O thread pool ([`par`]), the fault
//! points the test suite kills lockstep at ([`fault`]), phase timings ([`timing`]) and the
//! formats reports share — sizes, hex, times ([`report`]).

pub mod fault;
pub mod par;
pub mod report;
pub mod timing;
