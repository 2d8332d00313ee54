//! The background scanner: a scan at start, one after a watched package database changes (not before the
//! minimum gap), periodic scans, low priority, and a prompt stop.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use weir_hostscan::{ScanConfig, Scanner, ScannerConfig};

fn fixture_config(root: &std::path::Path) -> ScanConfig {
    ScanConfig {
        root: root.to_path_buf(),
        listeners: false,
        host_age: false,
        binary_dirs: Vec::new(),
        ..Default::default()
    }
}

/// (reason, nice, scheduling policy) of each scan, read on the scanning thread itself.
type Report = (String, i64, i64, usize);

fn thread_priority() -> (i64, i64) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    // After the comm: field 3 is f[0]; nice is field 19, policy field 41.
    (f[16].parse().unwrap(), f[38].parse().unwrap())
}

#[test]
fn start_change_periodic_and_stop() {
    let root = tempfile::tempdir().unwrap();
    let status = root.path().join("var/lib/dpkg/status");
    std::fs::create_dir_all(status.parent().unwrap()).unwrap();
    std::fs::write(&status, "Package: a\nStatus: install ok installed\nVersion: 1\n").unwrap();

    let (tx, rx) = mpsc::channel::<Report>();
    let config = ScannerConfig {
        scan: fixture_config(root.path()),
        interval: Duration::from_secs(3600),
        watch: vec![status.clone()],
        min_gap: Duration::from_millis(2500),
    };
    let started = Instant::now();
    let scanner = Scanner::start(config, move |inv| {
        let (nice, policy) = thread_priority();
        let _ = tx.send((inv.reason.clone(), nice, policy, inv.packages.len()));
    });
    let (reason, nice, policy, n) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((reason.as_str(), n), ("start", 1));
    assert_eq!(nice, 19);
    assert_eq!(policy, libc::SCHED_IDLE as i64);

    // A package manager run: the database changes; the rescan waits for the minimum gap, then sees it.
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(&status, "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n").unwrap();
    let (reason, _, _, n) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((reason.as_str(), n), ("package_manager", 2));
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "rescanned before the minimum gap"
    );
    assert!(
        rx.recv_timeout(Duration::from_secs(3)).is_err(),
        "no scan without a change"
    );

    let t = Instant::now();
    scanner.stop();
    assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
}

#[test]
fn periodic_scans() {
    let root = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let config = ScannerConfig {
        scan: fixture_config(root.path()),
        interval: Duration::from_millis(300),
        watch: Vec::new(),
        min_gap: Duration::from_millis(10),
    };
    let scanner = Scanner::start(config, move |inv| {
        let _ = tx.send(inv.reason);
    });
    let reasons: Vec<String> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(reasons, ["start", "periodic", "periodic"]);
    drop(scanner);
}

#[test]
fn stop_cuts_a_long_scan_short() {
    // A tree large enough that walking it takes well over the time we allow for stopping.
    let root = tempfile::tempdir().unwrap();
    let nm = root.path().join("usr/lib/node_modules");
    for i in 0..1500 {
        let d = nm.join(format!("p{i}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("package.json"),
            format!(r#"{{"name":"p{i}","version":"1.0.0"}}"#),
        )
        .unwrap();
    }
    let mut scan = fixture_config(root.path());
    scan.limits.max_packages = 5000;
    let full = Instant::now();
    let inv = weir_hostscan::scan(&scan);
    let full = full.elapsed();
    assert_eq!(inv.packages.len(), 1500);

    let (tx, rx) = mpsc::channel::<String>();
    let scanner = Scanner::start(
        ScannerConfig {
            scan,
            interval: Duration::from_secs(3600),
            watch: Vec::new(),
            min_gap: Duration::from_secs(1),
        },
        move |inv| {
            let _ = tx.send(inv.reason);
        },
    );
    let t = Instant::now();
    scanner.stop();
    let stopping = t.elapsed();
    eprintln!("stopping took {stopping:?}, a full scan {full:?}");
    // The first scan was cut short, and a partial inventory is not delivered.
    let delivered: Vec<String> = rx.try_iter().collect();
    assert!(delivered.is_empty(), "{delivered:?}");
    assert!(stopping < full / 2, "stop took {stopping:?}, a full scan {full:?}");
}
