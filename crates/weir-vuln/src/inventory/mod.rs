//! Installed-package inventories: pure parsers over file contents, each yielding [`Package`]s to match.

pub mod cargo_lock;
pub mod dpkg;
pub mod gobuild;
pub mod npm;
pub mod os_release;
pub mod python;

/// An installed package as the database is queried with it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Package {
    /// OSV ecosystem name (`crates.io`, `Go`, `PyPI`, `npm`, `Debian:12`, ...).
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    /// Where it came from, for the exposure chain (e.g. the dpkg binary package, or the lockfile).
    pub origin: Option<String>,
}

impl Package {
    pub fn new(ecosystem: &str, name: &str, version: &str) -> Package {
        Package {
            ecosystem: ecosystem.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            origin: None,
        }
    }
}
