//! Version orders per ecosystem and the dispatch from an OSV ecosystem name to its order.

mod debian;
mod num;
mod pep440;
mod semver;

use std::cmp::Ordering;
use std::fmt;

pub use debian::DebVersion;
pub use num::Num;
pub use pep440::{LocalSegment, Pep440, PrePhase};
pub use semver::{parse_go, PreIdent, Semver};

/// A version string that does not parse under an ecosystem's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version {input:?}: {reason}")]
pub struct VersionError {
    pub scheme: &'static str,
    pub input: String,
    pub reason: String,
}

impl VersionError {
    pub(crate) fn new(scheme: &'static str, input: &str, reason: &str) -> VersionError {
        VersionError {
            scheme,
            input: input.chars().take(200).collect(),
            reason: reason.to_string(),
        }
    }
}

/// The ordering rules a version string is read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// SemVer 2.0.0 (crates.io, npm, and every OSV `SEMVER` range outside Go).
    Semver,
    /// Go module versions (SemVer with `v`, shorthand, pseudo-versions, `+incompatible`).
    Go,
    /// dpkg order (Debian, Ubuntu and derivatives).
    Debian,
    /// PEP 440 (PyPI).
    Pep440,
}

impl Scheme {
    /// The order of an OSV ecosystem's `ECOSYSTEM` ranges (`Debian:12` -> Debian); `None` if Weir has no order for it.
    pub fn for_ecosystem(ecosystem: &str) -> Option<Scheme> {
        let base = ecosystem.split(':').next().unwrap_or(ecosystem);
        match base {
            "crates.io" | "npm" => Some(Scheme::Semver),
            "Go" => Some(Scheme::Go),
            "PyPI" => Some(Scheme::Pep440),
            "Debian" | "Ubuntu" => Some(Scheme::Debian),
            _ => None,
        }
    }

    /// The order of an OSV `SEMVER` range in this ecosystem (Go's versions carry a `v` in inventories).
    pub fn for_semver_range(ecosystem: &str) -> Scheme {
        if ecosystem.split(':').next() == Some("Go") {
            Scheme::Go
        } else {
            Scheme::Semver
        }
    }

    pub fn parse(self, s: &str) -> Result<Version, VersionError> {
        match self {
            Scheme::Semver => Semver::parse_lenient(s).map(Version::Semver),
            Scheme::Go => parse_go(s).map(Version::Go),
            Scheme::Debian => DebVersion::parse(s).map(Version::Debian),
            Scheme::Pep440 => Pep440::parse(s).map(Version::Pep440),
        }
    }
}

/// A parsed version under one scheme. Versions of different schemes are ordered by scheme first
/// (a total order), but Weir only ever compares versions of the same scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    Semver(Semver),
    Go(Semver),
    Debian(DebVersion),
    Pep440(Pep440),
}

impl Version {
    fn rank(&self) -> u8 {
        match self {
            Version::Semver(_) => 0,
            Version::Go(_) => 1,
            Version::Debian(_) => 2,
            Version::Pep440(_) => 3,
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Semver(a), Version::Semver(b)) | (Version::Go(a), Version::Go(b)) => a.cmp(b),
            (Version::Debian(a), Version::Debian(b)) => a.cmp(b),
            (Version::Pep440(a), Version::Pep440(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Semver(v) => v.fmt(f),
            Version::Go(v) => write!(f, "v{v}"),
            Version::Debian(v) => v.fmt(f),
            Version::Pep440(v) => v.fmt(f),
        }
    }
}
