//! OSV affected-range evaluation (the schema's `IsVulnerable` algorithm) over pre-parsed versions.

use std::cmp::Ordering;

use crate::osv::{OsvAffected, OsvRange};
use crate::version::{Scheme, Version, VersionError};

/// Event kinds in the order they are applied when two events carry the same version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
}

/// An event version: `introduced: "0"` means "before every version".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bound {
    Zero,
    At(Version),
}

impl Bound {
    fn cmp_version(&self, v: &Version) -> Ordering {
        match self {
            Bound::Zero => Ordering::Less,
            Bound::At(b) => b.cmp(v),
        }
    }
}

/// One `SEMVER` or `ECOSYSTEM` range with its events parsed and sorted.
#[derive(Clone, Debug)]
pub struct CompiledRange {
    pub scheme: Scheme,
    /// Sorted by version, then by [`EventKind`]; `Zero` first.
    events: Vec<(Bound, EventKind, String)>,
    limits: Vec<Version>,
}

impl CompiledRange {
    /// Parses the events of one range. `Err(RangeSkip::Unsupported)` means the range is not evaluated
    /// by design (GIT, an unknown type, or an ecosystem without a known order), with the reason;
    /// `Err(RangeSkip::Invalid)` names the malformed event.
    pub fn compile(ecosystem: &str, range: &OsvRange) -> Result<CompiledRange, RangeSkip> {
        let scheme = match range.kind.as_str() {
            "SEMVER" => Scheme::for_semver_range(ecosystem),
            "ECOSYSTEM" => Scheme::for_ecosystem(ecosystem)
                .ok_or_else(|| RangeSkip::Unsupported(format!("no version order for ecosystem {ecosystem:?}")))?,
            "GIT" => {
                return Err(RangeSkip::Unsupported(
                    "GIT ranges name commits, which an installed package version cannot be placed against".into(),
                ))
            }
            other => return Err(RangeSkip::Unsupported(format!("unknown range type {other:?}"))),
        };
        let mut events = Vec::new();
        let mut limits = Vec::new();
        for (i, e) in range.events.iter().enumerate() {
            let set: Vec<(&str, &String)> = [
                ("introduced", &e.introduced),
                ("fixed", &e.fixed),
                ("last_affected", &e.last_affected),
                ("limit", &e.limit),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
            let [(key, value)] = set.as_slice() else {
                return Err(RangeSkip::Invalid {
                    field: format!("events[{i}]"),
                    reason: format!("an event needs exactly one key, found {}", set.len()),
                });
            };
            let bad = |err: VersionError| RangeSkip::Invalid {
                field: format!("events[{i}].{key}"),
                reason: err.to_string(),
            };
            if *key == "limit" {
                if value.as_str() != "*" {
                    limits.push(scheme.parse(value).map_err(bad)?);
                }
                continue;
            }
            let kind = match *key {
                "introduced" => EventKind::Introduced,
                "fixed" => EventKind::Fixed,
                _ => EventKind::LastAffected,
            };
            let bound = if kind == EventKind::Introduced && value.as_str() == "0" {
                Bound::Zero
            } else {
                Bound::At(scheme.parse(value).map_err(bad)?)
            };
            events.push((bound, kind, (*value).clone()));
        }
        if !events.iter().any(|(_, k, _)| *k == EventKind::Introduced) {
            return Err(RangeSkip::Invalid {
                field: "events".into(),
                reason: "no `introduced` event".into(),
            });
        }
        events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(CompiledRange { scheme, events, limits })
    }

    /// The OSV algorithm: walk the sorted events; `introduced <= v` opens, `fixed <= v` closes,
    /// `last_affected < v` closes. With `limit` events, `v` must also be below some limit.
    pub fn contains(&self, v: &Version) -> bool {
        if !self.limits.is_empty() && !self.limits.iter().any(|l| v < l) {
            return false;
        }
        let mut vulnerable = false;
        for (bound, kind, _) in &self.events {
            let c = bound.cmp_version(v); // bound vs v
            match kind {
                EventKind::Introduced if c != Ordering::Greater => vulnerable = true,
                EventKind::Fixed if c != Ordering::Greater => vulnerable = false,
                EventKind::LastAffected if c == Ordering::Less => vulnerable = false,
                _ => {}
            }
        }
        vulnerable
    }

    /// The events as written (limits excluded), in evaluation order.
    pub fn events(&self) -> impl Iterator<Item = (EventKind, &str)> {
        self.events.iter().map(|(_, k, s)| (*k, s.as_str()))
    }

    /// The first `fixed` version above `v`, as written in the record.
    pub fn fixed_after(&self, v: &Version) -> Option<&str> {
        self.events
            .iter()
            .find(|(b, k, _)| *k == EventKind::Fixed && b.cmp_version(v) == Ordering::Greater)
            .map(|(_, _, s)| s.as_str())
    }
}

/// Why a range is not used for matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeSkip {
    /// The range type or ecosystem has no order here (reported, not an error).
    Unsupported(String),
    /// The range is malformed.
    Invalid { field: String, reason: String },
}

/// Answer for one installed version against one affected entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Affected { fixed: Option<String> },
    NotAffected,
}

/// The evaluable part of one `affected[]` entry.
#[derive(Clone, Debug, Default)]
pub struct AffectedRanges {
    pub ranges: Vec<CompiledRange>,
    /// Explicit `versions`, as written.
    pub versions: Vec<String>,
}

impl AffectedRanges {
    /// Compiles every range; skipped ranges come back with their index and reason.
    pub fn compile(ecosystem: &str, affected: &OsvAffected) -> (AffectedRanges, Vec<(usize, RangeSkip)>) {
        let mut out = AffectedRanges {
            ranges: Vec::new(),
            versions: affected.versions.clone(),
        };
        let mut skipped = Vec::new();
        for (i, r) in affected.ranges.iter().enumerate() {
            match CompiledRange::compile(ecosystem, r) {
                Ok(c) => out.ranges.push(c),
                Err(e) => skipped.push((i, e)),
            }
        }
        (out, skipped)
    }

    /// `IsAffected`: any evaluable range contains the version, or the version is listed explicitly.
    /// An installed version that does not parse under a range's order cannot be placed in that range
    /// and only matches through the explicit list.
    pub fn evaluate(&self, ecosystem: &str, installed: &mut Installed<'_>) -> Verdict {
        for r in &self.ranges {
            if let Some(v) = installed.as_scheme(r.scheme) {
                if r.contains(v) {
                    return Verdict::Affected {
                        fixed: r.fixed_after(v).map(str::to_string),
                    };
                }
            }
        }
        if self
            .versions
            .iter()
            .any(|listed| same_version(ecosystem, listed, installed.text))
        {
            return Verdict::Affected { fixed: None };
        }
        Verdict::NotAffected
    }
}

/// An installed version string with its parses, each made once per scheme and reused across every
/// advisory a lookup evaluates.
#[derive(Debug)]
pub struct Installed<'a> {
    text: &'a str,
    parsed: Vec<(Scheme, Option<Version>)>,
}

impl<'a> Installed<'a> {
    pub fn new(text: &'a str) -> Installed<'a> {
        Installed {
            text,
            parsed: Vec::with_capacity(1),
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The version under this scheme, or `None` if it does not parse there.
    pub fn as_scheme(&mut self, scheme: Scheme) -> Option<&Version> {
        let i = match self.parsed.iter().position(|(s, _)| *s == scheme) {
            Some(i) => i,
            None => {
                self.parsed.push((scheme, scheme.parse(self.text).ok()));
                self.parsed.len() - 1
            }
        };
        self.parsed[i].1.as_ref()
    }
}

/// Equality of an explicitly listed version with an installed one: by the ecosystem's order when both
/// parse (so Go's `v1.2.3` equals `1.2.3`), otherwise by exact text.
fn same_version(ecosystem: &str, listed: &str, installed: &str) -> bool {
    if listed == installed {
        return true;
    }
    match Scheme::for_ecosystem(ecosystem).map(|s| (s.parse(listed), s.parse(installed))) {
        Some((Ok(a), Ok(b))) => a == b,
        _ => false,
    }
}
