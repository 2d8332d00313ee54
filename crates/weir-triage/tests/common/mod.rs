//! Test harness: a real triage store in a temporary directory, the confirm
//! routes served on a real loopback socket, a minimal HTTP/1.1 client, and
//! TOTP codes computed independently with totp-rs from the enrolled secret.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use weir_triage::{Confirmation, Escalation, LinkKey, Triage, TriageAlert, TriageConfig, TriageHooks, TriageRequest};

/// Hooks that keep what they were told.
#[derive(Default)]
pub struct Recorded {
    pub escalations: Mutex<Vec<Escalation>>,
    pub confirmations: Mutex<Vec<Confirmation>>,
}

impl TriageHooks for Recorded {
    fn escalate(&self, escalation: &Escalation) {
        self.escalations.lock().unwrap().push(escalation.clone());
    }
    fn confirmed(&self, confirmation: &Confirmation) {
        self.confirmations.lock().unwrap().push(confirmation.clone());
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub triage: Arc<Mutex<Triage>>,
    pub hooks: Arc<Recorded>,
    pub addr: SocketAddr,
    /// Secret of person `alice`, raw bytes.
    pub alice_secret: Vec<u8>,
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn config(dir: &std::path::Path) -> TriageConfig {
    let key = LinkKey::load_or_create(&dir.join("triage.key")).unwrap();
    TriageConfig::new("https://weir.example.test/", key)
}

/// Opens a store (with `alice` enrolled) and serves the confirm routes.
pub fn start(adjust: impl FnOnce(&mut TriageConfig)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    adjust(&mut cfg);
    let mut triage = Triage::open(&dir.path().join("triage.db"), cfg).unwrap();
    let enrollment = triage.enroll_totp("alice", "alice@example.com", now()).unwrap();
    let alice_secret = totp_rs::Secret::Encoded(enrollment.secret_base32.clone())
        .to_bytes()
        .unwrap();
    let triage = Arc::new(Mutex::new(triage));
    let hooks = Arc::new(Recorded::default());
    let app = weir_triage::router(triage.clone(), hooks.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });
    });
    Harness {
        dir,
        triage,
        hooks,
        addr,
        alice_secret,
    }
}

/// An alert for alice; `host_addresses` decides whether loopback answers are "from the flagged host".
pub fn alert(alert_id: i64, severity: &str, host_addresses: Vec<IpAddr>) -> TriageAlert {
    TriageAlert {
        alert_id,
        rule_id: "weir.db.drop".into(),
        rule_title: "Production database dropped".into(),
        severity: severity.into(),
        host_id: "h-42".into(),
        host_name: "db-1".into(),
        host_addresses,
        summary: "psql -c 'DROP DATABASE prod' <script>".into(),
        person_id: "alice".into(),
    }
}

impl Harness {
    pub fn request(&self, alert: &TriageAlert) -> TriageRequest {
        self.triage.lock().unwrap().request(alert, now()).unwrap()
    }

    pub fn get(&self, path: &str) -> Response {
        self.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: weir\r\nConnection: close\r\n\r\n"
        ))
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_with_headers(path, form, "")
    }

    /// POST with extra header lines (each ending in `\r\n`).
    pub fn post_with_headers(&self, path: &str, form: &[(&str, &str)], extra_headers: &str) -> Response {
        let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
        let body = body.join("&");
        self.send(&format!(
            "POST {path} HTTP/1.1\r\nHost: weir\r\nUser-Agent: weir-test/1.0\r\nConnection: close\r\n{extra_headers}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    fn send(&self, raw: &str) -> Response {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        Response::parse(&String::from_utf8_lossy(&out))
    }

    /// GETs the confirm page and returns the form nonce it embeds.
    pub fn nonce(&self, path: &str) -> String {
        let page = self.get(path);
        assert_eq!(page.status, 200, "{}", page.body);
        page.nonce().expect("the confirm page embeds a nonce")
    }

    /// GET the page, then POST an answer with its nonce.
    pub fn answer(&self, path: &str, answer: &str, code: Option<&str>) -> Response {
        let nonce = self.nonce(path);
        let mut form = vec![("nonce", nonce.as_str()), ("answer", answer)];
        if let Some(code) = code {
            form.push(("code", code));
        }
        self.post(path, &form)
    }

    pub fn code_at(&self, unix: u64) -> String {
        totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 0, 30, self.alice_secret.clone())
            .unwrap()
            .generate(unix)
    }

    /// A six-digit code that matches none of alice's codes from 12 steps back to 2 ahead.
    pub fn wrong_code(&self) -> String {
        let now = now();
        let near: Vec<String> = (0..15u64).map(|i| self.code_at(now + 60 - i * 30)).collect();
        (0..1_000_000u32)
            .map(|n| format!("{n:06}"))
            .find(|c| !near.contains(c))
            .unwrap()
    }
}

pub fn path_of(request: &TriageRequest) -> String {
    format!("/triage/{}", request.token)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(raw: &str) -> Response {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Response {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn nonce(&self) -> Option<String> {
        let start = self.body.find("name=\"nonce\" value=\"")? + "name=\"nonce\" value=\"".len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_string())
    }
}
