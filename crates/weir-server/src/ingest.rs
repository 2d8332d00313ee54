//! The gRPC Collector service: enrollment with a one-time token, and the
//! per-sensor stream (signed Hello, Welcome with the chain head, then signed
//! batches verified here and committed by the group committer, with acks and
//! refusals returned in order).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};
use weir_event::collector_message::Msg as Down;
use weir_event::collector_server::Collector;
use weir_event::sensor_message::Msg as Up;
use weir_event::{chain, Ack, CollectorMessage, EnrollRequest, EnrollResponse, Refusal, SensorMessage, Welcome};
use weir_store::evidence::Record;

use crate::committer::{chain_code, Job, Outcome, Problem};
use crate::state::{HostRecord, TokenCheck};
use crate::{now_unix_ns, HostEntry, Shared, COLLECTOR_HOST_ID};

/// A Hello older or newer than this is refused.
pub const HELLO_FRESHNESS: Duration = Duration::from_secs(5 * 60);
/// How long a new stream may take to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct CollectorService {
    pub shared: Arc<Shared>,
}

type Outbound = mpsc::Sender<Result<CollectorMessage, Status>>;

fn down(msg: Down) -> Result<CollectorMessage, Status> {
    Ok(CollectorMessage { msg: Some(msg) })
}

/// Host ids are printable, short, and never the collector's own.
pub fn valid_host_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err(format!("host_id must be 1 to 128 characters, got {}", id.len()));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "._:-".contains(*c))) {
        return Err(format!(
            "host_id contains {c:?}; allowed: letters, digits, '.', '_', ':', '-'"
        ));
    }
    if id == COLLECTOR_HOST_ID {
        return Err(format!("host_id {COLLECTOR_HOST_ID:?} is reserved for the collector"));
    }
    Ok(())
}

/// Problems raised before a peer proved it holds an enrolled key (unknown
/// host, bad Hello, bad token) cost an evidence record each; anyone who can
/// reach the port can cause them. At most this many are recorded per
/// window; the rest are still refused and counted in /metrics.
const UNAUTHENTICATED_RECORDS: u32 = 50;
const UNAUTHENTICATED_WINDOW: Duration = Duration::from_secs(10);

impl Shared {
    /// `record`, but within the budget for unauthenticated peers.
    pub(crate) async fn record_unauthenticated(&self, problem: Problem) {
        let allowed = {
            let mut budget = self.unauthenticated.lock().unwrap();
            if budget.0.elapsed() > UNAUTHENTICATED_WINDOW {
                *budget = (Instant::now(), 0);
            }
            budget.1 += 1;
            budget.1 <= UNAUTHENTICATED_RECORDS
        };
        if allowed {
            self.record(problem).await;
        } else {
            self.metrics.refused(problem.code);
        }
    }

    /// Records an integrity problem durably; returns once it is in the log.
    pub(crate) async fn record(&self, problem: Problem) {
        let (tx, rx) = oneshot::channel();
        if self
            .jobs
            .send(Job::Problem {
                problem,
                reply: Some(tx),
            })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    async fn head(&self, host_id: &str) -> Result<chain::ChainHead, Status> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Head {
                host_id: host_id.to_string(),
                reply: tx,
            })
            .await
            .map_err(|_| Status::unavailable("collector is shutting down"))?;
        rx.await.map_err(|_| Status::unavailable("collector is shutting down"))
    }
}

fn problem(host_id: &str, code: &'static str, detail: impl Into<String>) -> Problem {
    Problem {
        host_id: host_id.to_string(),
        code,
        detail: detail.into(),
        index: 0,
        first_seq: 0,
        last_seq: 0,
    }
}

#[tonic::async_trait]
impl Collector for CollectorService {
    async fn enroll(&self, request: Request<EnrollRequest>) -> Result<Response<EnrollResponse>, Status> {
        let req = request.into_inner();
        let shared = &self.shared;
        if let Err(why) = valid_host_id(&req.host_id) {
            return Err(Status::invalid_argument(why));
        }
        if req.machine_id.len() > 256 || req.host_name.len() > 256 {
            return Err(Status::invalid_argument(
                "machine_id and host_name must be at most 256 bytes",
            ));
        }
        let key_bytes: [u8; 32] = req.public_key.as_slice().try_into().map_err(|_| {
            Status::invalid_argument(format!("public_key must be 32 bytes, got {}", req.public_key.len()))
        })?;
        VerifyingKey::from_bytes(&key_bytes)
            .map_err(|_| Status::invalid_argument("public_key is not a valid ed25519 key"))?;
        // One enrollment at a time: the host check, token burn and write
        // must not interleave for the same host id.
        let _guard = shared.enroll_lock.lock().await;
        let existing = shared.hosts.read().unwrap().get(&req.host_id).cloned();
        if let Some(existing) = existing {
            if existing.record.public_key != key_bytes {
                let detail = format!(
                    "host id {} is already enrolled with a different key (enrolled at {} ns); \
                     a host keeps its key for life: use a new host id for a reinstalled machine",
                    req.host_id, existing.record.enrolled_unix_ns
                );
                drop(_guard);
                shared
                    .record_unauthenticated(problem(&req.host_id, "enroll_key_mismatch", detail.clone()))
                    .await;
                return Err(Status::already_exists(detail));
            }
        }
        let now = now_unix_ns();
        let state = shared.state.clone();
        let (token, host_id) = (req.token.clone(), req.host_id.clone());
        let check = tokio::task::spawn_blocking(move || state.lock().unwrap().consume_token(&token, &host_id, now))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(e.to_string()))?;
        let why = match check {
            TokenCheck::Accepted => None,
            TokenCheck::Unknown => Some("enrollment token is not valid"),
            TokenCheck::AlreadyUsed => Some("enrollment token was already used"),
            TokenCheck::Expired => Some("enrollment token has expired"),
        };
        if let Some(why) = why {
            shared
                .record_unauthenticated(problem(&req.host_id, "enroll_refused", why))
                .await;
            return Err(Status::permission_denied(why));
        }
        let already = shared.hosts.read().unwrap().contains_key(&req.host_id);
        if !already {
            let (tx, rx) = oneshot::channel();
            let record = Record::HostEnrolled {
                host_id: req.host_id.clone(),
                public_key: key_bytes,
                machine_id: req.machine_id.clone(),
                host_name: req.host_name.clone(),
                time_unix_ns: now,
            };
            shared
                .jobs
                .send(Job::Enroll { record, reply: tx })
                .await
                .map_err(|_| Status::unavailable("collector is shutting down"))?;
            rx.await
                .map_err(|_| Status::unavailable("collector is shutting down"))?
                .map_err(Status::unavailable)?;
        }
        let record = HostRecord {
            host_id: req.host_id.clone(),
            machine_id: req.machine_id,
            host_name: req.host_name,
            public_key: key_bytes,
            enrolled_unix_ns: now,
            last_seen_unix_ns: 0,
            events: 0,
        };
        let state = shared.state.clone();
        let stored = record.clone();
        tokio::task::spawn_blocking(move || state.lock().unwrap().put_host(&stored))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(e.to_string()))?;
        shared.add_host(record);
        tracing::info!(host_id = %req.host_id, "host enrolled");
        Ok(Response::new(EnrollResponse { host_id: req.host_id }))
    }

    type StreamStream = Pin<Box<dyn Stream<Item = Result<CollectorMessage, Status>> + Send + 'static>>;

    async fn stream(&self, request: Request<Streaming<SensorMessage>>) -> Result<Response<Self::StreamStream>, Status> {
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(self.shared.config.stream_queue.max(4));
        tokio::spawn(session(self.shared.clone(), inbound, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

async fn refuse_and_close(shared: &Shared, tx: &Outbound, p: Problem) {
    let reason = format!("{}: {}", p.code, p.detail);
    shared.record_unauthenticated(p).await;
    let _ = tx.send(down(Down::Refusal(Refusal { index: 0, reason }))).await;
}

/// Checks the first message; on success returns the host.
async fn hello(shared: &Shared, inbound: &mut Streaming<SensorMessage>, tx: &Outbound) -> Option<HostEntry> {
    let mut stopping = shared.stopping.clone();
    let first = tokio::select! {
        first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message()) => first,
        _ = stopping.wait_for(|s| *s) => return None,
    };
    let first = match first {
        Ok(Ok(Some(m))) => m,
        Ok(Ok(None)) => return None,
        Ok(Err(status)) => {
            shared.metrics.refused("malformed");
            let _ = tx.send(Err(status)).await;
            return None;
        }
        Err(_) => {
            let _ = tx.send(Err(Status::deadline_exceeded("no Hello within 10 s"))).await;
            return None;
        }
    };
    let Some(Up::Hello(hello)) = first.msg else {
        refuse_and_close(
            shared,
            tx,
            problem("", "protocol", "the first message of a stream must be a signed Hello"),
        )
        .await;
        return None;
    };
    let claimed = hello.host_id.chars().take(128).collect::<String>();
    let Some(host) = shared.hosts.read().unwrap().get(&hello.host_id).cloned() else {
        let p = problem(
            &claimed,
            "unknown_host",
            format!("Hello for host id {claimed:?}, which is not enrolled"),
        );
        refuse_and_close(shared, tx, p).await;
        return None;
    };
    if !chain::verify_hello(&hello, &host.key) {
        let p = problem(
            &claimed,
            "bad_hello",
            "Hello signature does not verify with the host's enrolled key",
        );
        refuse_and_close(shared, tx, p).await;
        return None;
    }
    let now = now_unix_ns();
    if now.abs_diff(hello.time_unix_ns) > HELLO_FRESHNESS.as_nanos() as u64 {
        let p = problem(
            &claimed,
            "stale_hello",
            format!(
                "Hello time is {} s away from the collector's clock",
                now.abs_diff(hello.time_unix_ns) / 1_000_000_000
            ),
        );
        refuse_and_close(shared, tx, p).await;
        return None;
    }
    if hello.nonce.len() < 16 || hello.nonce.len() > 64 {
        let p = problem(
            &claimed,
            "bad_hello",
            format!("Hello nonce must be 16 to 64 bytes, got {}", hello.nonce.len()),
        );
        refuse_and_close(shared, tx, p).await;
        return None;
    }
    let state = shared.state.clone();
    let (host_id, nonce) = (hello.host_id.clone(), hello.nonce.clone());
    let fresh = tokio::task::spawn_blocking(move || state.lock().unwrap().use_nonce(&host_id, &nonce, now)).await;
    match fresh {
        Ok(Ok(true)) => Some(host),
        Ok(Ok(false)) => {
            let p = problem(
                &claimed,
                "nonce_reuse",
                "Hello nonce was already used by this host (replayed Hello)",
            );
            refuse_and_close(shared, tx, p).await;
            None
        }
        other => {
            tracing::error!(?other, "cannot record Hello nonce");
            let _ = tx.send(Err(Status::unavailable("collector state unavailable"))).await;
            None
        }
    }
}

/// One sensor's stream, from Hello to disconnect.
async fn session(shared: Arc<Shared>, mut inbound: Streaming<SensorMessage>, tx: Outbound) {
    let Some(host) = hello(&shared, &mut inbound, &tx).await else {
        return;
    };
    let host_id = host.record.host_id.clone();
    let head = match shared.head(&host_id).await {
        Ok(head) => head,
        Err(status) => {
            let _ = tx.send(Err(status)).await;
            return;
        }
    };
    let welcome = Welcome {
        next_index: head.next_index,
        next_seq: head.next_seq,
        head_hash: head.head_hash.to_vec(),
    };
    if tx.send(down(Down::Welcome(welcome))).await.is_err() {
        return;
    }
    let connection = shared
        .next_connection
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shared.commands.lock().unwrap().insert(
        host_id.clone(),
        crate::HostStream {
            tx: tx.clone(),
            connection,
        },
    );
    tracing::info!(%host_id, next_index = head.next_index, "sensor stream open");

    // Answers leave in the order the batches arrived.
    let (pending_tx, mut pending_rx) = mpsc::channel::<oneshot::Receiver<Outcome>>(shared.config.stream_queue.max(4));
    let responder_tx = tx.clone();
    let responder = tokio::spawn(async move {
        while let Some(rx) = pending_rx.recv().await {
            let msg = match rx.await {
                Ok(Outcome::Ack { index, last_seq }) => down(Down::Ack(Ack { index, last_seq })),
                Ok(Outcome::Refused { index, reason }) => down(Down::Refusal(Refusal { index, reason })),
                Ok(Outcome::Unavailable(why)) => Err(Status::unavailable(why)),
                Err(_) => Err(Status::unavailable("collector is shutting down")),
            };
            let fatal = msg.is_err();
            if responder_tx.send(msg).await.is_err() || fatal {
                break;
            }
        }
    });

    let mut refusals = 0u32;
    let mut stopping = shared.stopping.clone();
    loop {
        let next = tokio::select! {
            next = inbound.message() => next,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(status) => {
                // Oversized or undecodable frames: tonic refuses them before
                // they reach us; record it, then end the stream.
                if matches!(
                    status.code(),
                    tonic::Code::Internal | tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
                ) {
                    shared.metrics.refused("malformed");
                    let p = problem(
                        &host_id,
                        "malformed",
                        format!("stream ended by a bad message: {}", status.message()),
                    );
                    shared.record(p).await;
                }
                break;
            }
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let job = match message.msg {
            Some(Up::Batch(signed)) => match check_batch(shared.config.max_events_per_batch, &host, signed) {
                Ok((signed, batch)) => Job::Batch {
                    host_id: host_id.clone(),
                    signed,
                    batch,
                    received: Instant::now(),
                    reply: reply_tx,
                },
                Err(p) => Job::Problem {
                    problem: p,
                    reply: Some(reply_tx),
                },
            },
            Some(Up::Result(result)) => {
                let mut action = result.action.unwrap_or_default();
                action.command_id = result.command_id;
                // The stream's authenticated host, whatever the sensor put there.
                action.host_id = host_id.clone();
                let event = weir_event::Event {
                    time_unix_ns: now_unix_ns(),
                    body: Some(weir_event::event::Body::Action(action)),
                    ..Default::default()
                };
                if shared.jobs.send(Job::Event { event }).await.is_err() {
                    break;
                }
                continue;
            }
            Some(Up::Hello(_)) | None => Job::Problem {
                problem: problem(
                    &host_id,
                    "protocol",
                    "unexpected message after Hello (only batches and command results)",
                ),
                reply: Some(reply_tx),
            },
        };
        if matches!(job, Job::Problem { .. }) {
            refusals += 1;
        }
        if shared.jobs.send(job).await.is_err() || pending_tx.send(reply_rx).await.is_err() {
            break;
        }
        if refusals >= shared.config.max_refusals_per_stream {
            tracing::warn!(%host_id, refusals, "closing stream after repeated refusals");
            break;
        }
    }
    drop(pending_tx);
    let _ = responder.await;
    let mut commands = shared.commands.lock().unwrap();
    if commands
        .get(&host_id)
        .is_some_and(|current| current.connection == connection)
    {
        commands.remove(&host_id);
    }
    tracing::info!(%host_id, "sensor stream closed");
}

/// Signature, host binding, decoding and size limits of one batch. The chain
/// position is the committer's business.
fn check_batch(
    max_events: usize,
    host: &HostEntry,
    signed: weir_event::SignedBatch,
) -> Result<(weir_event::SignedBatch, weir_event::Batch), Problem> {
    let host_id = &host.record.host_id;
    match chain::open(&signed, &host.key, host_id) {
        Ok(batch) => {
            if batch.events.len() > max_events {
                return Err(Problem {
                    index: batch.index,
                    first_seq: batch.first_seq,
                    last_seq: batch.last_seq,
                    ..problem(
                        host_id,
                        "oversized",
                        format!(
                            "batch {} holds {} events, the limit is {}",
                            batch.index,
                            batch.events.len(),
                            max_events
                        ),
                    )
                });
            }
            if let Some(event) = batch.events.iter().find(|e| e.host_id != *host_id) {
                return Err(Problem {
                    index: batch.index,
                    first_seq: batch.first_seq,
                    last_seq: batch.last_seq,
                    ..problem(
                        host_id,
                        "wrong_host",
                        format!(
                            "event {} inside batch {} claims host {:?}",
                            event.seq, batch.index, event.host_id
                        ),
                    )
                });
            }
            Ok((signed, batch))
        }
        Err(error) => Err(problem(host_id, chain_code(&error), error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;
    use prost::Message;

    fn host() -> (SigningKey, HostEntry) {
        let key = SigningKey::from_bytes(&[1; 32]);
        let entry = HostEntry {
            record: HostRecord {
                host_id: "h1".into(),
                machine_id: String::new(),
                host_name: String::new(),
                public_key: key.verifying_key().to_bytes(),
                enrolled_unix_ns: 0,
                last_seen_unix_ns: 0,
                events: 0,
            },
            key: key.verifying_key(),
        };
        (key, entry)
    }

    #[test]
    fn host_ids_are_checked() {
        assert!(valid_host_id("web-01.prod:eu").is_ok());
        for bad in ["", "collector", "a b", "x/y", "é", &"a".repeat(129)] {
            assert!(valid_host_id(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Whatever bytes arrive as a sensor message: decoding and batch
        /// checks return an error or a batch, never panic.
        #[test]
        fn random_wire_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let (_, entry) = host();
            if let Ok(SensorMessage { msg: Some(Up::Batch(signed)) }) = SensorMessage::decode(bytes.as_slice()) {
                let _ = check_batch(16, &entry, signed);
            }
        }

        /// Correctly signed but arbitrary batch contents (the host key holder
        /// is the attacker): checks and the chain head never panic, and a
        /// batch with another host's events is refused.
        #[test]
        fn signed_garbage_never_panics(index in any::<u64>(), first in any::<u64>(), last in any::<u64>(),
                                       seqs in proptest::collection::vec(any::<u64>(), 0..20),
                                       hosts in proptest::collection::vec(prop_oneof!["h1", "h2", ""], 0..20)) {
            let (key, entry) = host();
            let batch = weir_event::Batch {
                host_id: "h1".into(),
                index,
                first_seq: first,
                last_seq: last,
                prev_hash: vec![0; 32],
                events: seqs.iter().zip(hosts.iter().chain(std::iter::repeat(&"h1".to_string())))
                    .map(|(s, h)| weir_event::Event { seq: *s, host_id: h.clone(), ..Default::default() }).collect(),
                ..Default::default()
            };
            let signed = chain::seal(&key, &batch);
            match check_batch(16, &entry, signed) {
                Ok((_, b)) => {
                    prop_assert!(b.events.iter().all(|e| e.host_id == "h1"));
                    let _ = chain::ChainHead::default().check(&b);
                }
                Err(p) => prop_assert!(!p.code.is_empty()),
            }
        }
    }
}
