//! The delivery engine: one bounded queue and one worker per output, all on a
//! small tokio runtime owned by a dedicated thread (so `send` works from any
//! thread or runtime and never blocks). Transient failures are retried with
//! exponential backoff and jitter; permanent ones are not. Everything is
//! counted per output.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::config::{OutputConfig, OutputSettings, OutputsConfig};
use crate::error::DeliveryError;
use crate::notification::{now_unix_ns, Kind, Notification};
use crate::stats::{Counters, OutputStats};

/// Longest wait between two attempts (also caps a receiver's `Retry-After`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delay before retry number `attempt` (0 for the first retry): `base * 2^attempt`
/// capped at [`MAX_BACKOFF`], then a random point in its upper half (jitter, so
/// outputs failing together do not retry in lockstep).
pub fn backoff_delay(attempt: u32, base: Duration) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.min(20)).min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Whether an output takes this notification: its filters, and what its type can deliver
/// (triage requests only go where a person can be addressed; PagerDuty is never asked triage questions).
pub fn output_wants(config: &OutputConfig, notification: &Notification) -> bool {
    if !config.accepts(notification) {
        return false;
    }
    match &config.settings {
        OutputSettings::Slack(settings) => crate::slack::can_deliver(settings, notification),
        OutputSettings::Email(settings) => crate::email::can_deliver(settings, notification),
        OutputSettings::PagerDuty(_) => notification.kind != Kind::TriageRequest,
        OutputSettings::Webhook(_) | OutputSettings::Syslog(_) | OutputSettings::File(_) => true,
    }
}

/// One attempt at delivering through one output, bounded by the output's timeout.
pub async fn deliver_once(config: &OutputConfig, notification: &Notification) -> Result<(), DeliveryError> {
    let attempt = async {
        match &config.settings {
            OutputSettings::Webhook(settings) => crate::webhook::deliver(settings, notification).await,
            OutputSettings::Slack(settings) => crate::slack::deliver(settings, notification).await,
            OutputSettings::PagerDuty(settings) => crate::pagerduty::deliver(settings, notification).await,
            OutputSettings::Syslog(settings) => crate::syslog::deliver(settings, notification).await,
            OutputSettings::Email(settings) => crate::email::deliver(settings, notification).await,
            OutputSettings::File(settings) => crate::file::deliver(settings, notification).await,
        }
    };
    match tokio::time::timeout(config.timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(DeliveryError::Transient(format!(
            "output {}: no response within {:?}",
            config.name, config.timeout
        ))),
    }
}

struct OutputHandle {
    config: Arc<OutputConfig>,
    queue: mpsc::Sender<Arc<Notification>>,
    counters: Arc<Counters>,
}

/// Delivers notifications to every configured output.
///
/// Owns a thread named `weir-notify` running a current-thread tokio runtime; it
/// does not need (or use) the caller's runtime. Dropping the notifier stops the
/// workers at once and loses what is still queued: call [`Notifier::flush`] first
/// on shutdown.
pub struct Notifier {
    outputs: Vec<OutputHandle>,
    stop: Option<oneshot::Sender<()>>,
}

impl Notifier {
    /// Starts one worker per output. Fails only if the runtime or its thread cannot be created.
    pub fn start(config: OutputsConfig) -> std::io::Result<Notifier> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut outputs = Vec::with_capacity(config.outputs.len());
        let mut workers = Vec::with_capacity(config.outputs.len());
        for output in config.outputs {
            let (queue, receiver) = mpsc::channel(output.queue_capacity);
            let config = Arc::new(output);
            let counters = Arc::new(Counters::default());
            workers.push((config.clone(), receiver, counters.clone()));
            outputs.push(OutputHandle {
                config,
                queue,
                counters,
            });
        }
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name("weir-notify".into()).spawn(move || {
            runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for (config, receiver, counters) in workers {
                    tasks.spawn(run_worker(config, receiver, counters));
                }
                tokio::select! {
                    _ = async { while tasks.join_next().await.is_some() {} } => {}
                    _ = stopped => {}
                }
            });
            // A file write stuck in the kernel must not keep this thread forever.
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
        Ok(Notifier {
            outputs,
            stop: Some(stop),
        })
    }

    /// Queues the notification for every output that wants it and returns how many took it.
    /// Never blocks: when an output's queue is full the notification is dropped (and counted) for that output.
    pub fn send(&self, notification: &Notification) -> usize {
        let mut shared: Option<Arc<Notification>> = None;
        let mut queued = 0;
        for output in &self.outputs {
            if !output_wants(&output.config, notification) {
                continue;
            }
            let shared = shared.get_or_insert_with(|| Arc::new(notification.clone()));
            output.counters.accepted.fetch_add(1, Ordering::AcqRel);
            match output.queue.try_send(shared.clone()) {
                Ok(()) => queued += 1,
                Err(_) => {
                    output.counters.accepted.fetch_sub(1, Ordering::AcqRel);
                    output.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        queued
    }

    /// Waits (blocking this thread, polling) until every queued notification is sent or
    /// given up on, or `timeout` passes; true when everything finished. From async code,
    /// call it through `spawn_blocking`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let idle = self.outputs.iter().all(|output| {
                output.counters.finished.load(Ordering::Acquire) >= output.counters.accepted.load(Ordering::Acquire)
            });
            if idle {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Flushes for up to `timeout`, then stops the workers; true when nothing was left undelivered.
    pub fn shutdown(self, timeout: Duration) -> bool {
        self.flush(timeout)
    }

    /// Counters of every output, in config order.
    pub fn stats(&self) -> Vec<OutputStats> {
        self.outputs
            .iter()
            .map(|output| OutputStats::snapshot(&output.config.name, output.config.type_name(), &output.counters))
            .collect()
    }

    /// The counters as Prometheus text (`weir_output_sent_total{output="...",type="..."}` etc.).
    pub fn prometheus_text(&self) -> String {
        crate::stats::prometheus_text(&self.stats())
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn run_worker(config: Arc<OutputConfig>, mut queue: mpsc::Receiver<Arc<Notification>>, counters: Arc<Counters>) {
    while let Some(notification) = queue.recv().await {
        let mut attempt: u32 = 0;
        loop {
            match deliver_once(&config, &notification).await {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    counters.last_success_unix_ns.store(now_unix_ns(), Ordering::Relaxed);
                    break;
                }
                Err(error) if !error.is_permanent() && attempt < config.retries => {
                    counters.record_error(&error.to_string());
                    counters.retried.fetch_add(1, Ordering::Relaxed);
                    let asked = error.retry_after().unwrap_or_default().min(MAX_BACKOFF);
                    tokio::time::sleep(backoff_delay(attempt, config.backoff_base).max(asked)).await;
                    attempt += 1;
                }
                Err(error) => {
                    tracing::warn!(output = %config.name, kind = notification.kind.as_str(), %error, "notification not delivered");
                    counters.record_error(&error.to_string());
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    counters.last_failure_unix_ns.store(now_unix_ns(), Ordering::Relaxed);
                    break;
                }
            }
        }
        counters.finished.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(200);
        for _ in 0..100 {
            let first = backoff_delay(0, base);
            assert!(
                first >= Duration::from_millis(100) && first <= Duration::from_millis(200),
                "{first:?}"
            );
            let third = backoff_delay(2, base);
            assert!(
                third >= Duration::from_millis(400) && third <= Duration::from_millis(800),
                "{third:?}"
            );
            let late = backoff_delay(40, base);
            assert!(late >= MAX_BACKOFF / 2 && late <= MAX_BACKOFF, "{late:?}");
        }
    }
}
