//! The collector's entry point: picks `Inventory` events out of incoming batches and hands them to a
//! worker thread that writes them to `risk.db`. Never blocks ingest: a full queue drops and counts.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use weir_event::{event::Body, Event, Inventory};

use crate::config::RiskConfig;
use crate::error::RiskError;
use crate::store::RiskStore;
use crate::vulndb::now_unix_ns;

/// Inventories waiting for the worker; one arrives per host about every ten minutes.
pub const QUEUE_CAPACITY: usize = 256;

struct Job {
    host_id: String,
    host_name: String,
    first_seen_unix_ns: u64,
    inventory: Inventory,
    received_unix_ns: u64,
}

/// Counters of the sink.
#[derive(Debug, Default)]
pub struct SinkCounters {
    pub queued: AtomicU64,
    pub stored: AtomicU64,
    /// Dropped because the queue was full (or the worker is gone).
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

pub struct RiskSink {
    tx: Option<SyncSender<Job>>,
    counters: Arc<SinkCounters>,
    worker: Option<JoinHandle<()>>,
}

impl RiskSink {
    /// Opens `DATA/risk.db` and starts the writer thread. The config supplies the reverse-uptime
    /// tolerances used when comparing an inventory with the identity's previous one.
    pub fn start(data_dir: &Path, cfg: RiskConfig) -> Result<RiskSink, RiskError> {
        let store = RiskStore::open_in(data_dir)?;
        let (tx, rx) = sync_channel::<Job>(QUEUE_CAPACITY);
        let counters = Arc::new(SinkCounters::default());
        let c = counters.clone();
        let worker = std::thread::Builder::new()
            .name("weir-risk-sink".into())
            .spawn(move || {
                for job in rx {
                    match store.ingest(
                        &job.host_id,
                        &job.host_name,
                        job.first_seen_unix_ns,
                        &job.inventory,
                        job.received_unix_ns,
                        &cfg,
                    ) {
                        Ok(_) => {
                            c.stored.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            c.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(host = %job.host_id, error = %e, "risk: inventory not stored");
                            *c.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        }
                    }
                }
            })
            .map_err(|source| RiskError::Io {
                path: data_dir.to_path_buf(),
                source,
            })?;
        Ok(RiskSink {
            tx: Some(tx),
            counters,
            worker: Some(worker),
        })
    }

    /// Takes the inventories among a verified batch's events. The host's enrolment time is not known
    /// here; the store's own first sighting stands in for it (see [`RiskSink::observe_enrolled`]).
    pub fn observe(&self, host_id: &str, events: &[Event]) {
        self.observe_enrolled(host_id, 0, events)
    }

    /// As [`RiskSink::observe`], with when the collector enrolled the host (0 = unknown).
    pub fn observe_enrolled(&self, host_id: &str, enrolled_unix_ns: u64, events: &[Event]) {
        let Some(tx) = &self.tx else { return };
        for e in events {
            let Some(Body::Inventory(inv)) = &e.body else { continue };
            let job = Job {
                host_id: host_id.to_string(),
                host_name: e.host_name.clone(),
                first_seen_unix_ns: enrolled_unix_ns,
                inventory: inv.clone(),
                received_unix_ns: now_unix_ns(),
            };
            match tx.try_send(job) {
                Ok(()) => {
                    self.counters.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn counters(&self) -> &SinkCounters {
        &self.counters
    }

    /// Stops taking inventories and waits until the queued ones are written.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for RiskSink {
    fn drop(&mut self) {
        self.shutdown();
    }
}
