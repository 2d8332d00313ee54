//! Shared harness of the end-to-end tests: the real `weir up` started on
//! loopback with free ports, `weir query`, and plain HTTP requests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const WEIR: &str = env!("CARGO_BIN_EXE_weir");

/// A running `weir up`, stopped with SIGINT (the way Ctrl-C stops it) on drop.
pub struct Up {
    pub child: Child,
    pub http: String,
}

impl Up {
    pub fn start(data: &std::path::Path, rules: &std::path::Path) -> Up {
        Up::start_with(data, rules, &[])
    }

    /// Starts `weir up` with more arguments.
    pub fn start_with(data: &std::path::Path, rules: &std::path::Path, extra: &[&std::ffi::OsStr]) -> Up {
        let mut child = Command::new(WEIR)
            .args(["up", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--rules")
            .arg(rules)
            .args(extra)
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

    pub fn stop(mut self) -> std::process::ExitStatus {
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

pub fn query(data: &std::path::Path, needle: &str) -> Vec<Value> {
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

/// A plain HTTP/1.1 GET on loopback: (status code, body).
pub fn http_get(base: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let auth: Vec<(&str, String)> = token
        .map(|t| ("Authorization", format!("Bearer {t}")))
        .into_iter()
        .collect();
    http(base, "GET", path, &auth, "")
}

/// A plain HTTP/1.1 request on loopback with these headers and body:
/// (status code, body).
pub fn http(base: &str, method: &str, path: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs `weir verify` on a data directory; panics with its report on failure.
pub fn verify(data: &std::path::Path) {
    let out = Command::new(WEIR)
        .args(["verify", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "weir verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
