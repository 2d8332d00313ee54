//! Exposure chains for one inventory: listener -> process -> loaded library -> package -> advisory, with
//! the advisory's disclosure age and whether a fix exists.

use std::collections::HashMap;

use serde::Serialize;
use weir_event::{Inventory, Listener, Package as InvPackage};
use weir_vuln::{Advisory, DisclosureBasis, VulnDb};

use crate::config::{Reach, RiskConfig};

/// At most this many chains (the oldest) are written out per host; the rest are counted.
pub const MAX_CHAINS_PER_HOST: usize = 1_000;

/// One listener -> package -> advisory chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExposedVuln {
    /// Whether it counts as Internet-facing under the config (see [`Reach`]).
    pub exposed: bool,
    pub reach: Reach,
    pub protocol: String,
    pub address: String,
    pub port: u32,
    pub netns: u64,
    pub pid: u32,
    pub entity_id: String,
    pub executable: String,
    /// The mapped file that belongs to the package (a shared object, a module directory, the executable).
    pub library: String,
    pub ecosystem: String,
    /// The package as matched: Debian source package when the inventory names one, else the package.
    pub package: String,
    pub version: String,
    /// The installed (binary) package when it differs from the matched source package.
    pub binary_package: Option<String>,
    /// Where the package was read (status file, lockfile, dist-info...).
    pub package_location: String,
    pub advisory_id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    /// RFC 3339 disclosure time (earliest across linked records).
    pub disclosed: String,
    /// `published:<id>` or `id-year:<id>` (an estimate from the identifier's year).
    pub disclosure_basis: String,
    pub age_days: i64,
    /// First fixed version above the installed one; empty when no fix is known.
    pub fixed_versions: Vec<String>,
}

impl ExposedVuln {
    pub fn has_fix(&self) -> bool {
        !self.fixed_versions.is_empty()
    }
}

/// Listener counts by reach, for the "specific non-public vs any address" split.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ListenerCounts {
    pub public: usize,
    pub any_address: usize,
    pub private: usize,
    pub loopback: usize,
    pub unknown: usize,
}

/// Every chain of one inventory, and the oldest counted ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exposure {
    /// All chains through non-loopback listeners, counted (`exposed`) or not, oldest first.
    pub chains: Vec<ExposedVuln>,
    /// Chains found; past [`MAX_CHAINS_PER_HOST`] only the oldest are written out in `chains`.
    pub chains_total: usize,
    pub oldest: Option<ExposedVuln>,
    pub oldest_with_fix: Option<ExposedVuln>,
    pub oldest_without_fix: Option<ExposedVuln>,
    /// The oldest chain through a non-public listener (not counted, shown for context).
    pub oldest_not_exposed: Option<ExposedVuln>,
    pub listeners: ListenerCounts,
}

struct PackageHit<'a> {
    advisory: &'a Advisory,
    disclosed: time::OffsetDateTime,
    fixed: Option<String>,
}

/// What to look the package up as: Debian records are keyed by source package.
fn lookup_key(p: &InvPackage) -> (&str, &str) {
    if !p.source_name.is_empty() {
        let v = if p.source_version.is_empty() {
            &p.version
        } else {
            &p.source_version
        };
        (&p.source_name, v)
    } else {
        (&p.name, &p.version)
    }
}

/// Each advisory's disclosure (date and where it comes from), looked up once per advisory.
type Disclosures<'a> = HashMap<&'a str, Option<(time::OffsetDateTime, DisclosureBasis)>>;

/// The counted advisories affecting a package, with disclosures computed once per advisory.
fn hits_for<'a>(db: &'a VulnDb, p: &InvPackage, disclosures: &mut Disclosures<'a>) -> Vec<PackageHit<'a>> {
    let (name, version) = lookup_key(p);
    let mut out = Vec::new();
    for m in db.matches(&p.ecosystem, name, version) {
        if m.excluded.is_some() {
            continue;
        }
        let disclosed = disclosures
            .entry(m.advisory.id.as_str())
            .or_insert_with(|| db.disclosure(m.advisory))
            .as_ref()
            .map(|(at, _)| *at);
        let Some(disclosed) = disclosed else {
            continue;
        };
        out.push(PackageHit {
            advisory: m.advisory,
            disclosed,
            fixed: m.fixed,
        });
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn chain(
    basis: Option<&DisclosureBasis>,
    l: &Listener,
    reach: Reach,
    exposed: bool,
    library: &str,
    p: &InvPackage,
    h: &PackageHit<'_>,
    now: time::OffsetDateTime,
) -> ExposedVuln {
    let (name, version) = lookup_key(p);
    let basis = match basis {
        Some(DisclosureBasis::Published { id }) => format!("published:{id}"),
        Some(DisclosureBasis::IdYear { id }) => format!("id-year:{id}"),
        None => String::new(),
    };
    ExposedVuln {
        exposed,
        reach,
        protocol: l.protocol.clone(),
        address: l.address.clone(),
        port: l.port,
        netns: l.netns,
        pid: l.pid,
        entity_id: l.entity_id.clone(),
        executable: l.executable.clone(),
        library: library.to_string(),
        ecosystem: p.ecosystem.clone(),
        package: name.to_string(),
        version: version.to_string(),
        binary_package: (name != p.name).then(|| p.name.clone()),
        package_location: p.location.clone(),
        advisory_id: h.advisory.id.clone(),
        aliases: h.advisory.aliases.clone(),
        summary: h.advisory.summary.clone(),
        disclosed: h
            .disclosed
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        disclosure_basis: basis,
        age_days: (now - h.disclosed).whole_days().max(0),
        fixed_versions: h.fixed.iter().cloned().collect(),
    }
}

/// One (listener, loaded file, package, advisory) found, before it is written out as a chain.
#[derive(Clone, Copy)]
struct Candidate {
    age_days: i64,
    listener: usize,
    loaded: usize,
    package: u32,
    hit: usize,
    reach: Reach,
    exposed: bool,
}

/// Builds the chains of one inventory. Each package is matched once however many listeners load it.
/// Every chain is ranked and counted; memory stays bounded whatever the inventory holds: only the
/// [`MAX_CHAINS_PER_HOST`] oldest are kept and written out, and the oldest counted, with-fix, without-fix
/// and not-exposed ones are tracked as they are found.
pub fn exposure(
    inv: &Inventory,
    db: &VulnDb,
    cfg: &RiskConfig,
    host_id: &str,
    host_name: &str,
    now: time::OffsetDateTime,
) -> Exposure {
    exposure_up_to(inv, db, cfg, host_id, host_name, now, MAX_CHAINS_PER_HOST)
}

/// [`exposure`] writing out at most the `max_chains` oldest chains (capped at [`MAX_CHAINS_PER_HOST`]).
/// Everything else is the same: every chain is counted in `chains_total` and the oldest counted, with-fix,
/// without-fix and not-exposed chains are found. With 0 no chain list is built, for callers that need only
/// the oldest ones (the fleet view on every periodic run).
pub fn exposure_up_to(
    inv: &Inventory,
    db: &VulnDb,
    cfg: &RiskConfig,
    host_id: &str,
    host_name: &str,
    now: time::OffsetDateTime,
    max_chains: usize,
) -> Exposure {
    let max_chains = max_chains.min(MAX_CHAINS_PER_HOST);
    let mut out = Exposure::default();
    let reaches: Vec<Reach> = inv.listeners.iter().map(|l| cfg.reach(&l.address)).collect();
    for reach in &reaches {
        match reach {
            Reach::Public => out.listeners.public += 1,
            Reach::AnyAddress => out.listeners.any_address += 1,
            Reach::Private => out.listeners.private += 1,
            Reach::Loopback => out.listeners.loopback += 1,
            Reach::Unknown => out.listeners.unknown += 1,
        }
    }
    // Match every package a non-loopback listener loaded, once.
    let mut hits: Vec<Option<Vec<PackageHit<'_>>>> = Vec::new();
    hits.resize_with(inv.packages.len(), || None);
    let mut disclosures: Disclosures<'_> = HashMap::new();
    for (l, reach) in inv.listeners.iter().zip(&reaches) {
        if *reach == Reach::Loopback {
            continue;
        }
        for loaded in &l.loaded {
            if let Some(p) = inv.packages.get(loaded.package_index as usize) {
                hits[loaded.package_index as usize].get_or_insert_with(|| hits_for(db, p, &mut disclosures));
            }
        }
    }
    let hit = |c: &Candidate| &hits[c.package as usize].as_ref().expect("matched package")[c.hit];
    // Oldest first; ties by disclosure, advisory id, then listener and package, so the answer is stable.
    let order = |a: &Candidate, b: &Candidate| {
        let (ha, hb) = (hit(a), hit(b));
        b.age_days
            .cmp(&a.age_days)
            .then_with(|| ha.disclosed.cmp(&hb.disclosed))
            .then_with(|| ha.advisory.id.cmp(&hb.advisory.id))
            .then_with(|| (a.listener, a.package).cmp(&(b.listener, b.package)))
    };
    let keep_if_older = |best: &mut Option<Candidate>, c: &Candidate| {
        if best.as_ref().is_none_or(|b| order(c, b).is_lt()) {
            *best = Some(*c);
        }
    };
    let (mut oldest, mut with_fix, mut without_fix, mut not_exposed) = (None, None, None, None);
    let mut kept: Vec<Candidate> = Vec::new();
    for (li, (l, reach)) in inv.listeners.iter().zip(&reaches).enumerate() {
        if *reach == Reach::Loopback {
            continue;
        }
        let exposed = cfg.is_exposed_on(*reach, host_id, host_name, &inv.addresses);
        let mut seen_packages = std::collections::HashSet::new();
        for (fi, loaded) in l.loaded.iter().enumerate() {
            let idx = loaded.package_index;
            let Some(found) = hits.get(idx as usize).and_then(|h| h.as_ref()) else {
                continue; // u32::MAX: no package owns this file
            };
            if !seen_packages.insert(idx) {
                continue; // several files of one package: the first names it
            }
            for (hi, h) in found.iter().enumerate() {
                let c = Candidate {
                    age_days: (now - h.disclosed).whole_days().max(0),
                    listener: li,
                    loaded: fi,
                    package: idx,
                    hit: hi,
                    reach: *reach,
                    exposed,
                };
                out.chains_total += 1;
                if exposed {
                    keep_if_older(&mut oldest, &c);
                    keep_if_older(
                        if h.fixed.is_some() {
                            &mut with_fix
                        } else {
                            &mut without_fix
                        },
                        &c,
                    );
                } else {
                    keep_if_older(&mut not_exposed, &c);
                }
                if max_chains > 0 {
                    kept.push(c);
                    if kept.len() >= 2 * max_chains {
                        kept.select_nth_unstable_by(max_chains, order);
                        kept.truncate(max_chains);
                    }
                }
            }
        }
    }
    let write = |c: &Candidate| {
        let l = &inv.listeners[c.listener];
        let p = &inv.packages[c.package as usize];
        let h = hit(c);
        let basis = disclosures
            .get(h.advisory.id.as_str())
            .and_then(|d| d.as_ref())
            .map(|(_, b)| b);
        chain(basis, l, c.reach, c.exposed, &l.loaded[c.loaded].path, p, h, now)
    };
    out.oldest = oldest.as_ref().map(write);
    out.oldest_with_fix = with_fix.as_ref().map(write);
    out.oldest_without_fix = without_fix.as_ref().map(write);
    out.oldest_not_exposed = not_exposed.as_ref().map(write);
    if kept.len() > max_chains {
        kept.select_nth_unstable_by(max_chains, order);
        kept.truncate(max_chains);
    }
    kept.sort_by(order);
    out.chains = kept.iter().map(write).collect();
    out
}
