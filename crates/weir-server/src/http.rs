//! The HTTP API (axum): event search and host list behind the admin bearer
//! token (compared in constant time), Prometheus metrics, and an
//! unauthenticated liveness probe. A sensor's credential is its ed25519 key,
//! which this API does not accept: sensors cannot read.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use weir_store::index::EventQuery;

use crate::{now_unix_ns, Shared};

/// Query string of GET /api/events: the index's query, with `since` and
/// `until` also accepted as a relative age ("30s", "10m", "2h", "7d").
#[derive(Debug, Default, Deserialize)]
pub struct ApiQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub since_unix_ns: Option<u64>,
    pub until_unix_ns: Option<u64>,
    pub host: Option<String>,
    pub kind: Option<String>,
    pub user: Option<String>,
    pub exe: Option<String>,
    pub contains: Option<String>,
    pub limit: Option<usize>,
}

/// Most rows one request may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// Parses "30s", "10m", "2h", "7d" or a plain count of nanoseconds since the
/// epoch into an absolute time.
pub fn parse_time(field: &str, value: &str, now_unix_ns: u64) -> Result<u64, String> {
    let value = value.trim();
    if let Ok(ns) = value.parse::<u64>() {
        return Ok(ns);
    }
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{field}: {value:?} is not an age like 30s, 10m, 2h, 7d or a time in ns"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{field}: {value:?} is not an age like 30s, 10m, 2h, 7d or a time in ns"))?;
    let age = n
        .checked_mul(scale)
        .and_then(|s| s.checked_mul(1_000_000_000))
        .ok_or_else(|| format!("{field}: {value:?} is too large"))?;
    Ok(now_unix_ns.saturating_sub(age))
}

impl ApiQuery {
    pub fn to_event_query(&self, now: u64) -> Result<EventQuery, String> {
        let since = match &self.since {
            Some(s) => Some(parse_time("since", s, now)?),
            None => self.since_unix_ns,
        };
        let until = match &self.until {
            Some(s) => Some(parse_time("until", s, now)?),
            None => self.until_unix_ns,
        };
        Ok(EventQuery {
            since_unix_ns: since,
            until_unix_ns: until,
            host: self.host.clone(),
            kind: self.kind.clone(),
            user: self.user.clone(),
            exe: self.exe.clone(),
            contains: self.contains.clone(),
            limit: Some(self.limit.unwrap_or(100).min(MAX_LIMIT)),
        })
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Middleware: requires `Authorization: Bearer <admin token>`.
pub async fn require_admin(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Hash both sides so the comparison time does not depend on lengths.
    let a = Sha256::digest(presented.trim().as_bytes());
    let b = Sha256::digest(shared.admin_token.as_bytes());
    if presented.is_empty() || !bool::from(a.ct_eq(&b)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "admin bearer token required" })),
        )
            .into_response();
    }
    next.run(request).await
}

async fn events(State(shared): State<Arc<Shared>>, Query(q): Query<ApiQuery>) -> Response {
    let query = match q.to_event_query(now_unix_ns()) {
        Ok(query) => query,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let reader = shared.reader.clone();
    let result = tokio::task::spawn_blocking(move || reader.lock().unwrap().query(&query)).await;
    match result {
        Ok(Ok(rows)) => {
            let rows: Vec<Value> = rows
                .into_iter()
                .map(|row| {
                    let mut ecs = row.ecs;
                    ecs.insert("evidence.leaf".into(), json!(row.leaf));
                    Value::Object(ecs)
                })
                .collect();
            Json(json!({ "events": rows })).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn hosts(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "hosts": shared.host_summaries() })).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// The API router: /healthz (open), /api/events, /api/hosts and /metrics
/// (admin token).
pub fn api_router(shared: Arc<Shared>) -> Router {
    let protected = Router::new()
        .route("/api/events", get(events))
        .route("/api/hosts", get(hosts))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(shared.clone(), require_admin));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(crate::console::router())
        .merge(protected)
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        let now = 1_000_000 * 1_000_000_000;
        assert_eq!(parse_time("since", "10m", now).unwrap(), now - 600 * 1_000_000_000);
        assert_eq!(
            parse_time("since", "7d", now).unwrap(),
            now - 7 * 86_400 * 1_000_000_000
        );
        assert_eq!(parse_time("since", "12345", now).unwrap(), 12345);
        assert!(parse_time("since", "10x", now).unwrap_err().contains("since"));
        assert!(parse_time("since", "m", now).is_err());
        assert!(parse_time("since", "99999999999999999999d", now).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_time_never_panics(s in ".{0,40}") {
            let _ = parse_time("since", &s, u64::MAX);
            let _ = parse_time("since", &s, 0);
        }
    }
}
