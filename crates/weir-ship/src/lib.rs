//! Weir's shipper: runs inside the sensor process, takes the host's events
//! from a bounded channel, numbers, batches, signs and chains them
//! (`weir_event::chain::seal`), and streams them to the collector over TLS
//! gRPC, keeping every batch until the collector says it is durable.
//!
//! Overload policy: a sealed batch is never dropped (it is signed and
//! chained; dropping it would be a gap). When the memory and disk spool
//! bounds are both used, the shipper drops *new* events instead, counts them
//! per kind, and puts a `Loss` event (`spool`, `spool_events`) at the head of
//! the next batch that fits. The event channel is always drained, so the
//! host is never blocked.

mod batcher;
mod config;
mod conn;
mod error;
mod identity;
mod spool;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, watch, Notify};

pub use config::{CommandHandler, ShipConfig};
pub use error::ShipError;
pub use identity::enrolled_as;

pub(crate) fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Latency samples kept for percentiles (most recent).
const LATENCY_SAMPLES: usize = 65_536;

pub(crate) struct Inner {
    pub config: ShipConfig,
    pub key: SigningKey,
    pub spool: Mutex<spool::Spool>,
    pub wake: Notify,
    pub enrolled: AtomicBool,
    pub connected: AtomicBool,
    pub producer_closed: AtomicBool,
    pub sent: AtomicU64,
    pub acked_batches: AtomicU64,
    pub acked_events: AtomicU64,
    pub refused: AtomicU64,
    pub last_ack_latency_us: AtomicU64,
    latencies: Mutex<VecDeque<u64>>,
}

impl Inner {
    pub fn on_release(&self, released: &spool::Released) {
        self.acked_batches.fetch_add(released.batches, Ordering::Relaxed);
        self.acked_events.fetch_add(released.events, Ordering::Relaxed);
        if released.times.is_empty() {
            return;
        }
        let now = now_unix_ns();
        let mut samples = self.latencies.lock().unwrap();
        for t in &released.times {
            if *t > 0 {
                samples.push_back(now.saturating_sub(*t));
            }
        }
        while samples.len() > LATENCY_SAMPLES {
            samples.pop_front();
        }
    }
}

/// Shipper counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShipStats {
    /// Batches sent (including resends after reconnects).
    pub sent_batches: u64,
    pub acked_batches: u64,
    pub acked_events: u64,
    /// Bytes held (sealed unacked + waiting to be sealed).
    pub spooled_bytes: u64,
    /// Events dropped because the spool was full.
    pub dropped_events: u64,
    pub refused_batches: u64,
    pub connected: bool,
    pub enrolled: bool,
    /// Send -> ack of the last acknowledged batch.
    pub last_ack_latency: Duration,
    /// Event time (`time_unix_ns`) -> durable ack, over recent events.
    pub event_to_ack_p50: Duration,
    pub event_to_ack_p99: Duration,
}

pub struct Shipper;

pub struct ShipperHandle {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    batcher: tokio::task::JoinHandle<()>,
    conn: tokio::task::JoinHandle<()>,
}

impl Shipper {
    /// Loads or creates the host key, enrolls when needed (a refused token is
    /// an error here; an unreachable collector is retried in the
    /// background), and starts shipping `events`.
    pub async fn start(
        config: ShipConfig,
        events: mpsc::Receiver<weir_event::Event>,
    ) -> Result<ShipperHandle, ShipError> {
        if config.host_id.is_empty() {
            return Err(ShipError::Config("host_id is empty".into()));
        }
        let key = identity::host_key(&config.state_dir)?;
        let enrolled_as = identity::enrolled_as(&config.state_dir)?;
        if let Some(previous) = &enrolled_as {
            if previous != &config.host_id {
                return Err(ShipError::Config(format!(
                    "{} was enrolled as host {previous:?}, not {:?}; a key belongs to one host id",
                    config.state_dir.display(),
                    config.host_id
                )));
            }
        }
        let boot_id = {
            let mut b = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
            hex::encode(b)
        };
        let max_batch_bytes = (config.max_message_bytes / 2).max(64 << 10);
        let spool = spool::Spool::new(
            config.host_id.clone(),
            config.host_name.clone(),
            boot_id,
            config.state_dir.join("spool"),
            config.spool_memory_bytes,
            config.spool_disk_bytes,
            config.batch_max_events,
            max_batch_bytes,
        )?;
        let inner = Arc::new(Inner {
            config: config.clone(),
            key,
            spool: Mutex::new(spool),
            wake: Notify::new(),
            enrolled: AtomicBool::new(enrolled_as.is_some()),
            connected: AtomicBool::new(false),
            producer_closed: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            acked_batches: AtomicU64::new(0),
            acked_events: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last_ack_latency_us: AtomicU64::new(0),
            latencies: Mutex::new(VecDeque::new()),
        });
        if enrolled_as.is_none() {
            conn::enroll(&inner).await?;
        }
        let (stop, stop_rx) = watch::channel(false);
        let batcher = tokio::spawn(batcher::run(
            inner.clone(),
            events,
            stop_rx.clone(),
            config.batch_max_events,
            config.batch_interval,
        ));
        let conn = tokio::spawn(conn::run(inner.clone(), stop_rx));
        Ok(ShipperHandle {
            inner,
            stop,
            batcher,
            conn,
        })
    }
}

fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Duration::from_nanos(sorted[i])
}

fn stats_of(i: &Inner) -> ShipStats {
    let (spooled, dropped) = {
        let s = i.spool.lock().unwrap();
        (s.used_bytes() as u64, s.dropped_total)
    };
    let mut lat: Vec<u64> = i.latencies.lock().unwrap().iter().copied().collect();
    lat.sort_unstable();
    ShipStats {
        sent_batches: i.sent.load(Ordering::Relaxed),
        acked_batches: i.acked_batches.load(Ordering::Relaxed),
        acked_events: i.acked_events.load(Ordering::Relaxed),
        spooled_bytes: spooled,
        dropped_events: dropped,
        refused_batches: i.refused.load(Ordering::Relaxed),
        connected: i.connected.load(Ordering::Relaxed),
        enrolled: i.enrolled.load(Ordering::Relaxed),
        last_ack_latency: Duration::from_micros(i.last_ack_latency_us.load(Ordering::Relaxed)),
        event_to_ack_p50: percentile(&lat, 0.50),
        event_to_ack_p99: percentile(&lat, 0.99),
    }
}

impl ShipperHandle {
    pub fn stats(&self) -> ShipStats {
        stats_of(&self.inner)
    }

    /// Forgets the latency samples gathered so far (e.g. after a warm-up).
    pub fn reset_latency(&self) {
        self.inner.latencies.lock().unwrap().clear();
    }

    /// The host's public key (what the collector bound at enrollment).
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.key.verifying_key().to_bytes()
    }

    /// Seals what the batcher holds, then tries to deliver everything
    /// spooled until `deadline`, and stops. Events still in the channel when
    /// this is called are shipped only if the producer closed it first
    /// (drop the Sender, then shut down). Returns the final counters.
    pub async fn shutdown(self, deadline: Duration) -> ShipStats {
        let until = tokio::time::Instant::now() + deadline;
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout_at(until, self.batcher).await;
        self.inner.wake.notify_one();
        let mut conn = self.conn;
        if tokio::time::timeout_at(until, &mut conn).await.is_err() {
            conn.abort();
        }
        stats_of(&self.inner)
    }
}
