//! kill -9 of the collector in the middle of a steady stream: the collector
//! runs in a child process (this test binary re-executed), is SIGKILLed
//! while a real shipper streams into it, and is restarted on the same data
//! dir and address. No acknowledged event may be lost, none may be stored
//! twice, the chain must verify, and the index must hold every event.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::*;
use tokio::sync::mpsc;

const CHILD_ENV: &str = "WEIR_TEST_CHILD_COLLECTOR";

/// Not a test of its own: the body of the child collector process.
#[test]
fn child_collector_process() {
    let Ok(data) = std::env::var(CHILD_ENV) else { return };
    let grpc = std::env::var("WEIR_TEST_CHILD_GRPC").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let mut cfg = config(Path::new(&data));
        cfg.grpc_addr = grpc.parse().unwrap();
        let server = weir_server::Server::start(cfg).await.unwrap();
        let ready = Path::new(&data).join("child.ready");
        std::fs::write(ready.with_extension("tmp"), server.grpc_addr().to_string()).unwrap();
        std::fs::rename(ready.with_extension("tmp"), &ready).unwrap();
        std::future::pending::<()>().await;
    });
}

async fn spawn_collector(data: &Path, grpc: &str) -> (Child, String) {
    let ready = data.join("child.ready");
    let _ = std::fs::remove_file(&ready);
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_collector_process", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, data)
        .env("WEIR_TEST_CHILD_GRPC", grpc)
        .spawn()
        .unwrap();
    wait_until("child collector ready", || ready.exists()).await;
    (child, std::fs::read_to_string(&ready).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_no_acked_event_and_stores_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let token = weir_server::create_enroll_token(&data, Duration::from_secs(600)).unwrap();
    let (mut child, addr) = spawn_collector(&data, "127.0.0.1:0").await;
    let ca = std::fs::read_to_string(data.join("tls/ca.pem")).unwrap();
    let url = format!("https://{addr}");

    let (tx, rx) = mpsc::channel(4096);
    let ship = weir_ship::Shipper::start(ship_config(&url, &ca, &dir.path().join("h1"), "h1", Some(token)), rx)
        .await
        .unwrap();
    // A steady stream from a producer task.
    let producer = tokio::spawn(async move {
        for i in 0..20_000u64 {
            tx.send(exec_event(i)).await.unwrap();
            if i % 200 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    wait_until("some events acked", || ship.stats().acked_events > 3000).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acked_at_kill = ship.stats().acked_events;
    let (mut child, _) = spawn_collector(&data, &addr).await;
    producer.await.unwrap();
    wait_until("everything acked after restart", || ship.stats().acked_events == 20_000).await;
    assert!(acked_at_kill < 20_000, "the kill happened mid-stream");
    assert_eq!(ship.stats().dropped_events, 0);
    // Kill again right away, then index from a clean restart in-process.
    wait_until("indexed", || stored_seqs(&data, "h1").len() == 20_000).await;
    child.kill().unwrap();
    child.wait().unwrap();
    ship.shutdown(Duration::from_millis(100)).await;

    let seqs = evidence_seqs(&data, "h1");
    assert_eq!(seqs, (0..20_000).collect::<Vec<_>>(), "every event stored exactly once");
    let report = weir_store::evidence::verify(&data.join("evidence"), Some(&collector_key(&data)));
    assert!(report.is_intact(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_durable_but_not_indexed_are_indexed_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data).await;
    let token = server.create_enroll_token().unwrap();
    let (tx, rx) = mpsc::channel(1024);
    let ship = weir_ship::Shipper::start(
        ship_config(
            &server.grpc_url(),
            server.ca_pem(),
            &dir.path().join("h1"),
            "h1",
            Some(token),
        ),
        rx,
    )
    .await
    .unwrap();
    for i in 0..1500 {
        tx.send(exec_event(i)).await.unwrap();
    }
    wait_until("acked", || ship.stats().acked_events == 1500).await;
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    server.shutdown().await;
    // Lose the index entirely (as if every indexing step had been cut short).
    for name in ["index.db", "index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(data.join(name));
    }
    let server = start(&data).await;
    assert_eq!(stored_seqs(&data, "h1"), (0..1500).collect::<Vec<_>>());
    server.shutdown().await;
    // And a second restart does not index anything twice.
    let server = start(&data).await;
    assert_eq!(stored_seqs(&data, "h1").len(), 1500);
    server.shutdown().await;
}
