//! OSV matching on hand-written records: range events, explicit versions, ecosystems, exclusions,
//! disclosure dates across aliases, the oldest exposure, and loader errors.

use std::path::Path;

use proptest::prelude::*;
use weir_vuln::range::RangeSkip;
use weir_vuln::{DateTime, DisclosureBasis, Excluded, LoadError, MinorDistroPolicy, Package, Policy, VulnDb};

fn ts(s: &str) -> DateTime {
    DateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

fn record(id: &str, published: &str, ecosystem: &str, name: &str, ranges: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","modified":"2024-01-01T00:00:00Z","published":"{published}"{extra},
            "affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"{name}"}},"ranges":{ranges}}}]}}"#
    )
}

fn db_of(records: &[String]) -> VulnDb {
    let mut db = VulnDb::new(Policy::default());
    for (i, r) in records.iter().enumerate() {
        db.add_json(Path::new(&format!("fixture-{i}.json")), r.as_bytes())
            .unwrap_or_else(|e| panic!("fixture {i} should load: {e}"));
    }
    db
}

fn ids(db: &VulnDb, eco: &str, name: &str, version: &str) -> Vec<String> {
    let mut v: Vec<String> = db
        .affecting(eco, name, version)
        .into_iter()
        .map(|a| a.id.clone())
        .collect();
    v.sort();
    v
}

fn affected(db: &VulnDb, eco: &str, name: &str, version: &str) -> bool {
    !ids(db, eco, name, version).is_empty()
}

#[test]
fn introduced_fixed_and_last_affected() {
    let db = db_of(&[
        record(
            "A-1",
            "2020-01-01T00:00:00Z",
            "crates.io",
            "foo",
            r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]"#,
            "",
        ),
        record(
            "A-2",
            "2020-01-01T00:00:00Z",
            "crates.io",
            "bar",
            r#"[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.5.0"}]}]"#,
            "",
        ),
    ]);
    assert!(affected(&db, "crates.io", "foo", "0.0.1"));
    assert!(affected(&db, "crates.io", "foo", "0.9.9"));
    assert!(affected(&db, "crates.io", "foo", "1.0.0-rc.1"));
    assert!(!affected(&db, "crates.io", "foo", "1.0.0"));
    assert!(!affected(&db, "crates.io", "foo", "1.0.1"));
    assert!(!affected(&db, "crates.io", "bar", "0.9.0"));
    assert!(affected(&db, "crates.io", "bar", "1.0.0"));
    assert!(affected(&db, "crates.io", "bar", "1.5.0"));
    assert!(!affected(&db, "crates.io", "bar", "1.5.1"));
    // Other package names, other ecosystems: nothing.
    assert!(!affected(&db, "crates.io", "foo2", "0.1.0"));
    assert!(!affected(&db, "npm", "foo", "0.1.0"));
    // Fixed version reported for the exposure.
    let m = db.matches("crates.io", "foo", "0.5.0");
    assert_eq!(m[0].fixed.as_deref(), Some("1.0.0"));
    assert_eq!(db.matches("crates.io", "bar", "1.2.0")[0].fixed, None);
}

#[test]
fn several_intervals_in_one_range_and_unsorted_events() {
    let db = db_of(&[record(
        "B-1",
        "2020-01-01T00:00:00Z",
        "npm",
        "lib",
        r#"[{"type":"SEMVER","events":[{"fixed":"2.3.0"},{"introduced":"2.0.0"},{"fixed":"1.2.0"},{"introduced":"1.0.0"}]}]"#,
        "",
    )]);
    for (v, want) in [
        ("0.9.0", false),
        ("1.0.0", true),
        ("1.1.9", true),
        ("1.2.0", false),
        ("1.9.9", false),
        ("2.0.0", true),
        ("2.2.9", true),
        ("2.3.0", false),
        ("3.0.0", false),
    ] {
        assert_eq!(affected(&db, "npm", "lib", v), want, "lib {v}");
    }
    assert_eq!(db.matches("npm", "lib", "2.1.0")[0].fixed.as_deref(), Some("2.3.0"));
    assert_eq!(db.matches("npm", "lib", "1.1.0")[0].fixed.as_deref(), Some("1.2.0"));
}

#[test]
fn multiple_ranges_limit_and_explicit_versions() {
    let db = db_of(&[
        record(
            "C-1",
            "2020-01-01T00:00:00Z",
            "PyPI",
            "Some_Lib.Name",
            r#"[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.4"}]},
                {"type":"ECOSYSTEM","events":[{"introduced":"2.0.0rc1"},{"fixed":"2.1.post1"}]}]"#,
            "",
        ),
        record(
            "C-2",
            "2020-01-01T00:00:00Z",
            "Go",
            "example.com/m",
            r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"2.0.0"}]}]"#,
            "",
        ),
        r#"{"id":"C-3","published":"2020-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"other"},
            "versions":["1.0.1","1.0.3"]}]}"#
            .to_string(),
    ]);
    // PyPI: PEP 503 name normalisation, PEP 440 order.
    assert!(affected(&db, "PyPI", "some-lib-name", "1.3"));
    assert!(affected(&db, "PyPI", "SOME.LIB_NAME", "1.4rc1"));
    assert!(!affected(&db, "PyPI", "some-lib-name", "1.4"));
    assert!(!affected(&db, "PyPI", "some-lib-name", "2.0.0b9"));
    assert!(affected(&db, "PyPI", "some-lib-name", "2.0rc1"));
    assert!(affected(&db, "PyPI", "some-lib-name", "2.1"));
    assert!(affected(&db, "PyPI", "some-lib-name", "2.1.post0"));
    assert!(!affected(&db, "PyPI", "some-lib-name", "2.1.post1"));
    // limit: everything at or above it is unaffected.
    assert!(affected(&db, "Go", "example.com/m", "v1.9.9"));
    assert!(!affected(&db, "Go", "example.com/m", "v2.0.0"));
    // Explicit list, compared by the ecosystem's order.
    assert!(affected(&db, "PyPI", "other", "1.0.1"));
    assert!(affected(&db, "PyPI", "other", "1.0.3.0"));
    assert!(!affected(&db, "PyPI", "other", "1.0.2"));
}

#[test]
fn go_ranges_take_module_versions_pseudo_versions_and_toolchains() {
    let db = db_of(&[
        record(
            "GO-1",
            "2021-04-14T20:04:52Z",
            "Go",
            "github.com/gin-gonic/gin",
            r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.6.0"}]}]"#,
            "",
        ),
        record(
            "GO-2",
            "2023-01-01T00:00:00Z",
            "Go",
            "stdlib",
            r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.20.14"},{"introduced":"1.21.0-0"},{"fixed":"1.21.7"}]}]"#,
            "",
        ),
        record(
            "GO-3",
            "2023-01-01T00:00:00Z",
            "Go",
            "github.com/docker/docker",
            r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"20.10.11+incompatible"}]}]"#,
            "",
        ),
    ]);
    assert!(affected(&db, "Go", "github.com/gin-gonic/gin", "v1.5.0"));
    assert!(affected(
        &db,
        "Go",
        "github.com/gin-gonic/gin",
        "v1.5.1-0.20200101000000-abcdefabcdef"
    ));
    assert!(!affected(&db, "Go", "github.com/gin-gonic/gin", "v1.6.0"));
    assert!(affected(&db, "Go", "stdlib", "go1.20.13"));
    assert!(!affected(&db, "Go", "stdlib", "go1.20.14"));
    assert!(affected(&db, "Go", "stdlib", "go1.21rc2"));
    assert!(affected(&db, "Go", "stdlib", "v1.21.6"));
    assert!(!affected(&db, "Go", "stdlib", "go1.21.7"));
    assert!(affected(
        &db,
        "Go",
        "github.com/docker/docker",
        "v20.10.10+incompatible"
    ));
    assert!(!affected(
        &db,
        "Go",
        "github.com/docker/docker",
        "v20.10.11+incompatible"
    ));
}

#[test]
fn debian_ecosystem_ranges_use_dpkg_order() {
    let db = db_of(&[record(
        "DSA-1",
        "2024-01-01T00:00:00Z",
        "Debian:12",
        "openssl",
        r#"[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]"#,
        "",
    )]);
    assert!(affected(&db, "Debian:12", "openssl", "3.0.11-1~deb12u1"));
    assert!(affected(&db, "Debian:12", "openssl", "3.0.9-1"));
    assert!(!affected(&db, "Debian:12", "openssl", "3.0.11-1~deb12u2"));
    assert!(!affected(&db, "Debian:12", "openssl", "3.0.13-1~deb12u1"));
    assert!(!affected(&db, "Debian:11", "openssl", "1.1.1n-0"));
}

#[test]
fn git_and_unknown_ecosystem_ranges_are_skipped_with_a_reason() {
    let mut db = VulnDb::new(Policy::default());
    let notes = db
        .add_json(
            Path::new("g.json"),
            record(
                "G-1",
                "2020-01-01T00:00:00Z",
                "crates.io",
                "g",
                r#"[{"type":"GIT","repo":"https://example.com/g","events":[{"introduced":"0"},{"fixed":"abc123"}]}]"#,
                "",
            )
            .as_bytes(),
        )
        .unwrap();
    assert_eq!(notes.len(), 1);
    assert!(
        matches!(&notes[0].skip, RangeSkip::Unsupported(r) if r.contains("GIT")),
        "{notes:?}"
    );
    assert!(!affected(&db, "crates.io", "g", "0.1.0"));

    let notes = db
        .add_json(Path::new("u.json"), r#"{"id":"U-1","published":"2020-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Hackage","name":"h"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2"}]}],"versions":["1.0"]}]}"#.as_bytes())
        .unwrap();
    assert!(
        matches!(&notes[0].skip, RangeSkip::Unsupported(r) if r.contains("Hackage")),
        "{notes:?}"
    );
    // Unknown ecosystem: the explicit list still matches by text.
    assert!(affected(&db, "Hackage", "h", "1.0"));
    assert!(!affected(&db, "Hackage", "h", "1.1"));

    // A malformed range is reported with its field and left out; the record still loads.
    let notes = db
        .add_json(
            Path::new("m.json"),
            record(
                "M-1",
                "2020-01-01T00:00:00Z",
                "crates.io",
                "m",
                r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"one.two"}]},
                {"type":"SEMVER","events":[{"introduced":"2.0.0"}]}]"#,
                "",
            )
            .as_bytes(),
        )
        .unwrap();
    assert!(
        matches!(&notes[0].skip, RangeSkip::Invalid { field, .. } if field == "events[1].fixed"),
        "{notes:?}"
    );
    assert_eq!(notes[0].field, "affected[0].ranges[0]");
    let dir = std::env::temp_dir().join(format!("weir-vuln-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("m.json"),
        record(
            "M-1",
            "2020-01-01T00:00:00Z",
            "crates.io",
            "m",
            r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"one.two"}]}]"#,
            "",
        ),
    )
    .unwrap();
    std::fs::write(dir.join("bad.json"), "{").unwrap();
    std::fs::write(dir.join("ignored.txt"), "{").unwrap();
    let (db2, report) = VulnDb::load_dir(&[&dir]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        (report.files, report.loaded, report.failures.len(), db2.len()),
        (2, 1, 1, 1)
    );
    let text = report.to_string();
    assert!(
        text.starts_with(
            "2 files, 1 advisories loaded, 1 failed, 0 ranges not evaluated by design, 1 malformed ranges left out"
        ),
        "{text}"
    );
    assert!(text.contains("bad.json: line 1"), "{text}");
    assert!(
        text.contains("M-1: affected[0].ranges[0].events[1].fixed: invalid SemVer version \"one.two\""),
        "{text}"
    );
    assert!(!affected(&db, "crates.io", "m", "1.0.0"));
    assert!(affected(&db, "crates.io", "m", "2.1.0"));
}

#[test]
fn withdrawn_informational_and_minor_distro_ratings_do_not_count() {
    let r = r#"[{"type":"SEMVER","events":[{"introduced":"0"}]}]"#;
    let recs = vec![
        record(
            "W-1",
            "2015-01-01T00:00:00Z",
            "crates.io",
            "w",
            r,
            r#","withdrawn":"2016-01-01T00:00:00Z""#,
        ),
        format!(
            r#"{{"id":"I-1","published":"2015-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"crates.io","name":"w"}},
            "ranges":{r},"database_specific":{{"informational":"unmaintained"}}}}]}}"#
        ),
        format!(
            r#"{{"id":"DEB-1","published":"2005-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"Debian:12","name":"bash"}},
            "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}],"ecosystem_specific":{{"urgency":"unimportant"}}}}]}}"#
        ),
        format!(
            r#"{{"id":"UBU-1","published":"2006-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"Ubuntu:22.04:LTS","name":"bash"}},
            "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}]}}],"severity":[],
            "affected_severity_unused":1}}"#
        ),
        format!(
            r#"{{"id":"UBU-2","published":"2007-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"Ubuntu:22.04:LTS","name":"zsh"}},
            "severity":[{{"type":"Ubuntu","score":"negligible"}}],
            "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}]}}]}}"#
        ),
        record("V-1", "2019-01-01T00:00:00Z", "crates.io", "w", r, ""),
        format!(
            r#"{{"id":"DEB-2","published":"2008-01-01T00:00:00Z","affected":[{{"package":{{"ecosystem":"Debian:12","name":"curl"}},
            "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}],"ecosystem_specific":{{"urgency":"low","nodsa":"Minor issue"}}}}]}}"#
        ),
    ];
    let mut db = db_of(&recs);
    assert_eq!(ids(&db, "crates.io", "w", "1.0.0"), vec!["V-1"]);
    let all = db.matches("crates.io", "w", "1.0.0");
    assert_eq!(all.len(), 3);
    let reason = |id: &str| all.iter().find(|m| m.advisory.id == id).unwrap().excluded.clone();
    assert_eq!(reason("W-1"), Some(Excluded::Withdrawn));
    assert_eq!(reason("I-1"), Some(Excluded::Informational("unmaintained".into())));
    assert_eq!(reason("V-1"), None);

    // Default policy: distro "unimportant"/"negligible" excluded, with the field named.
    assert!(ids(&db, "Debian:12", "bash", "5.2.15-2").is_empty());
    let m = db.matches("Debian:12", "bash", "5.2.15-2");
    assert!(
        matches!(&m[0].excluded, Some(Excluded::MinorDistroRating { field, value })
        if field == "affected[0].ecosystem_specific.urgency" && value == "unimportant"),
        "{m:?}"
    );
    assert!(m[0].excluded.as_ref().unwrap().to_string().contains("unimportant"));
    assert!(ids(&db, "Ubuntu:22.04:LTS", "zsh", "5.8").is_empty());
    let m = db.matches("Debian:12", "curl", "7.88.1-10+deb12u5");
    assert_eq!(
        m[0].excluded,
        Some(Excluded::MinorDistroRating {
            field: "affected[0].ecosystem_specific.nodsa".into(),
            value: "no-dsa: Minor issue".into()
        })
    );
    assert_eq!(ids(&db, "Ubuntu:22.04:LTS", "bash", "5.1"), vec!["UBU-1"]);
    db.set_policy(Policy {
        minor_distro: MinorDistroPolicy::Include,
    });
    assert_eq!(ids(&db, "Debian:12", "bash", "5.2.15-2"), vec!["DEB-1"]);
    assert_eq!(ids(&db, "Ubuntu:22.04:LTS", "zsh", "5.8"), vec!["UBU-2"]);
    // Withdrawn and informational never count, whatever the distro policy.
    assert_eq!(ids(&db, "crates.io", "w", "1.0.0"), vec!["V-1"]);
}

#[test]
fn disclosure_is_the_earliest_published_across_linked_records() {
    let r = r#"[{"type":"SEMVER","events":[{"introduced":"0"}]}]"#;
    let db = db_of(&[
        record("A", "2020-05-01T00:00:00Z", "crates.io", "a", r, r#","aliases":["B","CVE-NOT-LOADED"]"#),
        record("B", "2019-03-01T00:00:00Z", "npm", "b", r, ""),
        // withdrawn record naming A: ignored even though older
        record("C", "2010-01-01T00:00:00Z", "npm", "c", r, r#","aliases":["A"],"withdrawn":"2011-01-01T00:00:00Z""#),
        // D names E as upstream; E is older
        record("D", "2022-01-01T00:00:00Z", "Debian:12", "d", r#"[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]"#,
            r#","upstream":["E"]"#),
        record("E", "2018-07-01T12:00:00Z", "npm", "e", r, ""),
        // F is named by G (reverse link); G is older
        record("F", "2021-01-01T00:00:00Z", "npm", "f", r, ""),
        record("G", "2017-01-01T00:00:00Z", "npm", "g", r, r#","aliases":["F"]"#),
        // no published at all
        r#"{"id":"H","affected":[{"package":{"ecosystem":"npm","name":"h"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#.into(),
    ]);
    let at = |id: &str| db.disclosed_at(db.get(id).unwrap());
    assert_eq!(
        db.disclosure(db.get("D").unwrap()).unwrap().1,
        DisclosureBasis::Published { id: "E".into() },
        "the date names the record it comes from"
    );
    assert_eq!(at("A"), Some(ts("2019-03-01T00:00:00Z")));
    assert_eq!(
        at("B"),
        Some(ts("2019-03-01T00:00:00Z")),
        "B is named by A: same vulnerability"
    );
    assert_eq!(at("D"), Some(ts("2018-07-01T12:00:00Z")));
    assert_eq!(at("F"), Some(ts("2017-01-01T00:00:00Z")));
    assert_eq!(at("H"), None);

    let now = ts("2024-03-01T00:00:00Z");
    let inv = vec![
        Package::new("crates.io", "a", "1.0.0"),
        Package::new("npm", "f", "0.1.0"),
        Package::new("npm", "h", "1.0.0"),
    ];
    let e = db.oldest_exposure(&inv, now).unwrap();
    assert_eq!(e.advisory_id, "F");
    assert_eq!(e.disclosed, ts("2017-01-01T00:00:00Z"));
    assert_eq!(e.age_days, 2616); // 2017-01-01 .. 2024-03-01
    assert_eq!((e.package.as_str(), e.version.as_str()), ("f", "0.1.0"));
    assert_eq!(db.oldest_exposure(&inv[..1], now).unwrap().age_days, 1827); // 2019-03-01 .. 2024-03-01 (two Feb 29s)
    assert_eq!(db.oldest_exposure(&[Package::new("npm", "h", "1.0.0")], now), None);
    assert_eq!(db.oldest_exposure(&[], now), None);
    // Disclosed in the future relative to `now`: age 0, never negative.
    assert_eq!(
        db.oldest_exposure(&inv[..1], ts("2000-01-01T00:00:00Z"))
            .unwrap()
            .age_days,
        0
    );
}

#[test]
fn undated_records_fall_back_to_the_year_in_their_identifiers() {
    let r = r#"[{"type":"SEMVER","events":[{"introduced":"0"}]}]"#;
    let db = db_of(&[
        // Go's zero time means "not set".
        record(
            "GO-2022-0001",
            "0001-01-01T00:00:00Z",
            "Go",
            "m",
            r,
            r#","aliases":["GHSA-xxxx-yyyy-zzzz","CVE-2019-1234"]"#,
        ),
        record("GO-2023-0002", "0001-01-01T00:00:00Z", "Go", "n", r, ""),
        record(
            "GO-2023-0003",
            "0001-01-01T00:00:00Z",
            "Go",
            "o",
            r,
            r#","aliases":["OLD-1"]"#,
        ),
        record("OLD-1", "2015-06-01T00:00:00Z", "npm", "old", r, ""),
    ]);
    assert_eq!(db.get("GO-2022-0001").unwrap().published, None);
    let (at, basis) = db.disclosure(db.get("GO-2022-0001").unwrap()).unwrap();
    assert_eq!(
        (at, basis),
        (
            ts("2019-01-01T00:00:00Z"),
            DisclosureBasis::IdYear {
                id: "CVE-2019-1234".into()
            }
        )
    );
    assert_eq!(
        db.disclosed_at(db.get("GO-2023-0002").unwrap()),
        Some(ts("2023-01-01T00:00:00Z"))
    );
    // A real published date on a linked record wins over any estimate.
    assert_eq!(
        db.disclosure(db.get("GO-2023-0003").unwrap()).unwrap(),
        (
            ts("2015-06-01T00:00:00Z"),
            DisclosureBasis::Published { id: "OLD-1".into() }
        )
    );
    let e = db
        .oldest_exposure(&[Package::new("Go", "m", "v1.0.0")], ts("2024-01-01T00:00:00Z"))
        .unwrap();
    assert_eq!(
        (e.age_days, e.disclosure_basis),
        (
            1826,
            DisclosureBasis::IdYear {
                id: "CVE-2019-1234".into()
            }
        )
    );
}

#[test]
fn load_errors_name_the_file_and_field() {
    let mut db = VulnDb::new(Policy::default());
    let err = |db: &mut VulnDb, text: &str| db.add_json(Path::new("/data/X.json"), text.as_bytes()).unwrap_err();
    let e = err(&mut db, r#"{"id": 5}"#);
    assert!(
        matches!(&e, LoadError::Json { field, line: 1, .. } if field == "id"),
        "{e}"
    );
    assert!(e.to_string().starts_with("/data/X.json: line 1"), "{e}");
    let e = err(&mut db, r#"{"id":"X","affected":[{"package":{"ecosystem":"npm"}}]}"#);
    assert!(
        matches!(&e, LoadError::Json { field, .. } if field == "affected[0].package"),
        "{e}"
    );
    assert!(e.to_string().contains("name"), "{e}");
    let e = err(
        &mut db,
        "{\"id\":\"X\",\n\"affected\":[{\"ranges\":[{\"type\":\"SEMVER\",\"events\":[{\"introduced\":7}]}]}]}",
    );
    assert!(
        matches!(&e, LoadError::Json { field, line: 2, .. } if field == "affected[0].ranges[0].events[0].introduced"),
        "{e}"
    );
    let e = err(&mut db, r#"{"id":"X","published":"yesterday"}"#);
    assert!(
        matches!(&e, LoadError::Invalid { field, .. } if field == "published"),
        "{e}"
    );
    let e = err(&mut db, r#"{"id":"","published":"2020-01-01T00:00:00Z"}"#);
    assert!(matches!(&e, LoadError::Invalid { field, .. } if field == "id"), "{e}");
    let e = err(&mut db, r#"{"id":"X"} trailing"#);
    assert!(matches!(&e, LoadError::Json { .. }), "{e}");
    // Unknown fields and ecosystems are fine; a duplicate id is refused naming the first file.
    db.add_json(
        Path::new("/data/Y.json"),
        br#"{"id":"Y","new_field":{"x":1},"affected":[{"package":{"ecosystem":"NewEco:1","name":"p"}}]}"#,
    )
    .unwrap();
    let e = err(&mut db, r#"{"id":"Y"}"#);
    assert!(
        matches!(&e, LoadError::Duplicate { first, .. } if first == Path::new("/data/Y.json")),
        "{e}"
    );
    assert_eq!(db.len(), 1);
}

#[test]
fn index_and_linear_scan_agree() {
    let mut recs = Vec::new();
    for i in 0..60 {
        let name = format!("pkg{}", i % 7);
        recs.push(record(
            &format!("R-{i}"),
            "2020-01-01T00:00:00Z",
            "crates.io",
            &name,
            &format!(
                r#"[{{"type":"SEMVER","events":[{{"introduced":"0.{}.0"}},{{"fixed":"0.{}.0"}}]}}]"#,
                i % 5,
                i % 5 + 2
            ),
            "",
        ));
    }
    let db = db_of(&recs);
    for p in 0..8 {
        for minor in 0..8 {
            let (name, v) = (format!("pkg{p}"), format!("0.{minor}.3"));
            let mut a: Vec<_> = db
                .matches("crates.io", &name, &v)
                .iter()
                .map(|m| m.advisory.id.clone())
                .collect();
            let mut b: Vec<_> = db
                .matches_linear_scan("crates.io", &name, &v)
                .iter()
                .map(|m| m.advisory.id.clone())
                .collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{name} {v}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Arbitrary bytes never panic the loader; they load or fail with an error naming the file.
    #[test]
    fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut db = VulnDb::new(Policy::default());
        if let Err(e) = db.add_json(Path::new("fuzz.json"), &bytes) {
            prop_assert!(e.to_string().starts_with("fuzz.json"));
        }
    }

    /// Structurally plausible records with arbitrary strings in every field never panic, and matching
    /// whatever loaded never panics either.
    #[test]
    fn plausible_records_never_panic(
        eco in prop::sample::select(vec!["crates.io", "Go", "PyPI", "npm", "Debian:12", "Ubuntu:22.04", "X"]),
        kind in prop::sample::select(vec!["SEMVER", "ECOSYSTEM", "GIT", "??"]),
        keys in prop::collection::vec(prop::sample::select(vec!["introduced", "fixed", "last_affected", "limit"]), 0..5),
        vals in prop::collection::vec("[0-9a-z.~+:!-]{0,8}", 5),
        published in "[0-9TZ:-]{0,22}",
        probe in "[0-9a-z.~+:!-]{0,8}",
    ) {
        let events: Vec<String> = keys.iter().zip(&vals).map(|(k, v)| format!(r#"{{"{k}":"{v}"}}"#)).collect();
        let text = format!(
            r#"{{"id":"P","published":"{published}","affected":[{{"package":{{"ecosystem":"{eco}","name":"n"}},
               "ranges":[{{"type":"{kind}","events":[{}]}}],"versions":["{}"]}}]}}"#,
            events.join(","), vals[0]
        );
        let mut db = VulnDb::new(Policy::default());
        if db.add_json(Path::new("p.json"), text.as_bytes()).is_ok() {
            let _ = db.affecting(eco, "n", &probe);
            let _ = db.oldest_exposure(&[Package::new(eco, "n", &probe)], DateTime::UNIX_EPOCH);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The range algorithm against a brute-force model: disjoint intervals `[introduced, fixed)`, the last
    /// one possibly closed by `last_affected` (inclusive) or open-ended, events written in any order.
    #[test]
    fn ranges_agree_with_interval_model(
        mut points in prop::collection::btree_set(1u32..40, 1..9),
        zero_start in any::<bool>(),
        last in prop::sample::select(vec!["fixed", "last_affected", "open"]),
        order in prop::collection::vec(any::<u32>(), 10),
    ) {
        let mut pts: Vec<u32> = std::mem::take(&mut points).into_iter().collect();
        // Pairs (start, end); an odd count leaves the last interval to `last`.
        let mut events: Vec<(String, String)> = Vec::new();
        let mut intervals: Vec<(u32, Option<(u32, bool)>)> = Vec::new(); // (start, Some((end, inclusive)))
        if zero_start {
            pts.insert(0, 0);
        }
        let mut i = 0;
        while i < pts.len() {
            let start = pts[i];
            events.push(("introduced".into(), if start == 0 && zero_start { "0".into() } else { format!("0.{start}.0") }));
            match pts.get(i + 1) {
                Some(&end) if i + 2 < pts.len() || last == "fixed" => {
                    events.push(("fixed".into(), format!("0.{end}.0")));
                    intervals.push((start, Some((end, false))));
                }
                Some(&end) if last == "last_affected" => {
                    events.push(("last_affected".into(), format!("0.{end}.0")));
                    intervals.push((start, Some((end, true))));
                }
                Some(_) => {
                    intervals.push((start, None));
                    break;
                }
                None => intervals.push((start, None)),
            }
            i += 2;
        }
        // Shuffle the written order deterministically from `order`.
        let mut keyed: Vec<(u32, (String, String))> = events.into_iter().enumerate().map(|(j, e)| (order[j % order.len()].wrapping_add(j as u32), e)).collect();
        keyed.sort_by_key(|(k, _)| *k);
        let json: Vec<String> = keyed.iter().map(|(_, (k, v))| format!(r#"{{"{k}":"{v}"}}"#)).collect();
        let db = db_of(&[record("P-1", "2020-01-01T00:00:00Z", "crates.io", "p",
            &format!(r#"[{{"type":"SEMVER","events":[{}]}}]"#, json.join(",")), "")]);
        for v in 0..42u32 {
            let want = intervals.iter().any(|(s, e)| v >= *s && match e {
                None => true,
                Some((end, true)) => v <= *end,
                Some((end, false)) => v < *end,
            });
            prop_assert_eq!(affected(&db, "crates.io", "p", &format!("0.{v}.0")), want, "0.{}.0 with {:?}", v, intervals);
        }
    }
}
