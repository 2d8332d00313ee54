//! weir-vuln: OSV vulnerability data, per-ecosystem version orders, affected-range matching, disclosure
//! age and installed-package inventory parsers. Pure: no network, no kernel, no database.

pub mod advisory;
pub mod db;
pub mod error;
pub mod inventory;
pub mod osv;
pub mod policy;
pub mod range;
pub mod version;

pub use advisory::{Advisory, AffectedPackage, DateTime};
pub use db::{normalize_name, DisclosureBasis, Exposure, LoadReport, Match, VulnDb};
pub use error::{InventoryError, LoadError};
pub use inventory::Package;
pub use policy::{Excluded, MinorDistroPolicy, Policy};
pub use version::{Scheme, Version, VersionError};
