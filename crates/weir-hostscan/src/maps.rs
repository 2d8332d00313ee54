//! /proc/PID/maps: the files a process has mapped (executable, shared objects, extension modules).

/// The file path of one maps line, or `None` for anonymous, special (`[heap]`, `[vdso]`) and malformed lines.
/// Lines look like `7f..-7f.. r-xp 00000000 fe:00 1234   /usr/lib/x86_64-linux-gnu/libc.so.6`; the path
/// may contain spaces and may end in ` (deleted)`.
pub fn mapped_path(line: &str) -> Option<&str> {
    let mut rest = line;
    // Five fields before the path: range, perms, offset, dev, inode.
    for i in 0..5 {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ').unwrap_or(rest.len());
        let field = &rest[..end];
        if field.is_empty() {
            return None;
        }
        if i == 4 && field == "0" {
            return None; // anonymous or special mapping
        }
        rest = &rest[end..];
    }
    let path = rest.trim_start_matches(' ');
    if path.starts_with('/') {
        Some(path)
    } else {
        None
    }
}

/// Distinct mapped file paths in first-seen order, at most `max`.
pub fn mapped_files(text: &str, max: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if out.len() >= max {
            break;
        }
        if let Some(p) = mapped_path(line) {
            if seen.insert(p) {
                out.push(p.to_string());
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
    fn file_backed_lines_only() {
        let text = "\
55d0c0a00000-55d0c0a28000 r--p 00000000 fe:00 1234                       /usr/bin/python3.11
55d0c0a28000-55d0c0b00000 r-xp 00028000 fe:00 1234                       /usr/bin/python3.11
7f0000000000-7f0000021000 rw-p 00000000 00:00 0                          [heap]
7f0000100000-7f0000200000 rw-p 00000000 00:00 0
7f0000300000-7f0000400000 r-xp 00000000 fe:00 99                         /tmp/a lib with spaces.so (deleted)
7fff00000000-7fff00002000 r-xp 00000000 00:00 0                          [vdso]
";
        assert_eq!(
            mapped_files(text, 100),
            ["/usr/bin/python3.11", "/tmp/a lib with spaces.so (deleted)"]
        );
        assert_eq!(mapped_files(text, 1), ["/usr/bin/python3.11"]);
    }

    proptest! {
        #[test]
        fn maps_lines_never_panic(line in ".{0,200}") {
            let _ = mapped_path(&line);
        }

        #[test]
        fn paths_survive(path in "/[a-z0-9 ._-]{1,60}", inode in 1u64..1_000_000) {
            let line = format!("7f00-7f01 r-xp 00000000 fe:00 {inode}    {path}");
            prop_assert_eq!(mapped_path(&line), Some(path.as_str()));
        }
    }
}
