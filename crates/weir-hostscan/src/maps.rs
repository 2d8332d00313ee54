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
