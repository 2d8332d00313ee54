//! Reverse uptime through the real risk store: the collector's first sighting wins over a fresher claim,
//! resets on a known identity and disagreeing signals are flagged, older inventories are ignored.

mod common;

use common::*;
use weir_event::HostAge;
use weir_risk::uptime::{FLAG_DISAGREE, FLAG_FRESHER, FLAG_NO_SIGNALS, FLAG_RESET};
use weir_risk::{IngestOutcome, RiskConfig, RiskStore};
use weir_vuln::VulnDb;

fn kinds(store: &RiskStore, host: &str, now: u64) -> (i64, u64, Vec<String>) {
    let r = store
        .host_risk(host, &VulnDb::default(), &RiskConfig::default(), now)
        .unwrap()
        .unwrap();
    let u = r.reverse_uptime;
    (
        u.days,
        u.effective_install_unix_ns,
        u.flags.into_iter().map(|f| f.kind).collect(),
    )
}

fn aged(rootfs_days_ago: u64, now: u64) -> HostAge {
    HostAge {
        machine_id_hash: "aa".into(),
        rootfs_created_ns: now - rootfs_days_ago * NS_PER_DAY,
        machine_id_birth_ns: now - rootfs_days_ago * NS_PER_DAY + 3_600_000_000_000,
        rootfs_type: "ext4".into(),
        ..HostAge::default()
    }
}

#[test]
fn consistent_signals_give_the_claim_with_no_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RiskStore::open_in(tmp.path()).unwrap();
    let now = now_ns();
    let cfg = RiskConfig::default();
    let enrolled = now - 100 * NS_PER_DAY;
    store
        .ingest(
            "h1",
            "web-1",
            enrolled,
            &inventory(vec![], vec![], aged(120, now)),
            now,
            &cfg,
        )
        .unwrap();
    let (days, effective, flags) = kinds(&store, "h1", now);
    assert_eq!(days, 120);
    assert_eq!(effective, now - 120 * NS_PER_DAY);
    assert!(flags.is_empty(), "{flags:?}");
}

#[test]
fn first_seen_wins_when_the_host_claims_to_be_fresher() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RiskStore::open_in(tmp.path()).unwrap();
    let now = now_ns();
    let enrolled = now - 200 * NS_PER_DAY;
    store
        .ingest(
            "h1",
            "web-1",
            enrolled,
            &inventory(vec![], vec![], aged(10, now)),
            now,
            &RiskConfig::default(),
        )
        .unwrap();
    let (days, effective, flags) = kinds(&store, "h1", now);
    assert_eq!(effective, enrolled);
    assert_eq!(days, 200);
    assert_eq!(flags, vec![FLAG_FRESHER.to_string()]);
}

#[test]
fn a_claimed_reset_on_a_known_identity_is_flagged_and_does_not_lower_the_age() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RiskStore::open_in(tmp.path()).unwrap();
    let now = now_ns();
    let cfg = RiskConfig::default();
    let first = now - 2 * NS_PER_DAY;
    store
        .ingest(
            "h1",
            "web-1",
            0,
            &inventory(vec![], vec![], aged(400, now)),
            first,
            &cfg,
        )
        .unwrap();
    assert!(kinds(&store, "h1", now).2.is_empty());
    // Same host id, new machine-id and a root filesystem "created" 5 days ago.
    let mut reset = aged(5, now);
    reset.machine_id_hash = "bb".into();
    let out = store
        .ingest(
            "h1",
            "web-1",
            0,
            &inventory(vec![], vec![], reset),
            now - NS_PER_DAY,
            &cfg,
        )
        .unwrap();
    let IngestOutcome::Stored { new_flags } = out else {
        panic!("stored")
    };
    assert_eq!(new_flags.len(), 2, "{new_flags:?}");
    assert!(new_flags[0].detail.contains("machine-id hash changed from aa to bb"));
    assert!(new_flags[1].detail.contains("claimed install moved later"));
    let (days, _, flags) = kinds(&store, "h1", now);
    assert_eq!(days, 400, "the earliest claim of the identity stands");
    assert!(flags.iter().any(|f| f == FLAG_RESET));
    // The reset flags are sticky: a later consistent inventory does not clear them.
    let mut later = aged(5, now);
    later.machine_id_hash = "bb".into();
    store
        .ingest("h1", "web-1", 0, &inventory(vec![], vec![], later), now, &cfg)
        .unwrap();
    assert!(kinds(&store, "h1", now).2.iter().any(|f| f == FLAG_RESET));
}

#[test]
fn disagreeing_and_missing_signals_are_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RiskStore::open_in(tmp.path()).unwrap();
    let now = now_ns();
    let cfg = RiskConfig::default();
    let mut odd = aged(3000, now);
    odd.machine_id_birth_ns = now - 10 * NS_PER_DAY;
    store
        .ingest("h1", "a", 0, &inventory(vec![], vec![], odd), now, &cfg)
        .unwrap();
    let (days, _, flags) = kinds(&store, "h1", now);
    assert_eq!(days, 3000);
    assert_eq!(flags, vec![FLAG_DISAGREE.to_string()]);

    let future = HostAge {
        rootfs_created_ns: now + 30 * NS_PER_DAY,
        ..HostAge::default()
    };
    store
        .ingest("h2", "b", 0, &inventory(vec![], vec![], future), now, &cfg)
        .unwrap();
    let (days, _, flags) = kinds(&store, "h2", now);
    assert_eq!(days, 0);
    assert!(
        flags.contains(&FLAG_DISAGREE.to_string()) && flags.contains(&FLAG_FRESHER.to_string()),
        "{flags:?}"
    );

    store
        .ingest(
            "h3",
            "c",
            now - 50 * NS_PER_DAY,
            &inventory(vec![], vec![], HostAge::default()),
            now,
            &cfg,
        )
        .unwrap();
    let (days, _, flags) = kinds(&store, "h3", now);
    assert_eq!(days, 50);
    assert_eq!(flags, vec![FLAG_NO_SIGNALS.to_string()]);

    // An immutable root with no install signal claims its boot time.
    let immutable = HostAge {
        rootfs_read_only: true,
        boot_time_ns: now - 3 * NS_PER_DAY,
        ..HostAge::default()
    };
    store
        .ingest(
            "h4",
            "d",
            now - 3 * NS_PER_DAY,
            &inventory(vec![], vec![], immutable),
            now,
            &cfg,
        )
        .unwrap();
    let r = store.host_risk("h4", &VulnDb::default(), &cfg, now).unwrap().unwrap();
    assert_eq!(r.reverse_uptime.days, 3);
    assert!(r.reverse_uptime.claim_basis.unwrap().starts_with("boot_time"));
    assert!(r.reverse_uptime.flags.is_empty());
}

#[test]
fn older_inventories_are_ignored_and_hosts_resolve_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = RiskStore::open_in(tmp.path()).unwrap();
    let now = now_ns();
    let cfg = RiskConfig::default();
    store
        .ingest("h1", "web-1", 0, &inventory(vec![], vec![], aged(10, now)), now, &cfg)
        .unwrap();
    let stale = store
        .ingest(
            "h1",
            "web-1",
            0,
            &inventory(vec![], vec![], aged(900, now)),
            now - NS_PER_DAY,
            &cfg,
        )
        .unwrap();
    assert_eq!(stale, IngestOutcome::Older);
    assert_eq!(store.resolve_host("web-1").unwrap(), "h1");
    assert_eq!(store.resolve_host("h1").unwrap(), "h1");
    assert!(store
        .resolve_host("nope")
        .unwrap_err()
        .to_string()
        .contains("unknown host"));
    store.note_host("h9", "new-1", now, now).unwrap();
    assert!(store.host_risk("h9", &VulnDb::default(), &cfg, now).unwrap().is_none());
}
