//! `Cargo.lock` (formats v1 to v4): the locked crates and where they come from.
//!
//! Cargo writes a small, regular TOML subset (tables, arrays of tables, strings, integers and arrays of
//! strings); this reads exactly that subset and reports anything else with its line number.

use crate::error::InventoryError;
use crate::inventory::Package;

/// One `[[package]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedCrate {
    pub name: String,
    pub version: String,
    /// `registry+...`, `sparse+...`, `git+...`; `None` for workspace and path crates.
    pub source: Option<String>,
    pub line: usize,
}

impl LockedCrate {
    /// True when the crate comes from the crates.io registry (git index or sparse protocol).
    pub fn is_crates_io(&self) -> bool {
        matches!(
            self.source.as_deref(),
            Some("registry+https://github.com/rust-lang/crates.io-index" | "sparse+https://index.crates.io/")
        )
    }
}

/// The parsed lockfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CargoLock {
    /// `version = N` (3 or 4); `None` for v1/v2 files, which have no version key.
    pub format_version: Option<i64>,
    pub crates: Vec<LockedCrate>,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Array,
}

struct Parser<'a> {
    src: &'a str,
    lines: Vec<&'a str>,
    idx: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, line: usize, reason: impl Into<String>) -> InventoryError {
        InventoryError::new(self.src, line, reason)
    }

    /// Reads a basic ("...") or literal ('...') string starting at `s[0]`; returns it and the rest.
    fn string<'s>(&self, s: &'s str, line: usize) -> Result<(String, &'s str), InventoryError> {
        let quote = s.chars().next().ok_or_else(|| self.err(line, "expected a string"))?;
        let body = &s[1..];
        if quote == '\'' {
            let end = body
                .find('\'')
                .ok_or_else(|| self.err(line, "unterminated literal string"))?;
            return Ok((body[..end].to_string(), &body[end + 1..]));
        }
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((out, &body[i + 1..])),
                '\\' => {
                    let (_, e) = chars.next().ok_or_else(|| self.err(line, "unterminated escape"))?;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'u' | 'U' => {
                            let n = if e == 'u' { 4 } else { 8 };
                            let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                            let cp = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == n)
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err(line, format!("invalid unicode escape \\{e}{hex}")))?;
                            out.push(cp);
                        }
                        other => return Err(self.err(line, format!("invalid escape \\{other}"))),
                    }
                }
                c if (c as u32) < 0x20 && c != '\t' => return Err(self.err(line, "control character in string")),
                c => out.push(c),
            }
        }
        Err(self.err(line, "unterminated string"))
    }

    fn rest_is_blank(&self, rest: &str, line: usize) -> Result<(), InventoryError> {
        let rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            Ok(())
        } else {
            Err(self.err(
                line,
                format!(
                    "unexpected text after value: {:?}",
                    rest.chars().take(40).collect::<String>()
                ),
            ))
        }
    }

    /// Parses an array of strings that may span lines; consumes the lines it uses.
    fn array(&mut self, mut s: &'a str, line: usize) -> Result<(), InventoryError> {
        let mut expect_value = true;
        loop {
            s = s.trim_start();
            if s.is_empty() || s.starts_with('#') {
                self.idx += 1;
                s = self
                    .lines
                    .get(self.idx)
                    .ok_or_else(|| self.err(line, "unterminated array"))?;
                continue;
            }
            if let Some(rest) = s.strip_prefix(']') {
                return self.rest_is_blank(rest, self.idx + 1);
            }
            if !expect_value {
                let Some(rest) = s.strip_prefix(',') else {
                    return Err(self.err(self.idx + 1, "expected ',' or ']' in array"));
                };
                s = rest;
                expect_value = true;
                continue;
            }
            if s.starts_with('"') || s.starts_with('\'') {
                let (_, rest) = self.string(s, self.idx + 1)?;
                s = rest;
                expect_value = false;
            } else {
                return Err(self.err(self.idx + 1, "arrays in Cargo.lock hold strings only"));
            }
        }
    }

    fn value(&mut self, s: &'a str, line: usize) -> Result<Value, InventoryError> {
        let s = s.trim_start();
        if s.starts_with('"') || s.starts_with('\'') {
            if s.starts_with("\"\"\"") || s.starts_with("'''") {
                return Err(self.err(line, "multi-line strings do not occur in Cargo.lock"));
            }
            let (v, rest) = self.string(s, line)?;
            self.rest_is_blank(rest, line)?;
            return Ok(Value::Str(v));
        }
        if let Some(rest) = s.strip_prefix('[') {
            self.array(rest, line)?;
            return Ok(Value::Array);
        }
        let token = s.split(|c: char| c.is_whitespace() || c == '#').next().unwrap_or("");
        self.rest_is_blank(&s[token.len()..], line)?;
        match token {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            t => t
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| self.err(line, format!("unsupported value {t:?}"))),
        }
    }

    fn key<'s>(&self, s: &'s str, line: usize) -> Result<(String, &'s str), InventoryError> {
        if s.starts_with('"') || s.starts_with('\'') {
            return self.string(s, line);
        }
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(s.len());
        if end == 0 {
            return Err(self.err(
                line,
                format!("expected a key, found {:?}", s.chars().take(40).collect::<String>()),
            ));
        }
        Ok((s[..end].to_string(), &s[end..]))
    }
}

#[derive(Default)]
struct Entry {
    name: Option<String>,
    version: Option<String>,
    source: Option<String>,
    line: usize,
}

/// Parses a Cargo.lock. `src` names the input in errors.
pub fn parse(text: &str, src: &str) -> Result<CargoLock, InventoryError> {
    let mut p = Parser {
        src,
        lines: text.lines().collect(),
        idx: 0,
    };
    let mut format_version = None;
    let mut crates = Vec::new();
    let mut current: Option<Entry> = None;
    let mut table = String::new();
    let flush = |cur: Option<Entry>, crates: &mut Vec<LockedCrate>| -> Result<(), InventoryError> {
        let Some(e) = cur else { return Ok(()) };
        let name = e
            .name
            .ok_or_else(|| InventoryError::new(src, e.line, "[[package]] without `name`"))?;
        let version = e
            .version
            .ok_or_else(|| InventoryError::new(src, e.line, "[[package]] without `version`"))?;
        crates.push(LockedCrate {
            name,
            version,
            source: e.source,
            line: e.line,
        });
        Ok(())
    };
    while p.idx < p.lines.len() {
        let lineno = p.idx + 1;
        let line = p.lines[p.idx].trim();
        if line.is_empty() || line.starts_with('#') {
            p.idx += 1;
            continue;
        }
        if let Some(h) = line.strip_prefix("[[") {
            let name = h.split("]]").next().unwrap_or("").trim();
            if !h.contains("]]") || name.is_empty() {
                return Err(p.err(lineno, "malformed array-of-tables header"));
            }
            flush(current.take(), &mut crates)?;
            table = name.to_string();
            if table == "package" {
                current = Some(Entry {
                    line: lineno,
                    ..Entry::default()
                });
            }
            p.idx += 1;
            continue;
        }
        if let Some(h) = line.strip_prefix('[') {
            let name = h.split(']').next().unwrap_or("").trim();
            if !h.contains(']') || name.is_empty() {
                return Err(p.err(lineno, "malformed table header"));
            }
            flush(current.take(), &mut crates)?;
            table = name.to_string();
            p.idx += 1;
            continue;
        }
        let (key, rest) = p.key(line, lineno)?;
        let Some(rest) = rest.trim_start().strip_prefix('=') else {
            return Err(p.err(lineno, format!("expected `=` after key {key:?}")));
        };
        let value = p.value(rest, lineno)?;
        match (table.as_str(), key.as_str(), &value, current.as_mut()) {
            ("", "version", Value::Int(v), _) => format_version = Some(*v),
            ("", "version", _, _) => return Err(p.err(lineno, "lockfile `version` must be an integer")),
            ("package", k @ ("name" | "version" | "source"), v, Some(e)) => {
                let Value::Str(s) = v else {
                    return Err(p.err(lineno, format!("package `{k}` must be a string")));
                };
                let slot = match k {
                    "name" => &mut e.name,
                    "version" => &mut e.version,
                    _ => &mut e.source,
                };
                if slot.is_some() {
                    return Err(p.err(lineno, format!("duplicate key `{k}`")));
                }
                *slot = Some(s.clone());
            }
            _ => {}
        }
        p.idx += 1;
    }
    flush(current.take(), &mut crates)?;
    Ok(CargoLock { format_version, crates })
}

/// The crates.io crates of a lockfile as `crates.io` packages (path, git and other-registry crates are
/// not in the crates.io advisory namespace).
pub fn to_packages(lock: &CargoLock, origin: &str) -> Vec<Package> {
    lock.crates
        .iter()
        .filter(|c| c.is_crates_io())
        .map(|c| Package {
            ecosystem: "crates.io".into(),
            name: c.name.clone(),
            version: c.version.clone(),
            origin: Some(origin.to_string()),
        })
        .collect()
}
