//! Latency from a real kernel event to its durable acknowledgement: the real
//! eBPF sensor, the shipper and the collector (TLS gRPC on loopback, evidence
//! log fsync) in one process; a steady stream of real execs. Prints p50/p99
//! of (event time in the kernel -> ack after fsync), and as a baseline in the
//! same run the latency of one 4 KiB write + fsync on the same disk.
//!
//! Run as root: `cargo run --release -p weir-bench --bin exec_to_ack [EXECS]`

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn fsync_baseline(dir: &std::path::Path, rounds: usize) -> Duration {
    let mut file = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let block = vec![7u8; 4096];
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let execs: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let mut config = weir_server::ServerConfig::new(dir.path().join("collector"));
    config.grpc_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = weir_server::Server::start(config).await.expect("collector");

    let host_id = format!("bench-{}", std::process::id());
    let mut ship = weir_ship::ShipConfig::new(
        server.grpc_url(),
        server.ca_pem().as_bytes().to_vec(),
        dir.path().join("sensor"),
        host_id.clone(),
    );
    ship.enroll_token = Some(server.create_enroll_token().unwrap());
    let (sensor, events) = weir_sensor::Sensor::start(weir_sensor::SensorConfig::new(host_id)).expect("sensor (root)");
    let shipper = weir_ship::Shipper::start(ship, events).await.expect("shipper");
    while !shipper.stats().connected {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    shipper.reset_latency();

    // A steady stream (about 500 execs/s), not one burst.
    let started = Instant::now();
    for _ in 0..execs {
        std::process::Command::new("/bin/true").status().unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let generated = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = shipper.stats();
    let baseline = fsync_baseline(dir.path(), 200);

    println!(
        "{execs} real execs in {generated:.2?}; {} events acked in all",
        stats.acked_events
    );
    println!(
        "kernel event -> durable ack: p50 {:.2?}  p99 {:.2?}",
        stats.event_to_ack_p50, stats.event_to_ack_p99
    );
    println!("baseline, one 4 KiB write + fsync on the same disk: median {baseline:.2?}");
    println!(
        "ratios to the fsync baseline: p50 {:.1}x  p99 {:.1}x  (target p99 <= 20 ms: {})",
        stats.event_to_ack_p50.as_secs_f64() / baseline.as_secs_f64(),
        stats.event_to_ack_p99.as_secs_f64() / baseline.as_secs_f64(),
        if stats.event_to_ack_p99 <= Duration::from_millis(20) {
            "met"
        } else {
            "missed"
        }
    );
    sensor.stop().unwrap();
    shipper.shutdown(Duration::from_secs(5)).await;
    server.shutdown().await;
}
