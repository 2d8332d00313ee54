//! Hostile and broken sensors: every tampered, replayed, forked, foreign or
//! unauthenticated message is refused and recorded as an integrity event;
//! enrollment tokens work once; a host key cannot re-enroll another key;
//! sensors cannot read the API; malformed and oversized messages do not
//! crash the collector.

mod common;

use common::*;
use ed25519_dalek::SigningKey;
use weir_event::chain::{hash_batch, GENESIS_HASH};
use weir_event::collector_message::Msg as Down;
use weir_event::sensor_message::Msg as Up;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn refusal(msg: Option<Down>) -> String {
    match msg {
        Some(Down::Refusal(r)) => r.reason,
        other => panic!("expected a Refusal, got {other:?}"),
    }
}

fn ack(msg: Option<Down>) -> (u64, u64) {
    match msg {
        Some(Down::Ack(a)) => (a.index, a.last_seq),
        other => panic!("expected an Ack, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_replayed_forked_and_foreign_batches_are_refused_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data).await;
    let (url, ca) = (server.grpc_url(), server.ca_pem().to_string());
    let (a, b) = (key(1), key(2));
    enroll(&url, &ca, &server.create_enroll_token().unwrap(), "host-a", &a)
        .await
        .unwrap();
    enroll(&url, &ca, &server.create_enroll_token().unwrap(), "host-b", &b)
        .await
        .unwrap();

    let (mut s, welcome) = RawStream::hello(&url, &ca, "host-a", &a).await;
    match welcome {
        Some(Down::Welcome(w)) => assert_eq!((w.next_index, w.next_seq, w.head_hash), (0, 0, GENESIS_HASH.to_vec())),
        other => panic!("expected Welcome, got {other:?}"),
    }
    let b0 = batch("host-a", 0, 0, 3, GENESIS_HASH);
    let s0 = sealed(&a, &b0);

    // Bit flip.
    let mut flipped = s0.clone();
    flipped.batch[10] ^= 0x01;
    s.send(Up::Batch(flipped)).await;
    assert!(refusal(s.next().await).starts_with("bad_signature"));

    // The genuine batch is accepted.
    s.send(Up::Batch(s0.clone())).await;
    assert_eq!(ack(s.next().await), (0, 2));

    // Pure replay (same bytes): acknowledged again, recorded, not stored twice.
    s.send(Up::Batch(s0.clone())).await;
    assert_eq!(ack(s.next().await), (0, 2));

    // Fork: different bytes claiming index 0.
    let mut other = batch("host-a", 0, 0, 3, GENESIS_HASH);
    other.sent_unix_ns += 1;
    s.send(Up::Batch(sealed(&a, &other))).await;
    assert!(refusal(s.next().await).starts_with("fork"));

    // Signed with host B's key, claiming host A.
    let h0 = hash_batch(&s0.batch);
    s.send(Up::Batch(sealed(&b, &batch("host-a", 1, 3, 2, h0)))).await;
    assert!(refusal(s.next().await).starts_with("bad_signature"));

    // Signed by A but for host B: A's credential cannot write B's stream.
    s.send(Up::Batch(sealed(&a, &batch("host-b", 0, 0, 2, GENESIS_HASH))))
        .await;
    assert!(refusal(s.next().await).starts_with("wrong_host"));

    // Gap.
    s.send(Up::Batch(sealed(&a, &batch("host-a", 2, 5, 1, h0)))).await;
    assert!(refusal(s.next().await).starts_with("gap"));

    // Garbage bytes.
    s.send(Up::Batch(weir_event::SignedBatch {
        batch: vec![0xff; 40],
        signature: vec![1; 64],
    }))
    .await;
    assert!(refusal(s.next().await).starts_with("bad_signature"));

    // The chain still continues correctly after all that.
    s.send(Up::Batch(sealed(&a, &batch("host-a", 1, 3, 2, h0)))).await;
    assert_eq!(ack(s.next().await), (1, 4));
    drop(s);

    // Hello for an un-enrolled key / host.
    let (_s, first) = RawStream::hello(&url, &ca, "ghost", &key(9)).await;
    assert!(refusal(first).starts_with("unknown_host"));
    // Hello for host A signed with B's key.
    let (_s, first) = RawStream::hello(&url, &ca, "host-a", &b).await;
    assert!(refusal(first).starts_with("bad_hello"));
    // A replayed Hello (same nonce).
    let hello = weir_event::chain::sign_hello(&a, "host-a", now_ns(), vec![7; 32]);
    let mut s1 = RawStream::open(&url, &ca, Up::Hello(hello.clone())).await;
    assert!(matches!(s1.next().await, Some(Down::Welcome(_))));
    let mut s2 = RawStream::open(&url, &ca, Up::Hello(hello)).await;
    assert!(refusal(s2.next().await).starts_with("nonce_reuse"));
    // A batch before any Hello.
    let mut s3 = RawStream::open(&url, &ca, Up::Batch(s0.clone())).await;
    assert!(refusal(s3.next().await).starts_with("protocol"));
    drop((s1, s2, s3));

    server.shutdown().await;
    for (host, problem, n) in [
        ("host-a", "bad_signature", 3),
        ("host-a", "replay", 1),
        ("host-a", "fork", 1),
        ("host-a", "wrong_host", 1),
        ("host-a", "gap", 1),
        ("ghost", "unknown_host", 1),
        ("host-a", "bad_hello", 1),
        ("host-a", "nonce_reuse", 1),
        ("", "protocol", 1),
    ] {
        assert_eq!(integrity(&data, host, problem), n, "{problem} about {host:?} recorded");
    }
    assert_eq!(
        evidence_seqs(&data, "host-a"),
        vec![0, 1, 2, 3, 4],
        "accepted once each"
    );
    assert!(evidence_seqs(&data, "host-b").is_empty());
    let report = weir_store::evidence::verify(&data.join("evidence"), Some(&collector_key(&data)));
    assert!(report.is_intact(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_tokens_work_once_and_keys_are_bound_for_life() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data).await;
    let (url, ca) = (server.grpc_url(), server.ca_pem().to_string());
    let token = server.create_enroll_token().unwrap();
    enroll(&url, &ca, &token, "h1", &key(1)).await.unwrap();
    let again = enroll(&url, &ca, &token, "h2", &key(2)).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::PermissionDenied);
    assert!(again.message().contains("already used"));
    let bogus = enroll(&url, &ca, "weir-enroll-nope", "h2", &key(2)).await.unwrap_err();
    assert_eq!(bogus.code(), tonic::Code::PermissionDenied);
    // Re-enrolling h1 with another key is refused, and says why.
    let fresh = server.create_enroll_token().unwrap();
    let stolen = enroll(&url, &ca, &fresh, "h1", &key(3)).await.unwrap_err();
    assert_eq!(stolen.code(), tonic::Code::AlreadyExists);
    assert!(stolen.message().contains("different key"), "{}", stolen.message());
    // ...and did not burn the token.
    enroll(&url, &ca, &fresh, "h3", &key(3)).await.unwrap();
    // The reserved collector id cannot be taken.
    let reserved = enroll(&url, &ca, &server.create_enroll_token().unwrap(), "collector", &key(4))
        .await
        .unwrap_err();
    assert_eq!(reserved.code(), tonic::Code::InvalidArgument);
    // Tokens are stored hashed.
    let db = std::fs::read(data.join("state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&token));
    server.shutdown().await;
    assert_eq!(integrity(&data, "h1", "enroll_key_mismatch"), 1);
    assert_eq!(integrity(&data, "h2", "enroll_refused"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_requires_the_admin_token_and_sensors_have_none() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data).await;
    let http = server.http_addr();
    let k = key(1);
    enroll(
        &server.grpc_url(),
        server.ca_pem(),
        &server.create_enroll_token().unwrap(),
        "h1",
        &k,
    )
    .await
    .unwrap();
    let admin = admin_token(&server);
    assert_eq!(http_get(http, "/healthz", None).await.0, 200);
    for path in ["/api/events", "/api/hosts", "/metrics"] {
        assert_eq!(http_get(http, path, None).await.0, 401, "{path} without a token");
        // What a sensor holds: its key material and host id. None of it opens the API.
        let key_hex = hex::encode(k.to_bytes());
        assert_eq!(http_get(http, path, Some(&key_hex)).await.0, 401);
        assert_eq!(http_get(http, path, Some("h1")).await.0, 401);
        assert_eq!(http_get(http, path, Some(&admin[..admin.len() - 1])).await.0, 401);
        assert_eq!(
            http_get(http, path, Some(&admin)).await.0,
            200,
            "{path} with the admin token"
        );
    }
    let (status, body) = http_get(http, "/api/hosts", Some(&admin)).await;
    assert_eq!(status, 200);
    let hosts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hosts["hosts"][0]["host_id"], "h1");
    let (status, body) = http_get(http, "/api/events?since=bogus", Some(&admin)).await;
    assert_eq!(status, 400);
    assert!(body.contains("since"));
    let (status, body) = http_get(http, "/metrics", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(body.contains("weir_ingest_events_total 0"));
    // Admin token file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.admin_token_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let mode = std::fs::metadata(data.join("keys/collector.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read(data.join("keys/collector.pub")).unwrap().len(), 32);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_overfull_messages_do_not_crash_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config(&data);
    cfg.max_events_per_batch = 100;
    let server = weir_server::Server::start(cfg).await.unwrap();
    let (url, ca) = (server.grpc_url(), server.ca_pem().to_string());
    let a = key(1);
    enroll(&url, &ca, &server.create_enroll_token().unwrap(), "host-a", &a)
        .await
        .unwrap();

    // More events than allowed in one batch: refused and recorded.
    let (mut s, _) = RawStream::hello(&url, &ca, "host-a", &a).await;
    s.send(Up::Batch(sealed(&a, &batch("host-a", 0, 0, 101, GENESIS_HASH))))
        .await;
    assert!(refusal(s.next().await).starts_with("oversized"));
    // A 5 MiB message: the stream is cut, the collector lives on.
    let huge = weir_event::SignedBatch {
        batch: vec![0; 5 << 20],
        signature: vec![0; 64],
    };
    s.send(Up::Batch(huge)).await;
    assert!(s.next().await.is_none(), "stream ends");
    // Still serving.
    let (mut s, welcome) = RawStream::hello(&url, &ca, "host-a", &a).await;
    assert!(matches!(welcome, Some(Down::Welcome(_))));
    s.send(Up::Batch(sealed(&a, &batch("host-a", 0, 0, 100, GENESIS_HASH))))
        .await;
    assert_eq!(ack(s.next().await), (0, 99));
    drop(s);
    server.shutdown().await;
    assert_eq!(integrity(&data, "host-a", "oversized"), 1);
    assert_eq!(integrity(&data, "host-a", "malformed"), 1);
}

mod random_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Random batch bytes and signatures from an authenticated sensor over
        /// the real stream: each is refused and the collector keeps serving.
        #[test]
        fn random_batches_are_refused_never_crash(payloads in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..2048), proptest::collection::vec(any::<u8>(), 0..96)), 1..6)) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let dir = tempfile::tempdir().unwrap();
                let server = start(&dir.path().join("data")).await;
                let (url, ca) = (server.grpc_url(), server.ca_pem().to_string());
                let a = key(1);
                enroll(&url, &ca, &server.create_enroll_token().unwrap(), "host-a", &a).await.unwrap();
                let (mut s, _) = RawStream::hello(&url, &ca, "host-a", &a).await;
                for (batch, signature) in payloads {
                    s.send(Up::Batch(weir_event::SignedBatch { batch, signature })).await;
                    let reason = refusal(s.next().await);
                    assert!(!reason.is_empty());
                }
                let (_s, welcome) = RawStream::hello(&url, &ca, "host-a", &a).await;
                assert!(matches!(welcome, Some(Down::Welcome(_))));
                server.shutdown().await;
            });
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_noise_is_refused_but_cannot_flood_the_evidence_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data).await;
    let (url, ca) = (server.grpc_url(), server.ca_pem().to_string());
    for _ in 0..60 {
        let (_s, first) = RawStream::hello(&url, &ca, "ghost", &key(9)).await;
        assert!(refusal(first).starts_with("unknown_host"));
    }
    let (status, metrics) = http_get(server.http_addr(), "/metrics", Some(&admin_token(&server))).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("weir_refused_batches_total{reason=\"unknown_host\"} 60"),
        "{metrics}"
    );
    server.shutdown().await;
    assert_eq!(integrity(&data, "ghost", "unknown_host"), 50);
}
