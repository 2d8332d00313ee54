//! weir-vuln: OSV vulnerability data, per-ecosystem version orders, affected-range matching, disclosure
//! age and installed-package inventory parsers. Pure: no network, no kernel, no database.
//!
//! The flow the risk metric uses:
//!
//! ```text
//! let (db, report) = VulnDb::load_dir(&[osv_dir]);            // report lists failed files with reasons
//! let pkgs = dpkg::to_packages(&dpkg::parse_status(&text, path)?, "Debian:12");
//! let hits = db.affecting("crates.io", "openssl", "0.8.3");   // counted advisories (policy applied)
//! let all = db.matches(..);                                   // every match, with why it does not count
//! let exposure = db.oldest_exposure(&pkgs, now);              // oldest counted advisory, age in days
//! ```
//!
//! Modules: [`osv`] (serde model), [`advisory`] (compiled records), [`range`] (the OSV `IsVulnerable`
//! algorithm), [`version`] (dpkg, PEP 440, SemVer, Go orders), [`db`] (index and matching), [`load`]
//! (directories of OSV JSON), [`disclosure`] (disclosure dates and exposure), [`policy`] (what counts),
//! [`inventory`] (dpkg status, Cargo.lock, Python metadata, package.json, Go build info, os-release).

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
