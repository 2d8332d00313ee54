//! HTTP tests of the web console against a real collector on loopback:
//! every page needs a session, renders for a viewer with the shared layout,
//! is role-aware, names no other host (works offline: no CDN), has no
//! inline code, carries the Content-Security-Policy; assets are served with
//! their content types; the live counters (snapshot and server-sent events)
//! follow real ingest from a real shipper.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{config, exec_event, ship_config, wait_until};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_server::auth::{self, Role};

const PASSWORD: &str = "a long enough password";

/// Every console page, with a sample id where the route has one.
const PAGES: &[(&str, &str)] = &[
    ("/", "overview"),
    ("/hosts", "hosts"),
    ("/hosts/h1", "host"),
    ("/alerts", "alerts"),
    ("/alerts/1", "alert"),
    ("/rules", "rules"),
    ("/search", "search"),
    ("/audit", "audit"),
];

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[String], body: &str) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_reply(&String::from_utf8_lossy(&raw))
}

fn parse_reply(text: &str) -> Reply {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Signs in and returns the session cookie header.
async fn sign_in(addr: SocketAddr, user: &str) -> String {
    let body = format!("username={user}&password={}", PASSWORD.replace(' ', "+"));
    let form = "Content-Type: application/x-www-form-urlencoded".to_string();
    let reply = send(addr, "POST", "/login", &[form], &body).await;
    assert_eq!(reply.status, 303, "login of {user}: {}", reply.body);
    let cookie = reply.header("set-cookie").split(';').next().unwrap().to_string();
    format!("Cookie: {cookie}")
}

async fn start(dir: &std::path::Path) -> weir_server::ServerHandle {
    auth::add_user(dir, "vera", Role::Viewer, PASSWORD).unwrap();
    auth::add_user(dir, "adam", Role::Admin, PASSWORD).unwrap();
    weir_server::Server::start(config(dir)).await.expect("collector starts")
}

/// Every `http://` or `https://` URL in `text`.
fn absolute_urls(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    for scheme in ["http://", "https://"] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(scheme) {
            let start = from + at;
            let end = text[start..]
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ')' || c == '`')
                .map_or(text.len(), |n| start + n);
            found.push(text[start..end].to_string());
            from = start + scheme.len();
        }
    }
    found
}

/// The `src`/`href` values of `html` (to check they stay on this origin).
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\"", "action=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            out.push(rest[..end].to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_needs_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let addr = server.http_addr();
    for (path, _) in PAGES {
        let reply = send(addr, "GET", path, &[], "").await;
        assert_eq!(reply.status, 303, "{path} without a session");
        assert_eq!(reply.header("location"), "/login", "{path}");
        assert!(!reply.body.contains("csrf"), "{path} leaks the page");
        let stale = send(addr, "GET", path, &["Cookie: weir_session=00ff".into()], "").await;
        assert_eq!(stale.status, 303, "{path} with a made-up session");
    }
    for path in ["/api/stats", "/api/stream/stats"] {
        assert_eq!(send(addr, "GET", path, &[], "").await.status, 401, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_for_a_viewer_with_the_layout_and_no_inline_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let addr = server.http_addr();
    let viewer = sign_in(addr, "vera").await;
    let admin = sign_in(addr, "adam").await;
    for (path, name) in PAGES {
        let page = send(addr, "GET", path, std::slice::from_ref(&viewer), "").await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8", "{path}");
        let policy = page.header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {directive} missing in {policy:?}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(page.header("cache-control"), "no-store", "{path}");
        let html = &page.body;
        assert!(html.contains("signed in as <b>vera</b> (viewer)"), "{path}: {html}");
        assert!(html.contains(&format!("<body data-page=\"{name}\">")), "{path}");
        assert!(
            html.contains(&format!("<script src=\"/assets/pages/{name}.js\"></script>")),
            "{path}"
        );
        assert!(html.contains("<meta name=\"csrf-token\" content=\""), "{path}");
        assert!(!html.contains("{{"), "{path}: template not filled");
        // Form posts (sign out) must carry this origin for the CSRF check:
        // under the no-referrer header alone Chromium sends "Origin: null".
        assert!(
            html.contains("<meta name=\"referrer\" content=\"same-origin\">"),
            "{path}"
        );
        // Nothing inline: the policy would block it anyway.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=\"/assets/").count(),
            "{path}"
        );
        assert!(!html.contains(" style="), "{path}: inline style");
        assert!(!html.contains("<style"), "{path}: style element");
        for handler in [
            " onclick=",
            " onload=",
            " onerror=",
            " onsubmit=",
            " onchange=",
            "javascript:",
        ] {
            assert!(!html.contains(handler), "{path}: {handler}");
        }
        // Viewers get no audit link; the current page's link is lit.
        assert!(!html.contains("href=\"/audit\""), "{path}: viewer sees the audit link");
        let nav_on = html.matches(" class=\"on\"").count();
        assert_eq!(nav_on, usize::from(*name != "audit"), "{path}: lit nav entries");
        let as_admin = send(addr, "GET", path, std::slice::from_ref(&admin), "").await;
        assert_eq!(as_admin.status, 200);
        assert!(
            as_admin.body.contains("href=\"/audit\""),
            "{path}: admin lacks the audit link"
        );
        assert!(as_admin.body.contains("signed in as <b>adam</b> (admin)"));
    }
    // The data behind the audit page stays admin-only.
    assert_eq!(
        send(addr, "GET", "/api/audit", std::slice::from_ref(&viewer), "")
            .await
            .status,
        403
    );
    assert_eq!(send(addr, "GET", "/api/audit", &[admin], "").await.status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_assets_name_no_other_host_and_have_their_content_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let addr = server.http_addr();
    let viewer = sign_in(addr, "vera").await;
    let mut assets = vec![
        ("/assets/console.css".to_string(), "text/css; charset=utf-8"),
        ("/assets/console.js".to_string(), "text/javascript; charset=utf-8"),
    ];
    for (path, name) in PAGES {
        let page = send(addr, "GET", path, std::slice::from_ref(&viewer), "").await;
        assert!(
            absolute_urls(&page.body).is_empty(),
            "{path}: {:?}",
            absolute_urls(&page.body)
        );
        for reference in references(&page.body) {
            let local = reference.starts_with('/') && !reference.starts_with("//");
            assert!(local || reference == "data:,", "{path} refers to {reference:?}");
        }
        assets.push((format!("/assets/pages/{name}.js"), "text/javascript; charset=utf-8"));
    }
    let login = send(addr, "GET", "/login", &[], "").await;
    assert!(absolute_urls(&login.body).is_empty());
    for (path, content_type) in &assets {
        // Public: the sign-in page needs the styles before any session exists.
        let asset = send(addr, "GET", path, &[], "").await;
        assert_eq!(asset.status, 200, "{path}");
        assert_eq!(asset.header("content-type"), *content_type, "{path}");
        assert_eq!(asset.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(asset.header("cache-control"), "no-cache", "{path}");
        assert!(asset.body.len() > 200, "{path} is empty");
        assert!(
            absolute_urls(&asset.body).is_empty(),
            "{path}: {:?}",
            absolute_urls(&asset.body)
        );
        assert!(!asset.body.contains("@import"), "{path}");
        assert!(!asset.body.contains("eval("), "{path}");
    }
    for missing in [
        "/assets/pages/nope.js",
        "/assets/pages/..%2Fconsole.rs",
        "/assets/pages/console.js",
    ] {
        let reply = send(addr, "GET", missing, &[], "").await;
        assert_eq!(reply.status, 404, "{missing}");
    }
    server.shutdown().await;
}

/// Reads server-sent events from `path` until `want` events arrived.
async fn read_events(addr: SocketAddr, path: &str, cookie: &str, want: usize) -> Vec<Value> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{cookie}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while events.len() < want {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("stats events within 20 s")
            .unwrap();
        assert!(n > 0, "stream closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if events.is_empty() {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            if text.contains("\r\n\r\n") {
                let head = parse_reply(&text);
                assert_eq!(head.header("content-type"), "text/event-stream");
            }
        }
        events = text
            .split("event: stats\n")
            .skip(1)
            .filter_map(|chunk| chunk.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect();
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_counters_follow_real_ingest_as_snapshot_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let server = start(&data).await;
    let addr = server.http_addr();
    let viewer = sign_in(addr, "vera").await;

    let before = send(addr, "GET", "/api/stats", std::slice::from_ref(&viewer), "").await;
    assert_eq!(before.status, 200, "{}", before.body);
    let before: Value = serde_json::from_str(&before.body).unwrap();
    assert_eq!(before["events_ingested"], 0);
    assert_eq!(before["hosts"], 0);

    let first = read_events(addr, "/api/stream/stats", &viewer, 1).await;
    assert_eq!(first[0]["events_ingested"], 0);

    // A real shipper sends 300 events; both views count them.
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let token = server.create_enroll_token().unwrap();
    let cfg = ship_config(
        &server.grpc_url(),
        server.ca_pem(),
        &dir.path().join("h1"),
        "h1",
        Some(token),
    );
    let ship = weir_ship::Shipper::start(cfg, rx).await.unwrap();
    for i in 0..300 {
        tx.send(exec_event(i)).await.unwrap();
    }
    wait_until("events acked", || ship.stats().acked_events == 300).await;
    let after: Value = serde_json::from_str(
        &send(addr, "GET", "/api/stats", std::slice::from_ref(&viewer), "")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(after["events_ingested"], 300);
    assert_eq!(after["hosts"], 1);
    assert_eq!(after["connected"], 1);
    let streamed = read_events(addr, "/api/stream/stats", &viewer, 2).await;
    assert!(streamed.iter().all(|s| s["events_ingested"] == 300), "{streamed:?}");
    let times: Vec<u64> = streamed.iter().map(|s| s["at_unix_ns"].as_u64().unwrap()).collect();
    assert!(times[1] > times[0], "one event per tick: {times:?}");

    // A client that does not ask for a stream gets one event, then the end.
    let once = send(addr, "GET", "/api/stream/stats", std::slice::from_ref(&viewer), "").await;
    assert_eq!(once.status, 200);
    assert_eq!(once.body.matches("event: stats").count(), 1, "{}", once.body);

    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    // An open stream does not hold the collector up at shutdown.
    let mut open = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /api/stream/stats HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{viewer}\r\n\r\n");
    open.write_all(request.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), server.shutdown())
        .await
        .expect("shutdown with an open stream");
}
