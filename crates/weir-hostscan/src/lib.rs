//! Weir's host scan: what is installed (dpkg, Python, node, Go and cargo-auditable binaries), what listens
//! on non-loopback addresses and what code those listeners run, and evidence of when the host was last
//! installed clean. Produces `weir_event::Inventory`; [`Scanner`] runs it periodically and on change.
//!
//! `Loaded.package_index` is an index into `Inventory.packages`, or [`NO_PACKAGE`] (`u32::MAX`) for a
//! mapped file that no known package owns.

pub mod auditable;
pub mod binaries;
pub mod budget;
pub mod config;
pub mod dpkg_log;
pub mod dpkg_owners;
pub mod dpkg_status;
pub mod elf;
pub mod error;
pub mod exposure;
pub mod host_age;
pub mod interfaces;
pub mod maps;
pub mod node_modules;
pub mod package_table;
pub mod proc_net;
pub mod procfs;
pub mod python_dists;
pub mod python_records;
pub mod scan;
pub mod scanner;
pub mod superblock;

pub use config::{Limits, ScanConfig};
pub use error::HostScanError;
pub use package_table::NO_PACKAGE;
pub use scan::{scan, scan_cancellable};
pub use scanner::{Scanner, ScannerConfig};
pub use superblock::ext4_created;
