//! Per-output delivery counters (updated lock-free by the workers) and their
//! views: [`OutputStats`] for health/API and Prometheus text for `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Live counters of one output.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Accepted into the queue.
    pub accepted: AtomicU64,
    /// Finished (sent or failed).
    pub finished: AtomicU64,
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub last_success_unix_ns: AtomicU64,
    pub last_failure_unix_ns: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn record_error(&self, error: &str) {
        let mut last = self.last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *last = Some(error.to_string());
    }
}

/// A snapshot of one output's delivery record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputStats {
    pub name: String,
    #[serde(rename = "type")]
    pub output_type: String,
    /// Delivered.
    pub sent: u64,
    /// Attempts repeated after a transient failure.
    pub retried: u64,
    /// Given up on (retries exhausted or permanent error).
    pub failed: u64,
    /// Not queued because the queue was full.
    pub dropped: u64,
    /// Waiting or in delivery now.
    pub pending: u64,
    pub last_error: Option<String>,
    pub last_success_unix_ns: Option<u64>,
    pub last_failure_unix_ns: Option<u64>,
}

impl OutputStats {
    pub(crate) fn snapshot(name: &str, output_type: &str, counters: &Counters) -> OutputStats {
        let nonzero = |value: u64| (value != 0).then_some(value);
        let accepted = counters.accepted.load(Ordering::Acquire);
        let finished = counters.finished.load(Ordering::Acquire);
        OutputStats {
            name: name.to_string(),
            output_type: output_type.to_string(),
            sent: counters.sent.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            pending: accepted.saturating_sub(finished),
            last_error: counters
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
            last_success_unix_ns: nonzero(counters.last_success_unix_ns.load(Ordering::Relaxed)),
            last_failure_unix_ns: nonzero(counters.last_failure_unix_ns.load(Ordering::Relaxed)),
        }
    }

    /// Healthy unless the latest give-up is more recent than the latest success.
    pub fn healthy(&self) -> bool {
        match (self.last_failure_unix_ns, self.last_success_unix_ns) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(failure), Some(success)) => success >= failure,
        }
    }
}

/// Escapes a Prometheus label value (`\`, `"`, newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus text exposition of all outputs' counters.
pub fn prometheus_text(stats: &[OutputStats]) -> String {
    type Metric = (
        &'static str,
        &'static str,
        &'static str,
        fn(&OutputStats) -> Option<u64>,
    );
    let metrics: [Metric; 7] = [
        (
            "weir_output_sent_total",
            "counter",
            "Notifications delivered by the output.",
            |s| Some(s.sent),
        ),
        (
            "weir_output_retried_total",
            "counter",
            "Delivery attempts repeated after a transient failure.",
            |s| Some(s.retried),
        ),
        (
            "weir_output_failed_total",
            "counter",
            "Notifications given up on after retries or a permanent error.",
            |s| Some(s.failed),
        ),
        (
            "weir_output_dropped_total",
            "counter",
            "Notifications dropped because the output's queue was full.",
            |s| Some(s.dropped),
        ),
        (
            "weir_output_pending",
            "gauge",
            "Notifications queued or being delivered.",
            |s| Some(s.pending),
        ),
        (
            "weir_output_healthy",
            "gauge",
            "1 unless the latest failure is newer than the latest success.",
            |s| Some(u64::from(s.healthy())),
        ),
        (
            "weir_output_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the latest delivery.",
            |s| s.last_success_unix_ns.map(|ns| ns / 1_000_000_000),
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in metrics {
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for output in stats {
            if let Some(value) = value(output) {
                let _ = writeln!(
                    text,
                    "{name}{{output=\"{}\",type=\"{}\"}} {value}",
                    label(&output.name),
                    label(&output.output_type)
                );
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(name: &str, success: Option<u64>, failure: Option<u64>) -> OutputStats {
        OutputStats {
            name: name.into(),
            output_type: "webhook".into(),
            sent: 3,
            retried: 2,
            failed: 1,
            dropped: 0,
            pending: 0,
            last_error: None,
            last_success_unix_ns: success,
            last_failure_unix_ns: failure,
        }
    }

    #[test]
    fn health_follows_the_latest_outcome() {
        assert!(stats("a", None, None).healthy());
        assert!(!stats("a", None, Some(5)).healthy());
        assert!(stats("a", Some(6), Some(5)).healthy());
        assert!(!stats("a", Some(4), Some(5)).healthy());
    }

    #[test]
    fn prometheus_text_escapes_labels_and_skips_unknown_timestamps() {
        let text = prometheus_text(&[
            stats("we\"ird\\name\n", None, None),
            stats("b", Some(7_000_000_000), None),
        ]);
        assert!(
            text.contains("weir_output_sent_total{output=\"we\\\"ird\\\\name\\n\",type=\"webhook\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("weir_output_last_success_timestamp_seconds{output=\"b\",type=\"webhook\"} 7\n"));
        assert!(!text.contains("weir_output_last_success_timestamp_seconds{output=\"we"));
        assert_eq!(text.matches("# TYPE ").count(), 7);
    }
}
