//! The in-memory vulnerability database: loading OSV directories, the (ecosystem, package) index,
//! matching, disclosure dates and the oldest exposure of an inventory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::advisory::{Advisory, DateTime, RangeNote};
use crate::error::LoadError;
use crate::inventory::Package;
use crate::osv::parse_record;
use crate::policy::{Excluded, MinorDistroPolicy, Policy};
use crate::range::{Installed, RangeSkip, Verdict};

/// What loading found, for the operator: counts, failed files with reasons, and skipped ranges.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub files: usize,
    pub loaded: usize,
    pub failures: Vec<LoadError>,
    /// Ranges not evaluated (GIT, unknown ecosystems) and malformed ranges left out, per advisory.
    pub range_notes: Vec<(String, RangeNote)>,
}

impl std::fmt::Display for LoadReport {
    /// A summary for operators: counts, then one line per failed file and per malformed range.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unsupported = self.range_notes.len() - self.invalid_ranges().count();
        write!(
            f,
            "{} files, {} advisories loaded, {} failed, {} ranges not evaluated by design, {} malformed ranges left out",
            self.files,
            self.loaded,
            self.failures.len(),
            unsupported,
            self.invalid_ranges().count()
        )?;
        for e in &self.failures {
            write!(f, "\n  failed: {e}")?;
        }
        for (id, n) in self.invalid_ranges() {
            if let RangeSkip::Invalid { field, reason } = &n.skip {
                write!(f, "\n  {id}: {}.{field}: {reason}", n.field)?;
            }
        }
        Ok(())
    }
}

impl LoadReport {
    /// Malformed ranges (as opposed to range types Weir does not evaluate by design).
    pub fn invalid_ranges(&self) -> impl Iterator<Item = &(String, RangeNote)> {
        self.range_notes
            .iter()
            .filter(|(_, n)| matches!(n.skip, RangeSkip::Invalid { .. }))
    }
}

/// One advisory matching an installed package, with whether it counts under the policy.
#[derive(Debug, Clone)]
pub struct Match<'a> {
    pub advisory: &'a Advisory,
    /// Index into `advisory.affected`.
    pub affected: usize,
    /// First fixed version above the installed one, when the record names one.
    pub fixed: Option<String>,
    pub excluded: Option<Excluded>,
}

/// Where a disclosure date comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisclosureBasis {
    /// The `published` time of this record (the advisory itself or a linked one).
    Published { id: String },
    /// No record has a `published` time (the Go vulnerability database's own files leave it at Go's
    /// zero time): January 1st of the year in this identifier (`CVE-2021-...`, `GO-2022-...`). Identifiers
    /// are assigned around disclosure, so this errs on the old side by up to a year rather than hiding an
    /// undated exposure. It is an estimate and is reported as one.
    IdYear { id: String },
}

/// The year in identifiers shaped `PREFIX-YYYY-...` (CVE, GO, RUSTSEC, PYSEC, ...).
fn id_year(id: &str) -> Option<i32> {
    let mut parts = id.split('-');
    let _prefix = parts.next()?;
    let year = parts.next()?;
    parts.next()?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = year.parse().ok()?;
    (1990..=9999).contains(&y).then_some(y)
}

/// The oldest counted advisory exposed by an inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub advisory_id: String,
    pub aliases: Vec<String>,
    pub ecosystem: String,
    pub package: String,
    pub version: String,
    pub fixed: Option<String>,
    pub disclosed: DateTime,
    pub disclosure_basis: DisclosureBasis,
    pub age_days: i64,
}

/// Package names as the ecosystem compares them (PyPI: PEP 503 normalisation; others exact).
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    if ecosystem.split(':').next() == Some("PyPI") {
        let mut out = String::with_capacity(name.len());
        let mut sep = false;
        for c in name.trim().chars() {
            if matches!(c, '-' | '_' | '.') {
                sep = true;
            } else {
                if sep && !out.is_empty() {
                    out.push('-');
                }
                sep = false;
                out.push(c.to_ascii_lowercase());
            }
        }
        out
    } else {
        name.to_string()
    }
}

/// Loaded advisories with an index by (ecosystem, normalised package name) and by id.
#[derive(Debug, Default)]
pub struct VulnDb {
    advisories: Vec<Advisory>,
    by_package: HashMap<(String, String), Vec<(u32, u32)>>,
    by_id: HashMap<String, u32>,
    /// id -> advisories that name it in `aliases` or `upstream` (the reverse direction of the links).
    linked_from: HashMap<String, Vec<u32>>,
    policy: Policy,
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>, report: &mut LoadReport) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            report.failures.push(LoadError::Io {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(source) => {
                report.failures.push(LoadError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_json(&path, out, report),
            Ok(_) if path.extension().is_some_and(|e| e == "json") => out.push(path),
            Ok(_) => {}
            Err(source) => report.failures.push(LoadError::Io { path, source }),
        }
    }
}

impl VulnDb {
    pub fn new(policy: Policy) -> VulnDb {
        VulnDb {
            policy,
            ..VulnDb::default()
        }
    }

    /// Loads every `*.json` file under the given directories (recursively; a path may also be a single
    /// file). Files that fail are listed in the report with the reason and do not stop the load.
    pub fn load_dir<P: AsRef<Path>>(paths: &[P]) -> (VulnDb, LoadReport) {
        let mut db = VulnDb::new(Policy::default());
        let report = db.load_paths(paths);
        (db, report)
    }

    /// Like [`VulnDb::load_dir`] into an existing database.
    pub fn load_paths<P: AsRef<Path>>(&mut self, paths: &[P]) -> LoadReport {
        let mut report = LoadReport::default();
        let mut files = Vec::new();
        for p in paths {
            let p = p.as_ref();
            if p.is_file() {
                files.push(p.to_path_buf());
            } else {
                collect_json(p, &mut files, &mut report);
            }
        }
        files.sort();
        report.files = files.len();
        for path in files {
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(source) => {
                    report.failures.push(LoadError::Io { path, source });
                    continue;
                }
            };
            match self.add_json(&path, &text) {
                Ok(notes) => {
                    report.loaded += 1;
                    let id = &self.advisories[self.advisories.len() - 1].id;
                    report.range_notes.extend(notes.into_iter().map(|n| (id.clone(), n)));
                }
                Err(e) => report.failures.push(e),
            }
        }
        report
    }

    /// Parses and adds one OSV document; `path` names it in errors.
    pub fn add_json(&mut self, path: &Path, text: &[u8]) -> Result<Vec<RangeNote>, LoadError> {
        let rec = parse_record(path, text)?;
        let (adv, notes) = Advisory::compile(path, rec)?;
        self.insert(adv)?;
        Ok(notes)
    }

    /// Adds a compiled advisory; a second record with the same id is refused.
    pub fn insert(&mut self, adv: Advisory) -> Result<(), LoadError> {
        if let Some(&first) = self.by_id.get(&adv.id) {
            return Err(LoadError::Duplicate {
                path: adv.source.clone(),
                id: adv.id.clone(),
                first: self.advisories[first as usize].source.clone(),
            });
        }
        let idx = u32::try_from(self.advisories.len()).map_err(|_| LoadError::Invalid {
            path: adv.source.clone(),
            field: "id".into(),
            reason: "database full".into(),
        })?;
        for (i, a) in adv.affected.iter().enumerate() {
            let key = (a.ecosystem.clone(), normalize_name(&a.ecosystem, &a.name));
            self.by_package.entry(key).or_default().push((idx, i as u32));
        }
        for link in adv.aliases.iter().chain(&adv.upstream) {
            self.linked_from.entry(link.clone()).or_default().push(idx);
        }
        self.by_id.insert(adv.id.clone(), idx);
        self.advisories.push(adv);
        Ok(())
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.by_id.get(id).map(|&i| &self.advisories[i as usize])
    }

    fn exclusion(&self, adv: &Advisory, affected: usize) -> Option<Excluded> {
        if adv.withdrawn.is_some() {
            return Some(Excluded::Withdrawn);
        }
        let a = &adv.affected[affected];
        if let Some(kind) = &a.informational {
            return Some(Excluded::Informational(kind.clone()));
        }
        match (&a.minor_rating, self.policy.minor_distro) {
            (Some(r), MinorDistroPolicy::Exclude) => Some(Excluded::MinorDistroRating {
                field: r.field.clone(),
                value: r.value.clone(),
            }),
            _ => None,
        }
    }

    fn evaluate_one<'a>(&'a self, adv_idx: u32, aff_idx: u32, version: &mut Installed<'_>) -> Option<Match<'a>> {
        let adv = &self.advisories[adv_idx as usize];
        let aff = &adv.affected[aff_idx as usize];
        match aff.evaluate_installed(version) {
            Verdict::Affected { fixed } => Some(Match {
                advisory: adv,
                affected: aff_idx as usize,
                fixed,
                excluded: self.exclusion(adv, aff_idx as usize),
            }),
            Verdict::NotAffected => None,
        }
    }

    /// Every advisory whose affected ranges contain this version, counted or not (see `excluded`).
    pub fn matches(&self, ecosystem: &str, package: &str, version: &str) -> Vec<Match<'_>> {
        let key = (ecosystem.to_string(), normalize_name(ecosystem, package));
        let Some(entries) = self.by_package.get(&key) else {
            return Vec::new();
        };
        let mut out: Vec<Match<'_>> = Vec::new();
        let mut installed = Installed::new(version);
        for &(a, i) in entries {
            if out
                .last()
                .is_some_and(|m| m.advisory.id == self.advisories[a as usize].id)
            {
                continue; // one match per advisory even if it lists the package twice
            }
            if let Some(m) = self.evaluate_one(a, i, &mut installed) {
                out.push(m);
            }
        }
        out
    }

    /// The baseline the index is measured against: a scan of every record.
    pub fn matches_linear_scan(&self, ecosystem: &str, package: &str, version: &str) -> Vec<Match<'_>> {
        let name = normalize_name(ecosystem, package);
        let mut out = Vec::new();
        let pypi = ecosystem.split(':').next() == Some("PyPI");
        let mut installed = Installed::new(version);
        for (a, adv) in self.advisories.iter().enumerate() {
            for (i, aff) in adv.affected.iter().enumerate() {
                if aff.ecosystem != ecosystem {
                    continue;
                }
                let same = if pypi {
                    normalize_name(ecosystem, &aff.name) == name
                } else {
                    aff.name == name
                };
                if same {
                    if let Some(m) = self.evaluate_one(a as u32, i as u32, &mut installed) {
                        out.push(m);
                        break;
                    }
                }
            }
        }
        out
    }

    /// The advisories affecting this installed version that count under the policy.
    pub fn affecting(&self, ecosystem: &str, package: &str, version: &str) -> Vec<&Advisory> {
        self.matches(ecosystem, package, version)
            .into_iter()
            .filter(|m| m.excluded.is_none())
            .map(|m| m.advisory)
            .collect()
    }

    /// Earliest `published` across the advisory and the non-withdrawn records it names in `aliases` or
    /// `upstream`, or that name it there, when they are in the database. Falls back to an estimate from
    /// the year in the identifiers (see [`DisclosureBasis::IdYear`]); `None` only when neither exists.
    pub fn disclosed_at(&self, adv: &Advisory) -> Option<DateTime> {
        self.disclosure(adv).map(|(at, _)| at)
    }

    /// [`VulnDb::disclosed_at`] with where the date comes from.
    pub fn disclosure(&self, adv: &Advisory) -> Option<(DateTime, DisclosureBasis)> {
        let mut best: Option<(DateTime, DisclosureBasis)> = adv
            .published
            .map(|p| (p, DisclosureBasis::Published { id: adv.id.clone() }));
        let mut consider = |other: &Advisory| {
            if other.withdrawn.is_none() {
                if let Some(p) = other.published {
                    if best.as_ref().is_none_or(|(b, _)| p < *b) {
                        best = Some((p, DisclosureBasis::Published { id: other.id.clone() }));
                    }
                }
            }
        };
        for link in adv.aliases.iter().chain(&adv.upstream) {
            if let Some(other) = self.get(link) {
                consider(other);
            }
        }
        if let Some(from) = self.linked_from.get(&adv.id) {
            for &i in from {
                consider(&self.advisories[i as usize]);
            }
        }
        if best.is_some() {
            return best;
        }
        std::iter::once(&adv.id)
            .chain(&adv.aliases)
            .chain(&adv.upstream)
            .filter_map(|id| Some((id_year(id)?, id)))
            .min()
            .and_then(|(year, id)| {
                let at = time::Date::from_calendar_date(year, time::Month::January, 1)
                    .ok()?
                    .midnight()
                    .assume_utc();
                Some((at, DisclosureBasis::IdYear { id: id.clone() }))
            })
    }

    /// The counted advisory with the earliest disclosure across the inventory, with its age at `now`.
    /// Ties go to the lowest advisory id, so the answer is deterministic.
    pub fn oldest_exposure(&self, packages: &[Package], now: DateTime) -> Option<Exposure> {
        let mut best: Option<Exposure> = None;
        for p in packages {
            for m in self.matches(&p.ecosystem, &p.name, &p.version) {
                if m.excluded.is_some() {
                    continue;
                }
                let Some((disclosed, basis)) = self.disclosure(m.advisory) else {
                    continue;
                };
                let better = match &best {
                    None => true,
                    Some(b) => (disclosed, &m.advisory.id) < (b.disclosed, &b.advisory_id),
                };
                if better {
                    best = Some(Exposure {
                        advisory_id: m.advisory.id.clone(),
                        aliases: m.advisory.aliases.clone(),
                        ecosystem: p.ecosystem.clone(),
                        package: p.name.clone(),
                        version: p.version.clone(),
                        fixed: m.fixed.clone(),
                        disclosed,
                        disclosure_basis: basis,
                        age_days: ((now - disclosed).whole_days()).max(0),
                    });
                }
            }
        }
        best
    }
}
