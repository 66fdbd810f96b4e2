//! Helpers shared by the tests (and the benchmark generator).

pub mod trace_builder;
