//! Fleet risk metrics wired into a running collector: host inventories from
//! the event stream go to the risk store, a timer recomputes the fleet
//! numbers (oldest exposed vulnerability, reverse uptime), keeps the daily
//! series, raises an alert for each newly crossed threshold, and the HTTP
//! API serves the fleet summary, host chains and series.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use weir_detect::{AlertStore, Mode, Recorded, RuleMatch};
use weir_risk::{RiskConfig, RiskMetrics, RiskSink};

/// Risk ingest and evaluation for one collector.
pub struct RiskFlow {
    sink: RiskSink,
    metrics: Arc<Mutex<RiskMetrics>>,
    prometheus: Arc<Mutex<String>>,
}

impl RiskFlow {
    /// Opens the risk store and the vulnerability database in `data`.
    pub fn start(data: &Path, config: Option<&Path>) -> anyhow::Result<RiskFlow> {
        let (cfg, found) = RiskConfig::find(config, data)?;
        if let Some(path) = found {
            tracing::info!("risk configuration {}", path.display());
        }
        Ok(RiskFlow {
            sink: RiskSink::start(data, cfg.clone())?,
            metrics: Arc::new(Mutex::new(RiskMetrics::open(data, cfg)?)),
            prometheus: Arc::new(Mutex::new(String::new())),
        })
    }

    /// Hands host inventories on to the risk store (cheap: queued).
    pub fn observe(&self, host_id: &str, events: &[weir_event::Event], control: Option<&weir_server::Control>) {
        let has_inventory = events
            .iter()
            .any(|e| matches!(e.body, Some(weir_event::event::Body::Inventory(_))));
        if !has_inventory {
            return;
        }
        let enrolled = control.and_then(|c| c.enrolled_unix_ns(host_id)).unwrap_or(0);
        self.sink.observe_enrolled(host_id, enrolled, events);
    }

    /// Prometheus gauges of the last evaluation.
    pub fn prometheus(&self) -> String {
        self.prometheus.lock().unwrap().clone()
    }

    /// Re-evaluates every `every` (first after a few seconds); new threshold
    /// breaches become alerts and go to the outputs.
    pub fn spawn_ticker(
        &self,
        every: Duration,
        alerts_path: std::path::PathBuf,
        flow: Arc<super::alert_flow::AlertFlow>,
    ) -> tokio::task::JoinHandle<()> {
        let metrics = self.metrics.clone();
        let prometheus = self.prometheus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let (metrics, prometheus, alerts_path, flow) =
                    (metrics.clone(), prometheus.clone(), alerts_path.clone(), flow.clone());
                let _ = tokio::task::spawn_blocking(move || evaluate(&metrics, &prometheus, &alerts_path, &flow)).await;
            }
        })
    }

    /// `GET /api/risk`, `/api/risk/hosts/{host_id}`, `/api/risk/series?days=`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/api/risk", get(fleet))
            .route("/api/risk/hosts/{host_id}", get(host))
            .route("/api/risk/series", get(series))
            .with_state(self.metrics.clone())
    }

    pub fn close(self) {
        self.sink.close();
    }
}

fn evaluate(
    metrics: &Mutex<RiskMetrics>,
    prometheus: &Mutex<String>,
    alerts_path: &Path,
    flow: &super::alert_flow::AlertFlow,
) {
    let now = super::now_ns();
    let tick = {
        let mut m = metrics.lock().unwrap();
        let tick = m.tick(now);
        *prometheus.lock().unwrap() = m.prometheus_text();
        tick
    };
    let tick = match tick {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("risk evaluation: {e}");
            return;
        }
    };
    if tick.new_breaches.is_empty() {
        return;
    }
    let mut store = match AlertStore::open(alerts_path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("risk alerts: {e}");
            return;
        }
    };
    for b in &tick.new_breaches {
        let host = b.host_id.clone().unwrap_or_else(|| "fleet".into());
        let m = RuleMatch {
            rule_id: format!("weir-risk-{}", b.metric),
            rule_title: format!("Risk threshold crossed: {}", b.metric.replace('_', " ")),
            level: "medium".into(),
            mode: Mode::Alert,
            host_id: host.clone(),
            group_key: format!("{}|{host}", b.metric),
            actor: String::new(),
            summary: format!("{} days > {} days: {}", b.value_days, b.threshold_days, b.detail),
            event_seq: now,
            evidence_leaf: 0,
            time_unix_ns: now,
        };
        match store.record(std::slice::from_ref(&m), 24 * 3600 * 1_000_000_000) {
            Ok(r) => {
                if let Some(Recorded::Opened(id)) = r.first() {
                    let mut n = weir_notify::Notification::new(
                        weir_notify::Kind::Threshold,
                        weir_notify::Severity::Medium,
                        &m.rule_id,
                        &m.rule_title,
                        &m.host_id,
                        &m.summary,
                    );
                    n.alert_id = Some(*id);
                    n.host_name = b.host_name.clone().unwrap_or_default();
                    n.dedup_key = format!("risk|{}", m.group_key);
                    flow.notify(&n);
                }
            }
            Err(e) => tracing::error!("recording a risk alert: {e}"),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": e.to_string() })),
    )
        .into_response()
}

async fn fleet(State(metrics): State<Arc<Mutex<RiskMetrics>>>) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let mut m = metrics.lock().unwrap();
        m.reload_vulndb_if_changed()?;
        m.store().fleet(m.vulndb(), m.config(), super::now_ns())
    })
    .await;
    match result {
        Ok(Ok(f)) => Json(json!({ "fleet": f })).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn host(State(metrics): State<Arc<Mutex<RiskMetrics>>>, UrlPath(host_id): UrlPath<String>) -> Response {
    let id = host_id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut m = metrics.lock().unwrap();
        m.reload_vulndb_if_changed()?;
        m.store().host_risk(&id, m.vulndb(), m.config(), super::now_ns())
    })
    .await;
    match result {
        Ok(Ok(Some(h))) => Json(json!({ "host": h })).into_response(),
        Ok(Ok(None)) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no inventory from host {host_id} yet") })),
        )
            .into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[derive(serde::Deserialize)]
struct SeriesQuery {
    days: Option<u32>,
}

async fn series(State(metrics): State<Arc<Mutex<RiskMetrics>>>, Query(q): Query<SeriesQuery>) -> Response {
    let days = q.days.unwrap_or(90).min(3650);
    let result =
        tokio::task::spawn_blocking(move || metrics.lock().unwrap().store().series(days, super::now_ns())).await;
    match result {
        Ok(Ok(points)) => Json(json!({ "series": points })).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}
