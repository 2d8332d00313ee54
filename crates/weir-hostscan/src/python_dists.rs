//! Installed Python distributions: `*.dist-info/METADATA` and `*.egg-info` (directory or file) in site-packages.

use std::path::{Path, PathBuf};

use crate::budget::{read_text, Budget};
use crate::config::ScanConfig;
use crate::package_table::{from_vuln, PackageTable};

/// The site-packages directories to search, as host paths (not yet under the root prefix).
pub fn site_dirs(config: &ScanConfig) -> Vec<PathBuf> {
    if let Some(dirs) = &config.site_packages {
        return dirs.clone();
    }
    let mut out = vec![PathBuf::from("/usr/lib/python3/dist-packages")];
    for base in ["/usr/lib", "/usr/local/lib"] {
        let Ok(rd) = std::fs::read_dir(config.host_path(base)) else {
            continue;
        };
        let mut versions: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.starts_with("python3"))
            .collect();
        versions.sort();
        for v in versions {
            for leaf in ["dist-packages", "site-packages"] {
                out.push(Path::new(base).join(&v).join(leaf));
            }
        }
    }
    out.retain(|d| config.host_path(d).is_dir());
    out
}

/// The metadata file of a distribution directory entry, if it is one.
pub fn metadata_file(entry: &Path) -> Option<PathBuf> {
    let name = entry.file_name()?.to_str()?;
    if name.ends_with(".dist-info") {
        Some(entry.join("METADATA"))
    } else if name.ends_with(".egg-info") {
        if entry.is_dir() {
            Some(entry.join("PKG-INFO"))
        } else {
            Some(entry.to_path_buf())
        }
    } else {
        None
    }
}

/// Reads one distribution's metadata into the table; `dist_dir` is the host path of the entry.
pub fn add_distribution(
    config: &ScanConfig,
    dist_dir: &Path,
    table: &mut PackageTable,
    budget: &mut Budget,
) -> Option<u32> {
    let meta = metadata_file(&config.host_path(dist_dir))?;
    let host_meta = dist_dir.join(meta.file_name()?);
    let src = if meta == config.host_path(dist_dir) {
        dist_dir.display().to_string()
    } else {
        host_meta.display().to_string()
    };
    let text = match read_text(&meta, budget.limits.max_file_bytes) {
        Ok(t) => t,
        Err(e) => {
            budget.note(format!("{src}: {e}"));
            return None;
        }
    };
    match weir_vuln::inventory::python::parse_metadata(&text, &src) {
        Ok(p) => table.add(
            from_vuln(&p, &dist_dir.display().to_string()),
            budget.limits.max_packages,
        ),
        Err(e) => {
            budget.note(e.to_string());
            None
        }
    }
}

/// Every distribution in every site directory.
pub fn collect(config: &ScanConfig, table: &mut PackageTable, budget: &mut Budget) {
    for site in site_dirs(config) {
        let Ok(rd) = std::fs::read_dir(config.host_path(&site)) else {
            continue;
        };
        let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let host = site.join(&name);
            if !budget.walk(&host) {
                return;
            }
            if metadata_file(&host).is_some() {
                add_distribution(config, &host, table, budget);
            }
        }
    }
}
