//! An OSV record compiled for matching: parsed timestamps, parsed ranges, and why it might not count.

use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::LoadError;
use crate::osv::{OsvAffected, OsvRecord};
use crate::range::{AffectedRanges, Installed, RangeSkip, Verdict};

/// Timestamps are RFC 3339 instants.
pub type DateTime = OffsetDateTime;

/// A distro's own "this does not warrant a fix" rating, which the metric treats by policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinorDistroRating {
    /// Where it was read, e.g. `affected[0].ecosystem_specific.urgency`.
    pub field: String,
    /// The rating as written, e.g. `unimportant`, `no-dsa`, `negligible`.
    pub value: String,
}

/// One `affected[]` entry, ready to match.
#[derive(Clone, Debug)]
pub struct AffectedPackage {
    pub ecosystem: String,
    pub name: String,
    pub ranges: AffectedRanges,
    /// RustSec `database_specific.informational` (`unmaintained`, `unsound`, `notice`, ...).
    pub informational: Option<String>,
    pub minor_rating: Option<MinorDistroRating>,
}

impl AffectedPackage {
    pub fn evaluate(&self, version: &str) -> Verdict {
        self.ranges.evaluate(&self.ecosystem, &mut Installed::new(version))
    }

    /// As [`AffectedPackage::evaluate`], reusing the installed version's parses.
    pub fn evaluate_installed(&self, installed: &mut Installed<'_>) -> Verdict {
        self.ranges.evaluate(&self.ecosystem, installed)
    }
}

/// A loaded advisory.
#[derive(Clone, Debug)]
pub struct Advisory {
    pub id: String,
    pub aliases: Vec<String>,
    pub upstream: Vec<String>,
    pub summary: Option<String>,
    pub published: Option<DateTime>,
    pub modified: Option<DateTime>,
    pub withdrawn: Option<DateTime>,
    pub affected: Vec<AffectedPackage>,
    /// The file it was loaded from.
    pub source: PathBuf,
}

fn parse_time(path: &Path, field: &str, s: &Option<String>) -> Result<Option<DateTime>, LoadError> {
    match s {
        None => Ok(None),
        // The Go vulnerability database writes Go's zero time (0001-01-01T00:00:00Z) for "not set".
        Some(s) if s.starts_with("0001-01-01T") => Ok(None),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .map(Some)
            .map_err(|e| LoadError::Invalid {
                path: path.to_path_buf(),
                field: field.to_string(),
                reason: format!("not an RFC 3339 timestamp ({s:?}): {e}"),
            }),
    }
}

/// Finds a distro "won't fix" rating: Debian's `urgency: unimportant` and `no-dsa` notes, Ubuntu's
/// `negligible` priority.
fn minor_rating(idx: usize, a: &OsvAffected) -> Option<MinorDistroRating> {
    const MINOR: [&str; 5] = ["unimportant", "no-dsa", "no dsa", "negligible", "<no-dsa>"];
    let is_minor = |s: &str| {
        let l = s.trim().to_ascii_lowercase();
        MINOR
            .iter()
            .any(|m| l == *m || l.starts_with(&format!("{m} ")) || l.starts_with(&format!("{m}:")))
    };
    for (name, obj) in [
        ("ecosystem_specific", &a.ecosystem_specific),
        ("database_specific", &a.database_specific),
    ] {
        let Some(serde_json::Value::Object(map)) = obj else {
            continue;
        };
        // The Debian security tracker's `nodsa` marker ("Minor issue", or `true`).
        for key in ["nodsa", "no_dsa"] {
            let value = match map.get(key) {
                Some(serde_json::Value::Bool(true)) => "no-dsa".to_string(),
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => format!("no-dsa: {s}"),
                _ => continue,
            };
            return Some(MinorDistroRating {
                field: format!("affected[{idx}].{name}.{key}"),
                value,
            });
        }
        for key in ["urgency", "severity", "priority", "ubuntu_priority", "status", "note"] {
            if let Some(serde_json::Value::String(v)) = map.get(key) {
                if is_minor(v) {
                    return Some(MinorDistroRating {
                        field: format!("affected[{idx}].{name}.{key}"),
                        value: v.clone(),
                    });
                }
            }
        }
    }
    for (i, s) in a.severity.iter().enumerate() {
        if s.kind.eq_ignore_ascii_case("Ubuntu") && is_minor(&s.score) {
            return Some(MinorDistroRating {
                field: format!("affected[{idx}].severity[{i}]"),
                value: s.score.clone(),
            });
        }
    }
    None
}

/// A skipped range, reported by the loader (never fatal for the record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeNote {
    pub field: String,
    pub skip: RangeSkip,
}

impl Advisory {
    /// Validates and compiles a parsed record. Returns notes for ranges that cannot be evaluated.
    pub fn compile(path: &Path, rec: OsvRecord) -> Result<(Advisory, Vec<RangeNote>), LoadError> {
        let invalid = |field: &str, reason: &str| LoadError::Invalid {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason: reason.to_string(),
        };
        if rec.id.trim().is_empty() {
            return Err(invalid("id", "empty advisory id"));
        }
        let published = parse_time(path, "published", &rec.published)?;
        let modified = parse_time(path, "modified", &rec.modified)?;
        let withdrawn = parse_time(path, "withdrawn", &rec.withdrawn)?;
        let mut notes = Vec::new();
        let mut affected = Vec::new();
        for (i, a) in rec.affected.iter().enumerate() {
            let Some(pkg) = &a.package else {
                // Entries without a package describe e.g. a git repository only; nothing installed matches them.
                notes.push(RangeNote {
                    field: format!("affected[{i}].package"),
                    skip: RangeSkip::Unsupported("no package named".into()),
                });
                continue;
            };
            if pkg.name.is_empty() {
                return Err(invalid(&format!("affected[{i}].package.name"), "empty package name"));
            }
            if pkg.ecosystem.is_empty() {
                return Err(invalid(&format!("affected[{i}].package.ecosystem"), "empty ecosystem"));
            }
            let (ranges, skipped) = AffectedRanges::compile(&pkg.ecosystem, a);
            // A malformed range is reported and left out; the record's other ranges and packages still load.
            for (r, skip) in skipped {
                notes.push(RangeNote {
                    field: format!("affected[{i}].ranges[{r}]"),
                    skip,
                });
            }
            let informational = a
                .database_specific
                .as_ref()
                .and_then(|d| d.get("informational"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            affected.push(AffectedPackage {
                ecosystem: pkg.ecosystem.clone(),
                name: pkg.name.clone(),
                ranges,
                informational,
                minor_rating: minor_rating(i, a),
            });
        }
        let adv = Advisory {
            id: rec.id,
            aliases: rec.aliases,
            upstream: rec.upstream,
            summary: rec.summary,
            published,
            modified,
            withdrawn,
            affected,
            source: path.to_path_buf(),
        };
        Ok((adv, notes))
    }
}
