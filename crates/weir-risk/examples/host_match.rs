//! Times one host's exposure against the whole local vulnerability database: a 5,000-package inventory
//! (this machine's dpkg status plus crates and Go modules drawn from the corpus with versions named in
//! the advisories) behind one public listener, matched through the (ecosystem, package) index with full
//! chains, against a straightforward scan of every record per package, in the same run.
//!
//! Run: cargo run --release -p weir-risk --example host_match [-- OSV_DIR... [--store DATA_DIR]]
//! With `--store`, the vulnerability database and the host are left in DATA_DIR for `weir metrics`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weir_event::{HostAge, Inventory, Listener, Loaded, Package};
use weir_risk::exposure::{exposure, exposure_up_to};
use weir_risk::{RiskConfig, RiskStore, VulnStore};
use weir_vuln::inventory::{dpkg, os_release};
use weir_vuln::range::EventKind;
use weir_vuln::{Policy, VulnDb};

const PACKAGES: usize = 5_000;

/// Deterministic xorshift, so every run matches the same inventory.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn inventory(db: &VulnDb) -> Inventory {
    let mut packages = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/var/lib/dpkg/status") {
        let eco = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| os_release::osv_ecosystem(&t))
            .unwrap_or_else(|| "Debian:12".into());
        for p in dpkg::parse_status(&text, "/var/lib/dpkg/status").unwrap_or_default() {
            let Some(version) = p.version.clone() else { continue };
            packages.push(Package {
                ecosystem: eco.clone(),
                name: p.name.clone(),
                version,
                location: "/var/lib/dpkg/status".into(),
                ..Package::default()
            });
        }
    }
    let mut candidates = Vec::new();
    for adv in db.advisories() {
        for aff in &adv.affected {
            let versions: Vec<String> = aff
                .ranges
                .ranges
                .iter()
                .flat_map(|r| r.events())
                .filter(|(k, v)| *v != "0" && *k != EventKind::LastAffected)
                .map(|(_, v)| v.to_string())
                .collect();
            candidates.push((aff.ecosystem.clone(), aff.name.clone(), versions));
        }
    }
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    while packages.len() < PACKAGES && !candidates.is_empty() {
        let (eco, name, versions) = &candidates[rng.below(candidates.len())];
        let version = if versions.is_empty() || rng.below(3) == 0 {
            format!("{}.{}.{}", rng.below(3), rng.below(30), rng.below(10))
        } else {
            versions[rng.below(versions.len())].clone()
        };
        packages.push(Package {
            ecosystem: eco.clone(),
            name: name.clone(),
            version,
            location: "generated".into(),
            ..Package::default()
        });
    }
    let listener = Listener {
        protocol: "tcp".into(),
        address: "203.0.114.10".into(),
        port: 443,
        pid: 1,
        executable: "/srv/app/server".into(),
        loaded: (0..packages.len() as u32)
            .map(|i| Loaded {
                path: format!("/srv/app/lib{i}.so"),
                package_index: i,
            })
            .collect(),
        ..Listener::default()
    };
    Inventory {
        packages,
        listeners: vec![listener],
        age: Some(HostAge::default()),
        reason: "benchmark".into(),
        ..Inventory::default()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let store_dir = args
        .iter()
        .position(|a| a == "--store")
        .map(|i| PathBuf::from(args.remove(i + 1)))
        .inspect(|_| {
            args.retain(|a| a != "--store");
        });
    let corpora = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/osv");
    let dirs: Vec<PathBuf> = if args.is_empty() {
        vec![corpora.join("crates.io/crates"), corpora.join("Go/data/osv")]
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    let tmp = std::env::temp_dir().join(format!("weir-host-match-{}", std::process::id()));
    let data = store_dir.clone().unwrap_or(tmp.clone());
    std::fs::create_dir_all(&data).unwrap();

    let t = Instant::now();
    let mut vulns = VulnStore::open_in(&data).unwrap();
    let report = vulns.import(&dirs, &mut |_| {}).unwrap();
    println!("import: {report} in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let (db, load) = vulns.load(Policy::default()).unwrap();
    println!(
        "load from {}: {} advisories in {:.0} ms ({} failures)",
        vulns.path().display(),
        db.len(),
        t.elapsed().as_secs_f64() * 1e3,
        load.failures.len()
    );

    let inv = inventory(&db);
    let cfg = RiskConfig::default();
    let now = time::OffsetDateTime::now_utc();
    println!("inventory: {} packages behind one public listener", inv.packages.len());

    let indexed: Vec<Duration> = (0..11)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(exposure(&inv, &db, &cfg, "bench", "bench", now));
            t.elapsed()
        })
        .collect();
    let oldest_only: Vec<Duration> = (0..11)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(exposure_up_to(&inv, &db, &cfg, "bench", "bench", now, 0));
            t.elapsed()
        })
        .collect();
    let e = exposure(&inv, &db, &cfg, "bench", "bench", now);
    let linear: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let mut n = 0;
            for p in &inv.packages {
                for m in db.matches_linear_scan(&p.ecosystem, &p.name, &p.version) {
                    if m.excluded.is_none() && db.disclosure(m.advisory).is_some() {
                        n += 1;
                    }
                }
            }
            std::hint::black_box(n);
            t.elapsed()
        })
        .collect();
    let index_only: Vec<Duration> = (0..11)
        .map(|_| {
            let t = Instant::now();
            let n: usize = inv
                .packages
                .iter()
                .map(|p| db.matches(&p.ecosystem, &p.name, &p.version).len())
                .sum();
            std::hint::black_box(n);
            t.elapsed()
        })
        .collect();
    let linear_only: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let n: usize = inv
                .packages
                .iter()
                .map(|p| db.matches_linear_scan(&p.ecosystem, &p.name, &p.version).len())
                .sum();
            std::hint::black_box(n);
            t.elapsed()
        })
        .collect();
    let (io, lo) = (median(index_only), median(linear_only));
    println!(
        "matching only: index {:.2} ms, linear scan {:.2} ms per host, ratio {:.0}x",
        io.as_secs_f64() * 1e3,
        lo.as_secs_f64() * 1e3,
        lo.as_secs_f64() / io.as_secs_f64()
    );
    let (mi, ml) = (median(indexed), median(linear));
    println!(
        "chains: {} found, {} written ({} exposed); oldest: {:?}",
        e.chains_total,
        e.chains.len(),
        e.chains.iter().filter(|c| c.exposed).count(),
        e.oldest
            .as_ref()
            .map(|c| (&c.advisory_id, &c.package, &c.version, c.age_days))
    );
    println!(
        "indexed host exposure (full chains): median {:.2} ms per host (11 runs)",
        mi.as_secs_f64() * 1e3
    );
    println!(
        "indexed host exposure (oldest only, as the fleet view): median {:.2} ms per host (11 runs)",
        median(oldest_only).as_secs_f64() * 1e3
    );
    println!(
        "linear scan of every record:         median {:.2} ms per host (3 runs)",
        ml.as_secs_f64() * 1e3
    );
    println!("ratio linear/indexed: {:.0}x", ml.as_secs_f64() / mi.as_secs_f64());

    if store_dir.is_some() {
        let store = RiskStore::open_in(&data).unwrap();
        let now_ns = now.unix_timestamp_nanos() as u64;
        store
            .ingest("bench-host", "bench-1", now_ns, &inv, now_ns, &cfg)
            .unwrap();
        println!("stored host bench-1 in {}", data.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
