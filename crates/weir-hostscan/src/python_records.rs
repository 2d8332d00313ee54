//! Which Python distribution installed a file: the `RECORD` manifests of the `*.dist-info` directories in the
//! file's site-packages directory (used for the extension modules a Python listener has mapped).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::budget::{read_text, Budget};
use crate::config::ScanConfig;
use crate::package_table::PackageTable;
use crate::python_dists;

/// The site-packages (or dist-packages) directory a path lies in.
pub fn site_dir_of(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let mut acc = PathBuf::new();
    for c in p.components() {
        acc.push(c);
        if let Component::Normal(n) = c {
            if n == "site-packages" || n == "dist-packages" {
                return (acc.as_path() != p).then_some(acc);
            }
        }
    }
    None
}

/// The path field of one RECORD line (CSV: `path,hash,size`, the path double-quoted when it holds a comma).
pub fn record_path(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    out.push('"');
                } else {
                    return Some(out);
                }
            } else {
                out.push(c);
            }
        }
        None
    } else {
        let p = line.split(',').next()?;
        (!p.is_empty()).then(|| p.to_string())
    }
}

/// Lexically normalizes `a/b/../c` (RECORD paths may climb out of site-packages, e.g. to bin/).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Owning distribution (package index) for each of `paths` that a RECORD in its site directory lists.
pub fn owners(
    config: &ScanConfig,
    paths: &[String],
    table: &mut PackageTable,
    budget: &mut Budget,
) -> HashMap<String, u32> {
    let mut by_site: HashMap<PathBuf, Vec<&String>> = HashMap::new();
    for p in paths {
        if let Some(site) = site_dir_of(p) {
            by_site.entry(site).or_default().push(p);
        }
    }
    let mut out = HashMap::new();
    for (site, wanted) in by_site {
        let Ok(rd) = std::fs::read_dir(config.host_path(&site)) else {
            continue;
        };
        let mut dists: Vec<_> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".dist-info"))
            .collect();
        dists.sort();
        for dist in dists {
            let dist_dir = site.join(&dist);
            let record = dist_dir.join("RECORD");
            if !budget.walk(&record) {
                return out;
            }
            let Ok(text) = read_text(&config.host_path(&record), budget.limits.max_file_bytes) else {
                continue;
            };
            let mut owned = Vec::new();
            for line in text.lines() {
                let Some(rel) = record_path(line) else { continue };
                let full = normalize(&site.join(rel));
                if let Some(w) = wanted.iter().find(|w| Path::new(w.as_str()) == full) {
                    owned.push((*w).clone());
                }
            }
            if owned.is_empty() {
                continue;
            }
            if let Some(index) = python_dists::add_distribution(config, &dist_dir, table, budget) {
                for w in owned {
                    out.entry(w).or_insert(index);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn site_dirs_and_record_paths() {
        assert_eq!(
            site_dir_of("/usr/lib/python3/dist-packages/yaml/_yaml.cpython-311-x86_64-linux-gnu.so"),
            Some(PathBuf::from("/usr/lib/python3/dist-packages"))
        );
        assert_eq!(site_dir_of("/usr/lib/x86_64-linux-gnu/libc.so.6"), None);
        assert_eq!(site_dir_of("/x/site-packages"), None);
        assert_eq!(
            record_path("yaml/_yaml.so,sha256=abc,123"),
            Some("yaml/_yaml.so".into())
        );
        assert_eq!(
            record_path("\"odd,name \"\"q\"\".so\",,"),
            Some("odd,name \"q\".so".into())
        );
        assert_eq!(record_path("\"unterminated"), None);
        assert_eq!(
            normalize(Path::new("/s/site-packages/../../bin/x")),
            PathBuf::from("/bin/x")
        );
    }

    proptest! {
        #[test]
        fn record_lines_never_panic(line in ".{0,80}") {
            let _ = record_path(&line);
        }

        #[test]
        fn site_dir_never_panics(path in ".{0,80}") {
            let _ = site_dir_of(&path);
        }
    }
}
