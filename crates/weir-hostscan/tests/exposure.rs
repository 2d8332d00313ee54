//! Exposure end to end on this machine: real listeners (in a fresh network namespace and in the host's) are
//! found with their process, entity id, executable and the packages of what they run; loopback-only
//! sockets are not.

mod common;

use common::*;
use weir_event::{Inventory, Listener};
use weir_hostscan::NO_PACKAGE;

const PYTHON: &str = "/usr/bin/python3";

/// Binds TCP + UDP on the given address and a TCP listener on loopback, prints the three ports, then waits.
const PY_LISTENER: &str = r#"
import socket, sys, time
addr = sys.argv[1]
t = socket.socket(); t.bind((addr, 0)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((addr, 0))
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
l6 = socket.socket(socket.AF_INET6); l6.bind(("::1", 0)); l6.listen()
print(t.getsockname()[1], u.getsockname()[1], l.getsockname()[1], l6.getsockname()[1], flush=True)
time.sleep(120)
"#;

const CARGO_LOCK: &str = r#"version = 3

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["serde"]

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "ddc6f9cc94d67c0e21aaf7eda3a010fd3af78ebf6e096aa6e2e13c79749cce4f"
"#;

fn ports(line: &str) -> Vec<u32> {
    line.split_whitespace().map(|p| p.parse().unwrap()).collect()
}

fn of_pid(inv: &Inventory, pid: u32) -> Vec<&Listener> {
    inv.listeners.iter().filter(|l| l.pid == pid).collect()
}

fn package_name(inv: &Inventory, index: u32) -> Option<&str> {
    inv.packages.get(index as usize).map(|p| p.name.as_str())
}

#[test]
fn listener_in_a_network_namespace_is_traced_to_its_packages() {
    let ns = Netns::create();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("Cargo.lock"), CARGO_LOCK).unwrap();
    let mut child = Reaped(ns.spawn(cwd.path(), PYTHON, &["-c", PY_LISTENER, &ns.address]));
    let pid = child.0.id();
    let p = ports(&first_line(&mut child.0));

    let inv = weir_hostscan::scan(&listeners_only());
    let mine = of_pid(&inv, pid);
    assert_eq!(mine.len(), 2, "expected the TCP and UDP sockets only: {mine:#?}");
    let tcp = mine.iter().find(|l| l.protocol == "tcp").expect("tcp listener");
    let udp = mine.iter().find(|l| l.protocol == "udp").expect("udp socket");
    assert_eq!((tcp.address.as_str(), tcp.port), (ns.address.as_str(), p[0]));
    assert_eq!((udp.address.as_str(), udp.port), (ns.address.as_str(), p[1]));
    assert!(
        inv.listeners.iter().all(|l| l.port != p[2] || l.netns != tcp.netns),
        "loopback listener reported"
    );
    assert!(
        inv.listeners.iter().all(|l| l.port != p[3] || l.netns != tcp.netns),
        "::1 listener reported"
    );

    let their_ns = netns_of(pid);
    assert_eq!(tcp.netns, their_ns);
    assert_ne!(
        their_ns,
        netns_of(std::process::id()),
        "the listener must be in its own namespace"
    );
    assert_eq!(tcp.entity_id, expected_entity_id("test-host", pid));
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(tcp.executable, exe.to_str().unwrap());

    // The executable and libc, each owned by the package dpkg names.
    let first = &tcp.loaded[0];
    assert_eq!(first.path, tcp.executable);
    assert_eq!(
        package_name(&inv, first.package_index),
        dpkg_owner(&tcp.executable).as_deref()
    );
    let libc = tcp
        .loaded
        .iter()
        .find(|l| l.path.rsplit('/').next().unwrap().starts_with("libc.so"))
        .expect("libc mapped");
    let owner = dpkg_owner(&libc.path).expect("dpkg owns libc");
    assert_eq!(package_name(&inv, libc.package_index), Some(owner.as_str()));
    let libc_pkg = &inv.packages[libc.package_index as usize];
    assert!(libc_pkg.ecosystem.starts_with("Debian"), "{libc_pkg:?}");
    assert!(!libc_pkg.source_name.is_empty() && !libc_pkg.source_version.is_empty());

    // Every mapped file in /proc/PID/maps is listed, owned or not.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mapped: std::collections::BTreeSet<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/'))
        .collect();
    for m in &mapped {
        assert!(tcp.loaded.iter().any(|l| l.path == *m), "{m} missing from loaded");
    }

    // The lockfile in the working directory, as crates.io packages located at the lockfile.
    let lock_path = cwd.path().join("Cargo.lock").display().to_string();
    let from_lock: Vec<_> = tcp
        .loaded
        .iter()
        .filter(|l| l.path == lock_path)
        .map(|l| &inv.packages[l.package_index as usize])
        .collect();
    assert_eq!(from_lock.len(), 1, "{from_lock:?}");
    assert_eq!(
        (
            from_lock[0].ecosystem.as_str(),
            from_lock[0].name.as_str(),
            from_lock[0].version.as_str()
        ),
        ("crates.io", "serde", "1.0.200")
    );
    assert_eq!(from_lock[0].location, lock_path);
    assert_eq!(udp.loaded, tcp.loaded);
}

#[test]
fn wildcard_listener_in_the_host_namespace_is_exposed_but_loopback_is_not() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Reaped(
        std::process::Command::new(PYTHON)
            .args(["-c", PY_LISTENER, "0.0.0.0"])
            .current_dir(cwd.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let p = ports(&first_line(&mut child.0));
    let inv = weir_hostscan::scan(&listeners_only());
    let mine = of_pid(&inv, pid);
    let mut seen: Vec<(String, String, u32)> = mine
        .iter()
        .map(|l| (l.protocol.clone(), l.address.clone(), l.port))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("tcp".into(), "0.0.0.0".into(), p[0]),
            ("udp".into(), "0.0.0.0".into(), p[1])
        ]
    );
    assert_eq!(mine[0].netns, netns_of(std::process::id()));
    // A mapped file no package owns still appears, with NO_PACKAGE.
    assert!(mine[0]
        .loaded
        .iter()
        .all(|l| l.package_index == NO_PACKAGE || (l.package_index as usize) < inv.packages.len()));
}

const NODE_LISTENER: &str = r#"
const net = require('net');
const s = net.createServer().listen(0, process.argv[1], () => { console.log(String(s.address().port)); });
setTimeout(() => {}, 120000);
"#;

#[test]
fn node_listener_lists_its_node_modules_and_names_bad_files() {
    let ns = Netns::create();
    let cwd = tempfile::tempdir().unwrap();
    let nm = cwd.path().join("node_modules");
    for (dir, json) in [
        ("left-pad", r#"{"name":"left-pad","version":"1.3.0"}"#),
        ("@scope/util", r#"{"name":"@scope/util","version":"2.0.1"}"#),
        ("left-pad/node_modules/inner", r#"{"name":"inner","version":"0.0.1"}"#),
        ("broken", r#"{"name": "broken", "version": "#),
    ] {
        std::fs::create_dir_all(nm.join(dir)).unwrap();
        std::fs::write(nm.join(dir).join("package.json"), json).unwrap();
    }
    std::fs::write(cwd.path().join("Cargo.lock"), "[[package]]\nname = \"x\"\nversion = \n").unwrap();
    let mut child = Reaped(ns.spawn(cwd.path(), "/usr/bin/node", &["-e", NODE_LISTENER, &ns.address]));
    let pid = child.0.id();
    let port: u32 = first_line(&mut child.0).parse().unwrap();

    let inv = weir_hostscan::scan(&listeners_only());
    let l = of_pid(&inv, pid)
        .into_iter()
        .find(|l| l.port == port)
        .expect("node listener");
    assert_eq!(l.address, ns.address);
    let mut npm: Vec<(String, String)> = l
        .loaded
        .iter()
        .filter_map(|x| inv.packages.get(x.package_index as usize))
        .filter(|p| p.ecosystem == "npm")
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    npm.sort();
    assert_eq!(
        npm,
        [
            ("@scope/util".to_string(), "2.0.1".to_string()),
            ("inner".into(), "0.0.1".into()),
            ("left-pad".into(), "1.3.0".into())
        ]
    );
    let broken = nm.join("broken/package.json").display().to_string();
    assert!(inv.errors.iter().any(|e| e.starts_with(&broken)), "{:?}", inv.errors);
    let lock = cwd.path().join("Cargo.lock").display().to_string();
    assert!(
        inv.errors.iter().any(|e| e.starts_with(&format!("{lock}: line 3"))),
        "{:?}",
        inv.errors
    );
    let node_owner = dpkg_owner("/usr/bin/node").expect("dpkg owns node");
    assert_eq!(package_name(&inv, l.loaded[0].package_index), Some(node_owner.as_str()));
}

/// Imports the `_bz2` extension module from a private site-packages directory (sys.path[0]), then listens.
const PY_EXTENSION_LISTENER: &str = r#"
import socket, sys, time
sys.path.insert(0, sys.argv[2])
import _bz2
t = socket.socket(); t.bind((sys.argv[1], 0)); t.listen()
print(t.getsockname()[1], _bz2.__file__, flush=True)
time.sleep(120)
"#;

#[test]
fn python_listener_maps_its_extension_modules_to_their_distributions() {
    // A copy of a real extension module, installed in a site-packages directory by a distribution whose
    // RECORD lists it.
    let stdlib_bz2 = run(PYTHON, &["-c", "import _bz2; print(_bz2.__file__)"]);
    let stdlib_bz2 = std::path::Path::new(stdlib_bz2.trim());
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site-packages");
    let so_name = stdlib_bz2.file_name().unwrap().to_str().unwrap();
    std::fs::create_dir_all(site.join("bz2shim-0.4.dist-info")).unwrap();
    std::fs::copy(stdlib_bz2, site.join(so_name)).unwrap();
    std::fs::write(
        site.join("bz2shim-0.4.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: bz2shim\nVersion: 0.4\n",
    )
    .unwrap();
    std::fs::write(
        site.join("bz2shim-0.4.dist-info/RECORD"),
        format!("bz2shim-0.4.dist-info/METADATA,,\n{so_name},sha256=x,1\nbz2shim-0.4.dist-info/RECORD,,\n"),
    )
    .unwrap();

    let ns = Netns::create();
    let mut child = Reaped(ns.spawn(
        work.path(),
        PYTHON,
        &["-c", PY_EXTENSION_LISTENER, &ns.address, site.to_str().unwrap()],
    ));
    let pid = child.0.id();
    let line = first_line(&mut child.0);
    let (port, loaded_from) = line.split_once(' ').unwrap();
    let port: u32 = port.parse().unwrap();
    let so_path = site.join(so_name).display().to_string();
    assert_eq!(loaded_from, so_path, "python imported the copy");

    let inv = weir_hostscan::scan(&listeners_only());
    let l = of_pid(&inv, pid)
        .into_iter()
        .find(|l| l.port == port)
        .expect("python listener");
    let owners: Vec<_> = l
        .loaded
        .iter()
        .filter(|x| x.path == so_path)
        .map(|x| inv.packages.get(x.package_index as usize))
        .collect();
    // Listed as mapped (no dpkg package owns the copy) and as installed by the distribution.
    assert!(owners.contains(&None), "{owners:?}");
    let dist = owners.iter().flatten().next().expect("owning distribution");
    assert_eq!(
        (dist.ecosystem.as_str(), dist.name.as_str(), dist.version.as_str()),
        ("PyPI", "bz2shim", "0.4")
    );
    assert_eq!(dist.location, site.join("bz2shim-0.4.dist-info").display().to_string());
}
