//! Collector ingest benchmark.
//!
//! (a) N synthetic sensors (tasks, each with its own enrolled key) stream
//! pre-signed batches of realistic events over real TLS gRPC into the real
//! collector: events/s until every batch is acknowledged (verified + durable)
//! and until every event is indexed. The same batches are also pushed through
//! each stage alone in this run (signature verification, evidence append,
//! SQLite indexing) to show where the CPU goes, as ratios.
//!
//! (b) One real shipper fed at a steady rate: latency from the moment an
//! event is handed to the shipper (its time stamp) to its durable ack,
//! p50/p99, against the baseline of one fsync on the same disk.
//!
//! `cargo run --release -p weir-bench --bin ingest -- [sensors] [batches per sensor] [events per batch]`

use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use weir_event::chain::{hash_batch, seal, sign_hello, GENESIS_HASH};
use weir_event::collector_client::CollectorClient;
use weir_event::collector_message::Msg as Down;
use weir_event::sensor_message::Msg as Up;
use weir_event::{
    event::Body, Batch, EnrollRequest, Event, File, FileOp, NetOp, Network, Process, SensorMessage, SignedBatch,
};
use weir_store::evidence::{EvidenceLog, Record};
use weir_store::index::EventIndex;

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A mix like a busy server's: 60% exec, 25% file, 15% network.
fn event(host: &str, seq: u64) -> Event {
    let process = Process {
        pid: 2000 + (seq % 30_000) as u32,
        ppid: 1200,
        executable: "/usr/bin/python3".into(),
        args: vec![
            b"python3".to_vec(),
            b"/opt/app/worker.py".to_vec(),
            format!("--job={seq}").into_bytes(),
        ],
        cwd: b"/opt/app".to_vec(),
        uid: 1000,
        euid: 1000,
        gid: 1000,
        loginuid: 1000,
        user_name: "deploy".into(),
        login_name: "alice".into(),
        entity_id: format!("{:016x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        parent_entity_id: "00000000000004b0".into(),
        cgroup_path: "/system.slice/app.service".into(),
        ..Default::default()
    };
    let body = match seq % 20 {
        0..=11 => Body::Exec(Default::default()),
        12..=16 => Body::File(File {
            op: FileOp::Create as i32,
            path: format!("/var/lib/app/cache/{seq}.tmp").into_bytes(),
            mode: 0o644,
            ..Default::default()
        }),
        _ => Body::Network(Network {
            op: NetOp::Connect as i32,
            transport: "tcp".into(),
            source_ip: "10.0.0.5".into(),
            source_port: 40000 + (seq % 20000) as u32,
            destination_ip: "10.0.3.17".into(),
            destination_port: 5432,
            ..Default::default()
        }),
    };
    Event {
        seq,
        time_unix_ns: now_ns(),
        host_id: host.into(),
        host_name: host.into(),
        process: Some(process),
        body: Some(body),
    }
}

fn chain_of(key: &SigningKey, host: &str, batches: u64, per_batch: u64) -> Vec<SignedBatch> {
    let mut prev = GENESIS_HASH;
    (0..batches)
        .map(|i| {
            let first = i * per_batch;
            let b = Batch {
                host_id: host.into(),
                boot_id: "bench".into(),
                index: i,
                first_seq: first,
                last_seq: first + per_batch - 1,
                prev_hash: prev.to_vec(),
                sent_unix_ns: now_ns(),
                events: (first..first + per_batch).map(|s| event(host, s)).collect(),
            };
            let s = seal(key, &b);
            prev = hash_batch(&s.batch);
            s
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Run {
    acked_eps: f64,
    indexed_eps: f64,
}

async fn full_pipeline(chains: &[(String, SigningKey, Vec<SignedBatch>)], per_batch: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = weir_server::ServerConfig::new(&data);
    cfg.grpc_addr = "127.0.0.1:0".parse().unwrap();
    cfg.http_addr = "127.0.0.1:0".parse().unwrap();
    let server = weir_server::Server::start(cfg).await.unwrap();
    let url = server.grpc_url();
    let ca = server.ca_pem().to_string();
    let endpoint = Endpoint::from_shared(url)
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca)))
        .unwrap();
    for (host, key, _) in chains {
        let channel = endpoint.connect().await.unwrap();
        CollectorClient::new(channel)
            .enroll(EnrollRequest {
                token: server.create_enroll_token().unwrap(),
                host_id: host.clone(),
                machine_id: host.clone(),
                host_name: host.clone(),
                public_key: key.verifying_key().to_bytes().to_vec(),
            })
            .await
            .unwrap();
    }
    let total_events: u64 = chains.iter().map(|(_, _, c)| c.len() as u64 * per_batch).sum();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (host, key, chain) in chains.iter().cloned() {
        let channel = endpoint.connect().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let (tx, rx) = mpsc::channel::<SensorMessage>(64);
            let nonce: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
            tx.send(SensorMessage {
                msg: Some(Up::Hello(sign_hello(&key, &host, now_ns(), nonce))),
            })
            .await
            .unwrap();
            let mut down = CollectorClient::new(channel)
                .max_encoding_message_size(8 << 20)
                .stream(ReceiverStream::new(rx))
                .await
                .unwrap()
                .into_inner();
            let n = chain.len() as u64;
            let sender = tokio::spawn(async move {
                for b in chain {
                    tx.send(SensorMessage {
                        msg: Some(Up::Batch(b)),
                    })
                    .await
                    .unwrap();
                }
                tx
            });
            let mut acked = 0;
            while acked < n {
                match down.message().await.unwrap().and_then(|m| m.msg) {
                    Some(Down::Ack(_)) => acked += 1,
                    Some(Down::Welcome(_)) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            drop(sender.await);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let acked = start.elapsed();
    let reader = EventIndex::open_read_only(&data.join("index.db")).unwrap();
    while reader.count().unwrap() < total_events {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let indexed = start.elapsed();
    server.shutdown().await;
    Run {
        acked_eps: total_events as f64 / acked.as_secs_f64(),
        indexed_eps: total_events as f64 / indexed.as_secs_f64(),
    }
}

/// Each stage alone over the same batches, single thread: seconds per event.
fn stages(chains: &[(String, SigningKey, Vec<SignedBatch>)], dir: &Path) -> (f64, f64, f64) {
    let total: usize = chains.iter().map(|(_, _, c)| c.len()).sum();
    let events_total: u64 = chains
        .iter()
        .flat_map(|(_, _, c)| c.iter())
        .map(|s| {
            let b: Batch = prost::Message::decode(s.batch.as_slice()).unwrap();
            b.events.len() as u64
        })
        .sum();
    let t = Instant::now();
    let mut opened = Vec::with_capacity(total);
    for (host, key, chain) in chains {
        let vk = key.verifying_key();
        for s in chain {
            opened.push((host.clone(), weir_event::chain::open(s, &vk, host).unwrap()));
        }
    }
    let verify = t.elapsed().as_secs_f64() / events_total as f64;

    let mut log = EvidenceLog::open(&dir.join("evidence"), SigningKey::from_bytes(&[3; 32])).unwrap();
    let records: Vec<Record> = chains
        .iter()
        .flat_map(|(host, _, c)| {
            c.iter().map(|s| Record::HostBatch {
                host_id: host.clone(),
                signed: s.clone(),
            })
        })
        .collect();
    let enrolled: Vec<Record> = chains
        .iter()
        .map(|(host, key, _)| Record::HostEnrolled {
            host_id: host.clone(),
            public_key: key.verifying_key().to_bytes(),
            machine_id: host.clone(),
            host_name: host.clone(),
            time_unix_ns: now_ns(),
        })
        .collect();
    log.append(&enrolled).unwrap();
    let t = Instant::now();
    for group in records.chunks(16) {
        log.append(group).unwrap();
    }
    let evidence = t.elapsed().as_secs_f64() / events_total as f64;

    let mut index = EventIndex::open(&dir.join("index.db")).unwrap();
    let t = Instant::now();
    for (leaf, (_, b)) in opened.iter().enumerate() {
        let rows: Vec<(u64, &Event)> = b.events.iter().map(|e| (leaf as u64, e)).collect();
        index.insert(&rows).unwrap();
    }
    let indexing = t.elapsed().as_secs_f64() / events_total as f64;
    (verify, evidence, indexing)
}

async fn latency(rate: u64, seconds: u64) -> (Duration, Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = weir_server::ServerConfig::new(&data);
    cfg.grpc_addr = "127.0.0.1:0".parse().unwrap();
    cfg.http_addr = "127.0.0.1:0".parse().unwrap();
    let server = weir_server::Server::start(cfg).await.unwrap();
    let mut sc = weir_ship::ShipConfig::new(
        server.grpc_url(),
        server.ca_pem().as_bytes().to_vec(),
        dir.path().join("host"),
        "lat-host",
    );
    sc.enroll_token = Some(server.create_enroll_token().unwrap());
    let (tx, rx) = mpsc::channel(65_536);
    let ship = weir_ship::Shipper::start(sc, rx).await.unwrap();
    let total = rate * seconds;
    let tick = Duration::from_millis(1);
    let per_tick = (rate / 1000).max(1);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut warmed = false;
    while sent < total {
        for _ in 0..per_tick {
            tx.send(event("lat-host", 0)).await.unwrap();
            sent += 1;
        }
        if !warmed && start.elapsed() > Duration::from_millis(500) {
            ship.reset_latency();
            warmed = true;
        }
        tokio::time::sleep(tick).await;
    }
    while ship.stats().acked_events < sent {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = ship.stats();
    drop(tx);
    ship.shutdown(Duration::from_secs(5)).await;
    server.shutdown().await;
    (stats.event_to_ack_p50, stats.event_to_ack_p99, sent)
}

fn fsync_baseline(dir: &Path) -> Duration {
    use std::io::Write;
    let mut samples = Vec::new();
    let mut f = std::fs::File::create(dir.join("fsync.probe")).unwrap();
    for _ in 0..50 {
        f.write_all(&[0u8; 4096]).unwrap();
        let t = Instant::now();
        f.sync_data().unwrap();
        samples.push(t.elapsed().as_secs_f64());
    }
    Duration::from_secs_f64(median(samples))
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sensors = *args.first().unwrap_or(&4);
    let batches = *args.get(1).unwrap_or(&100);
    let per_batch = *args.get(2).unwrap_or(&512);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("ingest: {sensors} sensors x {batches} batches x {per_batch} events, real TLS gRPC on loopback");

    let chains: Vec<(String, SigningKey, Vec<SignedBatch>)> = (0..sensors)
        .map(|i| {
            let host = format!("bench-{i}");
            let key = SigningKey::from_bytes(&[i as u8 + 10; 32]);
            let chain = chain_of(&key, &host, batches, per_batch);
            (host, key, chain)
        })
        .collect();
    let bytes: usize = chains
        .iter()
        .flat_map(|(_, _, c)| c.iter())
        .map(|s| s.batch.len())
        .sum();
    println!(
        "  payload: {:.1} MiB, {:.0} bytes/event",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / (sensors * batches * per_batch) as f64
    );

    const RUNS: usize = 3;
    let mut acked = Vec::new();
    let mut indexed = Vec::new();
    let mut verify = Vec::new();
    let mut evidence = Vec::new();
    let mut index = Vec::new();
    for run in 0..RUNS {
        let r = rt.block_on(full_pipeline(&chains, per_batch));
        let dir = tempfile::tempdir().unwrap();
        let (v, e, i) = stages(&chains, dir.path());
        println!(
            "  run {run}: acked {:>9.0} ev/s, indexed {:>9.0} ev/s | alone: verify {:>9.0} ev/s, evidence {:>9.0} ev/s, index {:>9.0} ev/s",
            r.acked_eps,
            r.indexed_eps,
            1.0 / v,
            1.0 / e,
            1.0 / i
        );
        acked.push(r.acked_eps);
        indexed.push(r.indexed_eps);
        verify.push(v);
        evidence.push(e);
        index.push(i);
    }
    let (a, x) = (median(acked), median(indexed));
    let (v, e, i) = (median(verify), median(evidence), median(index));
    let stage_sum = v + e + i;
    println!("(a) median full pipeline: {a:.0} events/s acked (verified + durable), {x:.0} events/s indexed");
    println!(
        "    stage cost per event alone: verify {:.2} us, evidence append {:.2} us, SQLite index {:.2} us",
        v * 1e6,
        e * 1e6,
        i * 1e6
    );
    println!(
        "    CPU split of the three stages: verify {:.0}%, evidence {:.0}%, index {:.0}%",
        100.0 * v / stage_sum,
        100.0 * e / stage_sum,
        100.0 * i / stage_sum
    );
    println!(
        "    ratios: full-pipeline indexed rate / index-alone rate = {:.2}; acked rate / verify-alone rate = {:.2}; target 100k ev/s: x{:.2}",
        x * i,
        a * v,
        x / 100_000.0
    );

    let dir = tempfile::tempdir().unwrap();
    let fsync = fsync_baseline(dir.path());
    let (p50, p99, n) = rt.block_on(latency(5_000, 4));
    println!(
        "(b) event handed to shipper -> durable ack ({n} events at 5k/s): p50 {:.2} ms, p99 {:.2} ms (target p99 <= 20 ms)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!(
        "    baseline: one 4 KiB fsync on the same disk {:.3} ms; p50/fsync = {:.1}x, p99/fsync = {:.1}x",
        fsync.as_secs_f64() * 1e3,
        p50.as_secs_f64() / fsync.as_secs_f64(),
        p99.as_secs_f64() / fsync.as_secs_f64()
    );
}
