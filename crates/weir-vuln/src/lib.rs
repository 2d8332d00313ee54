//! weir-vuln: OSV vulnerability data, per-ecosystem version orders, affected-range matching, disclosure
//! age and installed-package inventory parsers. Pure: no network, no kernel, no database.

pub mod advisory;
pub mod db;
pub mod disclosure;
pub mod error;
pub mod inventory;
pub mod load;
pub mod osv;
pub mod policy;
pub mod range;
pub mod version;

pub use advisory::{Advisory, AffectedPackage, DateTime};
pub use db::{normalize_name, Match, VulnDb};
pub use disclosure::{DisclosureBasis, Exposure};
pub use error::{InventoryError, LoadError};
pub use inventory::Package;
pub use load::LoadReport;
pub use policy::{Excluded, MinorDistroPolicy, Policy};
pub use version::{Scheme, Version, VersionError};
