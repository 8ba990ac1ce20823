//! Integration tests for examen-rt. Every async test runs on both backends via
//! `#[examen_rt::test]`; property tests run each case on both backends explicitly.

mod backend;
mod channel;
mod group;
mod limiter;
mod net;
mod ordered;
mod process;
mod shield;
mod signal;
mod support;
mod time;
/// Workspace invariants read from `cargo metadata`: only examen-rt depends on a runtime.
mod workspace;
