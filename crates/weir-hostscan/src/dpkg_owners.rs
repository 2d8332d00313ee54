//! Which dpkg package owns a file: one pass over /var/lib/dpkg/info/*.list looking only for the paths asked
//! about (memory stays proportional to the question, not to the ~100k files dpkg knows), with /usr-merge
//! aliasing (/lib -> /usr/lib, ...) and the canonical path as a fallback spelling.

use std::collections::HashMap;
use std::path::Path;

use crate::budget::{read_text, Budget};
use crate::config::ScanConfig;
use crate::dpkg_status::DpkgNames;

pub const INFO_DIR: &str = "/var/lib/dpkg/info";

/// Top-level directories that merged-/usr systems make symlinks into /usr.
const MERGED: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// The spellings under which dpkg may have recorded `path`: itself and its /usr-merge twin.
pub fn usr_merge_spellings(path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    for dir in MERGED {
        if let Some(rest) = path.strip_prefix(&format!("/usr/{dir}/")) {
            out.push(format!("/{dir}/{rest}"));
        } else if let Some(rest) = path.strip_prefix(&format!("/{dir}/")) {
            out.push(format!("/usr/{dir}/{rest}"));
        }
    }
    out
}

/// The package name a `.list` file is for: `libc6:amd64.list` -> `libc6:amd64`.
pub fn list_package_name(file_name: &str) -> Option<&str> {
    let name = file_name.strip_suffix(".list")?;
    (!name.is_empty()).then_some(name)
}

/// Owning package index for each of `paths` (host paths as the processes see them) that dpkg knows.
pub fn owners(config: &ScanConfig, paths: &[String], names: &DpkgNames, budget: &mut Budget) -> HashMap<String, u32> {
    // spelling -> the asked-for paths it stands for
    let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
    for p in paths {
        let clean = p.strip_suffix(" (deleted)").unwrap_or(p);
        let mut spellings = usr_merge_spellings(clean);
        if let Ok(canon) = std::fs::canonicalize(config.host_path(clean)) {
            let canon = canon
                .strip_prefix(&config.root)
                .map(|c| Path::new("/").join(c))
                .unwrap_or(canon);
            if let Some(c) = canon.to_str() {
                spellings.extend(usr_merge_spellings(c));
            }
        }
        for s in spellings {
            wanted.entry(s).or_default().push(p.clone());
        }
    }
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    let info = config.host_path(INFO_DIR);
    let Ok(rd) = std::fs::read_dir(&info) else {
        return out;
    };
    let mut lists: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".list"))
        .collect();
    lists.sort();
    for file_name in lists {
        let path = info.join(&file_name);
        if !budget.walk(&path) {
            break;
        }
        let Some(pkg) = list_package_name(&file_name) else {
            continue;
        };
        let bare = pkg.split(':').next().unwrap_or(pkg);
        let Some(&index) = names.get(pkg).or_else(|| names.get(bare)) else {
            continue; // a .list left by a removed package, or beyond the package limit
        };
        let text = match read_text(&path, budget.limits.max_file_bytes) {
            Ok(t) => t,
            Err(e) => {
                budget.note_err(&e);
                continue;
            }
        };
        for line in text.lines() {
            if let Some(asked) = wanted.get(line) {
                for a in asked {
                    out.entry(a.clone()).or_insert(index);
                }
            }
        }
        if out.len() == paths.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usr_merge_twins() {
        assert_eq!(
            usr_merge_spellings("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"]
        );
        assert_eq!(usr_merge_spellings("/bin/sh"), ["/bin/sh", "/usr/bin/sh"]);
        assert_eq!(
            usr_merge_spellings("/lib64/ld-linux-x86-64.so.2")[1],
            "/usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(usr_merge_spellings("/usr/share/doc/x"), ["/usr/share/doc/x"]);
        assert_eq!(usr_merge_spellings("/library/x"), ["/library/x"]);
    }

    #[test]
    fn list_names() {
        assert_eq!(list_package_name("libc6:amd64.list"), Some("libc6:amd64"));
        assert_eq!(list_package_name("bash.list"), Some("bash"));
        assert_eq!(list_package_name(".list"), None);
        assert_eq!(list_package_name("bash.md5sums"), None);
    }

    proptest! {
        #[test]
        fn spellings_never_panic_and_keep_the_original(path in ".{0,80}") {
            let s = usr_merge_spellings(&path);
            prop_assert_eq!(&s[0], &path);
            prop_assert!(s.len() <= 2);
        }

        #[test]
        fn list_names_never_panic(name in ".{0,40}") {
            let _ = list_package_name(&name);
        }
    }
}
