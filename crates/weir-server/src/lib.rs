//! Weir's collector: enrolls sensors, verifies their signed hash-chained
//! batches, group-commits them to the evidence log (ack only once durable),
//! indexes the events in SQLite, hands them to the detection pipeline, and
//! serves the HTTP API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weir_server::ServerError> {
//! let handle = weir_server::Server::start(weir_server::ServerConfig::new("/var/lib/weir")).await?;
//! println!("enroll with {}", handle.create_enroll_token()?);
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The console is added by passing `ServerConfig::http_routes` (merged into
//! the served router) or by serving [`router`] yourself.

pub mod auth;
mod committer;
mod config;
mod console;
pub mod control;
mod error;
pub mod http;
mod indexer;
mod ingest;
mod metrics;
mod pki;
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tonic::transport::{Identity as TlsIdentity, ServerTlsConfig};
use weir_event::collector_server::CollectorServer;
use weir_event::{CollectorMessage, Command};
use weir_store::evidence::EvidenceLog;
use weir_store::index::EventIndex;

pub use config::{EventSink, MetricsSource, ServerConfig};
pub use control::Control;
pub use error::ServerError;
pub use ingest::valid_host_id;
/// Escapes a Prometheus label value (`\`, `"`, newlines).
pub use metrics::escape as prometheus_label;
pub use state::HostRecord;

/// `host.id` of the events the collector itself produces (integrity problems,
/// response results). Reserved: no sensor may enroll with it.
pub const COLLECTOR_HOST_ID: &str = "collector";

pub(crate) fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Clone)]
pub(crate) struct HostEntry {
    pub record: HostRecord,
    pub key: VerifyingKey,
}

/// Traffic seen from a host since the collector started (plus saved totals).
#[derive(Default, Clone)]
pub(crate) struct HostLive {
    pub last_seen_unix_ns: u64,
    pub events: u64,
    pub last_loss: Option<Value>,
}

/// A connected host's command channel, with the number of the stream it
/// belongs to.
pub(crate) struct HostStream {
    pub(crate) tx: mpsc::Sender<Result<CollectorMessage, tonic::Status>>,
    pub(crate) connection: u64,
}

/// A command as it travels down a sensor's stream.
pub(crate) fn command_message(command: Command) -> Result<CollectorMessage, tonic::Status> {
    Ok(CollectorMessage {
        msg: Some(weir_event::collector_message::Msg::Command(command)),
    })
}

/// State shared by the gRPC service, the HTTP API and the worker threads.
pub struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) hosts: RwLock<HashMap<String, HostEntry>>,
    pub(crate) live: Arc<Mutex<HashMap<String, HostLive>>>,
    pub(crate) state: Arc<Mutex<state::StateDb>>,
    pub(crate) jobs: mpsc::Sender<committer::Job>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) reader: Arc<Mutex<EventIndex>>,
    pub(crate) auth: Arc<auth::AuthState>,
    /// The open stream of each connected host.
    pub(crate) commands: Mutex<HashMap<String, HostStream>>,
    /// Numbers streams as they open, so a reconnect is told apart from a
    /// stream that stayed open.
    pub(crate) next_connection: std::sync::atomic::AtomicU64,
    pub(crate) enroll_lock: tokio::sync::Mutex<()>,
    /// Becomes true at shutdown: sessions end, so listeners can drain.
    pub(crate) stopping: watch::Receiver<bool>,
    /// (window start, problems recorded) for peers not yet authenticated.
    pub(crate) unauthenticated: Mutex<(std::time::Instant, u32)>,
    pub(crate) heads: Arc<Mutex<HashMap<String, weir_event::chain::ChainHead>>>,
}

impl Shared {
    /// The ingest counters now.
    pub(crate) fn stats(&self) -> Stats {
        let m = &self.metrics;
        Stats {
            hosts: self.hosts.read().unwrap().len(),
            connected: self.commands.lock().unwrap().len(),
            events_ingested: m.events_total.load(Ordering::Relaxed),
            batches_ingested: m.batches_total.load(Ordering::Relaxed),
            events_per_second: m.events_per_second.load(Ordering::Relaxed),
            refused: m.refused_total(),
            sensor_dropped: m.dropped_total(),
            evidence_leaves: m.evidence_leaves.load(Ordering::Relaxed),
        }
    }

    /// The command channel of a host's open stream.
    pub(crate) fn command_tx(
        &self,
        host_id: &str,
    ) -> Result<mpsc::Sender<Result<CollectorMessage, tonic::Status>>, ServerError> {
        self.commands
            .lock()
            .unwrap()
            .get(host_id)
            .map(|s| s.tx.clone())
            .ok_or_else(|| ServerError::NotConnected(host_id.to_string()))
    }

    pub(crate) fn add_host(&self, record: HostRecord) {
        let Ok(key) = VerifyingKey::from_bytes(&record.public_key) else {
            tracing::error!(host_id = %record.host_id, "stored public key is not a valid ed25519 key; host ignored");
            return;
        };
        self.live
            .lock()
            .unwrap()
            .entry(record.host_id.clone())
            .or_insert_with(|| HostLive {
                last_seen_unix_ns: record.last_seen_unix_ns,
                events: record.events,
                last_loss: None,
            });
        self.hosts
            .write()
            .unwrap()
            .insert(record.host_id.clone(), HostEntry { record, key });
    }

    fn host_summaries(&self) -> Vec<Value> {
        let hosts = self.hosts.read().unwrap();
        let live = self.live.lock().unwrap();
        let heads = self.heads.lock().unwrap();
        let mut out: Vec<Value> = hosts
            .values()
            .map(|h| {
                let l = live.get(&h.record.host_id).cloned().unwrap_or_default();
                let head = heads.get(&h.record.host_id).cloned().unwrap_or_default();
                json!({
                    "host_id": h.record.host_id,
                    "host_name": h.record.host_name,
                    "machine_id": h.record.machine_id,
                    "public_key": hex::encode(h.record.public_key),
                    "enrolled_unix_ns": h.record.enrolled_unix_ns,
                    "last_seen_unix_ns": l.last_seen_unix_ns,
                    "events": l.events,
                    "last_loss": l.last_loss,
                    "connected": self.commands.lock().unwrap().contains_key(&h.record.host_id),
                    "chain_head": {
                        "next_index": head.next_index,
                        "next_seq": head.next_seq,
                        "head_hash": hex::encode(head.head_hash),
                    },
                })
            })
            .collect();
        out.sort_by(|a, b| a["host_id"].as_str().cmp(&b["host_id"].as_str()));
        out
    }
}

/// Ingest counters for status lines and dashboards.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub hosts: usize,
    pub connected: usize,
    pub events_ingested: u64,
    pub batches_ingested: u64,
    pub events_per_second: u64,
    pub refused: u64,
    pub sensor_dropped: u64,
    pub evidence_leaves: u64,
}

pub struct Server;

/// A running collector. Dropping it without `shutdown()` leaves the tasks
/// running on the runtime.
pub struct ServerHandle {
    shared: Arc<Shared>,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    ca_pem: String,
    admin_token_path: PathBuf,
    /// Held while running: one collector per data directory.
    _data_lock: std::fs::File,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Takes the data directory's exclusive lock (DATA/lock), so that two
/// collectors can never append to one evidence log.
fn lock_data_dir(data: &std::path::Path) -> Result<std::fs::File, ServerError> {
    let path = data.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServerError::Io {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::InUse {
            path: data.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::Io { path, source }),
    }
}

impl Server {
    /// Opens (creating on first start) DATA, replays the evidence tail into
    /// the index, and starts the gRPC and HTTP listeners on the caller's
    /// runtime (multi-threaded runtime required).
    pub async fn start(config: ServerConfig) -> Result<ServerHandle, ServerError> {
        let data = config.data_dir.clone();
        let identity = tokio::task::spawn_blocking({
            let data = data.clone();
            move || pki::load_or_create(&data)
        })
        .await
        .map_err(|_| ServerError::Stopped)??;
        let data_lock = lock_data_dir(&data)?;
        let collector_name = pki::local_host_name();

        // Listen first: a busy port fails before any store is opened.
        let grpc_listener = tokio::net::TcpListener::bind(config.grpc_addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.grpc_addr,
                source,
            })?;
        let grpc_addr = grpc_listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.grpc_addr,
            source,
        })?;
        let http_listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.http_addr,
                source,
            })?;
        let http_addr = http_listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.http_addr,
            source,
        })?;
        let state_db = state::StateDb::open(&data.join("state.db"))?;
        let log = EvidenceLog::open(&data.join("evidence"), identity.collector_key.clone())?;
        let mut index = EventIndex::open(&data.join("index.db"))?;
        let reader = EventIndex::open_read_only(&data.join("index.db"))?;

        let (jobs_tx, jobs_rx) = mpsc::channel(4096);
        let (stop, stop_rx) = watch::channel(false);
        let metrics = Arc::new(metrics::Metrics::default());
        let known = state_db.hosts()?;
        let auth_state = auth::AuthState::open(&data, &identity.admin_token, config.auth.clone())?;
        let shared = Arc::new(Shared {
            config: config.clone(),
            hosts: RwLock::new(HashMap::new()),
            live: Arc::new(Mutex::new(HashMap::new())),
            state: Arc::new(Mutex::new(state_db)),
            jobs: jobs_tx,
            metrics: metrics.clone(),
            reader: Arc::new(Mutex::new(reader)),
            auth: Arc::new(auth_state),
            commands: Mutex::new(HashMap::new()),
            next_connection: std::sync::atomic::AtomicU64::new(1),
            enroll_lock: tokio::sync::Mutex::new(()),
            stopping: stop_rx.clone(),
            unauthenticated: Mutex::new((std::time::Instant::now(), 0)),
            heads: Arc::new(Mutex::new(HashMap::new())),
        });
        for host in known {
            shared.add_host(host);
        }
        // A host whose HostEnrolled record is durable but whose state row was
        // lost (crash in between) is restored from the evidence log.
        for (host_id, host_state) in log.hosts() {
            if !shared.hosts.read().unwrap().contains_key(host_id) {
                let record = HostRecord {
                    host_id: host_id.clone(),
                    machine_id: host_state.machine_id.clone(),
                    host_name: host_state.host_name.clone(),
                    public_key: host_state.public_key,
                    enrolled_unix_ns: host_state.enrolled_unix_ns,
                    last_seen_unix_ns: 0,
                    events: 0,
                };
                shared.state.lock().unwrap().put_host(&record)?;
                shared.add_host(record);
            }
        }

        let ctx = indexer::IndexCtx {
            metrics: metrics.clone(),
            live: shared.live.clone(),
            sink: config.sink.clone(),
        };
        let recovered = indexer::recover(&log, &mut index, &ctx)?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "re-indexed events found in the evidence log after the index's high-water mark"
            );
        }

        let (durable_tx, durable_rx) = std::sync::mpsc::sync_channel(64);
        let committer = committer::Committer::new(
            log,
            metrics.clone(),
            durable_tx,
            config.group_max_batches,
            collector_name,
            shared.heads.clone(),
        );
        let commit_thread = std::thread::Builder::new()
            .name("weir-commit".into())
            .spawn(move || committer.run(jobs_rx))
            .map_err(|source| ServerError::Io {
                path: data.clone(),
                source,
            })?;
        let index_thread = std::thread::Builder::new()
            .name("weir-index".into())
            .spawn(move || indexer::run(index, ctx, durable_rx))
            .map_err(|source| ServerError::Io {
                path: data.clone(),
                source,
            })?;
        let threads = vec![commit_thread, index_thread];

        let mut tasks = Vec::new();

        // gRPC over TLS.
        let tls = ServerTlsConfig::new().identity(TlsIdentity::from_pem(
            &identity.server_cert_pem,
            &identity.server_key_pem,
        ));
        let service = CollectorServer::new(ingest::CollectorService { shared: shared.clone() })
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let router = tonic::transport::Server::builder()
            .tls_config(tls)
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(service);
        let mut grpc_stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            // Acks are small: without TCP_NODELAY, Nagle holds them back.
            let incoming =
                tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(grpc_listener), |conn| {
                    if let Ok(conn) = &conn {
                        let _ = conn.set_nodelay(true);
                    }
                    conn
                });
            let shutdown = async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            };
            if let Err(error) = router.serve_with_incoming_shutdown(incoming, shutdown).await {
                tracing::error!(%error, "gRPC listener stopped");
            }
        }));

        // HTTP API.
        let app = http::app(shared.clone(), config.http_routes.clone(), config.public_routes.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let mut http_stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = http_stop.wait_for(|s| *s).await;
            };
            if let Err(error) = axum::serve(http_listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(%error, "HTTP listener stopped");
            }
        }));

        // Once a second: events/s, and host counters saved to state.db.
        let ticker_shared = shared.clone();
        let mut ticker_stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = ticker_shared.metrics.events_total.load(Ordering::Relaxed);
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            let mut ticks: u64 = 0;
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = ticker_stop.wait_for(|s| *s) => break,
                }
                let now = ticker_shared.metrics.events_total.load(Ordering::Relaxed);
                ticker_shared
                    .metrics
                    .events_per_second
                    .store(now.saturating_sub(last), Ordering::Relaxed);
                last = now;
                let _ = ticker_shared.jobs.try_send(committer::Job::Tick);
                save_counters(&ticker_shared).await;
                ticks += 1;
                if ticks.is_multiple_of(60) {
                    if let Err(error) = ticker_shared.auth.purge_sessions().await {
                        tracing::warn!(%error, "could not delete expired sessions");
                    }
                }
            }
            save_counters(&ticker_shared).await;
        }));

        tracing::info!(%grpc_addr, %http_addr, data = %data.display(), "collector started");
        Ok(ServerHandle {
            shared,
            grpc_addr,
            http_addr,
            ca_pem: identity.ca_pem,
            admin_token_path: identity.admin_token_path,
            _data_lock: data_lock,
            stop,
            tasks,
            threads,
        })
    }
}

async fn save_counters(shared: &Arc<Shared>) {
    let rows: Vec<(String, u64, u64)> = shared
        .live
        .lock()
        .unwrap()
        .iter()
        .map(|(h, l)| (h.clone(), l.last_seen_unix_ns, l.events))
        .collect();
    let state = shared.state.clone();
    let _ = tokio::task::spawn_blocking(move || state.lock().unwrap().update_counters(&rows)).await;
}

/// Creates a one-time enrollment token in DATA/state.db, valid for `ttl`,
/// whether or not a collector is running on DATA (it reads the same table).
pub fn create_enroll_token(data_dir: &std::path::Path, ttl: Duration) -> Result<String, ServerError> {
    pki::private_dir(data_dir)?;
    let db = state::StateDb::open(&data_dir.join("state.db"))?;
    new_token(&db, ttl)
}

fn new_token(db: &state::StateDb, ttl: Duration) -> Result<String, ServerError> {
    let token = pki::random_token("weir-enroll-");
    let now = now_unix_ns();
    db.add_token(&token, now, now.saturating_add(ttl.as_nanos() as u64))?;
    Ok(token)
}

/// The API router of a running collector (for serving it elsewhere or
/// nesting it under the console).
pub fn router(handle: &ServerHandle) -> axum::Router {
    http::api_router(handle.shared.clone())
}

impl ServerHandle {
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// PEM of the local CA that signed the gRPC certificate: give it to sensors.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The collector's gRPC URL for sensors (`https://127.0.0.1:7443`).
    pub fn grpc_url(&self) -> String {
        format!("https://{}", self.grpc_addr)
    }

    pub fn admin_token_path(&self) -> &std::path::Path {
        &self.admin_token_path
    }

    /// A new one-time enrollment token (stored hashed; expires after
    /// `ServerConfig::enroll_token_ttl`).
    pub fn create_enroll_token(&self) -> Result<String, ServerError> {
        new_token(&self.shared.state.lock().unwrap(), self.shared.config.enroll_token_ttl)
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Enrolled hosts with counters and chain heads (as GET /api/hosts).
    pub fn hosts(&self) -> Vec<Value> {
        self.shared.host_summaries()
    }

    /// A synchronous handle for the pipeline stages that act.
    pub fn control(&self) -> control::Control {
        control::Control {
            shared: self.shared.clone(),
        }
    }

    /// Sends a response command down a connected host's stream. The
    /// sensor's CommandResult is recorded as an `action` event.
    pub async fn send_command(&self, host_id: &str, command: Command) -> Result<(), ServerError> {
        self.shared
            .command_tx(host_id)?
            .send(command_message(command))
            .await
            .map_err(|_| ServerError::NotConnected(host_id.to_string()))
    }

    /// Stops listening, closes sensor streams, commits and indexes what was
    /// accepted, and closes the stores.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for mut task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(10), &mut task).await.is_err() {
                tracing::warn!("a listener did not stop within 10 s; aborting it");
                task.abort();
            }
        }
        self.shared.commands.lock().unwrap().clear();
        let _ = self.shared.jobs.send(committer::Job::Stop).await;
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}
