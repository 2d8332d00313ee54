//! The shipper against a real collector on loopback: first start enrolls and
//! later starts reuse the key without a token; a bad token fails start; a
//! sensor started before its collector delivers everything once the
//! collector comes up; response commands reach the host's handler and the
//! result is recorded by the collector.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use weir_event::{event::Body, Event, Process};
use weir_ship::{ShipConfig, ShipError, Shipper};

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn exec(i: u64) -> Event {
    Event {
        time_unix_ns: now_ns(),
        process: Some(Process {
            pid: i as u32 + 100,
            executable: "/bin/ls".into(),
            ..Default::default()
        }),
        body: Some(Body::Exec(Default::default())),
        ..Default::default()
    }
}

fn server_config(data: &Path) -> weir_server::ServerConfig {
    let mut c = weir_server::ServerConfig::new(data);
    c.grpc_addr = "127.0.0.1:0".parse().unwrap();
    c.http_addr = "127.0.0.1:0".parse().unwrap();
    c
}

fn ship_config(server: &weir_server::ServerHandle, state: &Path, host: &str, token: Option<String>) -> ShipConfig {
    let mut c = ShipConfig::new(server.grpc_url(), server.ca_pem().as_bytes().to_vec(), state, host);
    c.enroll_token = token;
    c.backoff_initial = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_enrolls_later_starts_reuse_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = weir_server::Server::start(server_config(&dir.path().join("data")))
        .await
        .unwrap();
    let state = dir.path().join("host");

    let bad = Shipper::start(
        ship_config(&server, &state, "h1", Some("weir-enroll-wrong".into())),
        mpsc::channel(1).1,
    )
    .await;
    assert!(
        matches!(bad, Err(ShipError::EnrollRefused(_))),
        "a bad token fails start"
    );
    let none = Shipper::start(
        ship_config(&server, &dir.path().join("other"), "h2", None),
        mpsc::channel(1).1,
    )
    .await;
    assert!(matches!(none, Err(ShipError::NoToken { .. })));

    let token = server.create_enroll_token().unwrap();
    let (tx, rx) = mpsc::channel(16);
    let ship = Shipper::start(ship_config(&server, &state, "h1", Some(token)), rx)
        .await
        .unwrap();
    let key = ship.public_key();
    tx.send(exec(1)).await.unwrap();
    wait_until("acked", || ship.stats().acked_events == 1).await;
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    let mode = std::fs::metadata(state.join("host.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let (tx, rx) = mpsc::channel(16);
    let ship = Shipper::start(ship_config(&server, &state, "h1", None), rx)
        .await
        .unwrap();
    assert_eq!(ship.public_key(), key, "same key after restart");
    tx.send(exec(2)).await.unwrap();
    wait_until("acked after restart", || ship.stats().acked_events == 1).await;
    assert_eq!(server.hosts()[0]["chain_head"]["next_seq"], 2);
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;

    // The state dir belongs to h1: it cannot pose as another host.
    let other = Shipper::start(ship_config(&server, &state, "h9", None), mpsc::channel(1).1).await;
    assert!(matches!(other, Err(ShipError::Config(_))));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_started_before_its_collector_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("host");
    // Enroll, then stop the collector.
    let server = weir_server::Server::start(server_config(&data)).await.unwrap();
    let addr = server.grpc_addr();
    let token = server.create_enroll_token().unwrap();
    let cfg = ship_config(&server, &state, "h1", Some(token));
    let (tx, rx) = mpsc::channel(16);
    Shipper::start(cfg.clone(), rx)
        .await
        .unwrap()
        .shutdown(Duration::from_secs(1))
        .await;
    drop(tx);
    server.shutdown().await;

    let (tx, rx) = mpsc::channel(64);
    let ship = Shipper::start(cfg, rx).await.unwrap();
    for i in 0..300 {
        tx.send(exec(i)).await.unwrap();
    }
    wait_until("held while the collector is down", || ship.stats().spooled_bytes > 0).await;
    assert!(!ship.stats().connected);
    let mut sc = server_config(&data);
    sc.grpc_addr = addr;
    let server = weir_server::Server::start(sc).await.unwrap();
    wait_until("delivered", || ship.stats().acked_events == 300).await;
    assert_eq!(ship.stats().dropped_events, 0);
    assert_eq!(server.hosts()[0]["chain_head"]["next_seq"], 300);
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_the_handler_and_results_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = weir_server::Server::start(server_config(&data)).await.unwrap();
    let token = server.create_enroll_token().unwrap();
    let mut cfg = ship_config(&server, &dir.path().join("host"), "h1", Some(token));
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    cfg.on_command = Some(Arc::new(move |command: weir_event::Command| {
        let _ = seen_tx.send(command.clone());
        weir_event::Action {
            action: command.action,
            target: command.target,
            rule_id: command.rule_id,
            result: "ok".into(),
            latency_us: 42,
            command_id: command.command_id,
            ..Default::default()
        }
    }));
    let (tx, rx) = mpsc::channel(16);
    let ship = Shipper::start(cfg, rx).await.unwrap();
    wait_until("connected", || ship.stats().connected).await;
    let command = weir_event::Command {
        command_id: "cmd-1".into(),
        action: "kill_process".into(),
        target: "0123456789abcdef".into(),
        rule_id: "rule-x".into(),
        ..Default::default()
    };
    server.send_command("h1", command.clone()).await.unwrap();
    assert!(server.send_command("nobody", command.clone()).await.is_err());
    let got = tokio::time::timeout(Duration::from_secs(30), seen_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, command);
    let index = data.join("index.db");
    wait_until("result recorded", || {
        weir_store::index::EventIndex::open_read_only(&index)
            .and_then(|i| {
                i.query(&weir_store::index::EventQuery {
                    kind: Some("action".into()),
                    ..Default::default()
                })
            })
            .map(|rows| {
                rows.iter().any(|r| {
                    r.ecs.get("response.command_id").and_then(|v| v.as_str()) == Some("cmd-1")
                        && r.ecs.get("response.result").and_then(|v| v.as_str()) == Some("ok")
                })
            })
            .unwrap_or(false)
    })
    .await;
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    server.shutdown().await;
}
