//! The kernel side's user half: loading and attaching the BPF programs,
//! decoding ring buffer records, and probing what the kernel supports.

pub mod check;
pub mod loader;
pub mod record;
