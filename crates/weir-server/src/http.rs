//! The HTTP API (axum): the route table (event search, host list,
//! Prometheus metrics, the OpenAPI document, a liveness probe, plus the
//! console and auth routes of their modules) and the application that puts
//! every non-public route behind [`crate::auth::guard`]. A sensor's
//! credential is its ed25519 key and enrollment token, which this API does
//! not accept: sensors cannot read.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
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
    pub seq: Option<u64>,
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
            seq: self.seq,
            limit: Some(self.limit.unwrap_or(100).min(MAX_LIMIT)),
        })
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
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
    let mut text = shared.metrics.render();
    text.push_str(&shared.auth.render_metrics());
    if let Some(extra) = shared.config.metrics_extra.clone() {
        text.push_str(&tokio::task::spawn_blocking(move || extra()).await.unwrap_or_default());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The OpenAPI 3.1 document of this API and of the routes the `weir` binary
/// merges (hand-written; a test checks it lists every route of [`routes`]).
pub const OPENAPI: &str = include_str!("openapi.json");

/// One route of the collector's HTTP listener. The router is built from
/// this table only, so the table is the complete list (the OpenAPI test
/// walks it).
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    /// Served without authentication.
    pub public: bool,
    pub(crate) handler: MethodRouter<Arc<Shared>>,
}

impl Route {
    pub(crate) fn public(method: Method, path: &'static str, handler: MethodRouter<Arc<Shared>>) -> Route {
        Route {
            method,
            path,
            public: true,
            handler,
        }
    }

    pub(crate) fn guarded(method: Method, path: &'static str, handler: MethodRouter<Arc<Shared>>) -> Route {
        Route {
            method,
            path,
            public: false,
            handler,
        }
    }
}

fn all_routes() -> Vec<Route> {
    let mut routes = vec![
        Route::public(Method::GET, "/healthz", get(healthz)),
        Route::guarded(Method::GET, "/api/events", get(events)),
        Route::guarded(Method::GET, "/api/hosts", get(hosts)),
        Route::guarded(Method::GET, "/api/openapi.json", get(openapi)),
        Route::guarded(Method::GET, "/metrics", get(metrics)),
    ];
    routes.extend(crate::console::routes());
    routes.extend(crate::auth::login_routes());
    routes.extend(crate::auth::admin_routes());
    routes
}

/// (method, path, public) of every route this crate serves.
pub fn routes() -> Vec<(Method, &'static str, bool)> {
    all_routes().into_iter().map(|r| (r.method, r.path, r.public)).collect()
}

/// The collector's HTTP application: this crate's routes plus `extra`
/// (merged, behind the same guard) and `public` (merged, no authentication:
/// routes that carry their own capability), with security headers on
/// every response.
pub fn app(shared: Arc<Shared>, extra: Option<Router>, public: Option<Router>) -> Router {
    let mut guarded: Router<Arc<Shared>> = Router::new();
    let mut open: Router<Arc<Shared>> = Router::new();
    for route in all_routes() {
        if route.public {
            open = open.route(route.path, route.handler);
        } else {
            guarded = guarded.route(route.path, route.handler);
        }
    }
    let mut guarded = guarded.with_state(shared.clone());
    if let Some(extra) = extra {
        guarded = guarded.merge(extra);
    }
    let guard = middleware::from_fn_with_state(shared.auth.clone(), crate::auth::guard);
    let mut app = guarded.route_layer(guard).merge(open.with_state(shared));
    if let Some(public) = public {
        app = app.merge(public);
    }
    app.layer(middleware::from_fn(crate::auth::security_headers))
}

/// The API router without merged routes (see [`app`]).
pub fn api_router(shared: Arc<Shared>) -> Router {
    app(shared, None, None)
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

    #[test]
    fn openapi_lists_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for (method, path, _) in routes() {
            let op = &doc["paths"][path][method.as_str().to_lowercase()];
            assert!(op.is_object(), "openapi.json lacks {method} {path}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_time_never_panics(s in ".{0,40}") {
            let _ = parse_time("since", &s, u64::MAX);
            let _ = parse_time("since", &s, 0);
        }
    }
}
