//! End to end with separate processes, as on a fleet: a `weir server` and two
//! `weir sensor --collector` processes with distinct host identities. The
//! collector is killed with SIGKILL in the middle of a steady stream and
//! restarted: no acknowledged event is lost, none is stored twice, and each
//! host's chain verifies. Needs root and BPF.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

/// Kills the child on drop, whatever the test did.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_server(data: &Path, grpc: u16, http: u16) -> Proc {
    let mut child = Command::new(WEIR)
        .args([
            "server",
            "--grpc",
            &format!("127.0.0.1:{grpc}"),
            "--http",
            &format!("127.0.0.1:{http}"),
            "--data",
        ])
        .arg(data)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", grpc)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("weir server exited with {status} (its stderr is above)");
        }
        assert!(Instant::now() < deadline, "collector did not listen on {grpc}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc(child)
}

fn token(data: &Path) -> String {
    let out = Command::new(WEIR)
        .args(["server", "token", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn start_sensor(state: &Path, data: &Path, grpc: u16, host_id: &str) -> Proc {
    let child = Command::new(WEIR)
        .args([
            "sensor",
            "--collector",
            &format!("https://127.0.0.1:{grpc}"),
            "--host-id",
            host_id,
            "--ca",
        ])
        .arg(data.join("tls").join("ca.pem"))
        .arg("--enroll-token")
        .arg(token(data))
        .arg("--data")
        .arg(state)
        .spawn()
        .unwrap();
    Proc(child)
}

/// Execs of `/bin/true PREFIX-N` stored for `host`: N -> how many times.
fn stored_markers(data: &Path, host: &str, prefix: &str) -> std::collections::BTreeMap<u64, usize> {
    let out = Command::new(WEIR)
        .args([
            "query",
            "--json",
            "--kind",
            "exec",
            "--limit",
            "100000",
            "--host",
            host,
            "--contains",
            prefix,
        ])
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut seen = std::collections::BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let Some(arg) = event["process.args"].get(1).and_then(Value::as_str) else {
            continue;
        };
        if let Some(n) = arg.strip_prefix(&format!("{prefix}-")).and_then(|n| n.parse().ok()) {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

fn wait_for_host_stream(data: &Path, host: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(WEIR)
            .args(["query", "--json", "--kind", "health", "--host", host, "--data"])
            .arg(data)
            .output()
            .unwrap();
        if out.status.success() && !out.stdout.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "no health event from {host}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_9_of_the_collector_loses_nothing_acknowledged_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("collector");
    let (grpc, http) = (free_port(), free_port());
    let mut server = start_server(&data, grpc, http);
    let suffix = std::process::id();
    let hosts = [format!("e2e-a-{suffix}"), format!("e2e-b-{suffix}")];
    let _sensors: Vec<Proc> = hosts
        .iter()
        .map(|host| start_sensor(&dir.path().join(host), &data, grpc, host))
        .collect();
    for host in &hosts {
        wait_for_host_stream(&data, host);
    }

    let prefix = format!("kill9-{suffix}");
    let total = 300u64;
    for n in 0..total {
        if n == total / 2 {
            // SIGKILL: no chance to flush or say goodbye.
            server.0.kill().unwrap();
            server.0.wait().unwrap();
            server = start_server(&data, grpc, http);
        }
        let status = Command::new("/bin/true").arg(format!("{prefix}-{n}")).status().unwrap();
        assert!(status.success());
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    for host in &hosts {
        loop {
            let seen = stored_markers(&data, host, &prefix);
            let doubles: Vec<_> = seen.iter().filter(|(_, &count)| count > 1).collect();
            assert!(doubles.is_empty(), "{host}: stored twice: {doubles:?}");
            if seen.len() as u64 == total {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{host}: {} of {total} execs stored; missing {:?}",
                seen.len(),
                (0..total)
                    .filter(|n| !seen.contains_key(n))
                    .take(20)
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    drop(_sensors);
    drop(server);

    let verify = Command::new(WEIR)
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout).to_string() + &String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "weir verify failed:\n{report}");
    for host in &hosts {
        assert!(
            report.contains(host.as_str()),
            "verify report does not name host {host}:\n{report}"
        );
    }
}
