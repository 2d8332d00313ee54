//! The inventory's package list: deduplicated, bounded, addressed by index (what `Loaded.package_index` points at).

use std::collections::HashMap;

use weir_event::Package;

/// `Loaded.package_index` of a mapped file that no known package owns.
pub const NO_PACKAGE: u32 = u32::MAX;

#[derive(Default)]
pub struct PackageTable {
    packages: Vec<Package>,
    by_key: HashMap<(String, String, String, String), u32>,
    dropped: usize,
}

impl PackageTable {
    /// Adds a package (or finds the identical one already there) and returns its index; `None` when the
    /// table is full (the drop is counted).
    pub fn add(&mut self, pkg: Package, max: usize) -> Option<u32> {
        let key = (
            pkg.ecosystem.clone(),
            pkg.name.clone(),
            pkg.version.clone(),
            pkg.location.clone(),
        );
        if let Some(&i) = self.by_key.get(&key) {
            return Some(i);
        }
        if self.packages.len() >= max || self.packages.len() >= NO_PACKAGE as usize {
            self.dropped += 1;
            return None;
        }
        let i = self.packages.len() as u32;
        self.packages.push(pkg);
        self.by_key.insert(key, i);
        Some(i)
    }

    pub fn get(&self, index: u32) -> Option<&Package> {
        self.packages.get(index as usize)
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Packages refused because the table was full.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    pub fn into_packages(self) -> Vec<Package> {
        self.packages
    }
}

/// A `weir_event::Package` from one of weir-vuln's parsed packages, found at `location`.
pub fn from_vuln(p: &weir_vuln::Package, location: &str) -> Package {
    Package {
        ecosystem: p.ecosystem.clone(),
        name: p.name.clone(),
        version: p.version.clone(),
        source_name: String::new(),
        source_version: String::new(),
        location: location.to_string(),
    }
}
