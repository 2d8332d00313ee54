//! Helpers shared by the integration tests: a throwaway network namespace, dpkg queries, /proc reads.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh network namespace with a veth pair (10.203.N.1/24 on one end) and loopback up; deleted on drop.
pub struct Netns {
    pub name: String,
    pub address: String,
}

impl Netns {
    pub fn create() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let name = format!("weir-hs-{}-{n}", std::process::id());
        let address = format!("10.203.{}.1", (std::process::id() as u32 % 200) + n);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name, address };
        ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        ns.ip(&["addr", "add", &format!("{}/24", ns.address), "dev", "v0"]);
        for dev in ["lo", "v0", "v1"] {
            ns.ip(&["link", "set", dev, "up"]);
        }
        ns
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Runs `program args` inside the namespace; `ip netns exec` execs it, so the child's pid is the program's.
    pub fn spawn(&self, cwd: &Path, program: &str, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Kills and reaps the child on drop.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// First stdout line of a child (the ports it bound), waiting for it.
pub fn first_line(child: &mut Child) -> String {
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "child printed nothing");
    line.trim().to_string()
}

/// The dpkg package owning `path`, asking `dpkg -S` under both /usr-merge spellings.
pub fn dpkg_owner(path: &str) -> Option<String> {
    let mut spellings = vec![path.to_string()];
    if let Some(rest) = path.strip_prefix("/usr") {
        spellings.push(rest.to_string());
    } else {
        spellings.push(format!("/usr{path}"));
    }
    for s in spellings {
        let out = Command::new("dpkg").args(["-S", &s]).output().ok()?;
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            let pkg = text.split(": ").next()?.split(", ").next()?;
            return Some(pkg.split(':').next()?.to_string());
        }
    }
    None
}

/// Network namespace inode of a process.
pub fn netns_of(pid: u32) -> u64 {
    let t = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let t = t.to_str().unwrap();
    t.trim_start_matches("net:[").trim_end_matches(']').parse().unwrap()
}

/// The sensor's entity id of a live process, computed from /proc/PID/stat and the clock tick rate.
pub fn expected_entity_id(host_id: &str, pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let ticks: u64 = after.split_whitespace().nth(19).unwrap().parse().unwrap();
    let hz: u64 = run("getconf", &["CLK_TCK"]).trim().parse().unwrap();
    weir_event::entity::entity_id(host_id, pid, ticks * (1_000_000_000 / hz))
}

/// A scan config that only looks at listeners (fast), with a fixed host id.
pub fn listeners_only() -> weir_hostscan::ScanConfig {
    weir_hostscan::ScanConfig {
        host_id: "test-host".into(),
        site_packages: Some(Vec::new()),
        node_roots: Vec::new(),
        binary_dirs: Vec::new(),
        host_age: false,
        ..Default::default()
    }
}
