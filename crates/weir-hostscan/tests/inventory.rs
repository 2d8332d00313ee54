//! Installed-package inventory: this machine's real dpkg database, fixture trees for Python, node and dpkg
//! file lists, a real ELF with cargo-auditable data added by binutils, and malformed inputs that must be
//! named in the errors and never panic.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use common::run;
use proptest::prelude::*;
use weir_hostscan::budget::Budget;
use weir_hostscan::package_table::PackageTable;
use weir_hostscan::{dpkg_owners, dpkg_status, ScanConfig};

fn files_only(root: &Path) -> ScanConfig {
    ScanConfig {
        root: root.to_path_buf(),
        listeners: false,
        host_age: false,
        binary_dirs: Vec::new(),
        ..Default::default()
    }
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

#[test]
fn this_machines_dpkg_status_matches_dpkg_query() {
    let config = ScanConfig {
        listeners: false,
        host_age: false,
        site_packages: Some(Vec::new()),
        node_roots: Vec::new(),
        binary_dirs: Vec::new(),
        ..Default::default()
    };
    let inv = weir_hostscan::scan(&config);
    let ours: BTreeSet<(String, String, String, String)> = inv
        .packages
        .iter()
        .filter(|p| p.ecosystem.starts_with("Debian") || p.ecosystem.starts_with("Ubuntu"))
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.source_name.clone(),
                p.source_version.clone(),
            )
        })
        .collect();
    let listing = run(
        "dpkg-query",
        &[
            "-W",
            "-f",
            "${Package}\t${Version}\t${source:Package}\t${source:Version}\t${db:Status-Status}\n",
        ],
    );
    let theirs: BTreeSet<(String, String, String, String)> = listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let keeps_files = matches!(
                f[4],
                "installed" | "half-configured" | "unpacked" | "triggers-awaited" | "triggers-pending"
            );
            keeps_files.then(|| (f[0].into(), f[1].into(), f[2].into(), f[3].into()))
        })
        .collect();
    assert!(theirs.len() > 100, "this machine should have hundreds of packages");
    assert_eq!(ours, theirs);
    assert!(
        ours.iter().any(|(name, _, source, _)| name != source),
        "binary packages built from another source"
    );
    let os = std::fs::read_to_string("/etc/os-release").unwrap();
    let eco = weir_vuln::inventory::os_release::osv_ecosystem(&os).unwrap_or_else(|| "Debian".into());
    assert!(inv
        .packages
        .iter()
        .all(|p| p.ecosystem == eco && p.location == "/var/lib/dpkg/status"));
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
}

#[test]
fn fixture_tree_python_and_node_packages() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let site = "usr/lib/python3.11/site-packages";
    write(
        r,
        &format!("{site}/requests-2.31.0.dist-info/METADATA"),
        b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nbody",
    );
    write(
        r,
        &format!("{site}/six-1.16.0.egg-info"),
        b"Metadata-Version: 1.0\nName: six\nVersion: 1.16.0\n",
    );
    write(
        r,
        &format!("{site}/bad-1.0.dist-info/METADATA"),
        b" continuation first\n",
    );
    write(
        r,
        "usr/lib/node_modules/npm/package.json",
        br#"{"name":"npm","version":"9.2.0"}"#,
    );
    write(
        r,
        "usr/lib/node_modules/npm/node_modules/abbrev/package.json",
        br#"{"name":"abbrev","version":"1.1.1"}"#,
    );
    write(
        r,
        "usr/lib/node_modules/@types/node/package.json",
        br#"{"name":"@types/node","version":"20.1.0"}"#,
    );
    write(r, "usr/lib/node_modules/nover/package.json", br#"{"name":"nover"}"#);

    let inv = weir_hostscan::scan(&files_only(r));
    let got: BTreeSet<(String, String, String, String)> = inv
        .packages
        .iter()
        .map(|p| {
            (
                p.ecosystem.clone(),
                p.name.clone(),
                p.version.clone(),
                p.location.clone(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String, String)> = [
        (
            "PyPI",
            "requests",
            "2.31.0",
            "/usr/lib/python3.11/site-packages/requests-2.31.0.dist-info",
        ),
        (
            "PyPI",
            "six",
            "1.16.0",
            "/usr/lib/python3.11/site-packages/six-1.16.0.egg-info",
        ),
        ("npm", "npm", "9.2.0", "/usr/lib/node_modules/npm/package.json"),
        (
            "npm",
            "abbrev",
            "1.1.1",
            "/usr/lib/node_modules/npm/node_modules/abbrev/package.json",
        ),
        (
            "npm",
            "@types/node",
            "20.1.0",
            "/usr/lib/node_modules/@types/node/package.json",
        ),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(got, want);
    let errs = inv.errors.join("\n");
    assert!(
        errs.contains("/usr/lib/python3.11/site-packages/bad-1.0.dist-info/METADATA: line 1:"),
        "{errs}"
    );
    assert!(
        errs.contains("/usr/lib/node_modules/nover/package.json: line 0: no `version` field"),
        "{errs}"
    );
}

#[test]
fn limits_are_counted_not_silent() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for i in 0..20 {
        write(
            r,
            &format!("usr/lib/node_modules/p{i:02}/package.json"),
            format!(r#"{{"name":"p{i}","version":"1.0.{i}"}}"#).as_bytes(),
        );
    }
    let mut deep = String::from("usr/lib/node_modules/d");
    for _ in 0..5 {
        deep.push_str("/node_modules/d");
    }
    write(
        r,
        &format!("{deep}/package.json"),
        br#"{"name":"deep","version":"1.0.0"}"#,
    );
    let mut config = files_only(r);
    config.limits.max_packages = 7;
    config.limits.max_node_depth = 2;
    let inv = weir_hostscan::scan(&config);
    assert_eq!(inv.packages.len(), 7);
    let errs = inv.errors.join("\n");
    assert!(errs.contains("packages over the limit of 7 not listed"), "{errs}");
    assert!(errs.contains("node_modules nested deeper than 2 levels"), "{errs}");

    let mut config = files_only(r);
    config.limits.max_files_walked = 5;
    let inv = weir_hostscan::scan(&config);
    assert!(
        inv.errors.join("\n").contains("walk limit of 5 files reached"),
        "{:?}",
        inv.errors
    );
    assert!(inv.packages.len() <= 5);
}

#[test]
fn malformed_dpkg_status_is_named() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "var/lib/dpkg/status",
        b"Package: ok\nStatus: install ok installed\nVersion: 1\n\nVersion: 2\nStatus: install ok installed\n",
    );
    let inv = weir_hostscan::scan(&files_only(root.path()));
    assert!(inv.packages.is_empty());
    assert_eq!(inv.errors.len(), 1, "{:?}", inv.errors);
    assert!(
        inv.errors[0].starts_with("/var/lib/dpkg/status: line 5: "),
        "{:?}",
        inv.errors
    );
}

#[test]
fn dpkg_file_lists_own_files_under_both_usr_merge_spellings() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "var/lib/dpkg/status",
        b"Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nSource: foo (1.2-1)\nVersion: 1.2-1+b1\n\n\
Package: bar\nStatus: install ok installed\nArchitecture: all\nVersion: 3\n",
    );
    write(
        r,
        "var/lib/dpkg/info/libfoo1:amd64.list",
        b"/.\n/lib\n/lib/x86_64-linux-gnu/libfoo.so.1\n",
    );
    write(
        r,
        "var/lib/dpkg/info/bar.list",
        b"/usr/bin/bar\n\xff\xfe garbage \x00 line\n",
    );
    write(r, "var/lib/dpkg/info/removed.list", b"/usr/bin/ghost\n");
    let config = files_only(r);
    let mut budget = Budget::new(config.limits.clone());
    let mut table = PackageTable::default();
    let names = dpkg_status::collect(&config, &mut table, &mut budget);
    let asked = [
        "/usr/lib/x86_64-linux-gnu/libfoo.so.1".to_string(),
        "/bin/bar".to_string(),
        "/usr/bin/ghost".to_string(),
        "/opt/unowned.so".to_string(),
    ];
    let owners = dpkg_owners::owners(&config, &asked, &names, &mut budget);
    let name = |p: &str| owners.get(p).and_then(|i| table.get(*i)).map(|p| p.name.clone());
    assert_eq!(name(&asked[0]).as_deref(), Some("libfoo1"));
    assert_eq!(name(&asked[1]).as_deref(), Some("bar"));
    assert_eq!(name(&asked[2]), None);
    assert_eq!(name(&asked[3]), None);
    let foo = table.get(owners[&asked[0]]).unwrap();
    assert_eq!(
        (foo.source_name.as_str(), foo.source_version.as_str()),
        ("foo", "1.2-1")
    );
}

#[test]
fn cargo_auditable_section_in_a_real_elf() {
    let dir = tempfile::tempdir().unwrap();
    let json = br#"{"packages":[{"name":"svc","version":"0.3.0","source":"local","root":true},
        {"name":"hyper","version":"0.14.10","source":"crates.io"},{"name":"priv","version":"1.0.0","source":"registry"}]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(json).unwrap();
    let section = dir.path().join("dep.bin");
    std::fs::write(&section, z.finish().unwrap()).unwrap();
    let bin = dir.path().join("svc");
    run(
        "objcopy",
        &[
            "--add-section",
            &format!(".dep-v0={}", section.display()),
            "/bin/true",
            bin.to_str().unwrap(),
        ],
    );
    let limits = weir_hostscan::Limits::default();
    let mut budget = Budget::new(limits);
    let mut table = PackageTable::default();
    let found = weir_hostscan::binaries::embedded(&bin, "/srv/svc", &mut table, &mut budget);
    assert_eq!(found.len(), 1);
    let p = table.get(found[0]).unwrap();
    assert_eq!(
        (
            p.ecosystem.as_str(),
            p.name.as_str(),
            p.version.as_str(),
            p.location.as_str()
        ),
        ("crates.io", "hyper", "0.14.10", "/srv/svc")
    );
    assert!(budget.into_errors().is_empty());

    // The same binary with a corrupt section: named, not fatal.
    std::fs::write(&section, b"definitely not zlib").unwrap();
    let bad = dir.path().join("bad");
    run(
        "objcopy",
        &[
            "--add-section",
            &format!(".dep-v0={}", section.display()),
            "/bin/true",
            bad.to_str().unwrap(),
        ],
    );
    let mut budget = Budget::new(weir_hostscan::Limits::default());
    assert!(weir_hostscan::binaries::embedded(&bad, "/srv/bad", &mut table, &mut budget).is_empty());
    let errs = budget.into_errors();
    assert!(
        errs[0].starts_with("/srv/bad: line 0: .dep-v0: not zlib data"),
        "{errs:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever is in the status file, package.json, METADATA, a dpkg .list or a Cargo.lock-like file, a scan
    /// finishes, and any parse failure names the file it came from.
    #[test]
    fn malformed_inputs_never_panic(
        status in proptest::collection::vec(any::<u8>(), 0..400),
        status_text in "((Package|Status|Version|Source|Architecture): [ -~]{0,12}\n\n?){0,8}",
        package_json in proptest::collection::vec(any::<u8>(), 0..200),
        metadata in "([A-Za-z -]{0,10}:? ?[ -~]{0,10}\n){0,6}",
        list in proptest::collection::vec(any::<u8>(), 0..300),
        use_text in any::<bool>(),
    ) {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "var/lib/dpkg/status", if use_text { status_text.as_bytes() } else { &status });
        write(r, "var/lib/dpkg/info/x.list", &list);
        write(r, "usr/lib/node_modules/x/package.json", &package_json);
        write(r, "usr/lib/python3.11/site-packages/x-1.dist-info/METADATA", metadata.as_bytes());
        let inv = weir_hostscan::scan(&files_only(r));
        for e in &inv.errors {
            prop_assert!(
                e.starts_with("/var/lib/dpkg/status")
                    || e.starts_with("/usr/lib/node_modules/x/package.json")
                    || e.starts_with("/usr/lib/python3.11/site-packages/x-1.dist-info/METADATA"),
                "error without its file: {}", e
            );
        }
        let config = files_only(r);
        let mut budget = Budget::new(config.limits.clone());
        let mut table = PackageTable::default();
        let names = dpkg_status::collect(&config, &mut table, &mut budget);
        let _ = dpkg_owners::owners(&config, &["/usr/bin/x".to_string()], &names, &mut budget);
    }
}

#[test]
fn full_scan_of_this_machine_is_consistent() {
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap();
    let config = ScanConfig {
        host_id: weir_event::entity::host_id_from_machine_id(&machine_id),
        ..Default::default()
    };
    let inv = weir_hostscan::scan(&config);
    assert!(inv.packages.len() > 100, "{}", inv.packages.len());
    assert!(inv.scan_duration_us > 0);
    assert!(inv.age.is_some());
    for l in &inv.listeners {
        assert!(l.protocol == "tcp" || l.protocol == "udp");
        let ip: std::net::IpAddr = l.address.parse().unwrap();
        assert!(!weir_hostscan::proc_net::is_loopback(&ip), "{l:?}");
        for x in &l.loaded {
            assert!(
                x.package_index == weir_hostscan::NO_PACKAGE || (x.package_index as usize) < inv.packages.len(),
                "{x:?}"
            );
        }
        if l.pid != 0 {
            assert!(!l.entity_id.is_empty() && !l.executable.is_empty(), "{l:?}");
        }
    }
    for p in &inv.packages {
        assert!(
            !p.ecosystem.is_empty() && !p.name.is_empty() && !p.location.is_empty(),
            "{p:?}"
        );
    }
}
