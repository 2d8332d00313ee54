//! SemVer 2.0.0 precedence (crates.io, npm, OSV `SEMVER` ranges) and Go module versions built on it.

use std::cmp::Ordering;
use std::fmt;

use super::num::Num;
use super::VersionError;

/// A pre-release identifier: numeric identifiers sort below alphanumeric ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreIdent {
    Num(Num),
    Alpha(String),
}

impl Ord for PreIdent {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PreIdent::Num(a), PreIdent::Num(b)) => a.cmp(b),
            (PreIdent::Alpha(a), PreIdent::Alpha(b)) => a.cmp(b),
            (PreIdent::Num(_), PreIdent::Alpha(_)) => Ordering::Less,
            (PreIdent::Alpha(_), PreIdent::Num(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for PreIdent {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A SemVer 2.0.0 version. Build metadata is kept for display and ignored by the order.
#[derive(Clone, Debug)]
pub struct Semver {
    pub major: Num,
    pub minor: Num,
    pub patch: Num,
    pub pre: Vec<PreIdent>,
    pub build: String,
}

fn numeric_part(s: &str, what: &str, input: &str, eco: &'static str) -> Result<Num, VersionError> {
    if s.is_empty() {
        return Err(VersionError::new(eco, input, &format!("empty {what} number")));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(VersionError::new(eco, input, &format!("leading zero in {what} number")));
    }
    Num::from_digits(s).ok_or_else(|| VersionError::new(eco, input, &format!("{what} is not a number")))
}

fn idents_ok(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl Semver {
    /// Strict SemVer 2.0.0: `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, no prefix, no leading zeros.
    pub fn parse(input: &str) -> Result<Semver, VersionError> {
        Self::parse_as(input, "SemVer")
    }

    /// npm-style tolerance: surrounding blanks and a leading `v` or `=` are accepted.
    pub fn parse_lenient(input: &str) -> Result<Semver, VersionError> {
        let s = input.trim();
        let s = s.strip_prefix('=').unwrap_or(s);
        let s = s.strip_prefix('v').unwrap_or(s);
        Self::parse_as(s, "SemVer").map_err(|e| VersionError::new("SemVer", input, &e.reason))
    }

    pub(crate) fn parse_as(input: &str, eco: &'static str) -> Result<Semver, VersionError> {
        let err = |reason: &str| VersionError::new(eco, input, reason);
        let (rest, build) = match input.split_once('+') {
            Some((r, b)) => {
                if !idents_ok(b) {
                    return Err(err("invalid build metadata"));
                }
                (r, b)
            }
            None => (input, ""),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => {
                if !idents_ok(p) {
                    return Err(err("invalid pre-release"));
                }
                (c, Some(p))
            }
            None => (rest, None),
        };
        let mut parts = core.split('.');
        let (Some(ma), Some(mi), Some(pa), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(err("expected MAJOR.MINOR.PATCH"));
        };
        let major = numeric_part(ma, "major", input, eco)?;
        let minor = numeric_part(mi, "minor", input, eco)?;
        let patch = numeric_part(pa, "patch", input, eco)?;
        let mut pre_idents = Vec::new();
        if let Some(p) = pre {
            for ident in p.split('.') {
                if ident.bytes().all(|b| b.is_ascii_digit()) {
                    pre_idents.push(PreIdent::Num(numeric_part(ident, "pre-release", input, eco)?));
                } else {
                    pre_idents.push(PreIdent::Alpha(ident.to_string()));
                }
            }
        }
        Ok(Semver {
            major,
            minor,
            patch,
            pre: pre_idents,
            build: build.to_string(),
        })
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        self.major
            .cmp(&other.major)
            .then_with(|| self.minor.cmp(&other.minor))
            .then_with(|| self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Semver {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Semver {}

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            let p: Vec<String> = self
                .pre
                .iter()
                .map(|i| match i {
                    PreIdent::Num(n) => n.to_string(),
                    PreIdent::Alpha(s) => s.clone(),
                })
                .collect();
            write!(f, "-{}", p.join("."))?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

/// Parses a Go module version: optional `v`, Go's shorthand `v1`/`v1.2`, pseudo-versions (which are
/// SemVer pre-releases and order as such) and `+incompatible` (build metadata, ignored by the order).
/// Go toolchain spellings (`go1.21.3`, `go1.21rc2`, `go1.21`) are accepted for the `stdlib` module.
pub fn parse_go(input: &str) -> Result<Semver, VersionError> {
    let s = input.trim();
    if let Some(go) = s.strip_prefix("go") {
        return parse_go_toolchain(go).ok_or_else(|| VersionError::new("Go", input, "invalid Go toolchain version"));
    }
    let s = s.strip_prefix('v').unwrap_or(s);
    let (core, tail) = match s.find(['-', '+']) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    // Shorthand (v1, v1.2) is only valid without pre-release or build suffix, as in golang.org/x/mod/semver.
    let dots = core.matches('.').count();
    let expanded = match (dots, tail.is_empty()) {
        (0, true) => format!("{core}.0.0"),
        (1, true) => format!("{core}.0"),
        _ => s.to_string(),
    };
    Semver::parse_as(&expanded, "Go").map_err(|e| VersionError::new("Go", input, &e.reason))
}

/// `1.21.3` -> 1.21.3, `1.21` -> 1.21.0, `1.21rc2` -> 1.21.0-rc.2, `1.9beta1` -> 1.9.0-beta.1 (the Go vulndb's spelling).
fn parse_go_toolchain(s: &str) -> Option<Semver> {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (nums, pre) = s.split_at(split);
    let parts: Vec<&str> = nums.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut n = Vec::new();
    for p in &parts {
        n.push(Num::from_digits(p)?);
    }
    n.resize(3, Num::zero());
    let pre_ident = if pre.is_empty() {
        Vec::new()
    } else {
        let k = pre.find(|c: char| c.is_ascii_digit())?;
        let (word, num) = pre.split_at(k);
        if !matches!(word, "rc" | "beta" | "alpha") {
            return None;
        }
        vec![PreIdent::Alpha(word.to_string()), PreIdent::Num(Num::from_digits(num)?)]
    };
    let mut it = n.into_iter();
    Some(Semver {
        major: it.next()?,
        minor: it.next()?,
        patch: it.next()?,
        pre: pre_ident,
        build: String::new(),
    })
}
