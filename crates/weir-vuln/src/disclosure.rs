//! Disclosure dates (earliest `published` across linked records, or an explicit estimate) and the
//! oldest counted exposure of an inventory.

use crate::advisory::{Advisory, DateTime};
use crate::db::VulnDb;
use crate::inventory::Package;

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

impl VulnDb {
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
