//! Helpers shared by the integration tests: corpus paths, inventories, listeners and synthetic OSV records.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use weir_event::{HostAge, Inventory, Listener, Loaded, Package};

pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

pub fn corpus_dir(rel: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/osv")
        .join(rel);
    assert!(
        dir.is_dir(),
        "OSV corpus missing at {}: these tests need ../shared/corpora/osv next to the repository",
        dir.display()
    );
    dir
}

pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// RFC 3339 of a unix time in nanoseconds.
pub fn rfc3339(ns: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ns as i128)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Whole days from an RFC 3339 time to `now_ns`.
pub fn days_since(rfc: &str, now_ns: u64) -> i64 {
    let t = time::OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339).unwrap();
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(now_ns as i128).unwrap();
    (now - t).whole_days()
}

/// `published` of a corpus record, read straight from its file.
pub fn published_of(path: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["published"].as_str().unwrap().to_string()
}

pub fn package(ecosystem: &str, name: &str, version: &str) -> Package {
    Package {
        ecosystem: ecosystem.into(),
        name: name.into(),
        version: version.into(),
        location: format!("/srv/app/{name}"),
        ..Package::default()
    }
}

/// A listener of process 4242 (`/srv/app/bin/server`) that loaded the given packages (by index).
pub fn listener(address: &str, port: u32, package_indexes: &[u32]) -> Listener {
    Listener {
        protocol: "tcp".into(),
        address: address.into(),
        port,
        netns: 4026531840,
        pid: 4242,
        entity_id: "4242:1700000000".into(),
        executable: "/srv/app/bin/server".into(),
        loaded: package_indexes
            .iter()
            .map(|&i| Loaded {
                path: format!("/srv/app/lib/lib{i}.so"),
                package_index: i,
            })
            .collect(),
    }
}

pub fn inventory(packages: Vec<Package>, listeners: Vec<Listener>, age: HostAge) -> Inventory {
    Inventory {
        packages,
        listeners,
        age: Some(age),
        scan_duration_us: 1000,
        reason: "periodic".into(),
        errors: vec![],
        addresses: vec![],
    }
}

/// A one-package OSV record (SEMVER range `introduced 0, fixed`), published at `published`.
pub fn osv_record(id: &str, published: &str, ecosystem: &str, name: &str, fixed: Option<&str>) -> String {
    let events = match fixed {
        Some(f) => format!(r#"[{{"introduced":"0"}},{{"fixed":"{f}"}}]"#),
        None => r#"[{"introduced":"0"}]"#.to_string(),
    };
    let kind = if ecosystem.starts_with("Debian") {
        "ECOSYSTEM"
    } else {
        "SEMVER"
    };
    format!(
        r#"{{"id":"{id}","modified":"2024-01-01T00:00:00Z","published":"{published}","aliases":["CVE-{id}"],
            "affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"{name}"}},"ranges":[{{"type":"{kind}","events":{events}}}]}}]}}"#
    )
}
