//! The in-memory vulnerability database: advisories indexed by (ecosystem, package) and by id, and
//! matching an installed package against them under the policy.

use std::collections::HashMap;

use crate::advisory::Advisory;
use crate::error::LoadError;
use crate::policy::{Excluded, MinorDistroPolicy, Policy};
use crate::range::{Installed, Verdict};

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
    pub(crate) advisories: Vec<Advisory>,
    pub(crate) by_package: HashMap<(String, String), Vec<(u32, u32)>>,
    pub(crate) by_id: HashMap<String, u32>,
    /// id -> advisories that name it in `aliases` or `upstream` (the reverse direction of the links).
    pub(crate) linked_from: HashMap<String, Vec<u32>>,
    pub(crate) policy: Policy,
}

impl VulnDb {
    pub fn new(policy: Policy) -> VulnDb {
        VulnDb {
            policy,
            ..VulnDb::default()
        }
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
}
