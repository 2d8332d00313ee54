//! Exposure chains for one inventory: listener -> process -> loaded library -> package -> advisory, with
//! the advisory's disclosure age and whether a fix exists.

use std::collections::HashMap;

use serde::Serialize;
use weir_event::{Inventory, Listener, Package as InvPackage};
use weir_vuln::{DisclosureBasis, VulnDb};

use crate::config::{Reach, RiskConfig};

/// At most this many chains are kept per host; past it they are counted, not stored.
pub const MAX_CHAINS_PER_HOST: usize = 20_000;

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
    pub chains_dropped: usize,
    pub oldest: Option<ExposedVuln>,
    pub oldest_with_fix: Option<ExposedVuln>,
    pub oldest_without_fix: Option<ExposedVuln>,
    /// The oldest chain through a non-public listener (not counted, shown for context).
    pub oldest_not_exposed: Option<ExposedVuln>,
    pub listeners: ListenerCounts,
}

struct PackageHit {
    advisory_id: String,
    aliases: Vec<String>,
    summary: Option<String>,
    disclosed: time::OffsetDateTime,
    basis: String,
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

fn hits_for(db: &VulnDb, p: &InvPackage) -> Vec<PackageHit> {
    let (name, version) = lookup_key(p);
    let mut out = Vec::new();
    for m in db.matches(&p.ecosystem, name, version) {
        if m.excluded.is_some() {
            continue;
        }
        let Some((disclosed, basis)) = db.disclosure(m.advisory) else {
            continue;
        };
        out.push(PackageHit {
            advisory_id: m.advisory.id.clone(),
            aliases: m.advisory.aliases.clone(),
            summary: m.advisory.summary.clone(),
            disclosed,
            basis: match basis {
                DisclosureBasis::Published { id } => format!("published:{id}"),
                DisclosureBasis::IdYear { id } => format!("id-year:{id}"),
            },
            fixed: m.fixed.clone(),
        });
    }
    out
}

fn chain(
    l: &Listener,
    reach: Reach,
    exposed: bool,
    library: &str,
    p: &InvPackage,
    h: &PackageHit,
    now: time::OffsetDateTime,
) -> ExposedVuln {
    let (name, version) = lookup_key(p);
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
        advisory_id: h.advisory_id.clone(),
        aliases: h.aliases.clone(),
        summary: h.summary.clone(),
        disclosed: h
            .disclosed
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        disclosure_basis: h.basis.clone(),
        age_days: (now - h.disclosed).whole_days().max(0),
        fixed_versions: h.fixed.iter().cloned().collect(),
    }
}

/// Oldest first; ties by advisory id, then listener, so the answer is deterministic.
fn order(a: &ExposedVuln, b: &ExposedVuln) -> std::cmp::Ordering {
    b.age_days
        .cmp(&a.age_days)
        .then_with(|| a.disclosed.cmp(&b.disclosed))
        .then_with(|| a.advisory_id.cmp(&b.advisory_id))
        .then_with(|| (&a.address, a.port, &a.package).cmp(&(&b.address, b.port, &b.package)))
}

/// Builds the chains of one inventory. Each package is matched once however many listeners load it.
pub fn exposure(
    inv: &Inventory,
    db: &VulnDb,
    cfg: &RiskConfig,
    host_id: &str,
    host_name: &str,
    now: time::OffsetDateTime,
) -> Exposure {
    let mut out = Exposure::default();
    let mut cache: HashMap<u32, Vec<PackageHit>> = HashMap::new();
    for l in &inv.listeners {
        let reach = cfg.reach(&l.address);
        match reach {
            Reach::Public => out.listeners.public += 1,
            Reach::AnyAddress => out.listeners.any_address += 1,
            Reach::Private => out.listeners.private += 1,
            Reach::Loopback => out.listeners.loopback += 1,
            Reach::Unknown => out.listeners.unknown += 1,
        }
        if reach == Reach::Loopback {
            continue;
        }
        let exposed = cfg.is_exposed(reach, host_id, host_name);
        let mut seen_packages = std::collections::HashSet::new();
        for loaded in &l.loaded {
            let idx = loaded.package_index;
            let Some(p) = inv.packages.get(idx as usize) else {
                continue; // u32::MAX: no package owns this file
            };
            if !seen_packages.insert(idx) {
                continue; // several files of one package: the first names it
            }
            let hits = cache.entry(idx).or_insert_with(|| hits_for(db, p));
            for h in hits.iter() {
                if out.chains.len() >= MAX_CHAINS_PER_HOST {
                    out.chains_dropped += 1;
                    continue;
                }
                out.chains.push(chain(l, reach, exposed, &loaded.path, p, h, now));
            }
        }
    }
    out.chains.sort_by(order);
    let first = |f: &dyn Fn(&ExposedVuln) -> bool| out.chains.iter().find(|c| f(c)).cloned();
    out.oldest = first(&|c| c.exposed);
    out.oldest_with_fix = first(&|c| c.exposed && c.has_fix());
    out.oldest_without_fix = first(&|c| c.exposed && !c.has_fix());
    out.oldest_not_exposed = first(&|c| !c.exposed);
    out
}
