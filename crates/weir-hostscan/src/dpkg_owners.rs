//! Which dpkg package owns a file: one pass over /var/lib/dpkg/info/*.list looking only for the paths asked
//! about (memory stays proportional to the question, not to the ~100k files dpkg knows), with /usr-merge
//! aliasing (/lib -> /usr/lib, ...) and the canonical path as a fallback spelling.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::budget::Budget;
use crate::config::ScanConfig;
use crate::dpkg_status::DpkgNames;
use crate::error::HostScanError;

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

/// Longest path line kept from a .list file; longer lines cannot be a mapped file's path (PATH_MAX).
const MAX_LINE: usize = 4096;

/// Streams the lines of one .list file (at most `limit` bytes) to `each`, so a multi-megabyte list costs
/// one line of memory. Lines that are not UTF-8 or longer than [`MAX_LINE`] are skipped.
fn scan_list(path: &Path, limit: u64, mut each: impl FnMut(&str)) -> Result<(), HostScanError> {
    let file = std::fs::File::open(path).map_err(|e| HostScanError::io(path, e))?;
    let mut reader = BufReader::new(file.take(limit.saturating_add(1)));
    let mut line = Vec::with_capacity(256);
    let mut total = 0u64;
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| HostScanError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
        if total > limit {
            return Err(HostScanError::TooLarge {
                path: path.to_path_buf(),
                limit,
            });
        }
        if line.last() != Some(&b'\n') && n > MAX_LINE {
            // The rest of an over-long line: skip to its end.
            total += reader.skip_until(b'\n').map_err(|e| HostScanError::io(path, e))? as u64;
            continue;
        }
        if let Ok(text) = std::str::from_utf8(&line) {
            each(text.trim_end_matches('\n'));
        }
    }
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
        if let Err(e) = scan_list(&path, budget.limits.max_file_bytes, |line| {
            if let Some(asked) = wanted.get(line) {
                for a in asked {
                    out.entry(a.clone()).or_insert(index);
                }
            }
        }) {
            budget.note_err(&e);
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

    fn lines_of(content: &[u8], limit: u64) -> Result<Vec<String>, HostScanError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.list");
        std::fs::write(&path, content).unwrap();
        let mut out = Vec::new();
        scan_list(&path, limit, |l| out.push(l.to_string())).map(|_| out)
    }

    #[test]
    fn list_files_stream_line_by_line() {
        let long = "/x".repeat(MAX_LINE);
        let content = format!("/.\n/usr/bin/a\n{long}\n/usr/bin/b\n/usr/bin/\u{e9}\n/no-newline");
        assert_eq!(
            lines_of(content.as_bytes(), 1 << 20).unwrap(),
            ["/.", "/usr/bin/a", "/usr/bin/b", "/usr/bin/\u{e9}", "/no-newline"]
        );
        assert_eq!(lines_of(b"/a\n\xff\xfe\n/b\n", 100).unwrap(), ["/a", "/b"]);
        let err = lines_of(b"/usr/bin/a\n/usr/bin/b\n", 12).unwrap_err().to_string();
        assert!(err.ends_with("x.list: larger than the 12-byte limit, skipped"), "{err}");
    }

    proptest! {
        #[test]
        fn list_contents_never_panic(content in proptest::collection::vec(any::<u8>(), 0..600), limit in 0u64..700) {
            let _ = lines_of(&content, limit);
        }

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
