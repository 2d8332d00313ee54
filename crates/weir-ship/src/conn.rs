//! The connection to the collector: TLS channel, enrollment on first start,
//! then one bidirectional stream per connection (signed Hello, Welcome,
//! resend from the collector's head, acks release the spool, commands run
//! through the host's handler). Reconnects with capped, jittered backoff.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use weir_event::chain::{sign_hello, ChainHead};
use weir_event::collector_client::CollectorClient;
use weir_event::collector_message::Msg as Down;
use weir_event::sensor_message::Msg as Up;
use weir_event::{CommandResult, EnrollRequest, SensorMessage};

use crate::error::ShipError;
use crate::{now_unix_ns, Inner};

/// Why a session ended.
#[derive(Debug)]
enum End {
    Stop,
    Retry(String),
}

pub fn endpoint(inner: &Inner) -> Result<Endpoint, ShipError> {
    let cfg = &inner.config;
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&cfg.ca_pem));
    if let Some(name) = &cfg.tls_server_name {
        tls = tls.domain_name(name.clone());
    }
    Endpoint::from_shared(cfg.collector.clone())
        .map_err(|e| ShipError::Config(format!("collector URL {:?}: {e}", cfg.collector)))?
        .tls_config(tls)
        .map_err(|e| ShipError::Tls(e.to_string()))
        .map(|e| {
            e.connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(20))
                .keep_alive_timeout(Duration::from_secs(20))
        })
}

fn client(inner: &Inner, channel: Channel) -> CollectorClient<Channel> {
    CollectorClient::new(channel)
        .max_decoding_message_size(inner.config.max_message_bytes)
        .max_encoding_message_size(inner.config.max_message_bytes)
}

/// Enrolls with the token. `Ok(false)`: collector unreachable, try later.
pub async fn enroll(inner: &Inner) -> Result<bool, ShipError> {
    let cfg = &inner.config;
    let Some(token) = cfg.enroll_token.clone() else {
        return Err(ShipError::NoToken {
            host_id: cfg.host_id.clone(),
        });
    };
    let channel = match endpoint(inner)?.connect().await {
        Ok(channel) => channel,
        Err(error) => {
            tracing::warn!(%error, "collector unreachable for enrollment; will retry");
            return Ok(false);
        }
    };
    let request = EnrollRequest {
        token,
        host_id: cfg.host_id.clone(),
        machine_id: cfg.machine_id.clone(),
        host_name: cfg.host_name.clone(),
        public_key: inner.key.verifying_key().to_bytes().to_vec(),
    };
    match client(inner, channel).enroll(request).await {
        Ok(_) => {
            crate::identity::mark_enrolled(&cfg.state_dir, &cfg.host_id)?;
            inner.enrolled.store(true, Ordering::SeqCst);
            tracing::info!(host_id = %cfg.host_id, "enrolled with the collector");
            Ok(true)
        }
        Err(status) if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown) => {
            tracing::warn!(%status, "enrollment did not complete; will retry");
            Ok(false)
        }
        Err(status) => Err(ShipError::EnrollRefused(status.message().to_string())),
    }
}

pub async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let cfg = inner.config.clone();
    let mut delay = cfg.backoff_initial;
    loop {
        if *stop.borrow() && (inner.spool.lock().unwrap().is_empty() || !inner.enrolled.load(Ordering::SeqCst)) {
            return;
        }
        let started = Instant::now();
        let end = if inner.enrolled.load(Ordering::SeqCst) {
            session(&inner, &mut stop).await
        } else {
            match enroll(&inner).await {
                Ok(true) => continue,
                Ok(false) => End::Retry("enrollment pending".into()),
                Err(error) => {
                    tracing::error!(%error, "enrollment refused; events are counted as dropped until restart");
                    End::Retry(error.to_string())
                }
            }
        };
        inner.connected.store(false, Ordering::SeqCst);
        match end {
            End::Stop => return,
            End::Retry(why) => {
                if started.elapsed() > Duration::from_secs(30) {
                    delay = cfg.backoff_initial;
                }
                let jitter = rand::thread_rng().gen_range(0.5..1.0);
                let wait = delay.mul_f64(jitter);
                tracing::warn!(reason = %why, retry_in_ms = wait.as_millis() as u64, "collector connection lost");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                delay = (delay * 2).min(cfg.backoff_max);
            }
        }
    }
}

fn up(msg: Up) -> SensorMessage {
    SensorMessage { msg: Some(msg) }
}

async fn session(inner: &Arc<Inner>, stop: &mut watch::Receiver<bool>) -> End {
    let channel = match endpoint(inner) {
        Ok(e) => match e.connect().await {
            Ok(c) => c,
            Err(e) => return End::Retry(format!("connect: {e}")),
        },
        Err(e) => return End::Retry(e.to_string()),
    };
    let (tx, rx) = mpsc::channel::<SensorMessage>(64);
    let mut nonce = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let hello = sign_hello(&inner.key, &inner.config.host_id, now_unix_ns(), nonce);
    let _ = tx.send(up(Up::Hello(hello))).await;
    let mut down = match client(inner, channel).stream(ReceiverStream::new(rx)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return End::Retry(format!("stream: {status}")),
    };
    let welcome = match down.message().await {
        Ok(Some(m)) => match m.msg {
            Some(Down::Welcome(w)) => w,
            Some(Down::Refusal(r)) => return End::Retry(format!("refused: {}", r.reason)),
            other => return End::Retry(format!("expected Welcome, got {other:?}")),
        },
        Ok(None) => return End::Retry("stream closed before Welcome".into()),
        Err(status) => return End::Retry(format!("before Welcome: {status}")),
    };
    let Ok(head_hash) = <[u8; 32]>::try_from(welcome.head_hash.as_slice()) else {
        return End::Retry("Welcome head_hash is not 32 bytes".into());
    };
    let head = ChainHead {
        next_index: welcome.next_index,
        next_seq: welcome.next_seq,
        head_hash,
    };
    let mut next = match inner.spool.lock().unwrap().welcome(head, &inner.key, now_unix_ns()) {
        Ok((from, released)) => {
            inner.on_release(&released);
            from
        }
        Err(e) => return End::Retry(e.to_string()),
    };
    inner.connected.store(true, Ordering::SeqCst);
    tracing::info!(next_index = next, "streaming to the collector");
    // (index, sent at) of batches in flight, for ack latency.
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
    loop {
        // Send everything sealed and not yet sent on this stream.
        loop {
            let batch = match inner.spool.lock().unwrap().get(next) {
                Ok(b) => b,
                Err(e) => return End::Retry(e.to_string()),
            };
            let Some(batch) = batch else { break };
            match tx.try_send(up(Up::Batch(batch))) {
                Ok(()) => {
                    in_flight.push_back((next, Instant::now()));
                    inner.sent.fetch_add(1, Ordering::Relaxed);
                    next += 1;
                }
                Err(mpsc::error::TrySendError::Full(_)) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => return End::Retry("stream closed".into()),
            }
        }
        if *stop.borrow() && inner.spool.lock().unwrap().is_empty() {
            return End::Stop;
        }
        let room = tx.reserve();
        tokio::select! {
            _ = inner.wake.notified() => {}
            permit = room, if inner.spool.lock().unwrap().next_index().is_some_and(|n| n > next) => {
                drop(permit);
            }
            message = down.message() => match message {
                Ok(Some(m)) => match m.msg {
                    Some(Down::Ack(ack)) => {
                        while in_flight.front().is_some_and(|(i, _)| *i < ack.index) {
                            in_flight.pop_front();
                        }
                        if let Some((i, sent)) = in_flight.front() {
                            if *i == ack.index {
                                inner.last_ack_latency_us.store(sent.elapsed().as_micros() as u64, Ordering::Relaxed);
                                in_flight.pop_front();
                            }
                        }
                        let released = {
                            let mut spool = inner.spool.lock().unwrap();
                            let released = spool.release_below(ack.index + 1);
                            if spool.loss_pending() {
                                // Room again: report the loss now, not at the next event.
                                let now = now_unix_ns();
                                spool.offer(Vec::new(), now);
                                let _ = spool.seal_pending(&inner.key, now);
                            }
                            released
                        };
                        if let Ok(released) = released {
                            inner.on_release(&released);
                        }
                    }
                    Some(Down::Refusal(refusal)) => {
                        inner.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(index = refusal.index, reason = %refusal.reason, "collector refused a batch; reconnecting to resynchronise");
                        return End::Retry(format!("refused: {}", refusal.reason));
                    }
                    Some(Down::Command(command)) => {
                        let handler = inner.config.on_command.clone();
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let command_id = command.command_id.clone();
                            let action = match handler {
                                Some(handler) => tokio::task::spawn_blocking(move || handler(command)).await.unwrap_or_else(|e| weir_event::Action {
                                    result: format!("error: handler panicked: {e}"),
                                    ..Default::default()
                                }),
                                None => weir_event::Action {
                                    action: command.action,
                                    target: command.target,
                                    rule_id: command.rule_id,
                                    result: "refused: this sensor runs no response handler".into(),
                                    command_id: command_id.clone(),
                                    ..Default::default()
                                },
                            };
                            let _ = tx.send(up(Up::Result(CommandResult { command_id, action: Some(action) }))).await;
                        });
                    }
                    Some(Down::Welcome(_)) | None => return End::Retry("unexpected message from collector".into()),
                },
                Ok(None) => return End::Retry("collector closed the stream".into()),
                Err(status) => return End::Retry(format!("stream: {status}")),
            },
            _ = stop.changed() => {}
        }
    }
}
