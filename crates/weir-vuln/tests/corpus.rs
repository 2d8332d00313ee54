//! The real OSV corpora (RustSec crates.io and the Go vulnerability database): every record loads and
//! indexes, range boundaries behave on every record, and known vulnerable versions are found.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use weir_vuln::inventory::cargo_lock;
use weir_vuln::range::EventKind;
use weir_vuln::{DateTime, DisclosureBasis, Excluded, LoadReport, VulnDb};

fn corpus_dir(rel: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/osv")
        .join(rel);
    assert!(
        dir.is_dir(),
        "OSV corpus missing at {}: these tests need ../shared/corpora/osv (RustSec crates.io and Go vulndb OSV JSON) next to the repository",
        dir.display()
    );
    dir
}

fn json_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count()
}

fn load(rel: &str) -> (VulnDb, LoadReport) {
    let (db, report) = VulnDb::load_dir(&[corpus_dir(rel)]);
    println!("{rel}: {report}");
    (db, report)
}

fn both() -> &'static VulnDb {
    static DB: OnceLock<VulnDb> = OnceLock::new();
    DB.get_or_init(|| {
        let (db, report) = VulnDb::load_dir(&[corpus_dir("crates.io/crates"), corpus_dir("Go/data/osv")]);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        db
    })
}

fn ids(db: &VulnDb, eco: &str, name: &str, v: &str) -> Vec<String> {
    let mut ids: Vec<String> = db.affecting(eco, name, v).iter().map(|a| a.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn every_rustsec_record_loads() {
    let dir = corpus_dir("crates.io/crates");
    let (db, report) = load("crates.io/crates");
    assert!(report.failures.is_empty(), "failures: {:#?}", report.failures);
    assert_eq!(report.files, json_files(&dir));
    assert_eq!(report.loaded, report.files);
    assert_eq!(db.len(), report.files);
    assert!(
        report.files >= 1206,
        "expected the full RustSec corpus, found {}",
        report.files
    );
    assert_eq!(
        report.invalid_ranges().count(),
        0,
        "{:?}",
        report.invalid_ranges().collect::<Vec<_>>()
    );
}

#[test]
fn every_go_record_loads() {
    let dir = corpus_dir("Go/data/osv");
    let (db, report) = load("Go/data/osv");
    assert!(report.failures.is_empty(), "failures: {:#?}", report.failures);
    assert_eq!(report.files, json_files(&dir));
    assert_eq!(report.loaded, report.files);
    assert_eq!(db.len(), report.files);
    assert!(
        report.files >= 4291,
        "expected the full Go vulndb corpus, found {}",
        report.files
    );
    assert_eq!(
        report.invalid_ranges().count(),
        0,
        "{:?}",
        report.invalid_ranges().collect::<Vec<_>>()
    );
}

/// On every record: each `introduced` version is affected and each `fixed` version is outside its range;
/// each `last_affected` version is inside.
#[test]
fn range_boundaries_hold_on_every_record() {
    let db = both();
    let mut checked = 0usize;
    let mut violations = Vec::new();
    for adv in db.advisories() {
        for aff in &adv.affected {
            for r in &aff.ranges.ranges {
                for (kind, v) in r.events() {
                    if v == "0" {
                        continue;
                    }
                    let parsed = r.scheme.parse(v).unwrap();
                    let inside = r.contains(&parsed);
                    let same_as = |other: EventKind| {
                        r.events()
                            .any(|(k, w)| k == other && r.scheme.parse(w).is_ok_and(|x| x == parsed))
                    };
                    let want = match kind {
                        // `introduced: X, fixed: X` is an empty interval (RustSec writes these): the fix wins.
                        EventKind::Introduced => !same_as(EventKind::Fixed),
                        EventKind::LastAffected => true,
                        EventKind::Fixed => false,
                    };
                    if inside != want {
                        violations.push(format!("{} {} {kind:?} {v}", adv.id, aff.name));
                    }
                    checked += 1;
                }
            }
        }
    }
    println!("checked {checked} event boundaries");
    assert!(checked > 10_000, "only {checked} boundaries");
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn known_vulnerable_crate_versions_are_found_and_patched_ones_are_not() {
    let db = both();
    // RUSTSEC-2016-0001: openssl < 0.9.0; later openssl advisories are fixed by 0.10.48 .. 0.10.72.
    assert_eq!(
        ids(db, "crates.io", "openssl", "0.8.3"),
        [
            "RUSTSEC-2016-0001",
            "RUSTSEC-2023-0022",
            "RUSTSEC-2023-0023",
            "RUSTSEC-2023-0024",
            "RUSTSEC-2023-0044",
            "RUSTSEC-2024-0357",
            "RUSTSEC-2025-0004"
        ]
    );
    assert!(!ids(db, "crates.io", "openssl", "0.9.0").contains(&"RUSTSEC-2016-0001".to_string()));
    assert_eq!(
        ids(db, "crates.io", "openssl", "0.10.48"),
        [
            "RUSTSEC-2023-0044",
            "RUSTSEC-2024-0357",
            "RUSTSEC-2025-0004",
            "RUSTSEC-2025-0022"
        ]
    );
    assert!(ids(db, "crates.io", "openssl", "0.10.72").is_empty());
    // RUSTSEC-2023-0072 (unsound) matches but is informational.
    let m = db.matches("crates.io", "openssl", "0.10.48");
    let unsound = m
        .iter()
        .find(|m| m.advisory.id == "RUSTSEC-2023-0072")
        .expect("unsound advisory matches");
    assert_eq!(unsound.excluded, Some(Excluded::Informational("unsound".into())));
    // Multi-interval ranges (RUSTSEC-2018-0003, RUSTSEC-2021-0003).
    assert_eq!(ids(db, "crates.io", "smallvec", "0.3.3"), ["RUSTSEC-2018-0003"]);
    assert_eq!(ids(db, "crates.io", "smallvec", "0.6.12"), ["RUSTSEC-2021-0003"]);
    assert!(ids(db, "crates.io", "smallvec", "1.6.1").is_empty());
    assert_eq!(
        ids(db, "crates.io", "hyper", "0.10.1"),
        ["RUSTSEC-2017-0002", "RUSTSEC-2021-0078", "RUSTSEC-2021-0079"]
    );
    assert!(ids(db, "crates.io", "hyper", "0.10.2")
        .iter()
        .all(|i| i != "RUSTSEC-2017-0002"));
}

#[test]
fn known_vulnerable_go_modules_are_found_and_patched_ones_are_not() {
    let db = both();
    assert!(ids(db, "Go", "github.com/gin-gonic/gin", "v1.5.0").contains(&"GO-2020-0001".to_string()));
    assert!(!ids(db, "Go", "github.com/gin-gonic/gin", "v1.6.0").contains(&"GO-2020-0001".to_string()));
    // The standard library, as a binary's build info names it.
    let old = ids(db, "Go", "stdlib", "go1.20.1");
    assert!(
        old.len() > 20,
        "go1.20.1 should have many stdlib advisories, got {}",
        old.len()
    );
    // Withdrawn records match but never count.
    let m = db.matches("Go", "k8s.io/kubernetes", "v1.0.0");
    let w = m
        .iter()
        .find(|m| m.advisory.id == "GO-2022-0617")
        .expect("withdrawn record still matches");
    assert_eq!(w.excluded, Some(Excluded::Withdrawn));
    assert!(!ids(db, "Go", "k8s.io/kubernetes", "v1.0.0").contains(&"GO-2022-0617".to_string()));
}

#[test]
fn withdrawn_records_in_the_corpus_never_count() {
    let db = both();
    let withdrawn: Vec<_> = db.advisories().iter().filter(|a| a.withdrawn.is_some()).collect();
    // Counted independently from the raw JSON.
    let mut raw = 0;
    for dir in [corpus_dir("crates.io/crates"), corpus_dir("Go/data/osv")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            raw += v.get("withdrawn").is_some() as usize;
        }
    }
    assert_eq!(withdrawn.len(), raw);
    assert!(raw > 0);
    for a in withdrawn {
        for aff in &a.affected {
            for r in &aff.ranges.ranges {
                for (_, v) in r.events().filter(|(k, v)| *k == EventKind::Introduced && *v != "0") {
                    assert!(
                        !db.affecting(&aff.ecosystem, &aff.name, v).iter().any(|x| x.id == a.id),
                        "{} counted",
                        a.id
                    );
                }
            }
        }
    }
}

/// Every counted advisory gets a disclosure date; records with a real `published` time use it.
#[test]
fn every_record_has_a_disclosure_date() {
    let db = both();
    let (mut published, mut estimated) = (0, 0);
    for adv in db.advisories() {
        let (at, basis) = db
            .disclosure(adv)
            .unwrap_or_else(|| panic!("{} has no disclosure date", adv.id));
        match basis {
            DisclosureBasis::Published { .. } => {
                assert!(adv.published.is_none_or(|p| at <= p));
                published += 1;
            }
            DisclosureBasis::IdYear { .. } => {
                assert_eq!(adv.published, None, "{}", adv.id);
                estimated += 1;
            }
        }
    }
    println!("disclosure dates: {published} published, {estimated} estimated from identifier years");
    let gin = db.get("GO-2020-0001").unwrap();
    assert_eq!(
        db.disclosure(gin).unwrap().1,
        DisclosureBasis::Published {
            id: "GO-2020-0001".into()
        }
    );
}

#[test]
fn a_cargo_lock_with_a_known_bad_crate_gives_the_right_age() {
    let db = both();
    let lock = r#"# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 3

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "hyper",
 "openssl",
]

[[package]]
name = "hyper"
version = "0.10.1"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "0000000000000000000000000000000000000000000000000000000000000000"

[[package]]
name = "openssl"
version = "0.8.3"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
    let now = DateTime::parse("2026-11-27T00:00:00Z", &time::format_description::well_known::Rfc3339).unwrap();
    let pkgs = cargo_lock::to_packages(&cargo_lock::parse(lock, "Cargo.lock").unwrap(), "Cargo.lock");
    assert_eq!(pkgs.len(), 2, "the workspace crate is not a crates.io package");
    let e = db.oldest_exposure(&pkgs, now).unwrap();
    assert_eq!(e.advisory_id, "RUSTSEC-2016-0001");
    assert_eq!(
        (e.package.as_str(), e.version.as_str(), e.fixed.as_deref()),
        ("openssl", "0.8.3", Some("0.9.0"))
    );
    assert_eq!(e.age_days, 3673); // 2016-11-05T12:00Z .. 2026-11-27T00:00Z
    assert!(e.aliases.contains(&"CVE-2016-10931".to_string()));

    // Patch openssl: the oldest is now hyper's RUSTSEC-2017-0002 (published 2017-01-23T12:00Z).
    let patched = lock.replace("version = \"0.8.3\"", "version = \"0.10.72\"");
    let pkgs = cargo_lock::to_packages(&cargo_lock::parse(&patched, "Cargo.lock").unwrap(), "Cargo.lock");
    let e = db.oldest_exposure(&pkgs, now).unwrap();
    assert_eq!((e.advisory_id.as_str(), e.age_days), ("RUSTSEC-2017-0002", 3594));
    // Patch both: nothing left.
    let clean = patched.replace("version = \"0.10.1\"", "version = \"0.14.32\"");
    let pkgs = cargo_lock::to_packages(&cargo_lock::parse(&clean, "Cargo.lock").unwrap(), "Cargo.lock");
    assert_eq!(db.oldest_exposure(&pkgs, now), None);
}

/// The (ecosystem, package) index gives exactly what a scan of every record gives, for every package
/// in the corpus at every version its advisories name.
#[test]
fn index_agrees_with_a_linear_scan_on_the_corpus() {
    let db = both();
    let mut probes = std::collections::BTreeSet::new();
    for adv in db.advisories() {
        for aff in &adv.affected {
            for r in &aff.ranges.ranges {
                for (_, v) in r.events() {
                    probes.insert((aff.ecosystem.clone(), aff.name.clone(), v.to_string()));
                }
            }
        }
    }
    let mut checked = 0;
    for (i, (eco, name, v)) in probes.iter().enumerate() {
        if i % 5 != 0 {
            continue;
        }
        let mut a: Vec<&str> = db
            .matches(eco, name, v)
            .iter()
            .map(|m| m.advisory.id.as_str())
            .collect();
        let mut b: Vec<&str> = db
            .matches_linear_scan(eco, name, v)
            .iter()
            .map(|m| m.advisory.id.as_str())
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{eco} {name} {v}");
        checked += 1;
    }
    println!("{checked} lookups compared");
    assert!(checked > 1000);
}
