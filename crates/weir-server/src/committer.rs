//! The group committer: the only writer of the evidence log. It owns every
//! host's chain head, checks each verified batch against it in arrival
//! order, folds everything queued by all streams into one append (one fsync),
//! and only then answers: acks for accepted batches, refusals for the rest
//! (whose integrity events went into the same durable append).
//!
//! Group size adapts to load: while one fsync runs, new work queues up and the
//! next append takes all of it (up to `group_max_batches`), so an idle
//! collector acks in one fsync and a busy one amortises fsyncs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use weir_event::chain::{hash_batch, BatchHash, ChainError, ChainHead};
use weir_event::{Batch, Event, SignedBatch};
use weir_store::evidence::{EvidenceLog, Record};

use crate::metrics::Metrics;
use crate::{now_unix_ns, COLLECTOR_HOST_ID};

/// How many accepted batches per host are remembered to tell an idempotent
/// resend (same bytes, re-acked) from a fork (different bytes, old index).
const RECENT_WINDOW: usize = 4096;

/// What the stream gets back for a batch or a refusal it reported.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ack {
        index: u64,
        last_seq: u64,
    },
    Refused {
        index: u64,
        reason: String,
    },
    /// Storage failed: nothing was acknowledged; the stream is closed so the
    /// sensor reconnects and resends.
    Unavailable(String),
}

/// An integrity problem to record (and refuse) about a host's stream.
#[derive(Debug, Clone)]
pub struct Problem {
    pub host_id: String,
    pub code: &'static str,
    pub detail: String,
    pub index: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

pub enum Job {
    Batch {
        host_id: String,
        signed: SignedBatch,
        batch: Batch,
        received: Instant,
        reply: oneshot::Sender<Outcome>,
    },
    /// Records the problem, then answers `Refused` once it is durable.
    Problem {
        problem: Problem,
        reply: Option<oneshot::Sender<Outcome>>,
    },
    Enroll {
        record: Record,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Any other event the collector produces (command results...).
    Event { event: Event },
    Head {
        host_id: String,
        reply: oneshot::Sender<ChainHead>,
    },
    /// Inclusion proof of an evidence leaf against the latest checkpoint.
    Proof {
        leaf: u64,
        reply: oneshot::Sender<Result<weir_store::evidence::InclusionProof, String>>,
    },
    /// Commit what is queued before it, then stop.
    Stop,
    /// Once a second: lets an idle log write its periodic checkpoint.
    Tick,
}

/// Work for the indexer: what was just made durable.
pub struct Durable {
    /// The last leaf of this append: the index high-water mark once done.
    pub last_leaf: u64,
    pub items: Vec<(u64, String, Vec<Event>)>,
}

struct Recent {
    by_index: HashMap<u64, (BatchHash, u64)>,
    order: VecDeque<u64>,
}

enum Reply {
    Outcome(oneshot::Sender<Outcome>, Outcome, Option<Instant>),
    Enroll(oneshot::Sender<Result<(), String>>),
    Head(String, oneshot::Sender<ChainHead>),
}

pub struct Committer {
    log: EvidenceLog,
    heads: HashMap<String, ChainHead>,
    recent: HashMap<String, Recent>,
    metrics: Arc<Metrics>,
    indexer: std::sync::mpsc::SyncSender<Durable>,
    group_max: usize,
    collector_name: String,
    /// Copy of the heads for the HTTP API, refreshed after each append.
    published: Arc<Mutex<HashMap<String, ChainHead>>>,
}

/// The integrity event recorded for `problem`, stored at evidence leaf `leaf`
/// (its sequence number: collector events are numbered by their leaf).
pub fn integrity_event(problem: &Problem, leaf: u64, collector_name: &str) -> Event {
    Event {
        seq: leaf,
        time_unix_ns: now_unix_ns(),
        host_id: COLLECTOR_HOST_ID.to_string(),
        host_name: collector_name.to_string(),
        body: Some(weir_event::event::Body::Integrity(weir_event::Integrity {
            problem: problem.code.to_string(),
            detail: problem.detail.clone(),
            first_seq: problem.first_seq,
            last_seq: problem.last_seq,
            host_id: problem.host_id.clone(),
            batch_index: problem.index,
        })),
        ..Default::default()
    }
}

/// Stable reason code of a chain error (metrics label and Refusal prefix).
pub fn chain_code(e: &ChainError) -> &'static str {
    match e {
        ChainError::Malformed(_) => "malformed",
        ChainError::BadSignature { .. } => "bad_signature",
        ChainError::WrongHost { .. } => "wrong_host",
        ChainError::Replay { .. } => "replay",
        ChainError::IndexGap { .. } | ChainError::SeqGap { .. } => "gap",
        ChainError::Fork { .. } => "fork",
        ChainError::BadRange { .. } => "bad_range",
    }
}

impl Committer {
    pub fn new(
        log: EvidenceLog,
        metrics: Arc<Metrics>,
        indexer: std::sync::mpsc::SyncSender<Durable>,
        group_max: usize,
        collector_name: String,
        published: Arc<Mutex<HashMap<String, ChainHead>>>,
    ) -> Committer {
        let heads = log
            .hosts()
            .iter()
            .map(|(host, state)| (host.clone(), state.head.clone()))
            .collect();
        metrics.evidence_leaves.store(log.len(), Ordering::Relaxed);
        Committer {
            log,
            heads,
            recent: HashMap::new(),
            metrics,
            indexer,
            group_max: group_max.max(1),
            collector_name,
            published,
        }
    }

    /// Runs until every sender is gone (collector shutdown).
    pub fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        *self.published.lock().unwrap() = self.heads.clone();
        while let Some(first) = jobs.blocking_recv() {
            let mut stop = matches!(first, Job::Stop);
            let mut group = vec![first];
            while !stop && group.len() < self.group_max {
                match jobs.try_recv() {
                    Ok(job) => {
                        stop = matches!(job, Job::Stop);
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            let tick = group.iter().any(|j| matches!(j, Job::Tick));
            self.commit(group);
            if tick {
                if let Err(error) = self.log.checkpoint_if_due() {
                    tracing::error!(%error, "periodic evidence checkpoint failed");
                }
            }
            if stop {
                // A clean stop ends with a signed checkpoint over everything.
                if !self.log.is_empty() {
                    if let Err(error) = self.log.checkpoint() {
                        tracing::error!(%error, "final evidence checkpoint failed");
                    }
                }
                break;
            }
        }
    }

    fn remember(&mut self, host_id: &str, index: u64, hash: BatchHash, last_seq: u64) {
        let recent = self.recent.entry(host_id.to_string()).or_insert_with(|| Recent {
            by_index: HashMap::new(),
            order: VecDeque::new(),
        });
        recent.by_index.insert(index, (hash, last_seq));
        recent.order.push_back(index);
        while recent.order.len() > RECENT_WINDOW {
            if let Some(old) = recent.order.pop_front() {
                recent.by_index.remove(&old);
            }
        }
    }

    fn commit(&mut self, group: Vec<Job>) {
        let base = self.log.len();
        let mut records: Vec<Record> = Vec::with_capacity(group.len());
        let mut replies: Vec<Reply> = Vec::with_capacity(group.len());
        let mut saved_heads: HashMap<String, Option<ChainHead>> = HashMap::new();
        let mut events_in_group = 0u64;
        let mut batches_in_group = 0u64;
        // (record position, host, events) for the indexer
        let mut to_index: Vec<(usize, String, Vec<Event>)> = Vec::new();

        let collector_name = self.collector_name.clone();
        let metrics = self.metrics.clone();
        let problem = |records: &mut Vec<Record>,
                       to_index: &mut Vec<(usize, String, Vec<Event>)>,
                       metrics: &Metrics,
                       p: &Problem| {
            metrics.refused(p.code);
            let leaf = base + records.len() as u64;
            let event = integrity_event(p, leaf, &collector_name);
            to_index.push((records.len(), COLLECTOR_HOST_ID.to_string(), vec![event.clone()]));
            records.push(Record::CollectorEvent { event });
        };

        for job in group {
            match job {
                Job::Batch {
                    host_id,
                    signed,
                    mut batch,
                    received,
                    reply,
                } => {
                    let head = self.heads.entry(host_id.clone()).or_default();
                    match head.check(&batch) {
                        Ok(()) => {
                            saved_heads.entry(host_id.clone()).or_insert_with(|| Some(head.clone()));
                            let hash = hash_batch(&signed.batch);
                            head.advance(&batch, &signed.batch).expect("checked just above");
                            let last_seq = if batch.events.is_empty() {
                                head.next_seq.saturating_sub(1)
                            } else {
                                batch.last_seq
                            };
                            self.remember(&host_id, batch.index, hash, last_seq);
                            events_in_group += batch.events.len() as u64;
                            batches_in_group += 1;
                            let events = std::mem::take(&mut batch.events);
                            to_index.push((records.len(), host_id.clone(), events));
                            records.push(Record::HostBatch { host_id, signed });
                            replies.push(Reply::Outcome(
                                reply,
                                Outcome::Ack {
                                    index: batch.index,
                                    last_seq,
                                },
                                Some(received),
                            ));
                        }
                        Err(error) => {
                            let known = self
                                .recent
                                .get(&host_id)
                                .and_then(|r| r.by_index.get(&batch.index))
                                .copied();
                            let same_bytes = known.map(|(h, _)| h == hash_batch(&signed.batch));
                            let (code, detail, outcome) = match (&error, same_bytes) {
                                (ChainError::Replay { .. }, Some(true)) => (
                                    "replay",
                                    format!(
                                        "batch {} resent with identical bytes; acknowledged again, not stored twice",
                                        batch.index
                                    ),
                                    Outcome::Ack {
                                        index: batch.index,
                                        last_seq: known.map(|(_, s)| s).unwrap_or(batch.last_seq),
                                    },
                                ),
                                (ChainError::Replay { .. }, Some(false)) => (
                                    "fork",
                                    format!(
                                        "batch {} differs from the batch already accepted at that index",
                                        batch.index
                                    ),
                                    Outcome::Refused {
                                        index: batch.index,
                                        reason: format!(
                                            "fork: batch {} differs from the one already accepted",
                                            batch.index
                                        ),
                                    },
                                ),
                                _ => {
                                    let code = chain_code(&error);
                                    (
                                        code,
                                        error.to_string(),
                                        Outcome::Refused {
                                            index: batch.index,
                                            reason: format!("{code}: {error}"),
                                        },
                                    )
                                }
                            };
                            let p = Problem {
                                host_id: host_id.clone(),
                                code,
                                detail,
                                index: batch.index,
                                first_seq: batch.first_seq,
                                last_seq: batch.last_seq,
                            };
                            problem(&mut records, &mut to_index, &metrics, &p);
                            replies.push(Reply::Outcome(reply, outcome, None));
                        }
                    }
                }
                Job::Problem { problem: p, reply } => {
                    problem(&mut records, &mut to_index, &metrics, &p);
                    if let Some(reply) = reply {
                        let outcome = Outcome::Refused {
                            index: p.index,
                            reason: format!("{}: {}", p.code, p.detail),
                        };
                        replies.push(Reply::Outcome(reply, outcome, None));
                    }
                }
                Job::Enroll { record, reply } => {
                    records.push(record);
                    replies.push(Reply::Enroll(reply));
                }
                Job::Event { mut event } => {
                    event.seq = base + records.len() as u64;
                    event.host_id = COLLECTOR_HOST_ID.to_string();
                    event.host_name = self.collector_name.clone();
                    to_index.push((records.len(), COLLECTOR_HOST_ID.to_string(), vec![event.clone()]));
                    records.push(Record::CollectorEvent { event });
                }
                Job::Head { host_id, reply } => replies.push(Reply::Head(host_id, reply)),
                Job::Proof { leaf, reply } => {
                    let _ = reply.send(self.log.inclusion_proof(leaf).map_err(|e| e.to_string()));
                }
                Job::Stop | Job::Tick => {}
            }
        }

        if !records.is_empty() {
            if let Err(error) = self.log.append(&records) {
                tracing::error!(%error, "evidence append failed; nothing in this group is acknowledged");
                for (host, head) in saved_heads {
                    match head {
                        Some(head) => self.heads.insert(host.clone(), head),
                        None => self.heads.remove(&host),
                    };
                    self.recent.remove(&host);
                }
                let message = format!("evidence log unavailable: {error}");
                for reply in replies {
                    match reply {
                        Reply::Outcome(tx, _, _) => {
                            let _ = tx.send(Outcome::Unavailable(message.clone()));
                        }
                        Reply::Enroll(tx) => {
                            let _ = tx.send(Err(message.clone()));
                        }
                        Reply::Head(host, tx) => {
                            let _ = tx.send(self.heads.get(&host).cloned().unwrap_or_default());
                        }
                    }
                }
                return;
            }
        }
        self.metrics.events_total.fetch_add(events_in_group, Ordering::Relaxed);
        self.metrics
            .batches_total
            .fetch_add(batches_in_group, Ordering::Relaxed);
        self.metrics.evidence_leaves.store(self.log.len(), Ordering::Relaxed);
        if !saved_heads.is_empty() {
            let mut published = self.published.lock().unwrap();
            for host in saved_heads.keys() {
                if let Some(head) = self.heads.get(host) {
                    published.insert(host.clone(), head.clone());
                }
            }
        }
        for reply in replies {
            match reply {
                Reply::Outcome(tx, outcome, received) => {
                    if let Some(received) = received {
                        self.metrics.ack_latency(received.elapsed());
                    }
                    let _ = tx.send(outcome);
                }
                Reply::Enroll(tx) => {
                    let _ = tx.send(Ok(()));
                }
                Reply::Head(host, tx) => {
                    let _ = tx.send(self.heads.get(&host).cloned().unwrap_or_default());
                }
            }
        }
        if !records.is_empty() {
            let durable = Durable {
                last_leaf: base + records.len() as u64 - 1,
                items: to_index
                    .into_iter()
                    .map(|(i, host, events)| (base + i as u64, host, events))
                    .collect(),
            };
            // Blocks when indexing lags: back-pressure up to the streams.
            let _ = self.indexer.send(durable);
        }
    }
}
