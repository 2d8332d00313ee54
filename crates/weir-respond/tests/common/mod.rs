//! Helpers shared by the integration tests: a throwaway cgroup v2 group the
//! network hooks attach to (so a test never isolates the rest of the
//! machine), a responder on it, commands, and process probes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command as Proc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use weir_event::Command;
use weir_respond::{Responder, ResponderConfig};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A child cgroup of the cgroup v2 root, removed on drop.
pub struct TestCgroup {
    pub path: PathBuf,
}

impl TestCgroup {
    pub fn new() -> TestCgroup {
        let root = weir_respond::cgroup::cgroup2_root().expect("cgroup v2");
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = root.join(format!("weir-respond-test-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TestCgroup { path }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn host_id() -> String {
    format!("weir-respond-test-host-{}", std::process::id())
}

pub fn config(cg: &TestCgroup, allow: Vec<SocketAddr>) -> ResponderConfig {
    let mut c = ResponderConfig::new(host_id());
    c.cgroup = Some(cg.path.clone());
    c.always_allow = allow;
    c
}

pub fn start(cg: &TestCgroup, allow: Vec<SocketAddr>) -> Responder {
    Responder::start(config(cg, allow)).expect("responder starts (run as root with BPF)")
}

pub fn command(action: &str, target: &str) -> Command {
    Command {
        command_id: format!("cmd-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        action: action.into(),
        target: target.into(),
        rule_id: "test-rule".into(),
        policy_version: "pv1".into(),
        alert_id: 7,
        ..Default::default()
    }
}

/// The entity id of a live pid, as the sensor would compute it.
pub fn entity_of(pid: u32) -> String {
    weir_respond::procs::read_proc(&host_id(), pid)
        .expect("process exists")
        .entity_id
}

/// True while `pid` is still the process `entity` and not a zombie.
pub fn alive(pid: u32, entity: &str) -> bool {
    let Some(p) = weir_respond::procs::read_proc(&host_id(), pid) else {
        return false;
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next());
    p.entity_id == entity && !matches!(state, Some('Z') | Some('X') | None)
}

/// Children of `pid` right now.
pub fn children(pid: u32) -> Vec<u32> {
    weir_respond::procs::snapshot(&host_id())
        .into_iter()
        .filter(|p| p.ppid == pid)
        .map(|p| p.pid)
        .collect()
}

/// Waits until `cond` holds, at most `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Opens a TCP connection to `addr` from a bash process placed in `cg`
/// (bash's /dev/tcp): Ok when connected, Err(stderr) when refused.
pub fn connect_from(cg: &TestCgroup, addr: SocketAddr) -> Result<(), String> {
    proto_from(cg, "tcp", addr)
}

/// Same with UDP (bash's /dev/udp connects a datagram socket).
pub fn udp_from(cg: &TestCgroup, addr: SocketAddr) -> Result<(), String> {
    proto_from(cg, "udp", addr)
}

fn proto_from(cg: &TestCgroup, proto: &str, addr: SocketAddr) -> Result<(), String> {
    let out = Proc::new("bash")
        .arg("-c")
        .arg(format!(
            "echo $$ > \"$0/cgroup.procs\" || exit 90; exec 3<>/dev/{proto}/$1/$2 && echo x >&3"
        ))
        .arg(&cg.path)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .expect("running bash");
    assert_ne!(out.status.code(), Some(90), "could not join the test cgroup");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
