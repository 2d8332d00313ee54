//! What the collector is told at start, and the hook through which every
//! stored event (host events and the collector's own integrity events) is
//! handed to the rest of the pipeline (detection).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Receives every event once it is durable in the evidence log and indexed.
/// Called from the indexing thread, in evidence order; keep it fast (hand the
/// events to a queue) since it delays indexing of what follows.
///
/// Integrity events raised by the collector arrive with `host_id` =
/// [`crate::COLLECTOR_HOST_ID`]; the host they are about is in
/// `Integrity.host_id`.
pub trait EventSink: Send + Sync {
    fn events(&self, host_id: &str, leaf: u64, events: &[weir_event::Event]);
}

/// Renders extra Prometheus text for `GET /metrics`.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// Collector configuration; `ServerConfig::new(data_dir)` gives the defaults.
#[derive(Clone)]
pub struct ServerConfig {
    /// DATA: evidence/, index.db, state.db, auth.db, keys/, tls/, admin.token.
    pub data_dir: PathBuf,
    /// gRPC (TLS) listener for sensors. Port 0 picks a free port.
    pub grpc_addr: SocketAddr,
    /// HTTP API and console listener (plain HTTP). Port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// Pipeline hook (detection); `None` stores and indexes only.
    pub sink: Option<Arc<dyn EventSink>>,
    /// Extra routes merged into the HTTP router (alerts, rules); like the
    /// rest of the API they sit behind `auth::guard` (roles: reads viewer,
    /// writes analyst, `/api/admin/` admin; see `auth.route_roles`). Handlers
    /// may read the caller as `Extension<weir_server::auth::Principal>`.
    pub http_routes: Option<axum::Router>,
    /// Routes merged WITHOUT authentication, for pages that carry their own
    /// capability (the triage confirm page `/triage/{token}`).
    pub public_routes: Option<axum::Router>,
    /// More Prometheus text appended to `GET /metrics` (detection, response,
    /// outputs, risk gauges), rendered on each scrape.
    pub metrics_extra: Option<MetricsSource>,
    /// Users, sessions, login limits and route-role overrides.
    pub auth: crate::auth::AuthConfig,
    /// Largest gRPC message accepted, either direction.
    pub max_message_bytes: usize,
    /// Largest number of events one batch may carry.
    pub max_events_per_batch: usize,
    /// How long an enrollment token stays valid.
    pub enroll_token_ttl: Duration,
    /// Bounded queue between one sensor stream and the group committer.
    pub stream_queue: usize,
    /// Most batches folded into one evidence append (one fsync).
    pub group_max_batches: usize,
    /// Refusals after which a stream is closed.
    pub max_refusals_per_stream: u32,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.into(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 7443)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 7480)),
            sink: None,
            http_routes: None,
            public_routes: None,
            metrics_extra: None,
            auth: crate::auth::AuthConfig::default(),
            max_message_bytes: 4 << 20,
            max_events_per_batch: 4096,
            enroll_token_ttl: Duration::from_secs(24 * 3600),
            stream_queue: 256,
            group_max_batches: 512,
            max_refusals_per_stream: 16,
        }
    }
}
