//! Detection wired into a collector: loads the rule files, starts the
//! detection worker on the data directory's alert store, and gives the
//! collector its event hook and the `/api/alerts` routes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use weir_detect::{AlertStore, DetectConfig, Detector};

/// The detection stage as the collector's event hook, with its way out to
/// hosts (attached once the collector runs).
pub struct DetectionSink(
    pub Detector,
    pub Arc<super::response::CollectorHooks>,
    pub Arc<Vec<super::alerts_api::RuleInfo>>,
);

impl weir_server::EventSink for DetectionSink {
    fn events(&self, host_id: &str, leaf: u64, events: &[weir_event::Event]) {
        self.0.submit(host_id, leaf, events);
    }
}

/// Where the alert store lives in a data directory.
pub fn alerts_path(data: &Path) -> PathBuf {
    data.join("alerts.db")
}

/// Paths to load: the ones given, else `./DEFAULT` when it exists.
pub fn paths_or_default(given: Vec<PathBuf>, default: &str) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given;
    }
    let dir = PathBuf::from(default);
    if dir.is_dir() {
        vec![dir]
    } else {
        Vec::new()
    }
}

/// Loads the rules (reporting what could not load), the response
/// guardrails, and starts detection.
pub fn start(
    data: &Path,
    rules: &[PathBuf],
    exceptions: &[PathBuf],
    response: Option<&Path>,
) -> anyhow::Result<Arc<DetectionSink>> {
    let (ruleset, report) = weir_rules::RuleSet::load_paths(rules);
    for error in &report.errors {
        tracing::warn!("rule not loaded: {error}");
    }
    let unsupported = report.unsupported.len();
    tracing::info!(
        loaded = report.loaded,
        unsupported,
        errors = report.errors.len(),
        "detection rules"
    );
    let exceptions = weir_detect::Exceptions::load(exceptions)?;
    tracing::info!(exceptions = exceptions.len(), "rule exceptions");
    let (response, response_text) = match response {
        Some(path) => weir_detect::ResponseConfig::load(path)?,
        None => Default::default(),
    };
    let responders = ruleset.rules().iter().filter(|r| !r.weir.respond.is_empty()).count();
    tracing::info!(
        rules_with_actions = responders,
        dry_run = response.dry_run,
        "automated response"
    );
    let hooks = Arc::new(super::response::CollectorHooks::default());
    let infos = Arc::new(
        ruleset
            .rules()
            .iter()
            .map(super::alerts_api::RuleInfo::of)
            .collect::<Vec<_>>(),
    );
    let config = DetectConfig {
        state_path: Some(data.join("correlation.state")),
        exceptions,
        response,
        response_text,
        hooks: Some(hooks.clone()),
        ..DetectConfig::default()
    };
    let detector = Detector::start(ruleset, &alerts_path(data), config)?;
    Ok(Arc::new(DetectionSink(detector, hooks, infos)))
}

impl DetectionSink {
    /// Connects response to the running collector and starts pushing the
    /// in-kernel enforcement set to connected sensors.
    pub fn attach(self: &Arc<Self>, server: &weir_server::ServerHandle) -> tokio::task::JoinHandle<()> {
        self.1.attach(server.control());
        super::response::spawn_enforce_pusher(server.control(), self.clone())
    }
}

/// The response configuration: the path given, else `./response.yaml` when it exists.
pub fn response_path(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| Some(PathBuf::from("response.yaml")).filter(|p| p.is_file()))
}

/// The detection API routes (alerts, suppressions, rules, actions, proofs).
pub fn routes(data: &Path, detection: &DetectionSink) -> Router {
    super::alerts_api::routes(alerts_path(data), detection.2.clone(), detection.1.control())
}

/// Prometheus text of the detection stage: counters, alerts by rule and
/// state, response actions by kind and outcome.
pub fn prometheus(data: &Path, detection: &DetectionSink) -> String {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let s = detection.0.stats();
    let mut out = String::new();
    for (name, help, value) in [
        (
            "weir_detect_events_total",
            "Events evaluated by the rules.",
            s.events.load(Relaxed),
        ),
        ("weir_detect_matches_total", "Rule matches.", s.matches.load(Relaxed)),
        (
            "weir_detect_alerts_opened_total",
            "Alerts opened.",
            s.alerts_opened.load(Relaxed),
        ),
        (
            "weir_detect_shadow_opened_total",
            "Shadow (staged) alerts recorded.",
            s.shadow_opened.load(Relaxed),
        ),
        (
            "weir_detect_excepted_total",
            "Matches let through by an exception.",
            s.excepted.load(Relaxed),
        ),
        (
            "weir_response_sent_total",
            "Response commands sent.",
            s.actions_sent.load(Relaxed),
        ),
        (
            "weir_response_refused_total",
            "Response actions refused by a guardrail.",
            s.actions_refused.load(Relaxed),
        ),
        (
            "weir_response_shadow_total",
            "Would-be actions of shadow rules.",
            s.actions_shadow.load(Relaxed),
        ),
        (
            "weir_response_breakers_tripped_total",
            "Rules demoted by the budget circuit breaker.",
            s.breakers_tripped.load(Relaxed),
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    let _ = writeln!(
        out,
        "# HELP weir_detect_eval_seconds_total Time spent evaluating rules and correlations.\n# TYPE weir_detect_eval_seconds_total counter\nweir_detect_eval_seconds_total {}\n# HELP weir_detect_batches_total Event batches evaluated.\n# TYPE weir_detect_batches_total counter\nweir_detect_batches_total {}",
        s.eval_ns.load(Relaxed) as f64 / 1e9,
        s.batches.load(Relaxed)
    );
    if let Some(control) = detection.1.control().get() {
        out.push_str("# HELP weir_host_events_total Events stored per host.\n# TYPE weir_host_events_total counter\n");
        out.push_str("# HELP weir_host_last_seen_seconds Unix time a host last sent a batch.\n# TYPE weir_host_last_seen_seconds gauge\n");
        out.push_str("# HELP weir_host_connected Whether a host's stream is open.\n# TYPE weir_host_connected gauge\n");
        for h in control.hosts() {
            let host = label(h["host_id"].as_str().unwrap_or_default());
            let name = label(h["host_name"].as_str().unwrap_or_default());
            let _ = writeln!(
                out,
                "weir_host_events_total{{host=\"{host}\",name=\"{name}\"}} {}",
                h["events"].as_u64().unwrap_or(0)
            );
            let _ = writeln!(
                out,
                "weir_host_last_seen_seconds{{host=\"{host}\",name=\"{name}\"}} {}",
                h["last_seen_unix_ns"].as_u64().unwrap_or(0) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "weir_host_connected{{host=\"{host}\",name=\"{name}\"}} {}",
                u8::from(h["connected"] == true)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP weir_response_decision_latency_seconds Event time to command sent, last action.\n# TYPE weir_response_decision_latency_seconds gauge\nweir_response_decision_latency_seconds {}",
        s.last_decision_latency_us.load(Relaxed) as f64 / 1e6
    );
    let counts = AlertStore::open(&alerts_path(data)).and_then(|store| store.metric_counts());
    match counts {
        Ok((alerts, actions)) => {
            out.push_str("# HELP weir_alerts Alerts by rule, mode and state.\n# TYPE weir_alerts gauge\n");
            for (rule, mode, state, n) in alerts {
                let _ = writeln!(
                    out,
                    "weir_alerts{{rule=\"{}\",mode=\"{}\",state=\"{}\"}} {n}",
                    label(&rule),
                    label(&mode),
                    label(&state)
                );
            }
            out.push_str("# HELP weir_actions Response actions by action and outcome.\n# TYPE weir_actions gauge\n");
            out.push_str("# HELP weir_action_host_latency_seconds_sum Summed host-side latency of actions.\n# TYPE weir_action_host_latency_seconds_sum gauge\n");
            for (action, status, n, latency_us) in actions {
                let (a, st) = (label(&action), label(&status));
                let _ = writeln!(out, "weir_actions{{action=\"{a}\",status=\"{st}\"}} {n}");
                let _ = writeln!(
                    out,
                    "weir_action_host_latency_seconds_sum{{action=\"{a}\",status=\"{st}\"}} {}",
                    latency_us as f64 / 1e6
                );
            }
        }
        Err(e) => tracing::warn!("metrics: reading the alert store: {e}"),
    }
    out
}

/// A Prometheus label value with `\\`, `"` and newlines escaped.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `/metrics` text source for the collector.
pub fn metrics_source(data: &Path, detection: &Arc<DetectionSink>) -> weir_server::MetricsSource {
    let (data, detection) = (data.to_path_buf(), detection.clone());
    Arc::new(move || prometheus(&data, &detection))
}
