//! Inventories are outside input (a compromised host writes what it likes): arbitrary package indexes,
//! addresses and host-age values never panic, and chains only name packages that exist.

mod common;

use common::*;
use proptest::prelude::*;
use weir_event::{HostAge, Inventory, Listener, Loaded, Package};
use weir_risk::exposure::exposure;
use weir_risk::{RiskConfig, RiskStore};
use weir_vuln::{Policy, VulnDb};

fn small_db() -> VulnDb {
    let mut db = VulnDb::new(Policy::default());
    for (i, name) in ["a", "b"].iter().enumerate() {
        let rec = osv_record(
            &format!("P-{i}"),
            "2020-01-01T00:00:00Z",
            "crates.io",
            name,
            Some("2.0.0"),
        );
        db.add_json(std::path::Path::new("p.json"), rec.as_bytes()).unwrap();
    }
    db
}

fn arb_inventory() -> impl Strategy<Value = Inventory> {
    let pkg = (
        prop_oneof!["a", "b", "\\PC{0,8}"],
        "\\PC{0,8}",
        prop_oneof!["crates.io", "\\PC{0,6}"],
    )
        .prop_map(|(name, version, eco)| Package {
            ecosystem: eco,
            name,
            version,
            ..Package::default()
        });
    let loaded = (any::<u32>(), 0u32..6, any::<bool>()).prop_map(|(raw, small, use_small)| Loaded {
        path: "/x".into(),
        package_index: if use_small { small } else { raw },
    });
    let addr = prop_oneof!["0.0.0.0", "::", "203.0.114.1", "10.0.0.1", "127.0.0.1", "\\PC{0,20}"];
    let listener =
        (addr, any::<u32>(), proptest::collection::vec(loaded, 0..8)).prop_map(|(address, port, loaded)| Listener {
            address,
            port,
            loaded,
            ..Listener::default()
        });
    let age = (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        "\\PC{0,4}",
    )
        .prop_map(|(a, b, c, d, ro, mid)| HostAge {
            rootfs_created_ns: a,
            machine_id_birth_ns: b,
            installer_log_ns: c,
            boot_time_ns: d,
            rootfs_read_only: ro,
            machine_id_hash: mid,
            ..HostAge::default()
        });
    (
        proptest::collection::vec(pkg, 0..6),
        proptest::collection::vec(listener, 0..4),
        proptest::option::of(age),
    )
        .prop_map(|(packages, listeners, age)| Inventory {
            packages,
            listeners,
            age,
            ..Inventory::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_inventories_never_panic(first in arb_inventory(), second in arb_inventory(), enrolled in any::<u64>()) {
        let db = small_db();
        let cfg = RiskConfig::default();
        let now = now_ns();
        let e = exposure(&first, &db, &cfg, "h", "h", time::OffsetDateTime::now_utc());
        for c in &e.chains {
            prop_assert!(first.packages.iter().any(|p| p.name == c.package && p.version == c.version));
        }
        let tmp = tempfile::tempdir().unwrap();
        let store = RiskStore::open_in(tmp.path()).unwrap();
        store.ingest("h", "h", enrolled, &first, now, &cfg).unwrap();
        store.ingest("h", "h", enrolled, &second, now + 1, &cfg).unwrap();
        let r = store.host_risk("h", &db, &cfg, now + 2).unwrap().unwrap();
        prop_assert!(r.reverse_uptime.effective_install_unix_ns <= now);
        let f = store.fleet(&db, &cfg, now + 2).unwrap();
        prop_assert_eq!(f.hosts, 1);
    }
}
