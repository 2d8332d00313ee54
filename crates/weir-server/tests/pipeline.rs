//! Synthetic events through the real shipper into the real collector over
//! TLS on loopback: everything acked is in the evidence log (chains verify)
//! and in the index, once; two hosts keep independent chains; the sink sees
//! every event; a collector outage is absorbed by the spool, and past its
//! bound the loss is reported.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::sync::mpsc;

struct Collect(Mutex<Vec<(String, u64, u64)>>);

impl weir_server::EventSink for Collect {
    fn events(&self, host_id: &str, leaf: u64, events: &[weir_event::Event]) {
        let mut v = self.0.lock().unwrap();
        for e in events {
            v.push((host_id.to_string(), leaf, e.seq));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_events_are_acked_stored_indexed_and_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Arc::new(Collect(Mutex::new(Vec::new())));
    let mut cfg = config(&data);
    cfg.sink = Some(sink.clone());
    let server = weir_server::Server::start(cfg).await.unwrap();
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
    const N: u64 = 5000;
    for i in 0..N {
        tx.send(exec_event(i)).await.unwrap();
    }
    wait_until("all events acked", || ship.stats().acked_events == N).await;
    wait_until("all events indexed", || stored_seqs(&data, "h1").len() == N as usize).await;
    let stats = ship.stats();
    assert_eq!(stats.dropped_events, 0);
    assert_eq!(stats.refused_batches, 0);
    assert!(stats.connected);
    assert_eq!(server.stats().events_ingested, N);
    assert_eq!(server.stats().hosts, 1);
    assert_eq!(stored_seqs(&data, "h1"), (0..N).collect::<Vec<_>>());

    // The sink saw every event once, with the leaf it is stored at.
    let seen = sink.0.lock().unwrap().clone();
    assert_eq!(seen.len(), N as usize);
    assert!(seen.iter().all(|(h, _, _)| h == "h1"));

    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    server.shutdown().await;

    assert_eq!(evidence_seqs(&data, "h1"), (0..N).collect::<Vec<_>>());
    let report = weir_store::evidence::verify(&data.join("evidence"), Some(&collector_key(&data)));
    assert!(report.is_intact(), "evidence verifies: {report:?}");

    // Restart: same identity, the chain continues where it stopped.
    let server = start(&data).await;
    let (tx, rx) = mpsc::channel(1024);
    let ship = weir_ship::Shipper::start(
        ship_config(&server.grpc_url(), server.ca_pem(), &dir.path().join("h1"), "h1", None),
        rx,
    )
    .await
    .expect("an enrolled host restarts without a token");
    for i in 0..100 {
        tx.send(exec_event(i)).await.unwrap();
    }
    wait_until("resumed events acked", || ship.stats().acked_events == 100).await;
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    server.shutdown().await;
    assert_eq!(evidence_seqs(&data, "h1"), (0..N + 100).collect::<Vec<_>>());
    let report = weir_store::evidence::verify(&data.join("evidence"), Some(&collector_key(&data)));
    assert!(report.is_intact(), "evidence verifies after restart: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_have_independent_chains() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data).await;
    let mut ships = Vec::new();
    let mut senders = Vec::new();
    for host in ["alpha", "beta"] {
        let (tx, rx) = mpsc::channel(1024);
        let token = server.create_enroll_token().unwrap();
        let cfg = ship_config(
            &server.grpc_url(),
            server.ca_pem(),
            &dir.path().join(host),
            host,
            Some(token),
        );
        ships.push(weir_ship::Shipper::start(cfg, rx).await.unwrap());
        senders.push(tx);
    }
    assert_ne!(ships[0].public_key(), ships[1].public_key(), "distinct host identities");
    for i in 0..1000 {
        senders[0].send(exec_event(i)).await.unwrap();
        if i < 700 {
            senders[1].send(exec_event(i)).await.unwrap();
        }
    }
    wait_until("both acked", || {
        ships[0].stats().acked_events == 1000 && ships[1].stats().acked_events == 700
    })
    .await;
    let hosts = server.hosts();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["host_id"], "alpha");
    assert_eq!(hosts[0]["chain_head"]["next_seq"], 1000);
    assert_eq!(hosts[1]["chain_head"]["next_seq"], 700);
    drop(senders);
    for s in ships {
        s.shutdown(Duration::from_secs(5)).await;
    }
    server.shutdown().await;
    assert_eq!(evidence_seqs(&data, "alpha"), (0..1000).collect::<Vec<_>>());
    assert_eq!(evidence_seqs(&data, "beta"), (0..700).collect::<Vec<_>>());
    let report = weir_store::evidence::verify(&data.join("evidence"), Some(&collector_key(&data)));
    assert!(report.is_intact(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_is_spooled_then_loss_is_reported_and_the_producer_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data).await;
    let grpc = server.grpc_addr();
    let token = server.create_enroll_token().unwrap();
    let (tx, rx) = mpsc::channel(256);
    let mut cfg = ship_config(
        &server.grpc_url(),
        server.ca_pem(),
        &dir.path().join("h1"),
        "h1",
        Some(token),
    );
    cfg.spool_memory_bytes = 64 << 10;
    cfg.spool_disk_bytes = 64 << 10;
    cfg.batch_max_events = 64;
    let ship = weir_ship::Shipper::start(cfg, rx).await.unwrap();
    for i in 0..200 {
        tx.send(exec_event(i)).await.unwrap();
    }
    wait_until("first events acked", || ship.stats().acked_events == 200).await;

    // Collector down.
    server.shutdown().await;
    wait_until("shipper notices", || !ship.stats().connected).await;
    // Within the bound: spooled, nothing dropped.
    for i in 200..300 {
        tx.send(exec_event(i)).await.unwrap();
    }
    wait_until("spooled", || ship.stats().spooled_bytes > 0).await;
    assert_eq!(ship.stats().dropped_events, 0);
    // Past the bound: the producer keeps going, events are dropped and counted.
    let mut produced = 300u64;
    while ship.stats().dropped_events == 0 {
        for _ in 0..100 {
            // The shipper keeps draining the channel while the collector is
            // down: a send that never completes would mean the host blocks.
            tokio::time::timeout(Duration::from_secs(30), tx.send(exec_event(produced)))
                .await
                .expect("the producer is never blocked")
                .unwrap();
            produced += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(produced < 1_000_000, "spool never filled");
    }
    let spooled = ship.stats().spooled_bytes;
    assert!(spooled <= 128 << 10, "spool stays within its bound ({spooled} bytes)");
    assert!(
        dir.path().join("h1/spool").read_dir().unwrap().count() > 0,
        "disk spool used"
    );

    // Collector back on the same address: spool drains, loss is reported.
    let mut cfg = config(&data);
    cfg.grpc_addr = grpc;
    let server = weir_server::Server::start(cfg).await.unwrap();
    // One more event so a Loss report is due even if the drop happened last.
    tx.send(exec_event(produced)).await.unwrap();
    produced += 1;
    wait_until("spool drained", || {
        let s = ship.stats();
        s.connected && s.spooled_bytes == 0
    })
    .await;
    let dropped = ship.stats().dropped_events;
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    wait_until("indexed", || {
        let seqs = stored_seqs(&data, "h1");
        seqs.last().is_some_and(|l| seqs.len() as u64 == l + 1) && seqs.len() as u64 >= produced - dropped
    })
    .await;
    server.shutdown().await;

    // Every event either arrived or was counted in a Loss event, and seqs are contiguous.
    let index = weir_store::index::EventIndex::open_read_only(&data.join("index.db")).unwrap();
    let rows = index
        .query(&weir_store::index::EventQuery {
            host: Some("h1".into()),
            limit: Some(10_000_000),
            ..Default::default()
        })
        .unwrap();
    let losses: Vec<_> = rows.iter().filter(|r| r.kind == "loss").collect();
    assert!(!losses.is_empty(), "a Loss event arrived once reconnected");
    let reported: u64 = losses
        .iter()
        .map(|r| r.ecs["loss.spool_events"].as_u64().unwrap())
        .sum();
    assert_eq!(reported, dropped, "every dropped event is reported");
    let delivered = rows.iter().filter(|r| r.kind == "exec").count() as u64;
    assert_eq!(delivered + dropped, produced);
    let seqs = evidence_seqs(&data, "h1");
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
}

/// A host that comes back before its old stream is seen to close (a reboot
/// with no FIN) gets a new stream number, so per-stream state such as the
/// enforcement set is pushed again; the old stream closing later leaves the
/// new one registered, and commands reach the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_is_a_new_stream_even_before_the_old_one_closes() {
    use weir_event::collector_message::Msg as Down;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data")).await;
    let (url, ca) = (server.grpc_url(), server.ca_pem().to_string());
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    enroll(&url, &ca, &server.create_enroll_token().unwrap(), "host-r", &key)
        .await
        .unwrap();
    let control = server.control();
    let number = |c: &weir_server::Control| c.connections().into_iter().find(|(h, _)| h == "host-r").map(|(_, n)| n);

    let (old, welcome) = RawStream::hello(&url, &ca, "host-r", &key).await;
    assert!(matches!(welcome, Some(Down::Welcome(_))), "{welcome:?}");
    let first = number(&control).expect("host-r connected");

    let (mut new, welcome) = RawStream::hello(&url, &ca, "host-r", &key).await;
    assert!(matches!(welcome, Some(Down::Welcome(_))), "{welcome:?}");
    let second = number(&control).expect("host-r still connected");
    assert_ne!(first, second, "a reconnect must get a new stream number");

    drop(old);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        number(&control),
        Some(second),
        "the old stream closing must not unregister the new one"
    );
    let command = weir_event::Command {
        command_id: "c1".into(),
        action: "enforce_set".into(),
        target: "host-r".into(),
        ..Default::default()
    };
    control.try_send_command("host-r", command).unwrap();
    match new.next().await {
        Some(Down::Command(c)) => assert_eq!(c.command_id, "c1"),
        other => panic!("expected the command on the new stream, got {other:?}"),
    }
}
