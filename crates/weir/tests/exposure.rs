//! Exposure end to end on this machine: a real process listens on every
//! address, the host scanner traces it to the packages of the libraries it
//! maps, an advisory fixture marks the C library's source package vulnerable,
//! and `weir metrics host` shows the whole chain (listener -> process ->
//! library -> package -> advisory) with the right age. The same program bound
//! to 127.0.0.1 is not exposed.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn listen(bind: &str, port: u16) -> Killed {
    let child = Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", bind])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "python3 did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Killed(child)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn a_listener_mapping_a_vulnerable_library_is_a_chain_with_its_age() {
    let (public_port, local_port) = (free_port(), free_port());
    let public = listen("0.0.0.0", public_port);
    let local = listen("127.0.0.1", local_port);

    let host_id = "exposure-test-host";
    let inventory = weir_hostscan::scan(&weir_hostscan::ScanConfig {
        host_id: host_id.into(),
        ..Default::default()
    });
    let listener = inventory
        .listeners
        .iter()
        .find(|l| l.port == public_port as u32 && l.pid == public.0.id())
        .unwrap_or_else(|| panic!("no listener on {public_port}: {:#?}", inventory.listeners));
    assert!(
        !inventory.listeners.iter().any(|l| l.port == local_port as u32),
        "a loopback listener was reported"
    );
    // The C library the listener maps, and the Debian package that owns it.
    let libc = listener
        .loaded
        .iter()
        .find(|l| l.path.contains("/libc.so") && l.package_index != weir_hostscan::NO_PACKAGE)
        .unwrap_or_else(|| panic!("libc not mapped to a package: {:#?}", listener.loaded));
    let package = &inventory.packages[libc.package_index as usize];
    let source = if package.source_name.is_empty() {
        &package.name
    } else {
        &package.source_name
    };
    let source_version = if package.source_version.is_empty() {
        &package.version
    } else {
        &package.source_version
    };
    let loaded: Vec<String> = listener.loaded.iter().map(|l| l.path.clone()).collect();
    drop(local);

    // An advisory on that source package, every version below 999.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let osv = dir.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    let record = serde_json::json!({
        "id": "WEIR-TEST-2020-0001",
        "published": "2020-01-02T00:00:00Z",
        "modified": "2020-01-02T00:00:00Z",
        "aliases": ["CVE-2020-99999"],
        "summary": "fixture: a flaw in the C library",
        "affected": [{
            "package": {"ecosystem": package.ecosystem, "name": source},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999"}]}]
        }]
    });
    std::fs::File::create(osv.join("WEIR-TEST-2020-0001.json"))
        .unwrap()
        .write_all(record.to_string().as_bytes())
        .unwrap();
    let import = Command::new(WEIR)
        .args(["vulndb", "import"])
        .arg(&osv)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));

    // This machine's addresses may all be private: say this host faces the
    // Internet, as an operator would in DATA/risk.yaml.
    assert!(
        !inventory.addresses.is_empty(),
        "no interface addresses in the inventory"
    );
    let risk_yaml = data.join("risk.yaml");
    std::fs::write(
        &risk_yaml,
        format!("hosts:\n  {host_id}: {{any_address_is_public: true}}\n"),
    )
    .unwrap();
    let cfg = weir_risk::RiskConfig::load(&risk_yaml).unwrap();
    // Stored the way the collector stores a host's inventory.
    let now = now_ns();
    let store = weir_risk::RiskStore::open_in(&data).unwrap();
    store
        .ingest(host_id, "exposure-test", now, &inventory, now, &cfg)
        .unwrap();
    drop(store);

    let out = Command::new(WEIR)
        .args(["metrics", "host", host_id, "--json", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let host: Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = if host.get("host").is_some() {
        &host["host"]
    } else {
        &host
    };
    let chains = host["exposure"]["chains"].as_array().unwrap();
    let chain = chains
        .iter()
        .find(|c| c["advisory_id"] == "WEIR-TEST-2020-0001" && c["port"] == public_port as u64)
        .unwrap_or_else(|| panic!("no chain through port {public_port}: {chains:#?}"));
    assert_eq!(chain["exposed"], true);
    assert_eq!(chain["pid"], public.0.id());
    assert_eq!(chain["package"], source.as_str());
    assert_eq!(chain["version"], source_version.as_str());
    // The library is one the listener maps that belongs to that source package.
    let library = chain["library"].as_str().unwrap();
    assert!(
        loaded.iter().any(|l| l == library),
        "{library} is not mapped by the listener"
    );
    assert!(chain["executable"].as_str().unwrap().contains("python3"), "{chain}");
    let expected_days = (now / 1_000_000_000 - 1_577_923_200) / 86_400; // since 2020-01-02
    let age = chain["age_days"].as_i64().unwrap();
    assert!(
        (age - expected_days as i64).abs() <= 1,
        "age {age}, expected {expected_days}"
    );
    assert!(host["oldest_exposed_vuln_days"].as_i64().unwrap() >= age);
    assert!(
        !chains.iter().any(|c| c["port"] == local_port as u64),
        "the loopback listener is in a chain"
    );
}
