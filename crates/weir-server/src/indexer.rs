//! The indexing thread: takes what the committer made durable, inserts the
//! events into the SQLite index (one transaction per drained group, with the
//! high-water mark), updates per-host counters and sensor-reported losses,
//! then hands the events to the pipeline sink. Also replays the evidence
//! tail into the index at start (crash between fsync and indexing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weir_event::event::Body;
use weir_event::Event;
use weir_store::evidence::{EvidenceLog, Record};
use weir_store::index::EventIndex;

use crate::committer::Durable;
use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::{now_unix_ns, EventSink, HostLive, COLLECTOR_HOST_ID};

/// What the indexer updates besides the index. It holds no way to submit
/// work to the committer, so the committer stops once the streams are gone.
#[derive(Clone)]
pub struct IndexCtx {
    pub metrics: Arc<Metrics>,
    pub live: Arc<Mutex<HashMap<String, HostLive>>>,
    pub sink: Option<Arc<dyn EventSink>>,
}

/// Most durable groups folded into one index transaction.
const MAX_DRAIN: usize = 64;

pub fn run(mut index: EventIndex, shared: IndexCtx, jobs: std::sync::mpsc::Receiver<Durable>) {
    while let Ok(first) = jobs.recv() {
        let mut work = vec![first];
        while work.len() < MAX_DRAIN {
            match jobs.try_recv() {
                Ok(more) => work.push(more),
                Err(_) => break,
            }
        }
        if let Err(error) = apply(&mut index, &shared, &work) {
            // The evidence log holds these events; the next start replays
            // them from the high-water mark, so nothing is lost.
            tracing::error!(%error, "indexing failed; events stay in the evidence log and are re-indexed at next start");
        }
    }
}

fn apply(index: &mut EventIndex, shared: &IndexCtx, work: &[Durable]) -> Result<(), ServerError> {
    let mut rows: Vec<(u64, &Event)> = Vec::new();
    for durable in work {
        for (leaf, _, events) in &durable.items {
            rows.extend(events.iter().map(|e| (*leaf, e)));
        }
    }
    if let Some(last) = work.last() {
        // Rows and high-water mark in one transaction.
        index.insert_through(&rows, last.last_leaf)?;
    }
    for durable in work {
        for (leaf, host, events) in &durable.items {
            observe(shared, host, events);
            if let Some(sink) = &shared.sink {
                sink.events(host, *leaf, events);
            }
        }
    }
    Ok(())
}

/// Per-host counters and reported losses (for /api/hosts and /metrics).
fn observe(shared: &IndexCtx, host: &str, events: &[Event]) {
    if host == COLLECTOR_HOST_ID {
        return;
    }
    let mut live = shared.live.lock().unwrap();
    let entry = live.entry(host.to_string()).or_default();
    entry.last_seen_unix_ns = now_unix_ns();
    entry.events += events.len() as u64;
    for event in events {
        if let Some(Body::Loss(loss)) = &event.body {
            for (kind, n) in &loss.kernel_ring {
                shared.metrics.dropped(host, kind, "kernel_ring", *n);
            }
            for (kind, n) in &loss.user_queue {
                shared.metrics.dropped(host, kind, "user_queue", *n);
            }
            if loss.spool.is_empty() {
                shared.metrics.dropped(host, "all", "spool", loss.spool_events);
            }
            for (kind, n) in &loss.spool {
                shared.metrics.dropped(host, kind, "spool", *n);
            }
            entry.last_loss = Some(serde_json::Value::Object(weir_event::ecs::to_ecs(event)));
        }
    }
}

/// Indexes every evidence leaf after the index's high-water mark and passes
/// those events to the sink: what a crash between fsync and indexing left.
/// Returns how many events were re-indexed.
pub fn recover(log: &EvidenceLog, index: &mut EventIndex, shared: &IndexCtx) -> Result<u64, ServerError> {
    let from = match index.high_water()? {
        Some(leaf) => leaf + 1,
        None => 0,
    };
    if from >= log.len() {
        return Ok(0);
    }
    let mut recovered = 0u64;
    let mut pending: Vec<(u64, String, Vec<Event>)> = Vec::new();
    let mut last_leaf = from;
    let mut flush = |pending: &mut Vec<(u64, String, Vec<Event>)>, last_leaf: u64| -> Result<(), ServerError> {
        let durable = Durable {
            last_leaf,
            items: std::mem::take(pending),
        };
        apply(index, shared, std::slice::from_ref(&durable))
    };
    for item in log.read_from(from) {
        let (position, record) = item?;
        last_leaf = position.leaf;
        match record {
            Record::HostBatch { host_id, signed } => {
                // Verified before it was appended; decoding cannot fail for
                // a record the log itself framed, but a damaged one is
                // skipped here and reported by `weir verify`.
                match <weir_event::Batch as prost::Message>::decode(signed.batch.as_slice()) {
                    Ok(batch) => {
                        recovered += batch.events.len() as u64;
                        pending.push((position.leaf, host_id, batch.events));
                    }
                    Err(error) => {
                        tracing::warn!(leaf = position.leaf, %error, "evidence batch does not decode; not indexed")
                    }
                }
            }
            Record::CollectorEvent { event } => {
                recovered += 1;
                pending.push((position.leaf, COLLECTOR_HOST_ID.to_string(), vec![event]));
            }
            _ => {}
        }
        if pending.len() >= 256 {
            flush(&mut pending, last_leaf)?;
        }
    }
    flush(&mut pending, last_leaf)?;
    Ok(recovered)
}
