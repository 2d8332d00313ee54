//! Helpers shared by the collector's integration tests: a collector on
//! loopback in a temp dir, synthetic events, a raw gRPC client for sending
//! hand-made (and hostile) messages, and a minimal HTTP/1.1 client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use weir_event::collector_client::CollectorClient;
use weir_event::collector_message::Msg as Down;
use weir_event::sensor_message::Msg as Up;
use weir_event::{event::Body, Batch, EnrollRequest, Event, Process, SensorMessage, SignedBatch};
use weir_server::{ServerConfig, ServerHandle};
use weir_store::index::{EventIndex, EventQuery};

pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

pub fn config(data: &Path) -> ServerConfig {
    let mut c = ServerConfig::new(data);
    c.grpc_addr = "127.0.0.1:0".parse().unwrap();
    c.http_addr = "127.0.0.1:0".parse().unwrap();
    c
}

pub async fn start(data: &Path) -> ServerHandle {
    weir_server::Server::start(config(data))
        .await
        .expect("collector starts")
}

/// A realistic exec event (the shipper numbers it and stamps the host).
pub fn exec_event(i: u64) -> Event {
    Event {
        time_unix_ns: now_ns(),
        process: Some(Process {
            pid: 1000 + (i % 30000) as u32,
            ppid: 1,
            executable: "/usr/bin/curl".into(),
            args: vec![
                b"curl".to_vec(),
                b"-s".to_vec(),
                format!("https://example.com/{i}").into_bytes(),
            ],
            cwd: b"/home/alice".to_vec(),
            uid: 1000,
            user_name: "alice".into(),
            loginuid: 1000,
            login_name: "alice".into(),
            entity_id: format!("{:016x}", i),
            ..Default::default()
        }),
        body: Some(Body::Exec(Default::default())),
        ..Default::default()
    }
}

/// Polls `f` until it holds; panics with `what` after 60 s (a hang guard,
/// not a timing assertion).
pub async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        if start.elapsed() > Duration::from_secs(60) {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn ship_config(
    handle_url: &str,
    ca: &str,
    state: &Path,
    host: &str,
    token: Option<String>,
) -> weir_ship::ShipConfig {
    let mut c = weir_ship::ShipConfig::new(handle_url, ca.as_bytes().to_vec(), state, host);
    c.enroll_token = token;
    c.machine_id = format!("machine-{host}");
    c.host_name = format!("name-{host}");
    c.backoff_initial = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c
}

pub async fn channel(url: &str, ca: &str) -> Channel {
    Endpoint::from_shared(url.to_string())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
        .unwrap()
        .connect()
        .await
        .expect("TLS connection to the collector")
}

pub async fn client(url: &str, ca: &str) -> CollectorClient<Channel> {
    CollectorClient::new(channel(url, ca).await)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

pub async fn enroll(url: &str, ca: &str, token: &str, host: &str, key: &SigningKey) -> Result<(), tonic::Status> {
    client(url, ca)
        .await
        .enroll(EnrollRequest {
            token: token.into(),
            host_id: host.into(),
            machine_id: "m".into(),
            host_name: host.into(),
            public_key: key.verifying_key().to_bytes().to_vec(),
        })
        .await
        .map(|_| ())
}

/// A raw sensor stream: send what you like, read what comes back.
pub struct RawStream {
    pub tx: mpsc::Sender<SensorMessage>,
    pub rx: tonic::Streaming<weir_event::CollectorMessage>,
}

impl RawStream {
    pub async fn open(url: &str, ca: &str, first: Up) -> RawStream {
        let (tx, rx) = mpsc::channel(16);
        tx.send(SensorMessage { msg: Some(first) }).await.unwrap();
        let rx = client(url, ca)
            .await
            .stream(ReceiverStream::new(rx))
            .await
            .expect("stream opens")
            .into_inner();
        RawStream { tx, rx }
    }

    /// Opens with a Hello for `host` signed by `key` and returns the Welcome (or what came instead).
    pub async fn hello(url: &str, ca: &str, host: &str, key: &SigningKey) -> (RawStream, Option<Down>) {
        let nonce: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        let hello = weir_event::chain::sign_hello(key, host, now_ns(), nonce);
        let mut s = RawStream::open(url, ca, Up::Hello(hello)).await;
        let first = s.next().await;
        (s, first)
    }

    pub async fn send(&self, msg: Up) {
        self.tx.send(SensorMessage { msg: Some(msg) }).await.unwrap();
    }

    pub async fn next(&mut self) -> Option<Down> {
        match tokio::time::timeout(Duration::from_secs(30), self.rx.message()).await {
            Ok(Ok(Some(m))) => m.msg,
            _ => None,
        }
    }
}

pub fn batch(host: &str, index: u64, first_seq: u64, n: u64, prev_hash: [u8; 32]) -> Batch {
    Batch {
        host_id: host.into(),
        boot_id: "b".into(),
        index,
        first_seq,
        last_seq: first_seq + n - 1,
        prev_hash: prev_hash.to_vec(),
        sent_unix_ns: now_ns(),
        events: (0..n)
            .map(|i| {
                let mut e = exec_event(first_seq + i);
                e.seq = first_seq + i;
                e.host_id = host.into();
                e
            })
            .collect(),
    }
}

pub fn sealed(key: &SigningKey, b: &Batch) -> SignedBatch {
    weir_event::chain::seal(key, b)
}

pub async fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn admin_token(handle: &ServerHandle) -> String {
    std::fs::read_to_string(handle.admin_token_path())
        .unwrap()
        .trim()
        .to_string()
}

/// Integrity events recorded about `host` with `problem`.
pub fn integrity(data: &Path, host: &str, problem: &str) -> usize {
    let index = EventIndex::open_read_only(&data.join("index.db")).unwrap();
    index
        .query(&EventQuery {
            kind: Some("integrity".into()),
            limit: Some(100_000),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.ecs.get("integrity.host_id").and_then(|v| v.as_str()).unwrap_or("") == host
                && e.ecs.get("integrity.problem").and_then(|v| v.as_str()) == Some(problem)
        })
        .count()
}

/// (seq) of the events stored for `host`, sorted, with duplicates kept.
pub fn stored_seqs(data: &Path, host: &str) -> Vec<u64> {
    let index = EventIndex::open_read_only(&data.join("index.db")).unwrap();
    let mut seqs: Vec<u64> = index
        .query(&EventQuery {
            host: Some(host.into()),
            limit: Some(10_000_000),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    seqs.sort_unstable();
    seqs
}

/// Sequence numbers of `host`'s events as stored in the evidence log (the
/// collector must be stopped), sorted, duplicates kept.
pub fn evidence_seqs(data: &Path, host: &str) -> Vec<u64> {
    use prost::Message;
    let seed: [u8; 32] = std::fs::read(data.join("keys/collector.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let log = weir_store::evidence::EvidenceLog::open(&data.join("evidence"), SigningKey::from_bytes(&seed)).unwrap();
    let mut seqs = Vec::new();
    for item in log.read_from(0) {
        if let (_, weir_store::evidence::Record::HostBatch { host_id, signed }) = item.unwrap() {
            if host_id == host {
                let b = Batch::decode(signed.batch.as_slice()).unwrap();
                seqs.extend(b.events.iter().map(|e| e.seq));
            }
        }
    }
    seqs.sort_unstable();
    seqs
}

pub fn collector_key(data: &Path) -> ed25519_dalek::VerifyingKey {
    let bytes: [u8; 32] = std::fs::read(data.join("keys/collector.pub"))
        .unwrap()
        .try_into()
        .unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).unwrap()
}
