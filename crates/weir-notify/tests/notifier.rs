//! The notifier as the collector uses it: from inside a tokio runtime (send,
//! flush through spawn_blocking, drop), from many threads at once with every
//! notification accounted for, and with several outputs side by side.

mod common;

use std::sync::Arc;

use common::http_receiver::HttpReceiver;
use common::{config, sample_alert, FLUSH};
use weir_notify::Notifier;

#[test]
fn works_inside_a_tokio_runtime_and_drops_there() {
    let receiver = HttpReceiver::start(vec![], (200, "ok"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = receiver.url("/");
    runtime.block_on(async move {
        let notifier = Arc::new(
            Notifier::start(config(&format!(
                "outputs:\n  - name: hook\n    type: webhook\n    url: {url}\n"
            )))
            .unwrap(),
        );
        assert_eq!(notifier.send(&sample_alert()), 1);
        let flusher = notifier.clone();
        assert!(tokio::task::spawn_blocking(move || flusher.flush(FLUSH)).await.unwrap());
        assert_eq!(notifier.stats()[0].sent, 1);
        drop(notifier);
    });
    assert_eq!(receiver.requests().len(), 1);
}

#[test]
fn concurrent_senders_every_notification_is_sent_or_dropped() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("out.jsonl");
    let notifier = Arc::new(
        Notifier::start(config(&format!(
            "outputs:\n  - name: archive\n    type: file\n    path: {}\n    queue: 16\n",
            path.display()
        )))
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let notifier = notifier.clone();
            std::thread::spawn(move || {
                let mut queued = 0;
                for sequence in 0..500 {
                    let mut alert = sample_alert();
                    alert.alert_id = Some(thread * 1000 + sequence);
                    queued += notifier.send(&alert);
                }
                queued
            })
        })
        .collect();
    let queued: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!(stats.sent as usize, queued);
    assert_eq!(stats.sent + stats.dropped, 2000);
    assert_eq!(stats.pending, 0);
    let lines = std::fs::read_to_string(&path).unwrap();
    assert_eq!(lines.lines().count(), queued);
    for line in lines.lines() {
        serde_json::from_str::<weir_notify::Notification>(line).unwrap();
    }
}

#[test]
fn one_failing_output_does_not_hold_up_another() {
    let good = HttpReceiver::start(vec![], (200, "ok"));
    let bad = HttpReceiver::start(vec![], (500, "down"));
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: good\n    type: webhook\n    url: {}\n  - name: bad\n    type: webhook\n    url: {}\n    retries: 100\n    backoff: 1m\n",
        good.url("/"),
        bad.url("/")
    )))
    .unwrap();
    for _ in 0..3 {
        assert_eq!(notifier.send(&sample_alert()), 2);
    }
    // `bad` now waits a minute before its first retry; `good` delivers all three meanwhile.
    let deadline = std::time::Instant::now() + FLUSH;
    while notifier.stats()[0].sent < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let stats = notifier.stats();
    assert_eq!((stats[0].name.as_str(), stats[0].sent), ("good", 3));
    assert_eq!((stats[1].name.as_str(), stats[1].sent, stats[1].pending), ("bad", 0, 3));
    assert!(!notifier.flush(std::time::Duration::from_millis(20)));
    let metrics = notifier.prometheus_text();
    assert!(
        metrics.contains("weir_output_pending{output=\"bad\",type=\"webhook\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_output_sent_total{output=\"good\",type=\"webhook\"} 3\n"),
        "{metrics}"
    );
}
