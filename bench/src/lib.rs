//! Benchmarks live in src/bin/*.rs
