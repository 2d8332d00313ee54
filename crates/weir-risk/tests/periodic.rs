//! The collector's timed run: breaches are new once per episode and reported cleared when gone; the
//! vulnerability database is reloaded only when an import changed it; today's point is stored.

mod common;

use common::*;
use weir_event::HostAge;
use weir_risk::{RiskConfig, RiskMetrics, VulnStore};

#[test]
fn breaches_are_raised_once_and_cleared_and_imports_are_picked_up() {
    let tmp = tempfile::tempdir().unwrap();
    let now = now_ns();
    let osv = tmp.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::write(
        osv.join("OLD-1.json"),
        osv_record(
            "OLD-1",
            &rfc3339(now - 100 * NS_PER_DAY),
            "crates.io",
            "web",
            Some("2.0.0"),
        ),
    )
    .unwrap();
    VulnStore::open_in(tmp.path())
        .unwrap()
        .import(&[&osv], &mut |_| {})
        .unwrap();

    let cfg = RiskConfig::default();
    let mut metrics = RiskMetrics::open(tmp.path(), cfg.clone()).unwrap();
    let host = |version: &str, pkg: &str| {
        inventory(
            vec![package("crates.io", pkg, version)],
            vec![listener("203.0.114.5", 443, &[0])],
            HostAge {
                rootfs_created_ns: now - 10 * NS_PER_DAY,
                ..HostAge::default()
            },
        )
    };
    let store = metrics.store();
    store
        .ingest("a", "web-a", now, &host("1.0.0", "web"), now, &cfg)
        .unwrap();
    store
        .ingest("b", "web-b", now, &host("1.5.0", "web"), now, &cfg)
        .unwrap();

    let t = metrics.tick(now).unwrap();
    assert!(t.vulndb_reloaded);
    assert_eq!(t.fleet.oldest_exposed_vuln.max, 100);
    assert_eq!(t.new_breaches.len(), 2, "{:?}", t.new_breaches);
    assert!(t
        .new_breaches
        .iter()
        .all(|b| b.metric == "oldest_exposed_vuln" && b.value_days == 100));

    let t = metrics.tick(now + 1).unwrap();
    assert!(!t.vulndb_reloaded);
    assert_eq!((t.breaches.len(), t.new_breaches.len()), (2, 0));

    // Host b upgrades: its breach clears.
    metrics
        .store()
        .ingest("b", "web-b", now, &host("2.0.0", "web"), now + 2, &cfg)
        .unwrap();
    let t = metrics.tick(now + 3).unwrap();
    assert_eq!(
        t.cleared,
        vec![("oldest_exposed_vuln".to_string(), Some("b".to_string()))]
    );
    assert!(t.new_breaches.is_empty());

    // A new advisory imported while running is picked up at the next run and breaches host b again.
    std::fs::write(
        osv.join("OLDER-2.json"),
        osv_record("OLDER-2", &rfc3339(now - 200 * NS_PER_DAY), "crates.io", "web", None),
    )
    .unwrap();
    VulnStore::open_in(tmp.path())
        .unwrap()
        .import(&[&osv], &mut |_| {})
        .unwrap();
    let t = metrics.tick(now + 4).unwrap();
    assert!(t.vulndb_reloaded);
    assert_eq!(t.fleet.oldest_exposed_vuln.max, 200);
    let new: Vec<_> = t.new_breaches.iter().map(|b| b.host_id.clone().unwrap()).collect();
    assert_eq!(new, vec!["b".to_string()]);
    assert!(metrics
        .prometheus_text()
        .contains("weir_risk_fleet_oldest_exposed_vuln_max 200\n"));
    assert_eq!(metrics.store().series(1, now + 4).unwrap().len(), 1);
}

#[test]
fn a_database_created_later_or_replaced_is_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let now = now_ns();
    let cfg = RiskConfig::default();
    let mut metrics = RiskMetrics::open(tmp.path(), cfg.clone()).unwrap();
    let inv = inventory(
        vec![package("crates.io", "web", "1.0.0")],
        vec![listener("203.0.114.5", 443, &[0])],
        HostAge::default(),
    );
    metrics.store().ingest("a", "web-a", now, &inv, now, &cfg).unwrap();
    let t = metrics.tick(now).unwrap();
    assert!(!t.vulndb_reloaded, "no database yet");
    assert_eq!(t.fleet.oldest_exposed_vuln.max, 0);

    let import = |id: &str, age_days: u64| {
        let osv = tmp.path().join(format!("osv-{id}"));
        std::fs::create_dir_all(&osv).unwrap();
        std::fs::write(
            osv.join(format!("{id}.json")),
            osv_record(id, &rfc3339(now - age_days * NS_PER_DAY), "crates.io", "web", None),
        )
        .unwrap();
        VulnStore::open_in(tmp.path())
            .unwrap()
            .import(&[&osv], &mut |_| {})
            .unwrap();
    };
    import("FIRST-1", 50);
    let t = metrics.tick(now + 1).unwrap();
    assert!(t.vulndb_reloaded);
    assert_eq!(t.fleet.oldest_exposed_vuln.max, 50);
    assert!(!metrics.tick(now + 2).unwrap().vulndb_reloaded);

    // The file is deleted and a new database written in its place: the new one is read, not the old file.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(tmp.path().join(format!("{}{suffix}", weir_risk::vulndb::VULNDB_FILE)));
    }
    import("SECOND-1", 20);
    let t = metrics.tick(now + 3).unwrap();
    assert!(t.vulndb_reloaded);
    assert_eq!(t.fleet.oldest_exposed_vuln.max, 20);
    assert!(!metrics.tick(now + 4).unwrap().vulndb_reloaded);
}
