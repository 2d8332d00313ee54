//! Overload: a deliberately tiny ring and two threads hammering a watched
//! path. The workload finishes, and every open is either delivered or
//! accounted for in a Loss event; memory stays bounded. Folding of repeats
//! is off here, so every open is a record (tests/files.rs covers folding).

mod common;
#[path = "common/helpers.rs"]
mod helpers;

use common::*;
use weir_event::event::Body;

#[test]
fn helper_entry() {
    if let Ok(action) = std::env::var("WEIR_HELPER") {
        helpers::run(&action, &helper_args());
    }
}

#[test]
fn storm_on_a_tiny_ring_loses_nothing_silently() {
    let dir = tempfile::Builder::new().prefix("weir-storm-").tempdir().unwrap();
    let prefix = format!("{}/", dir.path().to_str().unwrap());
    let mut c = config(&[&prefix]);
    c.ring_bytes = 4096;
    c.file_repeat_window = std::time::Duration::ZERO;
    let h = Harness::start(c);
    let path = format!("{prefix}hammered");
    let (_pid, generated) = helper("storm", &[&path, "20000"]);
    let generated: u64 = generated.parse().unwrap();
    let events = h.finish();

    let received = events
        .iter()
        .filter(|e| matches!(&e.body, Some(Body::File(f)) if f.path == path.as_bytes()))
        .count() as u64;
    let mut dropped = 0;
    for e in &events {
        if let Some(Body::Loss(l)) = &e.body {
            dropped += l.kernel_ring.get("file").copied().unwrap_or(0);
            dropped += l.user_queue.get("file").copied().unwrap_or(0);
            assert!(l.from_unix_ns <= l.to_unix_ns);
        }
    }
    eprintln!("storm: generated {generated}, received {received}, dropped and reported {dropped}");
    assert_eq!(received + dropped, generated, "received {received} + dropped {dropped}");
    let Some(Body::Health(last)) = &events.last().unwrap().body else {
        panic!("last event is not health")
    };
    assert_eq!(last.state, weir_event::health::State::Stopped as i32);
    assert_eq!(
        last.dropped_kernel.get("file").copied().unwrap_or(0) + last.dropped_user.get("file").copied().unwrap_or(0),
        dropped
    );
    assert!(last.rss_bytes < 512 << 20, "rss {}", last.rss_bytes);
}

#[test]
fn stalled_consumer_drops_at_the_queue_and_says_so() {
    let dir = tempfile::Builder::new().prefix("weir-stall-").tempdir().unwrap();
    let prefix = format!("{}/", dir.path().to_str().unwrap());
    let mut c = config(&[&prefix]);
    c.queue_events = 16;
    c.file_repeat_window = std::time::Duration::ZERO;
    let (sensor, mut rx) = weir_sensor::Sensor::start(c).unwrap();
    let path = format!("{prefix}stalled");
    // Nobody reads while the workload runs: the queue fills and drops.
    let (_pid, generated) = helper("storm", &[&path, "500"]);
    let generated: u64 = generated.parse().unwrap();
    // Still nobody reading: give the drain thread many poll periods to move
    // the ring's records into the (full) queue, so the drops happen here.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        while let Some(e) = rx.blocking_recv() {
            all.push(e);
        }
        all
    });
    sensor.stop().unwrap();
    let events = reader.join().unwrap();
    let received = events
        .iter()
        .filter(|e| matches!(&e.body, Some(Body::File(f)) if f.path == path.as_bytes()))
        .count() as u64;
    let (mut user, mut kernel) = (0, 0);
    for e in &events {
        if let Some(Body::Loss(l)) = &e.body {
            user += l.user_queue.get("file").copied().unwrap_or(0);
            kernel += l.kernel_ring.get("file").copied().unwrap_or(0);
        }
    }
    assert!(user > 0, "a 16-event queue with no reader must drop");
    assert_eq!(
        received + user + kernel,
        generated,
        "received {received} + user {user} + kernel {kernel}"
    );
    let Some(Body::Health(last)) = &events.last().unwrap().body else {
        panic!("last event is not health")
    };
    assert_eq!(last.state, weir_event::health::State::Stopped as i32);
}
