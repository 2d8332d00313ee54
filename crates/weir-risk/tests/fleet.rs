//! Fleet aggregates over several real hosts in a real risk store: max, p95, histogram, SLO share, worst-N,
//! threshold breaches, Prometheus gauges, the daily series, and the collector sink.

mod common;

use std::path::Path;

use common::*;
use weir_event::{event::Body, Event, HostAge};
use weir_risk::{breaches, prometheus_text, RiskConfig, RiskSink, RiskStore, VulnStore};
use weir_vuln::{Policy, VulnDb};

/// Exposure ages (None: nothing exposed) and reverse uptimes of the test fleet, in days.
const EXPOSURE: [Option<u64>; 12] = [
    None,
    Some(2),
    Some(6),
    Some(7),
    Some(15),
    Some(29),
    Some(30),
    Some(45),
    Some(90),
    Some(91),
    Some(400),
    None,
];
const UPTIME: [u64; 12] = [1, 5, 10, 40, 60, 89, 90, 91, 120, 200, 365, 1000];

/// One advisory per host package, published `days` before `now`.
fn fleet_db(dir: &Path, now: u64) -> VulnDb {
    let osv = dir.join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    for (i, d) in EXPOSURE.iter().enumerate() {
        if let Some(d) = d {
            let published = rfc3339(now - d * NS_PER_DAY - 60_000_000_000);
            let fixed = (i % 2 == 0).then_some("9.0.0");
            std::fs::write(
                osv.join(format!("FLEET-{i}.json")),
                osv_record(
                    &format!("FLEET-{i}"),
                    &published,
                    "crates.io",
                    &format!("pkg-{i}"),
                    fixed,
                ),
            )
            .unwrap();
        }
    }
    let mut store = VulnStore::open_in(dir).unwrap();
    let r = store.import(&[&osv], &mut |_| {}).unwrap();
    assert!(r.failures.is_empty(), "{r}");
    store.load(Policy::default()).unwrap().0
}

fn fill(store: &RiskStore, now: u64) {
    for (i, uptime) in UPTIME.iter().enumerate() {
        let age = HostAge {
            rootfs_created_ns: now - uptime * NS_PER_DAY,
            ..HostAge::default()
        };
        let inv = inventory(
            vec![package("crates.io", &format!("pkg-{i}"), "1.0.0")],
            vec![listener("203.0.114.1", 443, &[0])],
            age,
        );
        store
            .ingest(
                &format!("id-{i:02}"),
                &format!("host-{i:02}"),
                now,
                &inv,
                now,
                &RiskConfig::default(),
            )
            .unwrap();
    }
    store.note_host("id-99", "no-inventory-yet", now, now).unwrap();
}

fn nearest_rank_p95(mut v: Vec<i64>) -> i64 {
    v.sort();
    let rank = (0.95 * v.len() as f64).ceil() as usize;
    v[rank - 1]
}

#[test]
fn fleet_aggregates_breaches_and_gauges() {
    let tmp = tempfile::tempdir().unwrap();
    let now = now_ns();
    let db = fleet_db(tmp.path(), now);
    let store = RiskStore::open_in(tmp.path()).unwrap();
    fill(&store, now);
    let cfg = RiskConfig::parse(
        "worst_n: 3\nslo_days: {oldest_exposed_vuln: 30, reverse_uptime: 90}\nalert: {fleet_p95_reverse_uptime_days: 100}\n",
        Path::new("risk.yaml"),
    )
    .unwrap();
    let f = store.fleet(&db, &cfg, now).unwrap();
    assert_eq!(f.hosts, EXPOSURE.len());
    assert_eq!(f.hosts_without_inventory, 1);

    let exposure: Vec<i64> = EXPOSURE.iter().map(|d| d.unwrap_or(0) as i64).collect();
    let e = &f.oldest_exposed_vuln;
    assert_eq!(e.max, *exposure.iter().max().unwrap());
    assert_eq!(e.p95, nearest_rank_p95(exposure.clone()));
    let count = |lo: i64, hi: i64| {
        EXPOSURE
            .iter()
            .flatten()
            .filter(|d| (lo..hi).contains(&(**d as i64)))
            .count()
    };
    assert_eq!(e.histogram.none, EXPOSURE.iter().filter(|d| d.is_none()).count());
    assert_eq!(e.histogram.under_7, count(0, 7));
    assert_eq!(e.histogram.from_7_to_30, count(7, 30));
    assert_eq!(e.histogram.from_30_to_90, count(30, 91));
    assert_eq!(e.histogram.over_90, count(91, i64::MAX));
    let within = exposure.iter().filter(|d| **d <= 30).count();
    assert_eq!(e.within_slo, within);
    assert!((e.share_within_slo - within as f64 / exposure.len() as f64).abs() < 1e-9);
    let worst: Vec<i64> = e.worst.iter().map(|w| w.days).collect();
    let mut expect = exposure.clone();
    expect.sort_by(|a, b| b.cmp(a));
    assert_eq!(worst, expect[..3].to_vec());
    assert_eq!(e.worst[0].host_name, "host-10");
    assert!(e.worst[0].detail.contains("FLEET-10") && e.worst[0].detail.contains("pkg-10"));

    let uptime: Vec<i64> = UPTIME.iter().map(|d| *d as i64).collect();
    let u = &f.reverse_uptime;
    assert_eq!(u.max, 1000);
    assert_eq!(u.p95, nearest_rank_p95(uptime.clone()));
    assert_eq!(u.within_slo, uptime.iter().filter(|d| **d <= 90).count());
    assert_eq!(u.worst[0].host_name, "host-11");

    // Breaches: hosts over 30 days of exposure, over 90 days of reverse uptime, and the fleet p95.
    let b = breaches(&f, &cfg);
    let of = |m: &str| b.iter().filter(|x| x.metric == m).count();
    assert_eq!(of("oldest_exposed_vuln"), exposure.iter().filter(|d| **d > 30).count());
    assert_eq!(of("reverse_uptime"), uptime.iter().filter(|d| **d > 90).count());
    assert_eq!(of("fleet_p95_reverse_uptime"), 1);
    assert_eq!(of("fleet_p95_oldest_exposed_vuln"), 0);
    assert_eq!(of("reverse_uptime_review"), 0);

    let text = prometheus_text(&f);
    assert!(
        text.contains("weir_risk_oldest_exposed_vuln_days{host=\"host-10\",host_id=\"id-10\"} 400\n"),
        "{text}"
    );
    assert!(text.contains("weir_risk_reverse_uptime_days{host=\"host-11\",host_id=\"id-11\"} 1000\n"));
    assert!(text.contains(&format!("weir_risk_fleet_oldest_exposed_vuln_p95 {}\n", e.p95)));
}

#[test]
fn daily_series_keeps_one_point_per_day() {
    let tmp = tempfile::tempdir().unwrap();
    let now = now_ns();
    let db = fleet_db(tmp.path(), now);
    let store = RiskStore::open_in(tmp.path()).unwrap();
    let cfg = RiskConfig::default();
    let yesterday = now - NS_PER_DAY;
    let empty = store.fleet(&db, &cfg, yesterday).unwrap();
    assert_eq!(store.record_daily(&empty).unwrap().hosts, 0);
    fill(&store, now);
    store
        .record_daily(&store.fleet(&db, &cfg, now - 1_000_000_000).unwrap())
        .unwrap();
    let today = store.record_daily(&store.fleet(&db, &cfg, now).unwrap()).unwrap();
    let series = store.series(7, now).unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].hosts, 0);
    assert_eq!(series[1], today);
    assert_eq!(series[1].reverse_uptime_max, 1000);
    assert_eq!(store.series(1, now).unwrap().len(), 1);
}

#[test]
fn the_sink_stores_inventories_from_event_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = RiskSink::start(tmp.path(), RiskConfig::default()).unwrap();
    let now = now_ns();
    let inv = inventory(
        vec![package("crates.io", "smallvec", "1.6.0")],
        vec![listener("203.0.114.1", 443, &[0])],
        HostAge {
            rootfs_created_ns: now - 30 * NS_PER_DAY,
            ..HostAge::default()
        },
    );
    let events = vec![
        Event {
            seq: 1,
            host_id: "h1".into(),
            host_name: "web-1".into(),
            body: Some(Body::Exit(Default::default())),
            ..Event::default()
        },
        Event {
            seq: 2,
            host_id: "h1".into(),
            host_name: "web-1".into(),
            body: Some(Body::Inventory(inv.clone())),
            ..Event::default()
        },
    ];
    sink.observe("h1", &events);
    assert_eq!(sink.counters().queued.load(std::sync::atomic::Ordering::Relaxed), 1);
    sink.close();
    let store = RiskStore::open_in(tmp.path()).unwrap();
    let hosts = store.hosts().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].host_id.as_str(), hosts[0].host_name.as_str()),
        ("h1", "web-1")
    );
    assert!(hosts[0].has_inventory);
    let r = store
        .host_risk("h1", &VulnDb::default(), &RiskConfig::default(), now)
        .unwrap()
        .unwrap();
    assert_eq!(r.packages, 1);
    assert_eq!(r.reverse_uptime.days, 30);
}
