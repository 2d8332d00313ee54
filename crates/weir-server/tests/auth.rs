//! HTTP tests of authentication and roles against a real collector on
//! loopback: logins, rate limits, cookie flags, roles on built-in and merged
//! routes, CSRF, session expiry and logout, API tokens, sensor credentials,
//! security headers, the audit log and the OpenAPI document.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_server::auth::{self, Principal, Role};
use weir_server::{ServerConfig, ServerHandle};

/// One HTTP/1.1 exchange as seen on the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// Lower-case header names; repeated headers joined with "\n".
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request (`headers` as "Name: value" lines) and reads the whole reply.
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
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut map: HashMap<String, String> = HashMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let entry = map.entry(k.trim().to_ascii_lowercase()).or_default();
            if !entry.is_empty() {
                entry.push('\n');
            }
            entry.push_str(v.trim());
        }
    }
    // Bodies here are small and not chunked past one chunk when JSON; strip a
    // single chunk frame if the server used chunked encoding.
    let body = if map.get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers: map,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn bearer(token: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {token}")]
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() {
                s.push(b as char);
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
    }
    s
}

const FORM: &str = "Content-Type: application/x-www-form-urlencoded";

async fn post_login(addr: SocketAddr, user: &str, password: &str) -> Reply {
    let body = form(&[("username", user), ("password", password)]);
    send(addr, "POST", "/login", &[FORM.to_string()], &body).await
}

/// A signed-in browser: its session cookie and the session's CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    fn headers(&self) -> Vec<String> {
        vec![format!("Cookie: weir_session={}", self.cookie)]
    }

    fn with_csrf(&self) -> Vec<String> {
        let mut h = self.headers();
        h.push(format!("X-CSRF-Token: {}", self.csrf));
        h
    }
}

fn session_cookie(reply: &Reply) -> String {
    let set_cookie = reply.header("set-cookie");
    let first = set_cookie.split(';').next().unwrap_or("");
    first
        .strip_prefix("weir_session=")
        .unwrap_or_else(|| panic!("no session cookie in {set_cookie:?}"))
        .to_string()
}

async fn sign_in(addr: SocketAddr, user: &str, password: &str) -> Browser {
    let reply = post_login(addr, user, password).await;
    assert_eq!(reply.status, 303, "login of {user}: {}", reply.body);
    let cookie = session_cookie(&reply);
    let me = send(addr, "GET", "/api/me", &[format!("Cookie: weir_session={cookie}")], "").await;
    assert_eq!(me.status, 200, "{}", me.body);
    let csrf = me.json()["csrf_token"].as_str().unwrap().to_string();
    Browser { cookie, csrf }
}

/// Routes standing in for the ones the `weir` binary merges: resolving an
/// alert and adding a suppression (analyst), listing alerts (viewer).
fn merged_routes() -> Router {
    async fn resolve(Extension(who): Extension<Principal>) -> Json<Value> {
        Json(json!({ "resolved_by": who.actor, "role": who.role }))
    }
    async fn suppress(Extension(who): Extension<Principal>) -> Json<Value> {
        Json(json!({ "suppressed_by": who.actor }))
    }
    Router::new()
        .route("/api/alerts", get(|| async { Json(json!({ "alerts": [] })) }))
        .route("/api/alerts/{id}/resolve", post(resolve))
        .route("/api/suppressions", post(suppress))
}

const PASSWORD: &str = "a long enough password";

fn users(data: &Path) {
    auth::add_user(data, "vera", Role::Viewer, PASSWORD).unwrap();
    auth::add_user(data, "ana", Role::Analyst, PASSWORD).unwrap();
    auth::add_user(data, "adam", Role::Admin, PASSWORD).unwrap();
}

async fn start_with(data: &Path, tune: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    let mut config = common::config(data);
    config.http_routes = Some(merged_routes());
    // A public page with its own (nonce-based) policy, like the triage page.
    let own_policy = || async {
        (
            [(axum::http::header::CONTENT_SECURITY_POLICY, "default-src 'none'")],
            "own policy",
        )
    };
    config.public_routes = Some(
        Router::new()
            .route("/triage/{token}", get(|| async { "triage page" }))
            .route("/own-policy", get(own_policy)),
    );
    tune(&mut config);
    weir_server::Server::start(config).await.expect("collector starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_strict_http_only_cookie_and_opens_the_console() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();

    // Without a session the console redirects to the sign-in page, which is public.
    let page = send(addr, "GET", "/", &[], "").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), "/login");
    let login_page = send(addr, "GET", "/login", &[], "").await;
    assert_eq!(login_page.status, 200);
    assert!(login_page.body.contains("name=\"password\""));

    let reply = post_login(addr, "vera", PASSWORD).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.header("location"), "/");
    let cookie = reply.header("set-cookie").to_string();
    assert!(cookie.starts_with("weir_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.split("; ").any(|part| part == flag),
            "{flag} missing in {cookie}"
        );
    }
    // Plain HTTP listener: a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let id = session_cookie(&reply);
    assert_eq!(id.len(), 64, "256-bit session id in hex");
    // The database keeps only a hash of the session id.
    let db = std::fs::read(dir.path().join("auth.db")).unwrap();
    let wal = std::fs::read(dir.path().join("auth.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(id.len()).any(|w| w == id.as_bytes()));
    }

    let browser = Browser {
        cookie: id,
        csrf: String::new(),
    };
    let console = send(addr, "GET", "/", &browser.headers(), "").await;
    assert_eq!(console.status, 200);
    assert!(
        console.body.contains("signed in as <b>vera</b> (viewer)"),
        "{}",
        console.body
    );
    assert!(console.body.contains("<meta name=\"csrf-token\" content=\""));
    assert!(!console.body.contains("{{"), "template fully filled");
    let me = send(addr, "GET", "/api/me", &browser.headers(), "").await.json();
    assert_eq!(me["actor"], "vera");
    assert_eq!(me["role"], "viewer");
    assert!(console.body.contains(me["csrf_token"].as_str().unwrap()));

    // A wrong password, an unknown user and a disabled user all get the same answer.
    for (user, password) in [("vera", "not the password"), ("nobody", PASSWORD)] {
        let refused = post_login(addr, user, password).await;
        assert_eq!(refused.status, 401, "{user}");
        assert!(refused.body.contains("Wrong username or password."));
        assert!(refused.header("set-cookie").is_empty());
    }
    auth::disable_user(dir.path(), "ana").unwrap();
    assert_eq!(post_login(addr, "ana", PASSWORD).await.status, 401);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited_per_user_and_address() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    for attempt in 1..=5 {
        let reply = post_login(addr, "adam", &format!("wrong password {attempt}")).await;
        assert_eq!(reply.status, 401, "attempt {attempt}");
    }
    // The sixth try is refused before the password is looked at, even the right one.
    let limited = post_login(addr, "adam", PASSWORD).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry: u64 = limited.header("retry-after").parse().expect("Retry-After in seconds");
    assert!((1..=300).contains(&retry), "{retry}");
    // The address is over the limit too: another user from it is refused.
    assert_eq!(post_login(addr, "vera", PASSWORD).await.status, 429);
    // Every attempt is in the audit log.
    let rows = auth::read_audit(dir.path(), 100).unwrap();
    let logins: Vec<_> = rows.iter().filter(|r| r.action == "login").collect();
    assert_eq!(logins.iter().filter(|r| r.outcome == "refused").count(), 5);
    assert_eq!(logins.iter().filter(|r| r.outcome == "rate-limited").count(), 2);
    assert!(logins.iter().all(|r| r.source_ip == "127.0.0.1"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_gate_reads_writes_and_admin_routes() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    let viewer = sign_in(addr, "vera", PASSWORD).await;
    let analyst = sign_in(addr, "ana", PASSWORD).await;
    let admin = sign_in(addr, "adam", PASSWORD).await;

    // Reads: everyone.
    for who in [&viewer, &analyst, &admin] {
        for path in [
            "/api/events",
            "/api/hosts",
            "/api/alerts",
            "/metrics",
            "/api/openapi.json",
        ] {
            assert_eq!(send(addr, "GET", path, &who.headers(), "").await.status, 200, "{path}");
        }
    }
    // A viewer can neither resolve nor suppress, even with a valid CSRF token.
    for path in ["/api/alerts/a1/resolve", "/api/suppressions"] {
        let reply = send(addr, "POST", path, &viewer.with_csrf(), "").await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
        assert!(reply.json()["error"].as_str().unwrap().contains("analyst"));
    }
    // An analyst can; the handler sees who did it.
    let resolved = send(addr, "POST", "/api/alerts/a1/resolve", &analyst.with_csrf(), "").await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(resolved.json()["resolved_by"], "ana");
    assert_eq!(
        send(addr, "POST", "/api/suppressions", &analyst.with_csrf(), "")
            .await
            .status,
        200
    );
    // Admin-only paths: not for an analyst.
    for path in ["/api/admin/users", "/api/admin/tokens", "/api/audit"] {
        assert_eq!(
            send(addr, "GET", path, &analyst.headers(), "").await.status,
            403,
            "{path}"
        );
        assert_eq!(
            send(addr, "GET", path, &admin.headers(), "").await.status,
            200,
            "{path}"
        );
    }
    let new_user = json!({ "username": "eve", "role": "viewer", "password": PASSWORD }).to_string();
    let mut json_headers = analyst.with_csrf();
    json_headers.push("Content-Type: application/json".into());
    assert_eq!(
        send(addr, "POST", "/api/admin/users", &json_headers, &new_user)
            .await
            .status,
        403
    );
    let mut json_headers = admin.with_csrf();
    json_headers.push("Content-Type: application/json".into());
    let created = send(addr, "POST", "/api/admin/users", &json_headers, &new_user).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(auth::list_users(dir.path())
        .unwrap()
        .iter()
        .any(|u| u.username == "eve"));

    // A role change applies to a live session at its next request.
    auth::set_role(dir.path(), "vera", Role::Analyst).unwrap();
    assert_eq!(
        send(addr, "POST", "/api/suppressions", &viewer.with_csrf(), "")
            .await
            .status,
        200
    );
    // Disabling a user ends their sessions.
    auth::disable_user(dir.path(), "ana").unwrap();
    assert_eq!(
        send(addr, "GET", "/api/events", &analyst.headers(), "").await.status,
        401
    );

    // The admin token stays an admin API token, with no CSRF needed.
    let admin_token = common::admin_token(&server);
    assert_eq!(
        send(addr, "GET", "/api/admin/users", &bearer(&admin_token), "")
            .await
            .status,
        200
    );
    let by_token = send(addr, "POST", "/api/alerts/a2/resolve", &bearer(&admin_token), "").await;
    assert_eq!(by_token.status, 200);
    assert_eq!(by_token.json()["resolved_by"], "admin-token");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_writes_need_the_csrf_token_bearer_writes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    let ana = sign_in(addr, "ana", PASSWORD).await;
    let other = sign_in(addr, "adam", PASSWORD).await;
    let path = "/api/alerts/a1/resolve";

    let missing = send(addr, "POST", path, &ana.headers(), "").await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(missing.json()["error"].as_str().unwrap().contains("CSRF"));
    let mut wrong = ana.headers();
    wrong.push(format!("X-CSRF-Token: {}", "0".repeat(64)));
    assert_eq!(send(addr, "POST", path, &wrong, "").await.status, 403);
    // Another session's token is not this session's.
    let mut foreign = ana.headers();
    foreign.push(format!("X-CSRF-Token: {}", other.csrf));
    assert_eq!(send(addr, "POST", path, &foreign, "").await.status, 403);
    // Right token: header or form field.
    assert_eq!(send(addr, "POST", path, &ana.with_csrf(), "").await.status, 200);
    let mut form_headers = ana.headers();
    form_headers.push(FORM.into());
    let body = form(&[("note", "seen"), ("csrf", &ana.csrf)]);
    assert_eq!(send(addr, "POST", path, &form_headers, &body).await.status, 200);
    let body = form(&[("note", "seen"), ("csrf", "nope")]);
    assert_eq!(send(addr, "POST", path, &form_headers, &body).await.status, 403);
    // A cross-site request is refused even with the token.
    let mut cross = ana.with_csrf();
    cross.push("Origin: https://evil.example".into());
    assert_eq!(send(addr, "POST", path, &cross, "").await.status, 403);
    let mut cross = ana.with_csrf();
    cross.push("Sec-Fetch-Site: cross-site".into());
    assert_eq!(send(addr, "POST", path, &cross, "").await.status, 403);
    let mut same = ana.with_csrf();
    same.push(format!("Origin: http://{addr}"));
    same.push("Sec-Fetch-Site: same-origin".into());
    assert_eq!(send(addr, "POST", path, &same, "").await.status, 200);
    // Cross-site logins are refused too (login CSRF).
    let body = form(&[("username", "ana"), ("password", PASSWORD)]);
    let cross_login = send(
        addr,
        "POST",
        "/login",
        &[FORM.into(), "Origin: https://evil.example".into()],
        &body,
    )
    .await;
    assert_eq!(cross_login.status, 403);

    // Bearer tokens carry no ambient authority: no CSRF token needed.
    let token = auth::create_api_token(dir.path(), "script", Role::Analyst, None).unwrap();
    assert_eq!(send(addr, "POST", path, &bearer(&token), "").await.status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_at_their_lifetime_and_end_at_logout() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let idle = Duration::from_millis(1500);
    let lifetime = Duration::from_secs(4);
    let server = start_with(dir.path(), |c| {
        c.auth.session_idle = idle;
        c.auth.session_lifetime = lifetime;
    })
    .await;
    let addr = server.http_addr();

    // Idle timeout.
    let idle_browser = sign_in(addr, "vera", PASSWORD).await;
    assert_eq!(
        send(addr, "GET", "/api/events", &idle_browser.headers(), "")
            .await
            .status,
        200
    );
    tokio::time::sleep(idle + Duration::from_millis(300)).await;
    let expired = send(addr, "GET", "/api/events", &idle_browser.headers(), "").await;
    assert_eq!(expired.status, 401, "{}", expired.body);
    assert!(expired.json()["error"].as_str().unwrap().contains("sign in again"));
    // A page request is sent to the sign-in form instead.
    let page = send(addr, "GET", "/", &idle_browser.headers(), "").await;
    assert_eq!((page.status, page.header("location")), (303, "/login"));

    // Absolute lifetime: kept busy (well inside the idle timeout), it still ends.
    let busy = sign_in(addr, "vera", PASSWORD).await;
    let started = std::time::Instant::now();
    let mut last = 200;
    while started.elapsed() < lifetime + Duration::from_secs(1) {
        last = send(addr, "GET", "/api/hosts", &busy.headers(), "").await.status;
        if started.elapsed() < lifetime - Duration::from_millis(500) {
            assert_eq!(last, 200, "session ended early at {:?}", started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(last, 401, "session outlived its lifetime");

    // Logout: the cookie is cleared and the old session id no longer works.
    let browser = sign_in(addr, "vera", PASSWORD).await;
    let mut headers = browser.headers();
    headers.push(FORM.into());
    let without_csrf = send(addr, "POST", "/logout", &headers, "").await;
    assert_eq!(without_csrf.status, 403);
    let out = send(addr, "POST", "/logout", &headers, &form(&[("csrf", &browser.csrf)])).await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.header("location"), "/login");
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(
        send(addr, "GET", "/api/events", &browser.headers(), "").await.status,
        401
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_work_until_revoked_or_expired_and_sensor_credentials_never_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();

    let viewer = auth::create_api_token(dir.path(), "grafana", Role::Viewer, None).unwrap();
    assert_eq!(send(addr, "GET", "/api/events", &bearer(&viewer), "").await.status, 200);
    assert_eq!(
        send(addr, "POST", "/api/suppressions", &bearer(&viewer), "")
            .await
            .status,
        403
    );
    let me = send(addr, "GET", "/api/me", &bearer(&viewer), "").await.json();
    assert_eq!(me["actor"], "token:grafana");
    assert!(me["csrf_token"].is_null());
    auth::revoke_api_token(dir.path(), "grafana").unwrap();
    assert_eq!(send(addr, "GET", "/api/events", &bearer(&viewer), "").await.status, 401);

    let short = auth::create_api_token(dir.path(), "short", Role::Viewer, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(send(addr, "GET", "/api/hosts", &bearer(&short), "").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(send(addr, "GET", "/api/hosts", &bearer(&short), "").await.status, 401);

    // Tokens made over the admin API work the same way and are shown once.
    let admin = common::admin_token(&server);
    let mut headers = bearer(&admin);
    headers.push("Content-Type: application/json".into());
    let body = json!({ "name": "ci", "role": "analyst" }).to_string();
    let created = send(addr, "POST", "/api/admin/tokens", &headers, &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let ci = created.json()["token"].as_str().unwrap().to_string();
    assert!(ci.starts_with("weir_at_"));
    assert_eq!(
        send(addr, "POST", "/api/suppressions", &bearer(&ci), "").await.status,
        200
    );
    let listed = send(addr, "GET", "/api/admin/tokens", &bearer(&admin), "").await;
    assert!(!listed.body.contains(&ci), "token secret listed");
    assert_eq!(
        send(addr, "DELETE", "/api/admin/tokens/ci", &bearer(&admin), "")
            .await
            .status,
        200
    );
    assert_eq!(
        send(addr, "POST", "/api/suppressions", &bearer(&ci), "").await.status,
        401
    );

    // What a sensor holds opens nothing: an enrollment token (fresh or used)...
    let enroll = server.create_enroll_token().unwrap();
    for path in ["/api/events", "/api/hosts", "/metrics", "/"] {
        assert_eq!(
            send(addr, "GET", path, &bearer(&enroll), "").await.status,
            401,
            "{path}"
        );
    }
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    common::enroll(&server.grpc_url(), server.ca_pem(), &enroll, "h1", &key)
        .await
        .unwrap();
    assert_eq!(send(addr, "GET", "/api/events", &bearer(&enroll), "").await.status, 401);
    // ...nor its key, nor its host id, nor either as a session cookie.
    for credential in [hex::encode(key.to_bytes()), "h1".to_string()] {
        assert_eq!(
            send(addr, "GET", "/api/hosts", &bearer(&credential), "").await.status,
            401
        );
        let cookie = vec![format!("Cookie: weir_session={credential}")];
        assert_eq!(send(addr, "GET", "/api/hosts", &cookie, "").await.status, 401);
    }
    assert_eq!(
        send(
            addr,
            "GET",
            "/api/hosts",
            &[format!("Cookie: weir_session={enroll}")],
            ""
        )
        .await
        .status,
        401
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_opens_metrics_only() {
    let dir = tempfile::tempdir().unwrap();
    let token = auth::create_metrics_token(dir.path()).unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    let metrics = send(addr, "GET", "/metrics", &bearer(&token), "").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("weir_"), "{}", metrics.body);
    for path in ["/api/events", "/api/hosts", "/"] {
        assert_eq!(send(addr, "GET", path, &bearer(&token), "").await.status, 401, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    let admin = common::admin_token(&server);
    let viewer = sign_in(addr, "vera", PASSWORD).await;
    let replies = vec![
        ("/healthz", send(addr, "GET", "/healthz", &[], "").await),
        ("/login", send(addr, "GET", "/login", &[], "").await),
        ("/api/events 401", send(addr, "GET", "/api/events", &[], "").await),
        (
            "/api/events",
            send(addr, "GET", "/api/events", &bearer(&admin), "").await,
        ),
        ("/", send(addr, "GET", "/", &viewer.headers(), "").await),
        (
            "/assets/console.js",
            send(addr, "GET", "/assets/console.js", &[], "").await,
        ),
        (
            "merged 403",
            send(addr, "POST", "/api/suppressions", &viewer.with_csrf(), "").await,
        ),
        ("public route", send(addr, "GET", "/triage/abc", &[], "").await),
        ("unknown path", send(addr, "GET", "/nope", &[], "").await),
    ];
    for (what, reply) in &replies {
        let csp = reply.header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{what}: {csp:?}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}");
        assert!(!csp.contains("unsafe-inline"), "{what}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(reply.header("x-frame-options"), "DENY", "{what}");
        assert_eq!(reply.header("referrer-policy"), "same-origin", "{what}");
        let cache = reply.header("cache-control");
        if what.starts_with("/assets") {
            assert_eq!(cache, "no-cache");
        } else {
            assert_eq!(cache, "no-store", "{what}");
        }
    }
    // The public route mounted by the binary needs no credential.
    assert_eq!(replies[7].1.status, 200);
    assert_eq!(replies[7].1.body, "triage page");
    // A route that sets its own policy keeps it; the other headers are still added.
    let own = send(addr, "GET", "/own-policy", &[], "").await;
    assert_eq!(own.header("content-security-policy"), "default-src 'none'");
    assert_eq!(own.header("x-frame-options"), "DENY");
    // The strict policy holds because no page carries inline script or style.
    for page in [&replies[1].1.body, &replies[4].1.body] {
        assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains("style="));
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_logins_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    assert_eq!(post_login(addr, "ana", "wrong password!").await.status, 401);
    let ana = sign_in(addr, "ana", PASSWORD).await;
    let mut headers = ana.with_csrf();
    headers.push("User-Agent: audit-test/1".into());
    assert_eq!(
        send(addr, "POST", "/api/alerts/a9/resolve", &headers, "").await.status,
        200
    );
    assert_eq!(
        send(addr, "POST", "/api/admin/users/vera", &headers, "{}").await.status,
        403
    );
    assert_eq!(send(addr, "POST", "/api/suppressions", &[], "").await.status, 401);
    // Reads are not audited.
    assert_eq!(send(addr, "GET", "/api/events", &ana.headers(), "").await.status, 200);

    let rows = auth::read_audit(dir.path(), 100).unwrap();
    let find = |action: &str, outcome: &str| {
        rows.iter()
            .find(|r| r.action == action && r.outcome == outcome)
            .unwrap_or_else(|| panic!("no audit row {action} {outcome} in {rows:#?}"))
    };
    let failed = find("login", "refused");
    assert_eq!((failed.actor.as_str(), failed.source_ip.as_str()), ("ana", "127.0.0.1"));
    let ok = find("login", "ok");
    assert_eq!((ok.actor.as_str(), ok.role.as_str()), ("ana", "analyst"));
    let write = find("POST /api/alerts/a9/resolve", "200");
    assert_eq!(write.actor, "ana");
    assert_eq!(write.role, "analyst");
    assert_eq!(write.target, "/api/alerts/a9/resolve");
    assert_eq!(write.user_agent, "audit-test/1");
    assert_eq!(find("POST /api/admin/users/vera", "403").actor, "ana");
    assert_eq!(find("POST /api/suppressions", "401").actor, "anonymous");
    assert!(!rows.iter().any(|r| r.action.starts_with("GET")));
    assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    // Over HTTP: admins only; an admin change names its target.
    assert_eq!(send(addr, "GET", "/api/audit", &ana.headers(), "").await.status, 403);
    let admin = common::admin_token(&server);
    let mut json_headers = bearer(&admin);
    json_headers.push("Content-Type: application/json".into());
    let change = send(
        addr,
        "POST",
        "/api/admin/users/vera",
        &json_headers,
        r#"{"role":"analyst"}"#,
    )
    .await;
    assert_eq!(change.status, 200, "{}", change.body);
    let audit = send(addr, "GET", "/api/audit?limit=5", &bearer(&admin), "").await;
    assert_eq!(audit.status, 200);
    let listed = audit.json()["audit"].as_array().unwrap().clone();
    assert!(listed.len() <= 5);
    assert_eq!(listed[0]["actor"], "admin-token");
    assert_eq!(listed[0]["target"], "user:vera");
    assert_eq!(listed[0]["outcome"], "200");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_served_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    let admin = common::admin_token(&server);
    let reply = send(addr, "GET", "/api/openapi.json", &bearer(&admin), "").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").starts_with("application/json"));
    let doc = reply.json();
    let routes = weir_server::http::routes();
    assert!(routes.len() >= 15, "{routes:?}");
    for (method, path, public) in routes {
        let op = &doc["paths"][path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "openapi.json lacks {method} {path}");
        assert_eq!(op["x-weir-role"] == "public", public, "{method} {path}: public flag");
        // The route is really served under that method (no 404/405).
        let concrete = path.replace("{username}", "nobody").replace("{name}", "nothing");
        let served = send(addr, method.as_str(), &concrete, &bearer(&admin), "").await;
        assert!(
            served.status != 404 || concrete.contains("nobody") || concrete.contains("nothing"),
            "{method} {path}: {}",
            served.status
        );
        assert_ne!(served.status, 405, "{method} {path}");
    }
    // The routes the weir binary merges are documented too.
    assert!(doc["paths"]["/api/alerts"]["get"].is_object());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_audit_rows_are_bounded_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |c| c.auth.max_unauthenticated_audit_per_minute = 2).await;
    let addr = server.http_addr();
    for _ in 0..5 {
        assert_eq!(send(addr, "POST", "/api/suppressions", &[], "").await.status, 401);
    }
    assert_eq!(post_login(addr, "vera", "wrong password!").await.status, 401);
    // Authenticated writes are always recorded.
    let admin = common::admin_token(&server);
    assert_eq!(
        send(addr, "POST", "/api/suppressions", &bearer(&admin), "")
            .await
            .status,
        200
    );

    let rows = auth::read_audit(dir.path(), 100).unwrap();
    let anonymous = rows
        .iter()
        .filter(|r| r.action == "POST /api/suppressions" && r.outcome == "401");
    assert_eq!(anonymous.count(), 2);
    assert!(!rows.iter().any(|r| r.action == "login"), "over budget: {rows:#?}");
    assert!(rows.iter().any(|r| r.actor == "admin-token" && r.outcome == "200"));

    let metrics = send(addr, "GET", "/metrics", &bearer(&admin), "").await.body;
    for line in [
        "weir_audit_rows_not_recorded_total 4",
        "weir_auth_refused_requests_total{reason=\"unauthenticated\"} 5",
        "weir_auth_logins_total{outcome=\"refused\"} 1",
        "weir_audit_rows_total 3",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in:\n{metrics}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_change_their_own_password_and_sign_in_again() {
    let dir = tempfile::tempdir().unwrap();
    users(dir.path());
    let server = start_with(dir.path(), |_| {}).await;
    let addr = server.http_addr();
    let vera = sign_in(addr, "vera", PASSWORD).await;
    let mut headers = vera.with_csrf();
    headers.push("Content-Type: application/json".into());
    let new_password = "a brand new password";
    let wrong = json!({ "current_password": "not it at all", "new_password": new_password }).to_string();
    let refused = send(addr, "POST", "/api/me/password", &headers, &wrong).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let right = json!({ "current_password": PASSWORD, "new_password": new_password }).to_string();
    // Without the CSRF token it is refused like any other write.
    let mut no_csrf = vera.headers();
    no_csrf.push("Content-Type: application/json".into());
    assert_eq!(
        send(addr, "POST", "/api/me/password", &no_csrf, &right).await.status,
        403
    );
    let changed = send(addr, "POST", "/api/me/password", &headers, &right).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    // Every session of the user ended; only the new password opens a new one.
    assert_eq!(send(addr, "GET", "/api/events", &vera.headers(), "").await.status, 401);
    assert_eq!(post_login(addr, "vera", PASSWORD).await.status, 401);
    sign_in(addr, "vera", new_password).await;
    // A bearer token is not a user: it has no password to change.
    let admin = common::admin_token(&server);
    let mut bearer_json = bearer(&admin);
    bearer_json.push("Content-Type: application/json".into());
    assert_eq!(
        send(addr, "POST", "/api/me/password", &bearer_json, &right)
            .await
            .status,
        400
    );
    let rows = auth::read_audit(dir.path(), 100).unwrap();
    assert!(rows
        .iter()
        .any(|r| r.action == "POST /api/me/password" && r.target == "user:vera" && r.outcome == "200"));
    server.shutdown().await;
}
