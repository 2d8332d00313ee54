//! The collector with its whole pipeline, as `weir up` and `weir server` run
//! it: ingest and storage (weir-server), detection and automated response,
//! alert outputs and triage to the acting user, and fleet risk metrics, with
//! their HTTP routes and metrics merged into the collector's API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::alert_flow::AlertFlow;
use super::detection::{self, DetectionSink};
use super::risk_flow::RiskFlow;

/// Pipeline settings shared by `weir up` and `weir server`.
#[derive(clap::Args, Debug, Clone)]
pub struct PipelineArgs {
    /// Rule files or directories [default: ./rules when it exists].
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Exception files or directories (known-good activity per rule) [default: ./exceptions when it exists].
    #[arg(long = "exceptions")]
    pub exceptions: Vec<PathBuf>,
    /// Response guardrails (dry-run, protected processes, budgets, commands) [default: ./response.yaml when it exists].
    #[arg(long)]
    pub response: Option<PathBuf>,
    /// Alert outputs (webhook, Slack, PagerDuty, syslog, email, file) [default: ./outputs.yaml when it exists].
    #[arg(long)]
    pub outputs: Option<PathBuf>,
    /// People directory for triage to the acting user [default: DATA/people.yaml, else ./people.yaml].
    #[arg(long)]
    pub people: Option<PathBuf>,
    /// Risk metrics settings (public CIDRs, SLOs, thresholds) [default: DATA/risk.yaml when it exists].
    #[arg(long = "risk-config")]
    pub risk_config: Option<PathBuf>,
    /// File holding the Slack app's signing secret: enables the Yes/No buttons
    /// of triage DMs at /api/slack/interactions.
    #[arg(long)]
    pub slack_signing_secret_file: Option<PathBuf>,
    /// How often fleet risk is re-evaluated, in seconds.
    #[arg(long, default_value_t = 60)]
    pub risk_every: u64,
}

/// A running collector and the stages around it.
pub struct Collector {
    pub server: weir_server::ServerHandle,
    pub detection: Arc<DetectionSink>,
    pub rules: Vec<PathBuf>,
    risk: Arc<RiskFlow>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The collector's event hook: detection, then risk inventories.
struct PipelineSink {
    detection: Arc<DetectionSink>,
    risk: Arc<RiskFlow>,
}

impl weir_server::EventSink for PipelineSink {
    fn events(&self, host_id: &str, leaf: u64, events: &[weir_event::Event]) {
        weir_server::EventSink::events(&*self.detection, host_id, leaf, events);
        let control = self.detection.1.control();
        self.risk.observe(host_id, events, control.get());
    }
}

/// The path given, else the first of `defaults` that exists.
fn existing(given: Option<PathBuf>, defaults: &[PathBuf]) -> Option<PathBuf> {
    given.or_else(|| defaults.iter().find(|p| p.is_file()).cloned())
}

/// Starts the collector on `data` with the whole pipeline.
pub async fn start(data: &Path, http: SocketAddr, grpc: SocketAddr, args: PipelineArgs) -> anyhow::Result<Collector> {
    super::create_private_dir(data)?;
    let rules = detection::paths_or_default(args.rules, "rules");
    let exceptions = detection::paths_or_default(args.exceptions, "exceptions");
    let response = existing(args.response, &[PathBuf::from("response.yaml")]);
    let outputs = existing(args.outputs, &[PathBuf::from("outputs.yaml")]);
    let people = existing(
        args.people,
        &[weir_triage::layout::people_path(data), PathBuf::from("people.yaml")],
    );

    let detection = detection::start(data, &rules, &exceptions, response.as_deref())?;
    let flow = Arc::new(AlertFlow::start(
        data,
        outputs.as_deref(),
        people.as_deref(),
        &detection.2,
    )?);
    detection.1.on_alert(vec![flow.listener()]);
    let risk = Arc::new(RiskFlow::start(data, args.risk_config.as_deref())?);

    let mut config = weir_server::ServerConfig::new(data);
    config.http_addr = http;
    config.grpc_addr = grpc;
    config.sink = Some(Arc::new(PipelineSink {
        detection: detection.clone(),
        risk: risk.clone(),
    }));
    let mut routes = detection::routes(data, &detection).merge(risk.routes());
    if let Some(triage) = flow.triage.clone() {
        routes = routes.merge(super::alerts_api::triage_routes(triage));
    }
    config.http_routes = Some(routes);
    let slack_secret = match &args.slack_signing_secret_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the Slack signing secret {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    config.public_routes = flow.routes(slack_secret);
    let metrics = (detection::metrics_source(data, &detection), flow.clone(), risk.clone());
    config.metrics_extra = Some(Arc::new(move || {
        let mut text = (metrics.0)();
        text.push_str(&metrics.1.prometheus());
        text.push_str(&metrics.2.prometheus());
        text
    }));
    let server = weir_server::Server::start(config)
        .await
        .with_context(|| format!("starting the collector on {}", data.display()))?;
    flow.set_console_url(&format!("http://{}", server.http_addr()));
    let tasks = vec![
        detection.attach(&server),
        risk.spawn_ticker(
            Duration::from_secs(args.risk_every.max(1)),
            detection::alerts_path(data),
            flow.clone(),
        ),
    ];
    Ok(Collector {
        server,
        detection,
        rules,
        risk,
        tasks,
    })
}

impl Collector {
    /// Stops the timers, then the collector (which commits what it holds).
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.server.shutdown().await;
        if let Ok(risk) = Arc::try_unwrap(self.risk) {
            let _ = tokio::task::spawn_blocking(move || risk.close()).await;
        }
    }
}
