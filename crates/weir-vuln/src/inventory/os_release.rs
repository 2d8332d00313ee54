//! `/etc/os-release`: which OSV distribution ecosystem (`Debian:12`, `Ubuntu:22.04:LTS`) a host's dpkg
//! packages belong to.

use std::collections::HashMap;

/// Parses the `KEY=value` lines of os-release (shell-style quoting, comments, blank lines).
pub fn parse(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.insert(k.to_string(), unquote(v));
    }
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    let (body, double) = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        (&v[1..v.len() - 1], true)
    } else if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].to_string();
    } else {
        (v, false)
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && (double || !v.starts_with('"')) {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The OSV ecosystem of the host's distribution packages, or `None` for distributions without OSV
/// data in that form (or rolling releases with no `VERSION_ID`, e.g. Debian sid).
pub fn osv_ecosystem(text: &str) -> Option<String> {
    let f = parse(text);
    let id = f.get("ID")?.to_ascii_lowercase();
    let version = f.get("VERSION_ID").filter(|v| !v.is_empty())?;
    match id.as_str() {
        "debian" => Some(format!("Debian:{}", version.split('.').next().unwrap_or(version))),
        "ubuntu" => {
            let lts = f.get("VERSION").is_some_and(|v| v.contains("LTS"));
            Some(if lts {
                format!("Ubuntu:{version}:LTS")
            } else {
                format!("Ubuntu:{version}")
            })
        }
        _ => None,
    }
}
