//! Webhook output against a real local HTTP server: signed bodies that the
//! receiver verifies, retries on 503, no retry on 400, a dead receiver, and a
//! full queue that drops instead of blocking.

mod common;

use common::http_receiver::{silent_server, HttpReceiver};
use common::{config, dead_port, now_secs, sample_alert, FLUSH};
use weir_notify::{verify_webhook, Notification, Notifier, SignatureError};

const SECRET: &str = "webhook-test-secret";

fn webhook_config(url: &str, extra: &str) -> weir_notify::OutputsConfig {
    config(&format!(
        "outputs:\n  - name: hook\n    type: webhook\n    url: {url}\n    secret: {SECRET}\n    backoff: 10ms\n{extra}"
    ))
}

#[test]
fn delivers_signed_json_that_the_receiver_verifies() {
    let receiver = HttpReceiver::start(vec![], (200, "ok"));
    let notifier = Notifier::start(webhook_config(&receiver.url("/hooks/weir"), "")).unwrap();
    let alert = sample_alert();
    assert_eq!(notifier.send(&alert), 1);
    assert!(notifier.flush(FLUSH));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/hooks/weir")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    let timestamp = request.header("x-weir-timestamp").expect("timestamp header");
    let signature = request.header("x-weir-signature").expect("signature header");
    assert_eq!(
        verify_webhook(SECRET.as_bytes(), timestamp, &request.body, signature, now_secs()),
        Ok(())
    );
    // The MAC covers the body and the timestamp.
    let mut tampered = request.body.clone();
    tampered[5] ^= 1;
    assert_eq!(
        verify_webhook(SECRET.as_bytes(), timestamp, &tampered, signature, now_secs()),
        Err(SignatureError::Mismatch)
    );
    let other_time = (timestamp.parse::<u64>().unwrap() + 1).to_string();
    assert_eq!(
        verify_webhook(SECRET.as_bytes(), &other_time, &request.body, signature, now_secs()),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_webhook(b"another secret", timestamp, &request.body, signature, now_secs()),
        Err(SignatureError::Mismatch)
    );
    assert!(matches!(
        verify_webhook(SECRET.as_bytes(), timestamp, &request.body, signature, now_secs() + 301),
        Err(SignatureError::Stale { .. })
    ));

    let received: Notification = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(received, alert);

    let stats = notifier.stats();
    assert_eq!(
        (stats[0].sent, stats[0].retried, stats[0].failed, stats[0].dropped),
        (1, 0, 0, 0)
    );
    assert!(stats[0].last_success_unix_ns.is_some());
    assert!(stats[0].healthy());
}

#[test]
fn retries_transient_failures_with_backoff() {
    let receiver = HttpReceiver::start(vec![(503, "busy"), (503, "busy")], (200, "ok"));
    let notifier = Notifier::start(webhook_config(&receiver.url("/"), "")).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    assert_eq!(receiver.requests().len(), 3);
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (1, 2, 0));
    assert!(
        stats.last_error.as_deref().unwrap().contains("503"),
        "{:?}",
        stats.last_error
    );
    let metrics = notifier.prometheus_text();
    assert!(
        metrics.contains("weir_output_sent_total{output=\"hook\",type=\"webhook\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_output_retried_total{output=\"hook\",type=\"webhook\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_output_failed_total{output=\"hook\",type=\"webhook\"} 0\n"),
        "{metrics}"
    );
}

#[test]
fn gives_up_after_the_configured_retries() {
    let receiver = HttpReceiver::start(vec![], (500, "broken"));
    let notifier = Notifier::start(webhook_config(&receiver.url("/"), "    retries: 2\n")).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    assert_eq!(receiver.requests().len(), 3);
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 2, 1));
    assert!(!stats.healthy());
}

#[test]
fn does_not_retry_a_permanent_client_error() {
    let receiver = HttpReceiver::start(vec![], (400, "bad payload"));
    let notifier = Notifier::start(webhook_config(&receiver.url("/"), "")).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    assert_eq!(receiver.requests().len(), 1);
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
    let error = stats.last_error.as_deref().unwrap();
    assert!(error.contains("400") && error.contains("bad payload"), "{error}");
    assert!(stats.last_failure_unix_ns.is_some());
    assert!(notifier
        .prometheus_text()
        .contains("weir_output_healthy{output=\"hook\",type=\"webhook\"} 0\n"));
}

#[test]
fn retries_429_too_many_requests() {
    let receiver = HttpReceiver::start(vec![(429, "slow down")], (204, ""));
    let notifier = Notifier::start(webhook_config(&receiver.url("/"), "")).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (1, 1, 0));
}

#[test]
fn dead_receiver_fails_with_the_connect_error() {
    let url = format!("http://127.0.0.1:{}/", dead_port());
    let notifier = Notifier::start(webhook_config(&url, "    retries: 1\n")).unwrap();
    assert_eq!(notifier.send(&sample_alert()), 1);
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 1, 1));
    let error = stats.last_error.as_deref().unwrap();
    assert!(error.contains("connect") && error.contains("127.0.0.1"), "{error}");
}

#[test]
fn full_queue_drops_instead_of_blocking() {
    // The receiver accepts and never answers: the worker is stuck on the first
    // notification until its timeout, the queue (2) fills, the rest are dropped.
    let (addr, _server) = silent_server();
    let url = format!("http://{addr}/");
    let notifier = Notifier::start(webhook_config(&url, "    queue: 2\n    timeout: 30s\n    retries: 0\n")).unwrap();
    let mut queued = 0;
    for _ in 0..10 {
        queued += notifier.send(&sample_alert());
    }
    let stats = &notifier.stats()[0];
    assert!((2..=3).contains(&queued), "queued {queued}");
    assert_eq!(stats.dropped, 10 - queued as u64);
    assert_eq!(stats.pending, queued as u64);
    assert!(!notifier.flush(std::time::Duration::from_millis(50)));
    assert!(notifier.prometheus_text().contains(&format!(
        "weir_output_dropped_total{{output=\"hook\",type=\"webhook\"}} {}\n",
        10 - queued
    )));
}

#[test]
fn times_out_a_silent_receiver() {
    let (addr, _server) = silent_server();
    let url = format!("http://{addr}/");
    let notifier = Notifier::start(webhook_config(&url, "    timeout: 200ms\n    retries: 0\n")).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!(stats.failed, 1);
    assert!(
        stats.last_error.as_deref().unwrap().contains("no response within"),
        "{:?}",
        stats.last_error
    );
}

#[test]
fn filters_by_severity_and_kind() {
    let receiver = HttpReceiver::start(vec![], (200, "ok"));
    let notifier = Notifier::start(webhook_config(
        &receiver.url("/"),
        "    min_severity: high\n    kinds: [alert, escalation]\n",
    ))
    .unwrap();
    let mut low = sample_alert();
    low.severity = weir_notify::Severity::Medium;
    assert_eq!(notifier.send(&low), 0);
    let mut threshold = sample_alert();
    threshold.kind = weir_notify::Kind::Threshold;
    assert_eq!(notifier.send(&threshold), 0);
    let mut critical = sample_alert();
    critical.severity = weir_notify::Severity::Critical;
    assert_eq!(notifier.send(&critical), 1);
    assert!(notifier.flush(FLUSH));
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(receiver.requests()[0].json()["severity"], "critical");
}

#[test]
fn honours_retry_after_from_a_throttling_receiver() {
    let throttled = (
        429,
        "slow down".to_string(),
        vec![("Retry-After".to_string(), "1".to_string())],
    );
    let receiver = HttpReceiver::start_with_replies(vec![throttled], (200, "ok".to_string(), vec![]));
    let notifier = Notifier::start(webhook_config(&receiver.url("/"), "")).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    // The backoff alone would be 5-10 ms here; the receiver asked for a second.
    let waited = requests[1].received.duration_since(requests[0].received);
    assert!(
        waited >= std::time::Duration::from_millis(990),
        "retried after {waited:?}"
    );
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried), (1, 1));
    assert!(
        stats.last_error.as_deref().unwrap().contains("retry after 1s"),
        "{:?}",
        stats.last_error
    );
}
