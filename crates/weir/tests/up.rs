//! End to end: the real `weir up` (collector + embedded storage + a real eBPF
//! sensor on this host) sees a program the test runs, with its lineage,
//! within a second or so; `weir query` finds it and `weir verify` passes.
//! Needs root and BPF, like the sensor itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

/// A running `weir up`, stopped with SIGINT (the way Ctrl-C stops it) on drop.
struct Up {
    child: Child,
    http: String,
}

impl Up {
    fn start(data: &std::path::Path) -> Up {
        let mut child = Command::new(WEIR)
            .args(["up", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn weir up");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut http = None;
        for line in lines.by_ref() {
            let line = line.expect("read weir up output");
            if let Some(url) = line.trim().strip_prefix("console and API") {
                http = Some(url.trim().trim_end_matches('/').to_string());
            }
            if line.starts_with("Ctrl-C to stop") {
                break;
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Up {
            child,
            http: http.expect("weir up printed no console URL"),
        }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn query(data: &std::path::Path, needle: &str) -> Vec<Value> {
    let out = Command::new(WEIR)
        .args(["query", "--json", "--contains", needle, "--data"])
        .arg(data)
        .output()
        .expect("run weir query");
    assert!(
        out.status.success(),
        "weir query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("weir query --json prints JSON lines"))
        .collect()
}

fn is_true(event: &Value) -> bool {
    event["process.executable"]
        .as_str()
        .is_some_and(|exe| exe.ends_with("/true"))
}

#[test]
fn up_sees_an_exec_with_lineage_and_the_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data);
    assert!(up.http.starts_with("http://127.0.0.1:"), "{}", up.http);

    let marker = format!("weir-e2e-{}", std::process::id());
    // sh (with the marker in its command line) runs /bin/true with the marker as argument.
    let started = Instant::now();
    let status = Command::new("/bin/sh")
        .args(["-c", &format!("/bin/true {marker}; exit 0")])
        .status()
        .unwrap();
    assert!(status.success());

    let mut found = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        found = query(&data, &marker);
        if found.iter().any(is_true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen_after = started.elapsed();
    eprintln!("exec searchable after {seen_after:?}");
    let child = found
        .iter()
        .find(|e| e["event.kind"] == "exec" && is_true(e))
        .unwrap_or_else(|| panic!("no exec of true with {marker} in {found:#?}"));
    let parent = found
        .iter()
        .find(|e| e["event.kind"] == "exec" && e["process.name"].as_str().is_some_and(|n| n.ends_with("sh")))
        .unwrap_or_else(|| panic!("no exec of the parent shell in {found:#?}"));
    assert_eq!(child["process.args"], serde_json::json!(["/bin/true", marker]));
    assert_eq!(child["process.parent.entity_id"], parent["process.entity_id"]);
    assert_eq!(child["process.parent.executable"], parent["process.executable"]);
    assert_eq!(child["process.parent.pid"], parent["process.pid"]);
    assert_eq!(child["user.id"], 0);

    let status = up.stop();
    assert!(status.success(), "weir up exited with {status}");
    let verify = Command::new(WEIR)
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "weir verify failed:\n{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
