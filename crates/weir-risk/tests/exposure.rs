//! Exposure chains on real advisories: a known-vulnerable crate behind a public listener is exposed with
//! the advisory's age; the patched version is not; private and any-address listeners follow the config;
//! the fix / no-fix split; Debian source packages.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::*;
use weir_event::HostAge;
use weir_risk::exposure::exposure;
use weir_risk::{Reach, RiskConfig, VulnStore};
use weir_vuln::{Policy, VulnDb};

fn corpus_db() -> &'static VulnDb {
    static DB: OnceLock<VulnDb> = OnceLock::new();
    DB.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = VulnStore::open_in(tmp.path()).unwrap();
        let r = store
            .import(
                &[corpus_dir("crates.io/crates"), corpus_dir("Go/data/osv")],
                &mut |_| {},
            )
            .unwrap();
        assert!(r.failures.is_empty(), "{r}");
        store.load(Policy::default()).unwrap().0
    })
}

fn now_time(now: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(now as i128).unwrap()
}

fn cfg(yaml: &str) -> RiskConfig {
    RiskConfig::parse(yaml, Path::new("risk.yaml")).unwrap()
}

#[test]
fn known_vulnerable_crate_on_a_public_listener_is_exposed_with_its_age() {
    let now = now_ns();
    let published = published_of(&corpus_dir("crates.io/crates").join("RUSTSEC-2021-0003.json"));
    let inv = inventory(
        vec![package("crates.io", "smallvec", "1.6.0")],
        vec![listener("203.0.114.10", 443, &[0])],
        HostAge::default(),
    );
    let e = exposure(&inv, corpus_db(), &RiskConfig::default(), "h1", "web-1", now_time(now));
    let c = e
        .chains
        .iter()
        .find(|c| c.advisory_id == "RUSTSEC-2021-0003")
        .expect("smallvec 1.6.0 is affected by RUSTSEC-2021-0003");
    assert!(c.exposed);
    assert_eq!(c.reach, Reach::Public);
    assert_eq!(c.age_days, days_since(&published, now));
    assert_eq!(c.disclosure_basis, "published:RUSTSEC-2021-0003");
    assert_eq!(c.fixed_versions, vec!["1.6.1".to_string()]);
    assert!(c.aliases.contains(&"CVE-2021-25900".to_string()));
    // The whole chain: listener -> process -> library -> package -> advisory.
    assert_eq!(
        (c.protocol.as_str(), c.address.as_str(), c.port),
        ("tcp", "203.0.114.10", 443)
    );
    assert_eq!((c.pid, c.executable.as_str()), (4242, "/srv/app/bin/server"));
    assert_eq!(c.library, "/srv/app/lib/lib0.so");
    assert_eq!(
        (c.ecosystem.as_str(), c.package.as_str(), c.version.as_str()),
        ("crates.io", "smallvec", "1.6.0")
    );
    let oldest = e.oldest.unwrap();
    assert!(oldest.age_days >= c.age_days);
}

#[test]
fn the_patched_version_is_not_exposed() {
    let inv = inventory(
        vec![package("crates.io", "smallvec", "1.6.1")],
        vec![listener("203.0.114.10", 443, &[0])],
        HostAge::default(),
    );
    let e = exposure(
        &inv,
        corpus_db(),
        &RiskConfig::default(),
        "h1",
        "web-1",
        now_time(now_ns()),
    );
    assert!(
        e.chains.iter().all(|c| c.advisory_id != "RUSTSEC-2021-0003"),
        "{:?}",
        e.chains
    );
}

#[test]
fn private_and_any_address_listeners_follow_the_config() {
    let now = now_time(now_ns());
    let pkgs = vec![package("crates.io", "smallvec", "1.6.0")];
    let private = inventory(pkgs.clone(), vec![listener("10.0.3.7", 8080, &[0])], HostAge::default());
    let e = exposure(&private, corpus_db(), &RiskConfig::default(), "h1", "db-1", now);
    assert!(!e.chains.is_empty(), "the chain is shown");
    assert!(e.chains.iter().all(|c| !c.exposed && c.reach == Reach::Private));
    assert!(e.oldest.is_none());
    assert!(e.oldest_not_exposed.is_some());
    assert_eq!(e.listeners.private, 1);

    let any = inventory(pkgs.clone(), vec![listener("0.0.0.0", 8080, &[0])], HostAge::default());
    let default = exposure(&any, corpus_db(), &RiskConfig::default(), "h1", "db-1", now);
    assert_eq!(default.oldest.as_ref().map(|c| c.reach), Some(Reach::AnyAddress));
    let nat = cfg("any_address_is_public: false\nhosts:\n  web-1: {any_address_is_public: true}\n");
    assert!(exposure(&any, corpus_db(), &nat, "h1", "db-1", now).oldest.is_none());
    assert!(exposure(&any, corpus_db(), &nat, "h2", "web-1", now).oldest.is_some());
    // A private range the config names public (e.g. behind a 1:1 NAT) is exposed.
    let named = cfg("public_cidrs: [10.0.3.0/24]");
    assert!(exposure(&private, corpus_db(), &named, "h1", "db-1", now)
        .oldest
        .is_some());
    // Loopback never is.
    let lo = inventory(pkgs, vec![listener("127.0.0.1", 8080, &[0])], HostAge::default());
    assert!(exposure(&lo, corpus_db(), &RiskConfig::default(), "h1", "db-1", now)
        .chains
        .is_empty());
}

#[test]
fn fix_and_no_fix_are_split() {
    let now = now_ns();
    let crates = corpus_dir("crates.io/crates");
    // portaudio: every version affected, no fix (RUSTSEC-2016-0003); smallvec 1.6.0: fixed in 1.6.1.
    let inv = inventory(
        vec![
            package("crates.io", "smallvec", "1.6.0"),
            package("crates.io", "portaudio", "0.7.0"),
        ],
        vec![listener("::", 443, &[0, 1, u32::MAX])],
        HostAge::default(),
    );
    let e = exposure(&inv, corpus_db(), &RiskConfig::default(), "h1", "web-1", now_time(now));
    let no_fix = e.oldest_without_fix.clone().unwrap();
    assert_eq!(no_fix.advisory_id, "RUSTSEC-2016-0003");
    assert!(no_fix.fixed_versions.is_empty());
    assert_eq!(
        no_fix.age_days,
        days_since(&published_of(&crates.join("RUSTSEC-2016-0003.json")), now)
    );
    let with_fix = e.oldest_with_fix.clone().unwrap();
    assert_eq!(with_fix.package, "smallvec");
    assert!(with_fix.has_fix());
    assert_eq!(e.oldest.unwrap().advisory_id, "RUSTSEC-2016-0003");
}

#[test]
fn debian_packages_match_by_source_package() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("osv");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("DSA-1.json"),
        osv_record(
            "DSA-1",
            "2023-09-01T00:00:00Z",
            "Debian:12",
            "openssl",
            Some("3.0.11-1~deb12u1"),
        ),
    )
    .unwrap();
    let mut store = VulnStore::open_in(tmp.path()).unwrap();
    store.import(&[&dir], &mut |_| {}).unwrap();
    let (db, _) = store.load(Policy::default()).unwrap();
    let mut libssl = package("Debian:12", "libssl3", "3.0.9-1");
    libssl.source_name = "openssl".into();
    libssl.source_version = "3.0.9-1".into();
    let mut patched = libssl.clone();
    patched.source_version = "3.0.11-1~deb12u1".into();
    patched.version = "3.0.11-1~deb12u1".into();
    let now = now_ns();
    let inv = inventory(
        vec![libssl, patched],
        vec![listener("198.18.0.1", 25, &[0])],
        HostAge::default(),
    );
    let cfg = cfg("public_cidrs: [198.18.0.0/15]");
    let e = exposure(&inv, &db, &cfg, "h1", "mx-1", now_time(now));
    let c = e.oldest.unwrap();
    assert_eq!((c.package.as_str(), c.version.as_str()), ("openssl", "3.0.9-1"));
    assert_eq!(c.binary_package.as_deref(), Some("libssl3"));
    assert_eq!(c.age_days, days_since("2023-09-01T00:00:00Z", now));
    let only_patched = inventory(
        inv.packages.clone(),
        vec![listener("198.18.0.1", 25, &[1])],
        HostAge::default(),
    );
    assert!(exposure(&only_patched, &db, &cfg, "h1", "mx-1", now_time(now))
        .chains
        .is_empty());
}

#[test]
fn past_the_chain_bound_the_oldest_are_listed_and_all_are_counted() {
    use weir_risk::exposure::MAX_CHAINS_PER_HOST;
    let n = MAX_CHAINS_PER_HOST + 150;
    let now = now_ns();
    let mut db = VulnDb::new(Policy::default());
    // Advisory i is i days old (plus a minute, so whole days are exact); odd ones have no fix.
    for i in 0..n {
        let published = rfc3339(now - i as u64 * NS_PER_DAY - 60_000_000_000);
        let fixed = (i % 2 == 0).then_some("2.0.0");
        let rec = osv_record(&format!("BOUND-{i:05}"), &published, "crates.io", "big", fixed);
        db.add_json(Path::new(&format!("BOUND-{i}.json")), rec.as_bytes())
            .unwrap();
    }
    let inv = inventory(
        vec![package("crates.io", "big", "1.0.0")],
        vec![listener("203.0.114.1", 80, &[0])],
        HostAge::default(),
    );
    let e = exposure(&inv, &db, &RiskConfig::default(), "h", "h", now_time(now));
    assert_eq!(e.chains_total, n);
    assert_eq!(e.chains.len(), MAX_CHAINS_PER_HOST);
    let ages: Vec<i64> = e.chains.iter().map(|c| c.age_days).collect();
    let expect: Vec<i64> = (0..n as i64).rev().take(MAX_CHAINS_PER_HOST).collect();
    assert_eq!(ages, expect);
    assert_eq!(e.oldest.as_ref().unwrap().age_days, n as i64 - 1);
    let with_fix = e.oldest_with_fix.unwrap().age_days;
    let without_fix = e.oldest_without_fix.unwrap().age_days;
    assert_eq!(with_fix.max(without_fix), n as i64 - 1);
    assert_eq!((with_fix - without_fix).abs(), 1);
}

#[test]
fn without_a_chain_list_the_oldest_chains_and_counts_are_the_same() {
    use weir_risk::exposure::exposure_up_to;
    let now = now_ns();
    let mut db = VulnDb::new(Policy::default());
    // Two packages with advisories of scattered ages, some fixed; one package behind a private listener only.
    for i in 0..60u64 {
        let age = (i * 37) % 500;
        let published = rfc3339(now - age * NS_PER_DAY - 60_000_000_000);
        let pkg = ["front", "back", "inner"][(i % 3) as usize];
        let fixed = (i % 4 != 1).then_some("2.0.0");
        let rec = osv_record(&format!("MIX-{i:03}"), &published, "crates.io", pkg, fixed);
        db.add_json(Path::new(&format!("MIX-{i}.json")), rec.as_bytes())
            .unwrap();
    }
    let inv = inventory(
        vec![
            package("crates.io", "front", "1.0.0"),
            package("crates.io", "back", "1.0.0"),
            package("crates.io", "inner", "1.0.0"),
        ],
        vec![
            listener("203.0.114.1", 80, &[0, 1]),
            listener("10.1.2.3", 5432, &[1, 2]),
            listener("127.0.0.1", 9000, &[2]),
        ],
        HostAge::default(),
    );
    let t = now_time(now);
    let full = exposure(&inv, &db, &RiskConfig::default(), "h", "h", t);
    assert!(full.chains.len() > 4 && full.oldest_not_exposed.is_some(), "{full:?}");
    for max in [0, 1, 3] {
        let short = exposure_up_to(&inv, &db, &RiskConfig::default(), "h", "h", t, max);
        assert_eq!(short.chains, full.chains[..max].to_vec(), "max {max}");
        assert_eq!(short.chains_total, full.chains_total);
        assert_eq!(short.oldest, full.oldest);
        assert_eq!(short.oldest_with_fix, full.oldest_with_fix);
        assert_eq!(short.oldest_without_fix, full.oldest_without_fix);
        assert_eq!(short.oldest_not_exposed, full.oldest_not_exposed);
        assert_eq!(short.listeners, full.listeners);
    }
}
