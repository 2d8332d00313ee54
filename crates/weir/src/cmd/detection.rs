//! Detection wired into a collector: loads the rule files, starts the
//! detection worker on the data directory's alert store, and gives the
//! collector its event hook and the `/api/alerts` routes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use weir_detect::{DetectConfig, Detector};

/// The detection stage as the collector's event hook, with its way out to
/// hosts (attached once the collector runs).
pub struct DetectionSink(
    pub Detector,
    pub Arc<super::response::CollectorHooks>,
    pub Arc<Vec<super::alerts_api::RuleInfo>>,
    /// Where exceptions are read from (the last one is DATA/exceptions).
    pub Vec<PathBuf>,
);

/// Where exceptions made through the API are written.
pub fn exceptions_dir(data: &Path) -> PathBuf {
    data.join("exceptions")
}

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
    // Exceptions made from the console or API go to DATA/exceptions.
    let console_exceptions = exceptions_dir(data);
    std::fs::create_dir_all(&console_exceptions)?;
    let exception_paths: Vec<PathBuf> = exceptions.iter().cloned().chain([console_exceptions]).collect();
    let exceptions = weir_detect::Exceptions::load(&exception_paths)?;
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
        exception_paths: exception_paths.clone(),
        response,
        response_text,
        hooks: Some(hooks.clone()),
        ..DetectConfig::default()
    };
    let detector = Detector::start(ruleset, &alerts_path(data), config)?;
    Ok(Arc::new(DetectionSink(detector, hooks, infos, exception_paths)))
}

impl DetectionSink {
    /// Connects response to the running collector and starts pushing the
    /// in-kernel enforcement set to connected sensors.
    pub fn attach(self: &Arc<Self>, server: &weir_server::ServerHandle) -> tokio::task::JoinHandle<()> {
        self.1.attach(server.control());
        super::response::spawn_enforce_pusher(server.control(), self.clone())
    }
}

/// The detection API routes (alerts, suppressions, rules, actions, proofs).
pub fn routes(data: &Path, detection: &DetectionSink) -> Router {
    super::alerts_api::routes(
        alerts_path(data),
        detection.2.clone(),
        detection.1.control(),
        detection.3.clone(),
    )
}

/// `/metrics` text source for the collector.
pub fn metrics_source(data: &Path, detection: &Arc<DetectionSink>) -> weir_server::MetricsSource {
    let (data, detection) = (data.to_path_buf(), detection.clone());
    Arc::new(move || super::collector_metrics::render(&data, &detection))
}
