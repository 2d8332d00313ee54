//! `weir vulndb import` and `weir metrics` through the real binary: the RustSec corpus imported, a host
//! inventory stored the way the collector stores it, then the fleet summary and the host's full chains.

use std::path::Path;
use std::process::Command;

use weir_event::{HostAge, Inventory, Listener, Loaded, Package};
use weir_risk::{RiskConfig, RiskStore};

const WEIR: &str = env!("CARGO_BIN_EXE_weir");
const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

fn weir(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(WEIR)
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("weir runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Whole days from an RFC 3339 UTC time (`2021-01-08T12:00:00Z`) to `now_ns`.
fn days_since(rfc3339: &str, now_ns: u64) -> i64 {
    let n = |r: std::ops::Range<usize>| rfc3339[r].parse::<i64>().unwrap();
    let secs = days_from_civil(n(0..4), n(5..7), n(8..10)) * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    (now_ns as i64 / 1_000_000_000 - secs).div_euclid(86_400)
}

#[test]
fn vulndb_import_then_metrics_for_the_fleet_and_one_host() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/osv/crates.io/crates");
    assert!(corpus.is_dir(), "OSV corpus missing at {}", corpus.display());
    let files = std::fs::read_dir(&corpus)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();

    let (code, out, err) = weir(data, &["vulndb", "import", corpus.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{files} records read, {files} stored")), "{out}");
    let (code, out, _) = weir(data, &["vulndb", "stats"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{files} advisories")), "{out}");

    // The collector's side: an inventory with smallvec 1.6.0 loaded by a public listener.
    let now = now_ns();
    let inv = Inventory {
        packages: vec![Package {
            ecosystem: "crates.io".into(),
            name: "smallvec".into(),
            version: "1.6.0".into(),
            location: "/srv/app/Cargo.lock".into(),
            ..Package::default()
        }],
        listeners: vec![Listener {
            protocol: "tcp".into(),
            address: "203.0.114.10".into(),
            port: 443,
            pid: 777,
            entity_id: "777:1".into(),
            executable: "/srv/app/server".into(),
            loaded: vec![Loaded {
                path: "/srv/app/server".into(),
                package_index: 0,
            }],
            ..Listener::default()
        }],
        age: Some(HostAge {
            machine_id_hash: "aa".into(),
            rootfs_created_ns: now - 5 * NS_PER_DAY,
            ..HostAge::default()
        }),
        reason: "periodic".into(),
        ..Inventory::default()
    };
    let store = RiskStore::open_in(data).unwrap();
    store
        .ingest(
            "host-id-1",
            "web-1",
            now - 60 * NS_PER_DAY,
            &inv,
            now,
            &RiskConfig::default(),
        )
        .unwrap();
    drop(store);

    let published: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus.join("RUSTSEC-2021-0003.json")).unwrap()).unwrap();
    let age = days_since(published["published"].as_str().unwrap(), now_ns());

    let (code, out, err) = weir(data, &["metrics"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Oldest exposed vulnerability"), "{out}");
    assert!(out.contains("web-1"), "{out}");
    assert!(out.contains("Thresholds crossed"), "{out}");

    let (code, out, err) = weir(data, &["metrics", "host", "web-1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Host web-1 (host-id-1)"), "{out}");
    assert!(
        out.contains(&format!(
            "{age:>5} d EXPOSED  tcp:203.0.114.10:443 -> pid 777 /srv/app/server -> /srv/app/server -> crates.io smallvec 1.6.0 -> RUSTSEC-2021-0003"
        )),
        "{out}"
    );
    assert!(out.contains("Reverse uptime: 60 d"), "{out}");
    assert!(out.contains("FLAG claims_fresher_than_first_seen"), "{out}");

    let (code, out, _) = weir(data, &["metrics", "host", "host-id-1", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["reverse_uptime"]["days"], 60);
    let chains = v["exposure"]["chains"].as_array().unwrap();
    let c = chains.iter().find(|c| c["advisory_id"] == "RUSTSEC-2021-0003").unwrap();
    assert_eq!(c["age_days"], age);
    assert_eq!(c["fixed_versions"][0], "1.6.1");

    let (code, out, _) = weir(data, &["metrics", "--json", "--record"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["fleet"]["hosts"], 1);
    let (_, out, _) = weir(data, &["metrics", "series", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (code, _, err) = weir(data, &["metrics", "host", "nobody"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown host"), "{err}");
}
