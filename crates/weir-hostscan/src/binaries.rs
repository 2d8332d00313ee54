//! Packages compiled into executables: Go build info (`.go.buildinfo`) and cargo-auditable data (`.dep-v0`),
//! each as packages whose location is the binary.

use std::path::Path;

use weir_event::Package;
use weir_vuln::inventory::gobuild;

use crate::auditable;
use crate::budget::Budget;
use crate::config::ScanConfig;
use crate::elf;
use crate::package_table::{from_vuln, PackageTable};

const GO_SECTION: &str = ".go.buildinfo";

/// The embedded packages of one binary, read from `open_path` and named `src` (its path on the scanned
/// system), added to the table. A file that is not ELF, or has neither section, yields nothing and no error.
pub fn embedded(open_path: &Path, src: &str, table: &mut PackageTable, budget: &mut Budget) -> Vec<u32> {
    let src = src.to_string();
    let mut file = match std::fs::File::open(open_path) {
        Ok(f) => f,
        Err(e) => {
            budget.note(format!("{src}: cannot open: {e}"));
            return Vec::new();
        }
    };
    let max = budget.limits.max_section_bytes;
    let mut out = Vec::new();
    match elf::read_section(&mut file, GO_SECTION, max, &src) {
        Ok(Some(bytes)) => match gobuild::parse_binary(&bytes, &src) {
            Ok(info) => {
                for p in gobuild::to_packages(&info, &src) {
                    out.extend(table.add(from_vuln(&p, &src), budget.limits.max_packages));
                }
            }
            Err(e) => budget.note(e.to_string()),
        },
        Ok(None) => {}
        Err(e) => {
            budget.note_err(&e);
            return out;
        }
    }
    match elf::read_section(&mut file, auditable::SECTION, max, &src) {
        Ok(Some(bytes)) => match auditable::parse(&bytes, max, &src) {
            Ok(crates) => {
                for c in crates.into_iter().filter(|c| c.source == "crates.io") {
                    let pkg = Package {
                        ecosystem: "crates.io".into(),
                        name: c.name,
                        version: c.version,
                        source_name: String::new(),
                        source_version: String::new(),
                        location: src.clone(),
                    };
                    out.extend(table.add(pkg, budget.limits.max_packages));
                }
            }
            Err(e) => budget.note_err(&e),
        },
        Ok(None) => {}
        Err(e) => budget.note_err(&e),
    }
    out
}

/// Regular files directly in each configured binary directory.
pub fn collect(config: &ScanConfig, table: &mut PackageTable, budget: &mut Budget) {
    for dir in &config.binary_dirs {
        let Ok(rd) = std::fs::read_dir(config.host_path(dir)) else {
            continue;
        };
        let mut names: Vec<_> = rd
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(name);
            if !budget.walk(&path) {
                return;
            }
            embedded(&config.host_path(&path), &path.display().to_string(), table, budget);
        }
    }
}
