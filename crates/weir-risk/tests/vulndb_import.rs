//! `VulnStore` import: the real OSV corpora, osv-scanner `all.zip` archives, malformed records (named by
//! file or archive member, import continues), re-import by modified date, and arbitrary bytes.

mod common;

use std::io::Write;
use std::path::Path;

use common::{corpus_dir, osv_record};
use proptest::prelude::*;
use weir_risk::VulnStore;
use weir_vuln::Policy;

fn json_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count()
}

fn make_zip(path: &Path, members: &[(&str, &[u8])]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn every_corpus_record_imports_indexes_and_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = VulnStore::open_in(tmp.path()).unwrap();
    let crates = corpus_dir("crates.io/crates");
    let go = corpus_dir("Go/data/osv");
    let files = json_files(&crates) + json_files(&go);
    let mut last = None;
    let report = store.import(&[&crates, &go], &mut |p| last = Some(p)).unwrap();
    println!("{report}");
    assert!(report.failures.is_empty(), "{report}");
    assert_eq!(report.records, files);
    assert_eq!(report.stored, files);
    let last = last.unwrap();
    assert_eq!((last.done, last.total), (files, files));

    let stats = store.stats().unwrap();
    assert_eq!(stats.advisories as usize, files);
    let eco: std::collections::HashMap<_, _> = stats.by_ecosystem.iter().cloned().collect();
    assert_eq!(eco["crates.io"] as usize, json_files(&crates));
    assert!(eco["Go"] > 0);

    let (db, load) = store.load(Policy::default()).unwrap();
    assert!(load.failures.is_empty(), "{load}");
    assert_eq!(db.len(), files);
    assert!(store
        .ids_for("crates.io", "smallvec")
        .unwrap()
        .contains(&"RUSTSEC-2021-0003".to_string()));
    assert!(store.ids_for("crates.io", "no-such-crate-anywhere").unwrap().is_empty());

    // Importing the same records again replaces them in place.
    let again = store.import(&[&crates], &mut |_| {}).unwrap();
    assert_eq!(again.stored, json_files(&crates));
    assert_eq!(store.stats().unwrap().advisories as usize, files);
}

#[test]
fn reimport_keeps_the_later_modified_record() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = VulnStore::open(&tmp.path().join("vulndb")).unwrap();
    let write = |name: &str, modified: &str, summary: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let rec = format!(
            r#"{{"id":"X-1","modified":"{modified}","published":"2020-01-01T00:00:00Z","summary":"{summary}",
                "affected":[{{"package":{{"ecosystem":"crates.io","name":"a"}},"ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}}]}}]}}]}}"#
        );
        std::fs::write(dir.join("X-1.json"), rec).unwrap();
        dir
    };
    let summary = |store: &VulnStore| {
        store
            .load(Policy::default())
            .unwrap()
            .0
            .get("X-1")
            .unwrap()
            .summary
            .clone()
    };
    store
        .import(&[write("v2", "2024-06-01T00:00:00Z", "newer")], &mut |_| {})
        .unwrap();
    let r = store
        .import(&[write("v1", "2023-01-01T00:00:00Z", "older")], &mut |_| {})
        .unwrap();
    assert_eq!((r.stored, r.kept_newer), (0, 1));
    assert_eq!(summary(&store).as_deref(), Some("newer"));
    let r = store
        .import(&[write("v3", "2025-01-01T00:00:00Z", "newest")], &mut |_| {})
        .unwrap();
    assert_eq!((r.stored, r.kept_newer), (1, 0));
    assert_eq!(summary(&store).as_deref(), Some("newest"));
    assert_eq!(store.stats().unwrap().advisories, 1);
}

#[test]
fn malformed_files_are_named_and_the_import_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("osv");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    std::fs::write(
        dir.join("good.json"),
        osv_record("GOOD-1", "2021-01-01T00:00:00Z", "crates.io", "a", Some("1.0.0")),
    )
    .unwrap();
    std::fs::write(dir.join("nested/truncated.json"), r#"{"id":"T-1","affected":["#).unwrap();
    std::fs::write(
        dir.join("bad-date.json"),
        r#"{"id":"D-1","published":"yesterday","affected":[]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("not-osv.txt"), "ignored").unwrap();
    let mut store = VulnStore::open_in(tmp.path()).unwrap();
    let r = store.import(&[&dir], &mut |_| {}).unwrap();
    assert_eq!((r.records, r.stored, r.failures.len()), (3, 1, 2), "{r}");
    let text = r.to_string();
    assert!(text.contains("truncated.json") && text.contains("line 1"), "{text}");
    assert!(text.contains("bad-date.json") && text.contains("`published`"), "{text}");
    assert_eq!(store.ids_for("crates.io", "a").unwrap(), vec!["GOOD-1".to_string()]);
}

#[test]
fn zip_archives_import_with_bad_members_named() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("osv-scanner/Go");
    std::fs::create_dir_all(&layout).unwrap();
    let go = corpus_dir("Go/data/osv");
    let real = std::fs::read(go.join("GO-2020-0001.json")).unwrap();
    let extra = osv_record(
        "ZIP-1",
        "2022-02-02T00:00:00Z",
        "Go",
        "example.com/zipped",
        Some("1.2.0"),
    );
    make_zip(
        &layout.join("all.zip"),
        &[
            ("GO-2020-0001.json", &real),
            ("ZIP-1.json", extra.as_bytes()),
            ("broken.json", b"{\"id\": 5}"),
            ("README", b"not json"),
        ],
    );
    std::fs::write(tmp.path().join("osv-scanner/fake.zip"), b"this is not a zip").unwrap();
    let mut store = VulnStore::open_in(tmp.path()).unwrap();
    let r = store.import(&[tmp.path().join("osv-scanner")], &mut |_| {}).unwrap();
    assert_eq!((r.records, r.stored), (3, 2), "{r}");
    assert_eq!(r.failures.len(), 2, "{r}");
    let text = r.to_string();
    assert!(text.contains("all.zip!broken.json") && text.contains("`id`"), "{text}");
    assert!(
        text.contains("fake.zip") && text.contains("not a readable zip archive"),
        "{text}"
    );
    let (db, _) = store.load(Policy::default()).unwrap();
    assert!(db.get("GO-2020-0001").is_some());
    assert_eq!(
        store.ids_for("Go", "example.com/zipped").unwrap(),
        vec!["ZIP-1".to_string()]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn arbitrary_bytes_never_panic_as_json_or_zip(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("x.json"), &bytes).unwrap();
        std::fs::write(tmp.path().join("x.zip"), &bytes).unwrap();
        let mut store = VulnStore::open(&tmp.path().join("db")).unwrap();
        let r = store.import(&[tmp.path()], &mut |_| {}).unwrap();
        prop_assert!(r.stored + r.failures.len() >= 1);
    }

    #[test]
    fn arbitrary_member_bytes_in_a_real_zip_are_reported(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let tmp = tempfile::tempdir().unwrap();
        make_zip(&tmp.path().join("all.zip"), &[("m.json", &bytes)]);
        let mut store = VulnStore::open(&tmp.path().join("db")).unwrap();
        let r = store.import(&[tmp.path().join("all.zip")], &mut |_| {}).unwrap();
        prop_assert_eq!(r.records, 1);
        if r.stored == 0 {
            prop_assert!(r.failures[0].to_string().contains("all.zip!m.json"));
        }
    }
}
