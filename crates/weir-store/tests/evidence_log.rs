//! The evidence log end to end on real files: append, reopen, read back,
//! rotation, chain heads, checkpoints and inclusion proofs, crash recovery.

mod common;

use std::io::Write;

use common::{build_log, collector_key, segment_files, small_config, Host};
use prost::Message;
use weir_event::chain::{hash_batch, ChainError};
use weir_store::evidence::{EvidenceConfig, EvidenceError, EvidenceLog, Record, LATEST_FILE};

#[test]
fn records_come_back_bit_exact_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let written: Vec<_> = log.read_from(0).map(|r| r.unwrap()).collect();
    let len = log.len();
    let root = log.root();
    let hosts = log.hosts().clone();
    drop(log);
    assert!(segment_files(dir.path()).len() > 3, "small segments rotate");

    let log = EvidenceLog::open_with(dir.path(), collector_key(), small_config()).unwrap();
    assert!(log.recovery().is_empty());
    assert_eq!(log.len(), len);
    assert_eq!(log.root(), root);
    assert_eq!(log.hosts(), &hosts);
    let read: Vec<_> = log.read_from(0).map(|r| r.unwrap()).collect();
    assert_eq!(read, written);
    // Leaves are numbered contiguously across segments, and read_from starts anywhere.
    for (i, (position, _)) in read.iter().enumerate() {
        assert_eq!(position.leaf, i as u64);
    }
    let tail: Vec<_> = log.read_from(len - 3).map(|r| r.unwrap()).collect();
    assert_eq!(tail, written[written.len() - 3..]);
    assert_eq!(log.read_from(len).count(), 0);
}

#[test]
fn host_state_follows_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (log, hosts) = build_log(dir.path(), 7);
    let web = &log.hosts()["web-1"];
    assert_eq!(web.public_key, hosts[0].key.verifying_key().to_bytes());
    assert_eq!(web.head.next_index, 7);
    assert_eq!(web.head.next_seq, 35);
    assert_eq!(web.head.head_hash, hosts[0].prev);
    assert_eq!(web.batches, 7);
    assert_eq!(log.hosts()["db-1"].head.next_seq, 21);
}

#[test]
fn append_refuses_what_would_break_a_chain_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), small_config()).unwrap();
    let mut host = Host::new("h", 9);
    let first = host.batch(2);
    assert!(matches!(
        log.append(std::slice::from_ref(&first)),
        Err(EvidenceError::NotEnrolled { .. })
    ));
    log.append(&[host.enrollment(), first.clone()]).unwrap();
    let len = log.len();
    // Replay of the same batch.
    match log.append(std::slice::from_ref(&first)) {
        Err(EvidenceError::Chain {
            error: ChainError::Replay { .. },
            ..
        }) => {}
        other => panic!("expected a replay refusal, got {other:?}"),
    }
    // A gap: skip one batch.
    let _skipped = host.batch(2);
    let third = host.batch(2);
    let good = Record::CollectorEvent {
        event: Default::default(),
    };
    assert!(matches!(
        log.append(&[good.clone(), third]),
        Err(EvidenceError::Chain {
            error: ChainError::IndexGap { .. },
            ..
        })
    ));
    // A batch filed under another host's name.
    let mut other = Host::new("other", 10);
    log.append(&[other.enrollment()]).unwrap();
    let Record::HostBatch { signed, .. } = other.batch(1) else {
        unreachable!()
    };
    assert!(matches!(
        log.append(&[Record::HostBatch {
            host_id: "h".into(),
            signed
        }]),
        Err(EvidenceError::Chain {
            error: ChainError::WrongHost { .. },
            ..
        })
    ));
    assert_eq!(log.len(), len + 1, "only the enrollment of `other` was stored");
    drop(log);
    let log = EvidenceLog::open_with(dir.path(), collector_key(), small_config()).unwrap();
    assert_eq!(log.len(), len + 1);
}

#[test]
fn reenrollment_keeps_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), small_config()).unwrap();
    let mut host = Host::new("h", 9);
    log.append(&[host.enrollment(), host.batch(3)]).unwrap();
    host.key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
    log.append(&[host.enrollment(), host.batch(3)]).unwrap();
    let state = &log.hosts()["h"];
    assert_eq!(state.public_key, host.key.verifying_key().to_bytes());
    assert_eq!(
        (state.head.next_index, state.head.next_seq, state.enrolled_leaf),
        (2, 6, 2)
    );
}

#[test]
fn checkpoints_prove_inclusion_of_every_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = build_log(dir.path(), 12);
    let cp = log.checkpoint().unwrap();
    assert_eq!(cp.tree_size, log.len());
    assert!(cp.signature_ok(&collector_key().verifying_key()));
    for leaf in 0..log.len() {
        let proof = log.inclusion_proof(leaf).unwrap();
        assert!(proof.verify(), "leaf {leaf}");
        let mut wrong = proof.clone();
        wrong.leaf_hash[0] ^= 1;
        assert!(!wrong.verify());
    }
    let mut host = Host::new("late", 3);
    log.append(&[host.enrollment(), host.batch(1)]).unwrap();
    assert!(matches!(
        log.inclusion_proof(log.len() - 1),
        Err(EvidenceError::NotCheckpointed { .. })
    ));
    assert!(matches!(
        log.inclusion_proof(log.len()),
        Err(EvidenceError::NoSuchLeaf { .. })
    ));
    // LATEST-CHECKPOINT holds the newest checkpoint.
    let latest = std::fs::read(dir.path().join(LATEST_FILE)).unwrap();
    assert!(latest.len() > 100);
}

#[test]
fn automatic_checkpoints_by_count() {
    let dir = tempfile::tempdir().unwrap();
    let config = EvidenceConfig {
        checkpoint_every_records: 10,
        ..small_config()
    };
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), config).unwrap();
    let mut host = Host::new("h", 1);
    log.append(&[host.enrollment()]).unwrap();
    assert!(log.latest_checkpoint().is_none());
    for _ in 0..9 {
        log.append(&[host.batch(1)]).unwrap();
    }
    let cp = log.latest_checkpoint().expect("a checkpoint after 10 leaves").clone();
    assert_eq!(cp.tree_size, 10);
    assert_eq!(cp.root, log.root());
}

#[test]
fn a_torn_tail_is_cut_off_at_open_and_saved() {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut hosts) = build_log(dir.path(), 3);
    let len = log.len();
    drop(log);
    // A crash in the middle of writing the next record: half a frame at the end.
    let Record::HostBatch { host_id, signed } = hosts[0].batch(4) else {
        unreachable!()
    };
    let mut frame = Vec::new();
    weir_store::evidence::frame::encode(
        weir_store::evidence::frame::Kind::HostBatch,
        len,
        &{
            let mut p = Vec::new();
            Record::HostBatch { host_id, signed }.encode_payload(&mut p);
            p
        },
        &mut frame,
    );
    let last = segment_files(dir.path()).pop().unwrap();
    let before = std::fs::metadata(&last).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&frame[..frame.len() / 2]).unwrap();
    drop(f);

    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), small_config()).unwrap();
    assert_eq!(log.len(), len);
    assert_eq!(log.recovery().len(), 1);
    let r = &log.recovery()[0];
    assert_eq!((r.offset, r.bytes_cut), (before, (frame.len() / 2) as u64));
    assert_eq!(
        std::fs::read(r.saved_to.as_ref().unwrap()).unwrap(),
        frame[..frame.len() / 2]
    );
    assert_eq!(std::fs::metadata(&last).unwrap().len(), before);
    // The host resends the batch that was never acknowledged: it fits the chain.
    hosts[0].index -= 1;
    hosts[0].seq -= 4;
    hosts[0].prev = log.hosts()["web-1"].head.head_hash;
    log.append(&[hosts[0].batch(4)]).unwrap();
    assert!(weir_store::evidence::verify(dir.path(), Some(&collector_key().verifying_key())).is_intact());
}

#[test]
fn damage_in_the_middle_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 10);
    let position = log.position(5).unwrap();
    drop(log);
    let path = dir
        .path()
        .join(weir_store::evidence::frame::segment_file_name(position.segment));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[position.offset as usize + 40] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
    match EvidenceLog::open_with(dir.path(), collector_key(), small_config()) {
        Err(EvidenceError::Damaged { file, offset, .. }) => {
            assert_eq!(file, weir_store::evidence::frame::segment_file_name(position.segment));
            assert_eq!(offset, position.offset);
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a damaged log opened"),
    }
}

#[test]
fn a_log_shorter_than_its_latest_checkpoint_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    drop(log);
    let last = segment_files(dir.path()).pop().unwrap();
    std::fs::remove_file(last).unwrap();
    let err = EvidenceLog::open_with(dir.path(), collector_key(), small_config())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn batch_bytes_are_stored_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open(dir.path(), collector_key()).unwrap();
    let mut host = Host::new("h", 4);
    let batch = host.batch(2);
    log.append(&[host.enrollment(), batch.clone()]).unwrap();
    let (_, back) = log.read_from(1).next().unwrap().unwrap();
    let (Record::HostBatch { signed: a, .. }, Record::HostBatch { signed: b, .. }) = (&batch, &back) else {
        unreachable!()
    };
    assert_eq!(a.batch, b.batch);
    assert_eq!(a.signature, b.signature);
    assert_eq!(hash_batch(&a.batch), log.hosts()["h"].head.head_hash);
    assert_eq!(weir_event::Batch::decode(b.batch.as_slice()).unwrap().events.len(), 2);
}

#[test]
fn a_timer_checkpoints_only_new_leaves_after_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = EvidenceConfig {
        checkpoint_interval: std::time::Duration::ZERO,
        checkpoint_every_records: u64::MAX,
        ..small_config()
    };
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), config).unwrap();
    assert!(log.checkpoint_if_due().unwrap().is_none(), "nothing to seal");
    let mut host = Host::new("h", 1);
    // With a zero interval, the append itself seals its leaves.
    log.append(&[host.enrollment(), host.batch(1)]).unwrap();
    assert_eq!(log.latest_checkpoint().unwrap().tree_size, 2);
    assert!(log.checkpoint_if_due().unwrap().is_none(), "already sealed");

    let dir = tempfile::tempdir().unwrap();
    let config = EvidenceConfig {
        checkpoint_interval: std::time::Duration::from_secs(3600),
        checkpoint_every_records: u64::MAX,
        ..small_config()
    };
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), config).unwrap();
    let mut host = Host::new("h", 1);
    log.append(&[host.enrollment(), host.batch(1)]).unwrap();
    assert!(log.checkpoint_if_due().unwrap().is_none(), "interval not reached");
    assert!(log.latest_checkpoint().is_none());
    drop(log);
    let config = EvidenceConfig {
        checkpoint_interval: std::time::Duration::ZERO,
        ..small_config()
    };
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), config).unwrap();
    let cp = log
        .checkpoint_if_due()
        .unwrap()
        .expect("the timer seals the two leaves");
    assert_eq!(cp.tree_size, 2);
    assert!(weir_store::evidence::verify(dir.path(), Some(&collector_key().verifying_key())).is_intact());
}

#[test]
fn a_crash_while_starting_a_segment_is_repaired() {
    for partial in [0usize, 10] {
        let dir = tempfile::tempdir().unwrap();
        let (log, mut hosts) = build_log(dir.path(), 10);
        let len = log.len();
        drop(log);
        let files = segment_files(dir.path());
        let next = dir
            .path()
            .join(weir_store::evidence::frame::segment_file_name(files.len() as u64));
        let header = weir_store::evidence::frame::SegmentHeader {
            number: files.len() as u64,
            first_leaf: len,
        }
        .encode();
        std::fs::write(&next, &header[..partial]).unwrap();
        let mut log = EvidenceLog::open_with(dir.path(), collector_key(), small_config()).unwrap();
        assert_eq!(log.len(), len);
        assert_eq!(log.recovery().len(), 1, "partial header of {partial} bytes");
        assert_eq!(std::fs::read(&next).unwrap(), header);
        log.append(&[hosts[0].batch(2)]).unwrap();
        log.checkpoint().unwrap();
        let report = weir_store::evidence::verify(dir.path(), Some(&collector_key().verifying_key()));
        assert!(report.is_intact(), "{:?}", report.problems);
    }
}
