//! Counters the collector keeps while ingesting, rendered as Prometheus text
//! for GET /metrics and summarised by `ServerHandle::stats()`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the ack latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    pub events_total: AtomicU64,
    pub batches_total: AtomicU64,
    pub evidence_leaves: AtomicU64,
    /// events/s over the last second, updated by a ticker.
    pub events_per_second: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
    /// (host, kind, where) -> events the sensor reported as dropped.
    dropped: Mutex<BTreeMap<(String, String, String), u64>>,
    latency: Mutex<Histogram>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub fn refused(&self, reason: &str) {
        *self.refused.lock().unwrap().entry(reason.to_string()).or_default() += 1;
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.lock().unwrap().values().sum()
    }

    pub fn dropped(&self, host: &str, kind: &str, place: &str, count: u64) {
        if count == 0 {
            return;
        }
        *self
            .dropped
            .lock()
            .unwrap()
            .entry((host.to_string(), kind.to_string(), place.to_string()))
            .or_default() += count;
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.lock().unwrap().values().sum()
    }

    pub fn ack_latency(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut h = self.latency.lock().unwrap();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter(
            &mut out,
            "weir_ingest_events_total",
            "Events accepted and durable in the evidence log.",
            self.events_total.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "weir_ingest_batches_total",
            "Signed batches accepted and durable in the evidence log.",
            self.batches_total.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP weir_refused_batches_total Messages refused, by reason (recorded as integrity events).\n# TYPE weir_refused_batches_total counter"
        );
        for (reason, n) in self.refused.lock().unwrap().iter() {
            let _ = writeln!(out, "weir_refused_batches_total{{reason=\"{}\"}} {n}", escape(reason));
        }
        let _ = writeln!(
            out,
            "# HELP weir_sensor_dropped_events_total Events sensors reported as lost, by host, kind and place.\n# TYPE weir_sensor_dropped_events_total counter"
        );
        for ((host, kind, place), n) in self.dropped.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "weir_sensor_dropped_events_total{{host=\"{}\",kind=\"{}\",where=\"{}\"}} {n}",
                escape(host),
                escape(kind),
                escape(place)
            );
        }
        let _ = writeln!(
            out,
            "# HELP weir_evidence_leaves Records in the evidence log.\n# TYPE weir_evidence_leaves gauge\nweir_evidence_leaves {}",
            self.evidence_leaves.load(Ordering::Relaxed)
        );
        let h = self.latency.lock().unwrap();
        let _ = writeln!(
            out,
            "# HELP weir_ack_latency_seconds From batch receipt to durable ack.\n# TYPE weir_ack_latency_seconds histogram"
        );
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "weir_ack_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                h.buckets[i]
            );
        }
        let _ = writeln!(out, "weir_ack_latency_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "weir_ack_latency_seconds_sum {}", h.sum);
        let _ = writeln!(out, "weir_ack_latency_seconds_count {}", h.count);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_escaped_and_histogram_cumulative() {
        let m = Metrics::default();
        m.refused("bad_signature");
        m.dropped("h\"1", "exec", "kernel_ring", 3);
        m.ack_latency(Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("weir_refused_batches_total{reason=\"bad_signature\"} 1"));
        assert!(
            text.contains("weir_sensor_dropped_events_total{host=\"h\\\"1\",kind=\"exec\",where=\"kernel_ring\"} 3")
        );
        assert!(text.contains("weir_ack_latency_seconds_bucket{le=\"0.002\"} 0"));
        assert!(text.contains("weir_ack_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("weir_ack_latency_seconds_count 1"));
    }
}
