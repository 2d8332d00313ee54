//! Prometheus text the `weir` binary adds to the collector's `/metrics`:
//! detection and response counters, alerts by rule, mode and state, response
//! actions by kind and outcome, and per-host traffic.

use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

use weir_detect::AlertStore;
use weir_server::prometheus_label as label;

use super::detection::{alerts_path, DetectionSink};

/// One metric family: HELP and TYPE lines, then `name{labels} value` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: impl IntoIterator<Item = (String, f64)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        let labels = if labels.is_empty() {
            labels
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn one(value: f64) -> [(String, f64); 1] {
    [(String::new(), value)]
}

/// The text for one scrape.
pub fn render(data: &Path, detection: &DetectionSink) -> String {
    let s = detection.0.stats();
    let mut out = String::new();
    for (name, help, value) in [
        ("weir_detect_events_total", "Events evaluated by the rules.", &s.events),
        ("weir_detect_matches_total", "Rule matches.", &s.matches),
        ("weir_detect_alerts_opened_total", "Alerts opened.", &s.alerts_opened),
        (
            "weir_detect_shadow_opened_total",
            "Shadow (staged) alerts recorded.",
            &s.shadow_opened,
        ),
        (
            "weir_detect_excepted_total",
            "Matches let through by an exception.",
            &s.excepted,
        ),
        ("weir_detect_batches_total", "Event batches evaluated.", &s.batches),
        ("weir_response_sent_total", "Response commands sent.", &s.actions_sent),
        (
            "weir_response_refused_total",
            "Response actions refused by a guardrail.",
            &s.actions_refused,
        ),
        (
            "weir_response_shadow_total",
            "Would-be actions of shadow rules.",
            &s.actions_shadow,
        ),
        (
            "weir_response_breakers_tripped_total",
            "Rules demoted by the budget circuit breaker.",
            &s.breakers_tripped,
        ),
    ] {
        family(&mut out, name, "counter", help, one(value.load(Relaxed) as f64));
    }
    family(
        &mut out,
        "weir_detect_eval_seconds_total",
        "counter",
        "Time spent evaluating rules and correlations.",
        one(s.eval_ns.load(Relaxed) as f64 / 1e9),
    );
    family(
        &mut out,
        "weir_response_decision_latency_seconds",
        "gauge",
        "Event time to command sent, last action.",
        one(s.last_decision_latency_us.load(Relaxed) as f64 / 1e6),
    );
    if let Some(control) = detection.1.control().get() {
        let hosts = control.hosts();
        let labels = |h: &serde_json::Value| {
            format!(
                "host=\"{}\",name=\"{}\"",
                label(h["host_id"].as_str().unwrap_or_default()),
                label(h["host_name"].as_str().unwrap_or_default())
            )
        };
        let per_host = |field: &str, scale: f64| {
            hosts
                .iter()
                .map(|h| (labels(h), h[field].as_u64().unwrap_or(0) as f64 / scale))
                .collect::<Vec<_>>()
        };
        family(
            &mut out,
            "weir_host_events_total",
            "counter",
            "Events stored per host.",
            per_host("events", 1.0),
        );
        family(
            &mut out,
            "weir_host_last_seen_seconds",
            "gauge",
            "Unix time a host last sent a batch.",
            per_host("last_seen_unix_ns", 1e9),
        );
        let connected = hosts
            .iter()
            .map(|h| (labels(h), f64::from(u8::from(h["connected"] == true))));
        family(
            &mut out,
            "weir_host_connected",
            "gauge",
            "Whether a host's stream is open.",
            connected,
        );
    }
    match AlertStore::open(&alerts_path(data)).and_then(|store| store.metric_counts()) {
        Ok((alerts, actions)) => {
            let by_state = alerts.into_iter().map(|(rule, mode, state, n)| {
                let labels = format!(
                    "rule=\"{}\",mode=\"{}\",state=\"{}\"",
                    label(&rule),
                    label(&mode),
                    label(&state)
                );
                (labels, n as f64)
            });
            family(
                &mut out,
                "weir_alerts",
                "gauge",
                "Alerts by rule, mode and state.",
                by_state,
            );
            let labels = |a: &str, s: &str| format!("action=\"{}\",status=\"{}\"", label(a), label(s));
            let counts = actions.iter().map(|(a, s, n, _)| (labels(a, s), *n as f64));
            family(
                &mut out,
                "weir_actions",
                "gauge",
                "Response actions by action and outcome.",
                counts,
            );
            let latency = actions.iter().map(|(a, s, _, us)| (labels(a, s), *us as f64 / 1e6));
            family(
                &mut out,
                "weir_action_host_latency_seconds_sum",
                "gauge",
                "Summed host-side latency of actions.",
                latency,
            );
        }
        Err(e) => tracing::warn!("metrics: reading the alert store: {e}"),
    }
    out
}
