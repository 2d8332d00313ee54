//! Benchmarks live in src/bin/*.rs

pub mod empty_probes;
