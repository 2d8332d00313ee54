//! The collector's HTTP API for detection: alerts (list, one alert with its
//! evidence, inclusion proofs, transitions and actions; resolve), suppressions
//! (list, create, lift), rules (mode, statistics, lint, enforceability;
//! mode changes), and response actions. The collector's auth middleware
//! guards these routes: reads need a viewer, writes an analyst, and
//! `/api/admin/` an admin; the acting user comes from the request.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use weir_detect::{AlertQuery, AlertStore, NewSuppression, RuleMode};
use weir_server::auth::{AuditTarget, Principal};

/// What the API knows of a loaded rule (from its file).
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub level: String,
    pub status: String,
    pub author: String,
    pub origin: String,
    pub file_mode: RuleMode,
    pub respond: Vec<String>,
    pub confirm: Option<String>,
    /// Why the rule can never fire here, if so (lint).
    pub unsupported: Option<String>,
    /// Why it cannot be enforced in the kernel (`None`: it can).
    pub not_enforceable: Option<String>,
}

impl RuleInfo {
    pub fn of(meta: &weir_rules::RuleMeta) -> RuleInfo {
        RuleInfo {
            id: meta.id.clone(),
            title: meta.title.clone(),
            level: meta.level.clone(),
            status: meta.status.clone(),
            author: meta.author.clone(),
            origin: meta.origin.clone(),
            file_mode: meta.mode,
            respond: meta.weir.respond.clone(),
            confirm: meta.weir.confirm.clone(),
            unsupported: meta.unsupported.clone(),
            not_enforceable: meta.exec_predicate.as_ref().err().cloned(),
        }
    }
}

#[derive(Clone)]
struct Api {
    alerts: PathBuf,
    rules: Arc<Vec<RuleInfo>>,
    control: Arc<std::sync::OnceLock<weir_server::Control>>,
    /// Exception files and directories; the last is where new ones go.
    exceptions: Arc<Vec<PathBuf>>,
}

/// The routes, on the alert store at `alerts` and the loaded `rules`;
/// `control` is set once the collector runs (inclusion proofs).
pub fn routes(
    alerts: PathBuf,
    rules: Arc<Vec<RuleInfo>>,
    control: Arc<std::sync::OnceLock<weir_server::Control>>,
    exceptions: Vec<PathBuf>,
) -> Router {
    Router::new()
        .route("/api/alerts", get(list_alerts))
        .route("/api/alerts/{id}", get(alert))
        .route("/api/alerts/{id}/resolve", post(resolve))
        .route("/api/suppressions", get(suppressions).post(suppress))
        .route("/api/suppressions/{id}/lift", post(lift))
        .route("/api/rules", get(list_rules))
        .route("/api/admin/rules/{id}/mode", post(set_mode))
        .route("/api/actions", get(actions))
        .route("/api/evidence/{leaf}/proof", get(proof))
        .route("/api/exceptions", get(list_exceptions).post(add_exception))
        .with_state(Api {
            alerts,
            rules,
            control,
            exceptions: Arc::new(exceptions),
        })
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// Runs a store operation off the async threads; store errors that are the
/// caller's fault (`Invalid`) are 400, the rest 500.
async fn with_store<T: Serialize + Send + 'static>(
    api: &Api,
    f: impl FnOnce(&mut AlertStore) -> Result<T, weir_detect::AlertError> + Send + 'static,
) -> Result<T, Response> {
    let path = api.alerts.clone();
    match tokio::task::spawn_blocking(move || AlertStore::open(&path).and_then(|mut s| f(&mut s))).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(weir_detect::AlertError::Invalid(m))) => Err(error(StatusCode::BAD_REQUEST, m)),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

async fn list_alerts(State(api): State<Api>, Query(q): Query<AlertQuery>) -> Response {
    match with_store(&api, move |s| s.list(&q)).await {
        Ok(alerts) => Json(json!({ "alerts": alerts })).into_response(),
        Err(r) => r,
    }
}

async fn alert(State(api): State<Api>, Path(id): Path<i64>) -> Response {
    let found = with_store(&api, move |s| {
        let Some(alert) = s.get(id)? else { return Ok(None) };
        let evidence: Vec<Value> = s
            .evidence(id)?
            .into_iter()
            .map(|(host, seq, leaf)| json!({ "host_id": host, "seq": seq, "evidence_leaf": leaf }))
            .collect();
        let transitions: Vec<Value> = s
            .transitions(id)?
            .into_iter()
            .map(|(at, state, who, note)| json!({ "at_unix_ns": at, "state": state, "who": who, "note": note }))
            .collect();
        let actions = s.actions(Some(id), 1000)?;
        Ok(Some(json!({
            "alert": alert, "evidence": evidence, "transitions": transitions, "actions": actions,
        })))
    })
    .await;
    match found {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no alert {id}")),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct Resolution {
    resolution: String,
    #[serde(default)]
    note: String,
}

async fn resolve(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    Json(body): Json<Resolution>,
) -> Response {
    let actor = who.actor.clone();
    match with_store(&api, move |s| {
        s.resolve(id, &body.resolution, &actor, &body.note, super::now_ns())
    })
    .await
    {
        Ok(()) => audited(json!({ "resolved": id }), format!("alert {id}")),
        Err(r) => r,
    }
}

fn audited(body: Value, target: String) -> Response {
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(AuditTarget(target));
    response
}

async fn suppressions(State(api): State<Api>) -> Response {
    match with_store(&api, |s| s.suppressions()).await {
        Ok(list) => Json(json!({ "suppressions": list })).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct NewSuppressionBody {
    rule_id: String,
    group_key: Option<String>,
    host_id: Option<String>,
    reason: String,
    /// How long, in hours (at most 90 days).
    hours: u64,
}

async fn suppress(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Json(body): Json<NewSuppressionBody>,
) -> Response {
    let now = super::now_ns();
    let s = NewSuppression {
        rule_id: body.rule_id,
        group_key: body.group_key.filter(|g| !g.is_empty()),
        host_id: body.host_id.filter(|h| !h.is_empty()),
        reason: body.reason,
        author: who.actor.clone(),
        created_unix_ns: now,
        expires_unix_ns: now.saturating_add(body.hours.saturating_mul(3600 * 1_000_000_000)),
    };
    match with_store(&api, move |store| store.suppress(&s)).await {
        Ok(id) => audited(json!({ "id": id }), format!("suppression {id}")),
        Err(r) => r,
    }
}

async fn lift(State(api): State<Api>, Extension(who): Extension<Principal>, Path(id): Path<i64>) -> Response {
    let actor = who.actor.clone();
    match with_store(&api, move |s| s.lift_suppression(id, &actor, super::now_ns())).await {
        Ok(()) => audited(json!({ "lifted": id }), format!("suppression {id}")),
        Err(r) => r,
    }
}

async fn list_rules(State(api): State<Api>) -> Response {
    let infos = api.rules.clone();
    let result = with_store(&api, move |s| {
        let modes = s.rule_modes()?;
        let stats = s.rule_stats()?;
        let out: Vec<Value> = infos
            .iter()
            .map(|r| {
                let mode = modes.get(&r.id).copied().unwrap_or(r.file_mode);
                let mine: Vec<_> = stats.iter().filter(|st| st.rule_id == r.id).collect();
                json!({ "rule": r, "mode": mode, "stats": mine })
            })
            .collect();
        Ok(out)
    })
    .await;
    match result {
        Ok(rules) => Json(json!({ "rules": rules })).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ModeBody {
    mode: String,
    #[serde(default)]
    note: String,
}

async fn set_mode(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Json(body): Json<ModeBody>,
) -> Response {
    let Some(mode) = RuleMode::parse(&body.mode) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("mode must be shadow, alert, respond or enforce, not {:?}", body.mode),
        );
    };
    if !api.rules.iter().any(|r| r.id == id) {
        return error(StatusCode::NOT_FOUND, format!("no loaded rule {id:?}"));
    }
    let actor = who.actor.clone();
    let rule = id.clone();
    match with_store(&api, move |s| {
        s.set_rule_mode(&rule, mode, &actor, &body.note, super::now_ns())
    })
    .await
    {
        Ok(()) => audited(json!({ "rule_id": id, "mode": mode }), format!("rule {id}")),
        Err(r) => r,
    }
}

async fn list_exceptions(State(api): State<Api>) -> Response {
    let paths = api.exceptions.clone();
    match tokio::task::spawn_blocking(move || weir_detect::Exceptions::load(&paths)).await {
        Ok(Ok(loaded)) => {
            let list: Vec<Value> = loaded
                .all()
                .map(|e| {
                    json!({ "rule_id": e.rule_id, "reason": e.reason, "author": e.author,
                            "where": e.conditions, "origin": e.origin })
                })
                .collect();
            Json(json!({ "exceptions": list })).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
struct NewException {
    rule_id: String,
    reason: String,
    /// Field -> the value (or values) of the activity to let through.
    #[serde(rename = "where")]
    conditions: std::collections::BTreeMap<String, StringOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrMany {
    One(String),
    Many(Vec<String>),
}

/// `POST /api/exceptions`: lets known-good activity through a rule from now
/// on, written to DATA/exceptions/console.yml (kept with the other exception
/// files, surviving rule updates); detection picks it up within seconds.
async fn add_exception(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Json(body): Json<NewException>,
) -> Response {
    if !api.rules.iter().any(|r| r.id == body.rule_id) {
        return error(StatusCode::NOT_FOUND, format!("no loaded rule {:?}", body.rule_id));
    }
    let conditions: Vec<(String, Vec<String>)> = body
        .conditions
        .into_iter()
        .map(|(field, v)| {
            let mut values = match v {
                StringOrMany::One(s) => vec![s],
                StringOrMany::Many(v) => v,
            };
            values.dedup();
            (field, values)
        })
        .collect();
    let exception = weir_detect::Exception {
        rule_id: body.rule_id.clone(),
        reason: body.reason,
        author: who.actor.clone(),
        conditions,
        origin: String::new(),
    };
    let Some(dir) = api.exceptions.last().cloned() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no exceptions directory");
    };
    let file = dir.join("console.yml");
    match tokio::task::spawn_blocking(move || weir_detect::Exceptions::append(&file, &exception)).await {
        Ok(Ok(())) => audited(
            json!({ "rule_id": body.rule_id }),
            format!("exception for rule {}", body.rule_id),
        ),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
struct ActionsQuery {
    alert_id: Option<i64>,
    limit: Option<usize>,
}

async fn actions(State(api): State<Api>, Query(q): Query<ActionsQuery>) -> Response {
    match with_store(&api, move |s| s.actions(q.alert_id, q.limit.unwrap_or(200))).await {
        Ok(list) => Json(json!({ "actions": list })).into_response(),
        Err(r) => r,
    }
}

async fn proof(State(api): State<Api>, Path(leaf): Path<u64>) -> Response {
    let Some(control) = api.control.get() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the collector is starting");
    };
    match control.inclusion_proof(leaf).await {
        Ok(p) => Json(json!({ "proof": p })).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e),
    }
}

/// `GET /api/alerts/{id}/triage` (the alert's triage timeline) and
/// `GET /api/triage/recent` (latest requests with their state).
pub fn triage_routes(triage: Arc<std::sync::Mutex<weir_triage::Triage>>) -> Router {
    Router::new()
        .route("/api/alerts/{id}/triage", get(triage_timeline))
        .route("/api/triage/recent", get(triage_recent))
        .with_state(triage)
}

async fn triage_timeline(
    State(triage): State<Arc<std::sync::Mutex<weir_triage::Triage>>>,
    Path(id): Path<i64>,
) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let t = triage.lock().unwrap();
        Ok::<_, weir_triage::TriageError>((t.state(id).ok(), t.timeline(id)?))
    })
    .await;
    match result {
        Ok(Ok((state, timeline))) => Json(json!({ "state": state, "timeline": timeline })).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn triage_recent(State(triage): State<Arc<std::sync::Mutex<weir_triage::Triage>>>) -> Response {
    let result = tokio::task::spawn_blocking(move || triage.lock().unwrap().recent(200)).await;
    match result {
        Ok(Ok(list)) => Json(json!({ "requests": list })).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
