//! What the shipper is told at start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Runs a response command on the host and says what happened.
pub type CommandHandler = Arc<dyn Fn(weir_event::Command) -> weir_event::Action + Send + Sync>;

#[derive(Clone)]
pub struct ShipConfig {
    /// Collector gRPC URL, e.g. `https://127.0.0.1:7443`.
    pub collector: String,
    /// PEM of the CA that signed the collector's certificate.
    pub ca_pem: Vec<u8>,
    /// Name the collector's certificate must carry (default: the URL's host).
    pub tls_server_name: Option<String>,
    /// host.key (0600), host.id, enrolled marker, spool/.
    pub state_dir: PathBuf,
    /// One-time token; needed only until the host is enrolled.
    pub enroll_token: Option<String>,
    pub host_id: String,
    pub machine_id: String,
    pub host_name: String,
    /// A batch leaves when it holds this many events...
    pub batch_max_events: usize,
    /// ...or this long after its first event arrived.
    pub batch_interval: Duration,
    /// Sealed, unacknowledged batches kept in memory...
    pub spool_memory_bytes: usize,
    /// ...then on disk in state_dir/spool. Past both, new events are dropped
    /// and counted (see the crate docs).
    pub spool_disk_bytes: usize,
    /// Largest message sent or accepted (must not exceed the collector's).
    pub max_message_bytes: usize,
    /// Reconnect backoff: first delay and cap (jittered).
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Response commands from the collector; `None` refuses them.
    pub on_command: Option<CommandHandler>,
}

impl ShipConfig {
    pub fn new(
        collector: impl Into<String>,
        ca_pem: Vec<u8>,
        state_dir: impl Into<PathBuf>,
        host_id: impl Into<String>,
    ) -> ShipConfig {
        ShipConfig {
            collector: collector.into(),
            ca_pem,
            tls_server_name: None,
            state_dir: state_dir.into(),
            enroll_token: None,
            host_id: host_id.into(),
            machine_id: String::new(),
            host_name: String::new(),
            batch_max_events: 512,
            batch_interval: Duration::from_millis(10),
            spool_memory_bytes: 32 << 20,
            spool_disk_bytes: 256 << 20,
            max_message_bytes: 4 << 20,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            on_command: None,
        }
    }
}
