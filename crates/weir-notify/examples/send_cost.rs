//! Measures what `Notifier::send` costs the caller and what a file output
//! sustains. Phase 1: a burst into a file output with a queue large enough to
//! hold it, timed until flushed (the output's rate). Phase 2: the same burst
//! into a file output with the default queue (1024) next to a webhook whose
//! receiver is down: time per send, delivered and dropped counts.
//! Run: cargo run --release -p weir-notify --example send_cost [burst]

use std::time::{Duration, Instant};

use weir_notify::{Kind, Notification, Notifier, OutputsConfig, Severity};

fn burst_into(notifier: &Notifier, burst: usize) -> Duration {
    let mut notification = Notification::new(
        Kind::Alert,
        Severity::High,
        "bench-rule",
        "Benchmark rule",
        "host-1",
        "sleep 1",
    );
    notification
        .details
        .insert("command_line".into(), "/usr/bin/sleep 1".into());
    let start = Instant::now();
    for sequence in 0..burst {
        notification.alert_id = Some(sequence as i64);
        notifier.send(&notification);
    }
    start.elapsed()
}

fn main() {
    let burst: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let directory = tempfile::tempdir().expect("temporary directory");

    let path = directory.path().join("phase1.jsonl");
    let yaml = format!(
        "outputs:\n  - name: archive\n    type: file\n    path: {}\n    queue: {burst}\n",
        path.display()
    );
    let notifier = Notifier::start(OutputsConfig::from_yaml(&yaml, "phase1").expect("config")).expect("notifier");
    let start = Instant::now();
    let send_elapsed = burst_into(&notifier, burst);
    let flushed = notifier.flush(Duration::from_secs(600));
    let total = start.elapsed();
    let sent = notifier.stats()[0].sent;
    println!(
        "phase 1: {burst} sends in {send_elapsed:.2?} ({:.0} ns/send); file output wrote {sent} lines in {total:.2?} ({:.0} lines/s), flushed {flushed}",
        send_elapsed.as_nanos() as f64 / burst as f64,
        sent as f64 / total.as_secs_f64()
    );

    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        "outputs:\n  - name: archive\n    type: file\n    path: {}\n  - name: down\n    type: webhook\n    url: http://127.0.0.1:{dead_port}/\n",
        directory.path().join("phase2.jsonl").display()
    );
    let notifier = Notifier::start(OutputsConfig::from_yaml(&yaml, "phase2").expect("config")).expect("notifier");
    let send_elapsed = burst_into(&notifier, burst);
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "phase 2: {burst} sends in {send_elapsed:.2?} ({:.0} ns/send, two outputs, one of them down)",
        send_elapsed.as_nanos() as f64 / burst as f64
    );
    for output in notifier.stats() {
        println!(
            "  {:8} sent {:7} dropped {:7} failed {:3} retried {:3} pending {:5} last_error {:?}",
            output.name, output.sent, output.dropped, output.failed, output.retried, output.pending, output.last_error
        );
    }
}
