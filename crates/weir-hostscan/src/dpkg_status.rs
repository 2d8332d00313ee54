//! Installed Debian packages from the dpkg status database, with their source names and versions.

use std::collections::HashMap;

use weir_event::Package;
use weir_vuln::inventory::{dpkg, os_release};

use crate::budget::{read_text, Budget};
use crate::config::ScanConfig;
use crate::package_table::PackageTable;

pub const STATUS_PATH: &str = "/var/lib/dpkg/status";

/// Binary package name (both `name` and `name:arch`) -> index in the package table, for file ownership.
pub type DpkgNames = HashMap<String, u32>;

/// The OSV ecosystem of this host's dpkg packages: `Debian:12`, `Ubuntu:22.04:LTS`, or plain `Debian` when
/// /etc/os-release does not say which release (the collector then matches against no release).
pub fn ecosystem(config: &ScanConfig, budget: &mut Budget) -> String {
    let path = config.host_path("/etc/os-release");
    match read_text(&path, budget.limits.max_file_bytes) {
        Ok(text) => os_release::osv_ecosystem(&text).unwrap_or_else(|| "Debian".to_string()),
        Err(e) => {
            if path.exists() {
                budget.note_err(&e);
            }
            "Debian".to_string()
        }
    }
}

/// Adds every installed package of the status file; returns the name index. A missing status file (not a
/// dpkg system) is not an error.
pub fn collect(config: &ScanConfig, table: &mut PackageTable, budget: &mut Budget) -> DpkgNames {
    let mut names = DpkgNames::new();
    let path = config.host_path(STATUS_PATH);
    if !path.exists() {
        return names;
    }
    let text = match read_text(&path, budget.limits.max_file_bytes) {
        Ok(t) => t,
        Err(e) => {
            budget.note_err(&e);
            return names;
        }
    };
    let parsed = match dpkg::parse_status(&text, STATUS_PATH) {
        Ok(p) => p,
        Err(e) => {
            budget.note(e.to_string());
            return names;
        }
    };
    let eco = ecosystem(config, budget);
    for p in parsed.iter().filter(|p| p.is_installed()) {
        let version = p.version.clone().unwrap_or_default();
        let pkg = Package {
            ecosystem: eco.clone(),
            name: p.name.clone(),
            version: version.clone(),
            source_name: p.source_name.clone(),
            source_version: p.source_version.clone().unwrap_or(version),
            location: STATUS_PATH.to_string(),
        };
        let Some(i) = table.add(pkg, budget.limits.max_packages) else {
            continue;
        };
        names.insert(p.name.clone(), i);
        if let Some(arch) = &p.architecture {
            names.insert(format!("{}:{arch}", p.name), i);
        }
    }
    names
}
