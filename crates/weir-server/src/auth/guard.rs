//! The one middleware in front of every non-public route: finds who is
//! calling (bearer token or session cookie), checks their role against the
//! route, demands CSRF proof on session-authenticated writes, and writes an
//! audit row for every write, allowed or not.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::counters::{bump, Admit};
use super::parse::{bearer_token, cookie_value, form_field, plausible_session_id, MAX_FORM_BYTES, SESSION_COOKIE};
use super::role::{is_state_changing, required_role};
use super::store::{secret_hash, AuditRecord};
use super::{AuthState, Role, API_TOKEN_PREFIX};

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// DATA/admin.token.
    AdminToken,
    /// DATA/metrics.token (GET /metrics only).
    MetricsToken,
    /// A `weir_at_` API token.
    ApiToken,
    /// A `weir_session` cookie from `POST /login`.
    Session,
}

/// The authenticated caller, put in the request's extensions for handlers
/// (`axum::Extension<weir_server::auth::Principal>`).
#[derive(Debug, Clone)]
pub struct Principal {
    /// User name, `token:NAME`, `admin-token` or `metrics-token`.
    pub actor: String,
    pub role: Role,
    pub credential: Credential,
    pub(crate) session_hash: Option<String>,
    pub(crate) csrf_token: Option<String>,
}

impl Principal {
    /// The CSRF token bound to this session (`None` for bearer callers).
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

/// Put in a response's extensions by a handler to name what was changed
/// (for example the user or alert id); the audit row uses it as its target
/// instead of the path.
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

/// The CSRF token of a session: derived from the session id (which never
/// leaves the cookie), so it needs no storage and dies with the session.
pub(crate) fn csrf_for_session(session_id: &str) -> String {
    hex::encode(Sha256::digest(format!("weir-csrf:{session_id}").as_bytes()))
}

/// Where a request came from, for the audit log and rate limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    pub source_ip: String,
    pub user_agent: String,
}

impl Origin {
    pub fn of(headers: &HeaderMap, connect: Option<&ConnectInfo<SocketAddr>>) -> Origin {
        Origin {
            source_ip: connect.map(|c| c.0.ip().to_string()).unwrap_or_default(),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .chars()
                .take(256)
                .collect(),
        }
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// 401, except that a browser asking for a page without a valid session is
/// sent to the sign-in form. A refused bearer token always gets 401: only
/// scripts send one.
fn unauthenticated(method: &Method, path: &str, bearer: bool, why: &str) -> Response {
    let is_page =
        !bearer && matches!(*method, Method::GET | Method::HEAD) && !path.starts_with("/api/") && path != "/metrics";
    if is_page {
        return Redirect::to("/login").into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({ "error": why })),
    )
        .into_response()
}

enum Found {
    Caller(Principal),
    /// No credential at all.
    Nobody,
    /// A credential that is not (or no longer) valid.
    Refused(&'static str),
    Failed(super::AuthError),
}

fn equal_hash(presented: &str, expected: &[u8; 32]) -> bool {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    bool::from(digest.ct_eq(expected))
}

async fn authenticate(auth: &AuthState, headers: &HeaderMap, method: &Method, path: &str) -> Found {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Some(token) = value.to_str().ok().and_then(bearer_token) else {
            return Found::Refused("an Authorization: Bearer token is required");
        };
        if equal_hash(token, &auth.admin_token_hash) {
            return Found::Caller(Principal {
                actor: "admin-token".into(),
                role: Role::Admin,
                credential: Credential::AdminToken,
                session_hash: None,
                csrf_token: None,
            });
        }
        if let Some(metrics) = &auth.metrics_token_hash {
            if equal_hash(token, metrics) {
                if path == "/metrics" && matches!(*method, Method::GET | Method::HEAD) {
                    return Found::Caller(Principal {
                        actor: "metrics-token".into(),
                        role: Role::Viewer,
                        credential: Credential::MetricsToken,
                        session_hash: None,
                        csrf_token: None,
                    });
                }
                return Found::Refused("the metrics token opens GET /metrics only");
            }
        }
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Found::Refused("bearer token refused");
        }
        let hash = secret_hash(token);
        return match auth
            .with_db(move |db| db.token_by_hash(&hash, crate::now_unix_ns()))
            .await
        {
            Ok(Some((name, role))) => Found::Caller(Principal {
                actor: format!("token:{name}"),
                role,
                credential: Credential::ApiToken,
                session_hash: None,
                csrf_token: None,
            }),
            Ok(None) => Found::Refused("bearer token refused (unknown, expired or revoked)"),
            Err(e) => Found::Failed(e),
        };
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie_value(v, SESSION_COOKIE).map(str::to_string));
    let Some(session_id) = cookie else { return Found::Nobody };
    if !plausible_session_id(&session_id) {
        return Found::Refused("session expired or signed out; sign in again");
    }
    let hash = secret_hash(&session_id);
    let idle = auth.config.session_idle.as_nanos() as u64;
    let lifetime = auth.config.session_lifetime.as_nanos() as u64;
    let lookup = hash.clone();
    match auth
        .with_db(move |db| db.touch_session(&lookup, crate::now_unix_ns(), idle, lifetime))
        .await
    {
        Ok(Some(user)) => Found::Caller(Principal {
            actor: user.username,
            role: user.role,
            credential: Credential::Session,
            session_hash: Some(hash),
            csrf_token: Some(csrf_for_session(&session_id)),
        }),
        Ok(None) => Found::Refused("session expired or signed out; sign in again"),
        Err(e) => Found::Failed(e),
    }
}

/// Refuses cross-site writes by their browser-set headers, when present:
/// `Sec-Fetch-Site` must be same-origin (or none: typed by the user), and
/// `Origin` must name this host.
pub(crate) fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Some("cross-site request refused (Sec-Fetch-Site)");
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin = origin.to_str().unwrap_or("");
        let same = !host.is_empty() && (origin == format!("http://{host}") || origin == format!("https://{host}"));
        if !same {
            return Some("cross-site request refused (Origin)");
        }
    }
    None
}

/// Checks the CSRF token of a session-authenticated write: header
/// `X-CSRF-Token`, or form field `csrf` (the body is read, bounded, and put
/// back). Returns the request to pass on, or the refusal.
async fn check_csrf(request: Request, expected: &str) -> Result<Request, Response> {
    if let Some(reason) = cross_site(request.headers()) {
        return Err(json_error(StatusCode::FORBIDDEN, reason));
    }
    let matches = |presented: &str| bool::from(presented.as_bytes().ct_eq(expected.as_bytes()));
    if let Some(value) = request.headers().get("x-csrf-token") {
        return if value.to_str().map(matches).unwrap_or(false) {
            Ok(request)
        } else {
            Err(json_error(StatusCode::FORBIDDEN, "wrong CSRF token"))
        };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "CSRF token required (X-CSRF-Token header or csrf form field)",
        ));
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return Err(json_error(StatusCode::PAYLOAD_TOO_LARGE, "form body too large")),
    };
    match form_field(&bytes, "csrf") {
        Some(token) if matches(&token) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Some(_) => Err(json_error(StatusCode::FORBIDDEN, "wrong CSRF token")),
        None => Err(json_error(
            StatusCode::FORBIDDEN,
            "CSRF token required (csrf form field)",
        )),
    }
}

/// Appends an audit row; a failure to write is logged and counted, never hidden.
pub(crate) async fn audit(auth: &AuthState, record: AuditRecord) {
    match auth.with_db(move |db| db.append_audit(&record)).await {
        Ok(()) => bump(&auth.counters.audit_rows),
        Err(error) => {
            bump(&auth.counters.audit_write_errors);
            tracing::error!(%error, "could not write an audit row");
        }
    }
}

/// Appends an audit row about an unauthenticated caller, within the
/// per-minute budget; past it the row is only counted, and the next row
/// written is preceded by a summary of how many were not.
pub(crate) async fn audit_unauthenticated(auth: &AuthState, record: AuditRecord) {
    match auth.unauthenticated_audit.admit(Instant::now()) {
        Admit::Skip => bump(&auth.counters.audit_rows_not_recorded),
        Admit::Write { skipped } => {
            if skipped > 0 {
                let origin = Origin::default();
                let outcome = format!("{skipped} rows about unauthenticated callers not recorded (over budget)");
                let summary = audit_record(
                    "anonymous",
                    None,
                    "audit-summary".into(),
                    String::new(),
                    &origin,
                    outcome,
                );
                audit(auth, summary).await;
            }
            audit(auth, record).await;
        }
    }
}

pub(crate) fn audit_record(
    actor: &str,
    role: Option<Role>,
    action: String,
    target: String,
    origin: &Origin,
    outcome: String,
) -> AuditRecord {
    AuditRecord {
        id: 0,
        time_unix_ns: crate::now_unix_ns(),
        actor: actor.to_string(),
        role: role.map(|r| r.as_str().to_string()).unwrap_or_default(),
        action,
        target,
        source_ip: origin.source_ip.clone(),
        user_agent: origin.user_agent.clone(),
        outcome,
    }
}

/// The middleware (`axum::middleware::from_fn_with_state(auth, guard)`).
pub async fn guard(State(auth): State<Arc<AuthState>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let origin = Origin::of(request.headers(), request.extensions().get::<ConnectInfo<SocketAddr>>());
    let writes = is_state_changing(&method);
    let action = format!("{method} {path}");

    let bearer = request.headers().contains_key(header::AUTHORIZATION);
    let principal = match authenticate(&auth, request.headers(), &method, &path).await {
        Found::Caller(principal) => principal,
        found @ (Found::Nobody | Found::Refused(_)) => {
            bump(&auth.counters.unauthenticated);
            if writes {
                let record = audit_record("anonymous", None, action, path.clone(), &origin, "401".into());
                audit_unauthenticated(&auth, record).await;
            }
            let why = match found {
                Found::Refused(why) => why,
                _ => "authentication required (bearer token or session)",
            };
            return unauthenticated(&method, &path, bearer, why);
        }
        Found::Failed(error) => {
            tracing::error!(%error, "authentication lookup failed");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "authentication store unavailable");
        }
    };

    let needed = required_role(&method, &path, &auth.config.route_roles);
    if principal.role < needed {
        bump(&auth.counters.forbidden);
        if writes {
            let record = audit_record(
                &principal.actor,
                Some(principal.role),
                action,
                path,
                &origin,
                "403".into(),
            );
            audit(&auth, record).await;
        }
        return json_error(
            StatusCode::FORBIDDEN,
            &format!(
                "this needs the {needed} role; {} has {}",
                principal.actor, principal.role
            ),
        );
    }

    let mut request = request;
    if writes && principal.credential == Credential::Session {
        let expected = principal.csrf_token.clone().unwrap_or_default();
        request = match check_csrf(request, &expected).await {
            Ok(request) => request,
            Err(refusal) => {
                bump(&auth.counters.csrf_refused);
                let outcome = format!("{} (csrf)", refusal.status().as_u16());
                let record = audit_record(&principal.actor, Some(principal.role), action, path, &origin, outcome);
                audit(&auth, record).await;
                return refusal;
            }
        };
    }

    let actor = principal.actor.clone();
    let role = principal.role;
    request.extensions_mut().insert(principal);
    let response = next.run(request).await;
    if writes {
        let target = response
            .extensions()
            .get::<AuditTarget>()
            .map(|t| t.0.clone())
            .unwrap_or(path);
        let outcome = response.status().as_u16().to_string();
        audit(
            &auth,
            audit_record(&actor, Some(role), action, target, &origin, outcome),
        )
        .await;
    }
    response
}
