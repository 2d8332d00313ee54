//! `verify` against a real log, intact and after each kind of tampering:
//! it must fail and name the file, byte offset, host, batch and sequence range.

mod common;

use std::path::{Path, PathBuf};

use common::{build_log, collector_key, segment_files};
use proptest::prelude::*;
use weir_store::evidence::frame::{self, segment_file_name};
use weir_store::evidence::{verify, EvidenceLog, Position, ProblemKind, Record, VerifyReport, LATEST_FILE};

fn check(dir: &Path) -> VerifyReport {
    verify(dir, Some(&collector_key().verifying_key()))
}

fn kinds(report: &VerifyReport) -> Vec<ProblemKind> {
    report.problems.iter().map(|p| p.kind).collect()
}

fn seg_path(dir: &Path, p: &Position) -> PathBuf {
    dir.join(segment_file_name(p.segment))
}

fn frame_len(bytes: &[u8], offset: u64) -> usize {
    frame::decode(&bytes[offset as usize..]).unwrap().len()
}

/// The n-th HostBatch of `host` (leaf, position, batch index, seq range).
fn find_batch(log: &EvidenceLog, host: &str, nth: usize) -> (u64, Position, u64, (u64, u64)) {
    log.read_from(0)
        .map(|r| r.unwrap())
        .filter_map(|(p, r)| match r {
            Record::HostBatch { host_id, signed } if host_id == host => {
                let h = weir_store::evidence::BatchHeader::parse(&signed.batch).unwrap();
                Some((p.leaf, p, h.index, (h.first_seq, h.last_seq)))
            }
            _ => None,
        })
        .nth(nth)
        .unwrap()
}

fn show(report: &VerifyReport) -> String {
    report.problems.iter().map(|p| format!("{:?}: {p}\n", p.kind)).collect()
}

#[test]
fn an_intact_log_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let report = check(dir.path());
    assert!(report.is_intact(), "{}", show(&report));
    assert_eq!(report.leaves, log.len());
    assert_eq!(report.checkpointed_leaves, log.len());
    assert!(report.segments > 3);
    assert_eq!(report.hosts["web-1"].batches, 30);
    assert_eq!(report.hosts["web-1"].events, 150);
    assert_eq!(report.hosts["db-1"].last_seq, Some(89));
}

#[test]
fn an_edited_byte_in_a_batch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let (leaf, pos, index, seq) = find_batch(&log, "web-1", 12);
    drop(log);
    let path = seg_path(dir.path(), &pos);
    let mut bytes = std::fs::read(&path).unwrap();
    // Inside the batch bytes: past the frame header, host id and batch length.
    bytes[pos.offset as usize + 20 + 4 + 5 + 4 + 30] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    let report = check(dir.path());
    assert!(!report.is_intact());
    let edited = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Edited)
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert_eq!(edited.file.as_deref(), Some(segment_file_name(pos.segment).as_str()));
    assert_eq!(edited.offset, Some(pos.offset));
    assert_eq!(edited.host.as_deref(), Some("web-1"));
    assert_eq!(edited.batch_index, Some(index));
    assert_eq!(edited.seq, Some(seq));
    assert_eq!(edited.leaf, Some(leaf));
    assert!(kinds(&report).contains(&ProblemKind::BadCheckpoint));
    // The host's next batch is not blamed for the damaged one before it.
    assert!(!kinds(&report).contains(&ProblemKind::ChainBroken), "{}", show(&report));
    let text = edited.to_string();
    assert!(
        text.contains(&segment_file_name(pos.segment)) && text.contains("host web-1"),
        "{text}"
    );
}

#[test]
fn an_edited_framing_header_is_named() {
    for header_byte in [0usize, 4, 6, 17] {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = build_log(dir.path(), 30);
        let (_, pos, _, _) = find_batch(&log, "db-1", 9);
        drop(log);
        let path = seg_path(dir.path(), &pos);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[pos.offset as usize + header_byte] ^= 0x04;
        std::fs::write(&path, bytes).unwrap();
        let report = check(dir.path());
        let edited = report
            .problems
            .iter()
            .find(|p| p.kind == ProblemKind::Edited)
            .unwrap_or_else(|| panic!("byte {header_byte}: {}", show(&report)));
        assert_eq!(edited.offset, Some(pos.offset), "byte {header_byte}");
        assert_eq!(edited.file.as_deref(), Some(segment_file_name(pos.segment).as_str()));
    }
}

#[test]
fn an_edited_leaf_number_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let (_, pos, _, _) = find_batch(&log, "db-1", 9);
    drop(log);
    let path = seg_path(dir.path(), &pos);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[pos.offset as usize + 15] ^= 0x02;
    std::fs::write(&path, bytes).unwrap();
    let report = check(dir.path());
    assert!(!report.is_intact());
    assert!(
        report.problems.iter().any(|p| p.offset == Some(pos.offset)),
        "{}",
        show(&report)
    );
}

#[test]
fn a_truncated_newest_segment_is_a_torn_tail_and_lost_checkpointed_leaves_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let len = log.len();
    let pos = log.position(len - 2).unwrap();
    drop(log);
    let path = seg_path(dir.path(), &pos);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(pos.offset + 30).unwrap();
    drop(file);

    let report = check(dir.path());
    let tail = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::TruncatedTail)
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert_eq!(tail.offset, Some(pos.offset));
    assert_eq!(tail.file.as_deref(), Some(segment_file_name(pos.segment).as_str()));
    assert!(tail.message.contains("crash"));
    let lost = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Truncated && p.file.as_deref() == Some(LATEST_FILE))
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert!(
        lost.message.contains(&format!("leaves {}..={}", len - 2, len - 1)),
        "{}",
        lost.message
    );
}

#[test]
fn a_truncated_older_segment_is_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let (_, pos, _, _) = find_batch(&log, "web-1", 3);
    drop(log);
    assert!(pos.segment < segment_files(dir.path()).len() as u64 - 1);
    let path = seg_path(dir.path(), &pos);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(pos.offset + 100).unwrap();
    drop(file);
    let report = check(dir.path());
    let cut = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Truncated)
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert_eq!(cut.offset, Some(pos.offset));
    assert!(cut.message.contains("newer segments follow"));
    assert!(!kinds(&report).contains(&ProblemKind::TruncatedTail));
}

#[test]
fn a_deleted_record_is_named_with_its_host_and_sequence_range() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let (leaf, pos, index, seq) = find_batch(&log, "db-1", 14);
    drop(log);
    let path = seg_path(dir.path(), &pos);
    let bytes = std::fs::read(&path).unwrap();
    let n = frame_len(&bytes, pos.offset);
    let mut cut = bytes[..pos.offset as usize].to_vec();
    cut.extend_from_slice(&bytes[pos.offset as usize + n..]);
    std::fs::write(&path, cut).unwrap();

    let report = check(dir.path());
    let missing = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::MissingRecords)
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert_eq!(missing.leaf, Some(leaf));
    assert_eq!(missing.offset, Some(pos.offset), "named where the record was");
    let chain = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::ChainBroken)
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert_eq!(chain.host.as_deref(), Some("db-1"));
    assert!(
        chain.message.contains(&format!("batches {index}..={index} missing"))
            && chain.message.contains(&format!("events {}..={} missing", seq.0, seq.1)),
        "{}",
        chain.message
    );
    assert!(kinds(&report).contains(&ProblemKind::BadCheckpoint));
}

#[test]
fn swapped_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    // Two consecutive batches of the same host in the same segment.
    let (a, b) = (0..29)
        .map(|i| (find_batch(&log, "web-1", i), find_batch(&log, "web-1", i + 1)))
        .find(|(a, b)| a.1.segment == b.1.segment && a.1.segment > 0)
        .unwrap();
    drop(log);
    let path = seg_path(dir.path(), &a.1);
    let bytes = std::fs::read(&path).unwrap();
    let (oa, ob) = (a.1.offset as usize, b.1.offset as usize);
    let (la, lb) = (frame_len(&bytes, a.1.offset), frame_len(&bytes, b.1.offset));
    let mut swapped = bytes[..oa].to_vec();
    swapped.extend_from_slice(&bytes[ob..ob + lb]);
    swapped.extend_from_slice(&bytes[oa + la..ob]);
    swapped.extend_from_slice(&bytes[oa..oa + la]);
    swapped.extend_from_slice(&bytes[ob + lb..]);
    assert_eq!(swapped.len(), bytes.len());
    std::fs::write(&path, swapped).unwrap();

    let report = check(dir.path());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::Reordered && p.leaf == Some(a.0)),
        "{}",
        show(&report)
    );
    assert!(
        !kinds(&report).contains(&ProblemKind::MissingRecords),
        "{}",
        show(&report)
    );
    let chain: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::ChainBroken)
        .collect();
    assert!(chain.iter().all(|p| p.host.as_deref() == Some("web-1")));
    assert!(chain
        .iter()
        .any(|p| p.batch_index == Some(a.2) && p.message.contains("reordered")));
    // Leaf numbers still place every record, so the signed roots still hold.
    assert!(
        !kinds(&report).contains(&ProblemKind::BadCheckpoint),
        "{}",
        show(&report)
    );
}

#[test]
fn a_removed_segment_is_named() {
    let dir = tempfile::tempdir().unwrap();
    build_log(dir.path(), 30);
    let files = segment_files(dir.path());
    std::fs::remove_file(&files[2]).unwrap();
    let report = check(dir.path());
    let missing = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::MissingSegment)
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert!(missing.message.contains(&segment_file_name(2)), "{}", missing.message);
    assert!(
        missing.message.contains("leaves"),
        "names the lost leaves: {}",
        missing.message
    );
    // Each host's chain shows what it lost.
    assert!(report
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::ChainBroken && p.host.as_deref() == Some("web-1")));
}

#[test]
fn a_removed_newest_segment_is_named_by_the_latest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    build_log(dir.path(), 30);
    let files = segment_files(dir.path());
    std::fs::remove_file(files.last().unwrap()).unwrap();
    let report = check(dir.path());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::Truncated && p.file.as_deref() == Some(LATEST_FILE)),
        "{}",
        show(&report)
    );
}

#[test]
fn checkpoints_need_the_collector_key() {
    let dir = tempfile::tempdir().unwrap();
    build_log(dir.path(), 10);
    let other = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let report = verify(dir.path(), Some(&other));
    assert!(kinds(&report).contains(&ProblemKind::BadCheckpointSignature));
    let report = verify(dir.path(), None);
    assert_eq!(kinds(&report), vec![ProblemKind::NoCollectorKey]);
}

#[test]
fn a_batch_signed_by_another_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), common::small_config()).unwrap();
    let mut host = common::Host::new("h", 1);
    log.append(&[host.enrollment(), host.batch(2)]).unwrap();
    // The log itself does not check signatures (the collector does); verify must.
    host.key = ed25519_dalek::SigningKey::from_bytes(&[99; 32]);
    log.append(&[host.batch(2)]).unwrap();
    log.checkpoint().unwrap();
    let report = check(dir.path());
    let bad = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::BadSignature)
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert_eq!(
        (bad.host.as_deref(), bad.batch_index, bad.seq),
        (Some("h"), Some(1), Some((2, 3)))
    );
    assert_eq!(bad.leaf, Some(2));
}

#[test]
fn an_empty_or_missing_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!check(dir.path()).is_intact());
    assert!(!check(&dir.path().join("nope")).is_intact());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_as_a_segment_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), with_header in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut content = Vec::new();
        if with_header {
            content.extend_from_slice(&frame::SegmentHeader { number: 0, first_leaf: 0 }.encode());
        }
        content.extend_from_slice(&bytes);
        std::fs::write(dir.path().join(segment_file_name(0)), &content).unwrap();
        let _ = check(dir.path());
        let _ = EvidenceLog::open_with(dir.path(), collector_key(), common::small_config());
        let _ = check(dir.path());
    }

    #[test]
    fn any_flipped_bit_in_a_log_is_found(file_pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let dir = tempfile::tempdir().unwrap();
        build_log(dir.path(), 6);
        let mut files = segment_files(dir.path());
        files.push(dir.path().join(LATEST_FILE));
        let path = file_pick.get(&files).clone();
        let mut bytes = std::fs::read(&path).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        std::fs::write(&path, &bytes).unwrap();
        let report = check(dir.path());
        prop_assert!(!report.is_intact(), "flip of bit {} at {}:{} went unnoticed", bit, path.display(), i);
    }
}

#[test]
fn swapped_and_renumbered_records_break_the_signed_root() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let (a, b) = (0..29)
        .map(|i| (find_batch(&log, "web-1", i), find_batch(&log, "web-1", i + 1)))
        .find(|(a, b)| a.1.segment == b.1.segment && a.1.segment > 0)
        .unwrap();
    drop(log);
    let path = seg_path(dir.path(), &a.1);
    let bytes = std::fs::read(&path).unwrap();
    let (oa, ob) = (a.1.offset as usize, b.1.offset as usize);
    let (la, lb) = (frame_len(&bytes, a.1.offset), frame_len(&bytes, b.1.offset));
    // Swap the two frames and give each the other's leaf number, so the
    // numbering looks untouched: only signatures over content can tell.
    let mut first = bytes[ob..ob + lb].to_vec();
    first[8..16].copy_from_slice(&a.0.to_be_bytes());
    let mut second = bytes[oa..oa + la].to_vec();
    second[8..16].copy_from_slice(&b.0.to_be_bytes());
    let mut swapped = bytes[..oa].to_vec();
    swapped.extend_from_slice(&first);
    swapped.extend_from_slice(&bytes[oa + la..ob]);
    swapped.extend_from_slice(&second);
    swapped.extend_from_slice(&bytes[ob + lb..]);
    std::fs::write(&path, swapped).unwrap();

    let report = check(dir.path());
    assert!(!kinds(&report).contains(&ProblemKind::Reordered), "{}", show(&report));
    assert!(
        kinds(&report).contains(&ProblemKind::BadCheckpoint),
        "{}",
        show(&report)
    );
    assert!(report
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::ChainBroken && p.host.as_deref() == Some("web-1")));
}

#[test]
fn a_deletion_next_to_a_damaged_batch_is_still_named() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = build_log(dir.path(), 30);
    let (_, deleted, _, _) = find_batch(&log, "web-1", 20);
    let (_, edited, edited_index, _) = find_batch(&log, "web-1", 21);
    drop(log);
    assert_eq!(deleted.segment, edited.segment, "fixture: both in one segment");
    let path = seg_path(dir.path(), &deleted);
    let bytes = std::fs::read(&path).unwrap();
    let n = frame_len(&bytes, deleted.offset);
    let mut cut = bytes[..deleted.offset as usize].to_vec();
    cut.extend_from_slice(&bytes[deleted.offset as usize + n..]);
    let at = edited.offset as usize - n + 20 + 4 + 5 + 4 + 40;
    cut[at] ^= 0x20;
    std::fs::write(&path, cut).unwrap();

    let report = check(dir.path());
    assert!(report
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::Edited && p.batch_index == Some(edited_index)));
    let gap = report
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::ChainBroken && p.host.as_deref() == Some("web-1"))
        .unwrap_or_else(|| panic!("{}", show(&report)));
    assert!(
        gap.message.contains("batches 20..=21 missing") && gap.message.contains("1 of them in damaged records"),
        "{}",
        gap.message
    );
}

#[test]
fn verify_next_to_a_live_writer_sees_no_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut hosts) = build_log(dir.path(), 4);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut appends = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || appends < 20 {
                log.append(&[hosts[0].batch(5), hosts[1].batch(3)]).unwrap();
                appends += 1;
                if appends % 3 == 0 {
                    log.checkpoint().unwrap();
                }
            }
            log
        })
    };
    for _ in 0..20 {
        let report = check(dir.path());
        assert!(
            report.problems.iter().all(|p| p.kind == ProblemKind::TruncatedTail),
            "{}",
            show(&report)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(writer.join().unwrap());
    assert!(check(dir.path()).is_intact());
}

#[test]
fn absurd_numbers_in_validly_signed_batches_do_not_hang_or_panic() {
    use weir_event::chain::seal;
    let dir = tempfile::tempdir().unwrap();
    let mut log = EvidenceLog::open_with(dir.path(), collector_key(), common::small_config()).unwrap();
    let mut host = common::Host::new("h", 1);
    log.append(&[host.enrollment(), host.batch(1)]).unwrap();
    let len = log.len();
    drop(log);
    // A damaged batch, then one the host signed with extreme numbers.
    let mut frames = Vec::new();
    let mut payload = Vec::new();
    host.batch(1).encode_payload(&mut payload);
    frame::encode(frame::Kind::HostBatch, len, &payload, &mut frames);
    let damaged_at = frames.len() - 40;
    frames[damaged_at] ^= 1;
    let mut event = common::event("h", 7);
    event.seq = u64::MAX;
    let batch = weir_event::Batch {
        host_id: "h".into(),
        index: u64::MAX - 1,
        first_seq: u64::MAX,
        last_seq: u64::MAX,
        prev_hash: vec![1; 32],
        events: vec![event],
        ..Default::default()
    };
    let record = Record::HostBatch {
        host_id: "h".into(),
        signed: seal(&host.key, &batch),
    };
    payload.clear();
    record.encode_payload(&mut payload);
    frame::encode(frame::Kind::HostBatch, len + 1, &payload, &mut frames);
    let mut segment = std::fs::OpenOptions::new()
        .append(true)
        .open(segment_files(dir.path()).pop().unwrap())
        .unwrap();
    std::io::Write::write_all(&mut segment, &frames).unwrap();
    let report = check(dir.path());
    assert!(
        report.problems.iter().any(|p| p.kind == ProblemKind::Edited),
        "{}",
        show(&report)
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::ChainBroken && p.batch_index == Some(u64::MAX - 1)),
        "{}",
        show(&report)
    );
    assert!(EvidenceLog::open_with(dir.path(), collector_key(), common::small_config()).is_err());
}
