//! Runs one scan of this host and prints a summary: counts per ecosystem, listeners with their loaded
//! files and owners, host age, errors, scan time and peak memory (VmHWM).

use std::collections::BTreeMap;

fn main() {
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let mut config = weir_hostscan::ScanConfig {
        host_id: weir_event::entity::host_id_from_machine_id(&machine_id),
        ..Default::default()
    };
    // Leave parts out to measure the others: `hostscan no-binaries no-node no-python no-listeners no-age`.
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "no-binaries" => config.binary_dirs.clear(),
            "no-node" => config.node_roots.clear(),
            "no-python" => config.site_packages = Some(Vec::new()),
            "no-listeners" => config.listeners = false,
            "no-age" => config.host_age = false,
            other => panic!("unknown argument {other}"),
        }
    }
    let inv = weir_hostscan::scan(&config);
    let mut per_eco: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &inv.packages {
        *per_eco.entry(p.ecosystem.as_str()).or_default() += 1;
    }
    println!("packages: {} {per_eco:?}", inv.packages.len());
    for l in &inv.listeners {
        println!(
            "listener {} {}:{} netns={} pid={} exe={} entity={}",
            l.protocol, l.address, l.port, l.netns, l.pid, l.executable, l.entity_id
        );
        for ld in &l.loaded {
            let owner = inv
                .packages
                .get(ld.package_index as usize)
                .map(|p| format!("{} {} {}", p.ecosystem, p.name, p.version))
                .unwrap_or_else(|| "-".into());
            println!("    {} -> {owner}", ld.path);
        }
    }
    println!("age: {:?}", inv.age);
    for e in &inv.errors {
        println!("error: {e}");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("");
    let encoded = prost::Message::encoded_len(&inv);
    println!(
        "scan_duration_us: {} encoded_bytes: {encoded} {hwm}",
        inv.scan_duration_us
    );
}
