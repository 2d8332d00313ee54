//! `verify`: recomputes everything about an evidence directory without
//! trusting any of it: segment numbering, framing and record digests, leaf
//! numbering (deleted, reordered, duplicated records), each host batch's
//! signature with the key from that host's HostEnrolled record, each host's
//! chain (index, previous hash, sequence continuity), and each checkpoint's
//! Merkle root and collector signature, plus LATEST-CHECKPOINT. It reports
//! every problem with the file and byte offset, and the host, batch index
//! and sequence range when the problem is about a host's batch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use weir_event::chain::{self, ChainError, ChainHead};

use super::checkpoint::{Checkpoint, LATEST_FILE};
use super::frame::{self, FrameError, Kind};
use super::host::BatchHeader;
use super::log::list_segments;
use super::merkle::{self, Frontier, Hash};
use super::record::Record;
use super::scan;

/// What kind of problem `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The directory or a file could not be read.
    Unreadable,
    /// A segment file is missing from the numbering.
    MissingSegment,
    /// A segment header is wrong (magic, number, first leaf).
    BadSegmentHeader,
    /// The newest segment ends inside a record: what a crash during an
    /// unacknowledged write leaves, or a truncation.
    TruncatedTail,
    /// An older segment ends inside a record, or checkpointed leaves are gone:
    /// the log was cut after the fact.
    Truncated,
    /// Bytes that are not a valid record: edited bytes or framing.
    Edited,
    /// Leaves absent from the numbering: records deleted.
    MissingRecords,
    /// A record stored out of its place.
    Reordered,
    /// The same leaf number stored twice.
    Duplicate,
    /// A record whose digest checks but whose payload does not decode.
    BadRecord,
    /// A batch for a host without a HostEnrolled record before it.
    UnknownHost,
    /// A batch whose signature is not its host's key's.
    BadSignature,
    /// A batch that does not continue its host's chain (gap, replay, fork, range).
    ChainBroken,
    /// A checkpoint whose root does not match the leaves it covers.
    BadCheckpoint,
    /// A checkpoint not signed by the collector key.
    BadCheckpointSignature,
    /// Checkpoints exist but no collector key was given to check them.
    NoCollectorKey,
}

/// One problem, with everything known about where it is.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub file: Option<String>,
    pub offset: Option<u64>,
    pub leaf: Option<u64>,
    pub host: Option<String>,
    pub batch_index: Option<u64>,
    /// Inclusive event sequence range concerned.
    pub seq: Option<(u64, u64)>,
    pub message: String,
}

impl Problem {
    fn new(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            file: None,
            offset: None,
            leaf: None,
            host: None,
            batch_index: None,
            seq: None,
            message: message.into(),
        }
    }

    fn at(mut self, file: &str, offset: u64) -> Problem {
        self.file = Some(file.to_string());
        self.offset = Some(offset);
        self
    }

    fn batch(mut self, host: &str, index: Option<u64>, seq: Option<(u64, u64)>) -> Problem {
        self.host = Some(host.to_string());
        self.batch_index = index;
        self.seq = seq;
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.offset) {
            (Some(file), Some(offset)) => write!(f, "{file} @ byte {offset}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        write!(f, "{}", self.message)?;
        let mut parts = Vec::new();
        if let Some(host) = &self.host {
            parts.push(format!("host {host}"));
        }
        if let Some(index) = self.batch_index {
            parts.push(format!("batch {index}"));
        }
        if let Some((a, b)) = self.seq {
            parts.push(format!("events {a}..={b}"));
        }
        if let Some(leaf) = self.leaf {
            parts.push(format!("leaf {leaf}"));
        }
        if !parts.is_empty() {
            write!(f, " [{}]", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Per host, what the log holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostSummary {
    pub batches: u64,
    pub events: u64,
    /// Inclusive sequence range of the verified events.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

/// Everything `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub segments: u64,
    pub leaves: u64,
    pub checkpoints: u64,
    /// Leaves covered by the newest valid checkpoint.
    pub checkpointed_leaves: u64,
    pub hosts: BTreeMap<String, HostSummary>,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Stands for a leaf that is missing or unreadable (no real hash is all zero).
const HOLE: Hash = [0; 32];

/// Most lost leaves represented as holes over a whole run (32 bytes each);
/// a jump in leaf numbers beyond what is left of it is taken as an edited
/// leaf number, so crafted files cannot make `verify` exhaust memory.
const MAX_HOLES: u64 = 1 << 22;

/// A run of missing leaf numbers, remembered until the end in case they
/// turn up later (then they were reordered, not deleted).
struct Gap {
    end: u64,
    file: String,
    offset: u64,
}

struct HostCheck {
    key: Option<VerifyingKey>,
    head: ChainHead,
    /// A batch could not be verified: accept the next good one as the new head.
    resync: bool,
    /// Batch indexes claimed by damaged records since the last good batch.
    damaged: Vec<u64>,
}

struct Verifier<'a> {
    key: Option<&'a VerifyingKey>,
    report: VerifyReport,
    hosts: BTreeMap<String, HostCheck>,
    expected_leaf: u64,
    gaps: BTreeMap<u64, Gap>,
    /// Damage (or a missing segment) seen since the last valid frame: a
    /// numbering gap right after it is explained by it.
    pending_damage: Option<usize>,
    /// Leaf hashes by leaf number; `HOLE` where a leaf is missing or unreadable.
    hashes: Vec<Hash>,
    holes: BTreeSet<u64>,
    holes_made: u64,
    /// The frontier is valid while every leaf arrived in order, without holes.
    frontier: Frontier,
    frontier_ok: bool,
    /// File and offset just past the last valid leaf frame: where a missing record would be.
    prev_leaf_end: Option<(String, u64)>,
    diverged: Option<(usize, u64)>,
}

/// Verifies the evidence directory `dir`. `collector_key` checks checkpoint
/// signatures; without it any checkpoint is reported as unchecked.
pub fn verify(dir: &Path, collector_key: Option<&VerifyingKey>) -> VerifyReport {
    let mut v = Verifier {
        key: collector_key,
        report: VerifyReport::default(),
        hosts: BTreeMap::new(),
        expected_leaf: 0,
        gaps: BTreeMap::new(),
        pending_damage: None,
        hashes: Vec::new(),
        holes: BTreeSet::new(),
        holes_made: 0,
        frontier: Frontier::new(),
        frontier_ok: true,
        prev_leaf_end: None,
        diverged: None,
    };
    // Read before the segments: everything it covers was made durable in
    // the segments before it was written, so a collector appending while
    // this runs cannot make it look ahead of the log.
    let latest = std::fs::read(dir.join(LATEST_FILE));
    let files = match list_segments(dir) {
        Ok(files) => files,
        Err(e) => {
            v.problem(Problem::new(ProblemKind::Unreadable, e.to_string()));
            return v.report;
        }
    };
    if files.is_empty() {
        v.problem(Problem::new(
            ProblemKind::Unreadable,
            format!("no evidence segments in {}", dir.display()),
        ));
    }
    let count = files.len();
    let mut expected_number = 0u64;
    for (i, (number, path)) in files.iter().enumerate() {
        let name = frame::segment_file_name(*number);
        if *number > expected_number {
            let missing = if *number - expected_number == 1 {
                format!("segment {} is missing", frame::segment_file_name(expected_number))
            } else {
                format!(
                    "segments {} to {} are missing",
                    frame::segment_file_name(expected_number),
                    frame::segment_file_name(*number - 1)
                )
            };
            let idx = v.problem(Problem::new(
                ProblemKind::MissingSegment,
                format!("{missing} (the log continues with {name})"),
            ));
            v.pending_damage = Some(idx);
        }
        expected_number = number.saturating_add(1);
        v.report.segments += 1;
        match std::fs::read(path) {
            Ok(bytes) => v.segment(&name, *number, &bytes, i + 1 == count),
            Err(e) => {
                v.problem(Problem::new(ProblemKind::Unreadable, format!("cannot read: {e}")).at(&name, 0));
            }
        }
    }
    v.latest_file(latest);
    v.finish()
}

impl Verifier<'_> {
    fn problem(&mut self, p: Problem) -> usize {
        self.report.problems.push(p);
        self.report.problems.len() - 1
    }

    fn segment(&mut self, name: &str, number: u64, bytes: &[u8], newest: bool) {
        let scan = scan::scan(bytes);
        match &scan.header {
            Err(e) => {
                let kind = if newest && bytes.len() < frame::SEGMENT_HEADER_LEN {
                    ProblemKind::TruncatedTail
                } else {
                    ProblemKind::BadSegmentHeader
                };
                let idx = self.problem(Problem::new(kind, format!("{e}; the whole segment is unreadable")).at(name, 0));
                self.pending_damage = Some(idx);
                return;
            }
            Ok(h) => {
                if h.number != number {
                    self.problem(
                        Problem::new(
                            ProblemKind::BadSegmentHeader,
                            format!("header says segment {}, the file name says {number}", h.number),
                        )
                        .at(name, 8),
                    );
                }
                if h.first_leaf != self.expected_leaf && self.pending_damage.is_none() {
                    self.problem(
                        Problem::new(
                            ProblemKind::BadSegmentHeader,
                            format!(
                                "header says the segment starts at leaf {}, the previous segments end before leaf {}",
                                h.first_leaf, self.expected_leaf
                            ),
                        )
                        .at(name, 16),
                    );
                }
            }
        }
        // Frames and damage, merged in file order.
        let mut damage = scan.damage.iter().peekable();
        for (offset, f) in &scan.frames {
            while let Some(d) = damage.next_if(|d| d.offset < *offset) {
                self.damage(name, bytes, d, newest);
            }
            self.frame(name, *offset, f);
        }
        for d in damage {
            self.damage(name, bytes, d, newest);
        }
    }

    fn damage(&mut self, name: &str, bytes: &[u8], d: &scan::Damage, newest: bool) {
        let len = d.end - d.offset;
        let mut p = if d.torn_tail && newest {
            Problem::new(
                ProblemKind::TruncatedTail,
                format!(
                    "the newest segment ends inside a record ({}): a write still in progress or cut short by a crash (never acknowledged) \
                     looks like this, and so does a deliberate truncation; checkpointed records that are gone are \
                     reported separately",
                    d.error
                ),
            )
        } else if d.torn_tail {
            Problem::new(
                ProblemKind::Truncated,
                format!(
                    "segment ends inside a record ({}) although newer segments follow: it was truncated after it was complete",
                    d.error
                ),
            )
        } else {
            Problem::new(
                ProblemKind::Edited,
                format!("{len} bytes are not a valid record: {}", d.error),
            )
        };
        p = p.at(name, d.offset);
        // Name what the damaged record claimed to be (unverified).
        if let Some((kind, leaf, payload)) = frame::decode_unchecked(&bytes[d.offset as usize..]) {
            if kind.is_leaf() && matches!(d.error, FrameError::BadDigest) {
                p.leaf = Some(leaf);
                let expected = self.expected_leaf;
                if leaf >= expected && leaf - expected <= self.hole_budget() {
                    if leaf > expected {
                        self.lost_until(name, d.offset, leaf);
                    }
                    self.hole();
                    self.expected_leaf = leaf + 1;
                }
                if let Ok(Record::HostBatch { host_id, signed }) = Record::decode_payload(kind, payload) {
                    let header = BatchHeader::parse(&signed.batch).ok();
                    let seq = header
                        .as_ref()
                        .filter(|h| h.events > 0)
                        .map(|h| (h.first_seq, h.last_seq));
                    let index = header.map(|h| h.index);
                    p = p.batch(&host_id, index, seq);
                    if let Some(host) = self.hosts.get_mut(&host_id) {
                        host.resync = true;
                        host.damaged.extend(index);
                    }
                }
            }
        }
        let idx = self.problem(p);
        self.pending_damage = Some(idx);
    }

    fn frame(&mut self, name: &str, offset: u64, f: &frame::Frame<'_>) {
        if f.kind == Kind::Checkpoint {
            self.checkpoint(name, offset, f);
            return;
        }
        self.numbering(name, offset, f.leaf, f.digest);
        self.pending_damage = None;
        self.prev_leaf_end = Some((name.to_string(), offset + f.len() as u64));
        self.report.leaves += 1;
        let record = match Record::decode_payload(f.kind, f.payload) {
            Ok(r) => r,
            Err(e) => {
                let mut p =
                    Problem::new(ProblemKind::BadRecord, format!("record does not decode: {e}")).at(name, offset);
                p.leaf = Some(f.leaf);
                self.problem(p);
                return;
            }
        };
        match record {
            Record::HostEnrolled {
                host_id, public_key, ..
            } => {
                let key = VerifyingKey::from_bytes(&public_key).ok();
                if key.is_none() {
                    self.problem(
                        Problem::new(ProblemKind::BadRecord, "enrolled public key is not a valid ed25519 key")
                            .at(name, offset)
                            .batch(&host_id, None, None),
                    );
                }
                let entry = self.hosts.entry(host_id.clone()).or_insert(HostCheck {
                    key: None,
                    head: ChainHead::default(),
                    resync: false,
                    damaged: Vec::new(),
                });
                entry.key = key;
                self.report.hosts.entry(host_id).or_default();
            }
            Record::HostBatch { host_id, signed } => self.batch(name, offset, f.leaf, &host_id, &signed),
            Record::CollectorEvent { .. } => {}
        }
    }

    fn hole_budget(&self) -> u64 {
        MAX_HOLES.saturating_sub(self.holes_made)
    }

    fn hole(&mut self) {
        self.holes_made += 1;
        self.holes.insert(self.hashes.len() as u64);
        self.hashes.push(HOLE);
        self.frontier_ok = false;
    }

    fn push_hash(&mut self, digest: Hash) {
        self.hashes.push(digest);
        if self.frontier_ok {
            self.frontier.push(digest);
        }
    }

    /// Leaves from the expected one up to `leaf` (excluded) are absent: holes
    /// in the tree, blamed on the damage or missing segment just before, or
    /// else remembered as a gap (deleted, unless they turn up later).
    fn lost_until(&mut self, name: &str, offset: u64, leaf: u64) {
        let expected = self.expected_leaf;
        for _ in expected..leaf {
            self.hole();
        }
        match self.pending_damage {
            Some(idx) => {
                let what = if expected + 1 == leaf {
                    format!("leaf {expected} is")
                } else {
                    format!("leaves {expected}..={} are", leaf - 1)
                };
                self.report.problems[idx]
                    .message
                    .push_str(&format!(" ({what} lost with it)"));
            }
            None => {
                let (file, at) = self.prev_leaf_end.clone().unwrap_or((name.to_string(), offset));
                self.gaps.insert(
                    expected,
                    Gap {
                        end: leaf - 1,
                        file,
                        offset: at,
                    },
                );
            }
        }
        self.expected_leaf = leaf;
    }

    /// Leaf numbers must run 0, 1, 2... in file order; places the leaf hash.
    fn numbering(&mut self, name: &str, offset: u64, leaf: u64, digest: Hash) {
        let expected = self.expected_leaf;
        if leaf == expected || (leaf > expected && leaf - expected > self.hole_budget()) {
            if leaf != expected {
                let mut p = Problem::new(
                    ProblemKind::Edited,
                    format!("record is numbered leaf {leaf} where leaf {expected} belongs: edited leaf number"),
                )
                .at(name, offset);
                p.leaf = Some(expected);
                self.problem(p);
            }
            self.push_hash(digest);
            self.expected_leaf += 1;
            return;
        }
        if leaf > expected {
            self.lost_until(name, offset, leaf);
            self.push_hash(digest);
            self.expected_leaf = leaf + 1;
            return;
        }
        // leaf < expected: a missing leaf turning up late, or a duplicate.
        if self.holes.remove(&leaf) {
            self.hashes[leaf as usize] = digest;
        }
        let containing = self.gaps.range(..=leaf).next_back().map(|(s, g)| (*s, g.end));
        match containing {
            Some((start, end)) if leaf <= end => {
                let gap = self.gaps.remove(&start).expect("found above");
                if start < leaf {
                    self.gaps.insert(
                        start,
                        Gap {
                            end: leaf - 1,
                            file: gap.file.clone(),
                            offset: gap.offset,
                        },
                    );
                }
                if leaf < end {
                    self.gaps.insert(leaf + 1, gap);
                }
                let mut p = Problem::new(
                    ProblemKind::Reordered,
                    format!(
                        "record for leaf {leaf} is stored after leaf {}: records were reordered",
                        expected - 1
                    ),
                )
                .at(name, offset);
                p.leaf = Some(leaf);
                self.problem(p);
            }
            _ => {
                let mut p = Problem::new(ProblemKind::Duplicate, format!("leaf {leaf} is stored a second time"))
                    .at(name, offset);
                p.leaf = Some(leaf);
                self.problem(p);
            }
        }
    }

    fn batch(&mut self, name: &str, offset: u64, leaf: u64, host_id: &str, signed: &weir_event::SignedBatch) {
        let claimed = BatchHeader::parse(&signed.batch).ok();
        let claimed_seq = claimed
            .as_ref()
            .filter(|h| h.events > 0)
            .map(|h| (h.first_seq, h.last_seq));
        let at = |kind, message: String| {
            let mut p = Problem::new(kind, message).at(name, offset).batch(
                host_id,
                claimed.as_ref().map(|h| h.index),
                claimed_seq,
            );
            p.leaf = Some(leaf);
            p
        };
        let Some(host) = self.hosts.get_mut(host_id) else {
            self.problem(at(
                ProblemKind::UnknownHost,
                format!("batch for host {host_id}, which has no HostEnrolled record before it"),
            ));
            return;
        };
        let Some(key) = host.key else {
            host.resync = true;
            self.problem(at(ProblemKind::BadSignature, "host has no valid enrolled key".into()));
            return;
        };
        let batch = match chain::open(signed, &key, host_id) {
            Ok(b) => b,
            Err(e) => {
                host.resync = true;
                let kind = match e {
                    ChainError::BadSignature { .. } => ProblemKind::BadSignature,
                    _ => ProblemKind::BadRecord,
                };
                self.problem(at(kind, format!("batch does not verify: {e}")));
                return;
            }
        };
        let problem = if host.resync {
            // Arithmetic, not iteration: a host could sign an absurd batch index.
            let damaged = host
                .damaged
                .iter()
                .filter(|i| (host.head.next_index..batch.index).contains(i))
                .count() as u64;
            let unexplained = batch.index.saturating_sub(host.head.next_index).saturating_sub(damaged);
            if batch.index < host.head.next_index {
                Some(ChainError::Replay {
                    index: batch.index,
                    next_index: host.head.next_index,
                })
            } else if unexplained > 0 {
                Some(ChainError::IndexGap {
                    expected: host.head.next_index,
                    found: batch.index,
                })
            } else {
                None
            }
        } else {
            host.head.check(&batch).err()
        };
        let moves = batch.index >= host.head.next_index;
        let message = problem.as_ref().map(|e| match e {
            ChainError::IndexGap { expected, found } => {
                let lost = if claimed_seq.is_some() && batch.first_seq > host.head.next_seq {
                    format!(", events {}..={} missing", host.head.next_seq, batch.first_seq - 1)
                } else {
                    String::new()
                };
                let damaged = host.damaged.iter().filter(|i| (*expected..*found).contains(i)).count();
                let damaged = if damaged > 0 {
                    format!(" ({damaged} of them in damaged records named above)")
                } else {
                    String::new()
                };
                format!(
                    "chain gap: batches {expected}..={} missing before this one{lost}{damaged}",
                    found - 1
                )
            }
            ChainError::Replay { index, next_index } => format!(
                "batch {index} is stored after batch {}: replayed or reordered",
                next_index - 1
            ),
            other => format!("chain broken: {other}"),
        });
        if moves {
            host.head.next_index = batch.index.saturating_add(1);
            if !batch.events.is_empty() {
                host.head.next_seq = batch.last_seq.saturating_add(1);
            }
            host.head.head_hash = chain::hash_batch(&signed.batch);
            host.resync = false;
            host.damaged.clear();
        }
        if let Some(message) = message {
            self.problem(at(ProblemKind::ChainBroken, message));
        }
        let summary = self.report.hosts.entry(host_id.to_string()).or_default();
        summary.batches += 1;
        summary.events += batch.events.len() as u64;
        if let (Some(first), Some(last)) = (batch.events.first(), batch.events.last()) {
            summary.first_seq = Some(summary.first_seq.map_or(first.seq, |s| s.min(first.seq)));
            summary.last_seq = Some(summary.last_seq.map_or(last.seq, |s| s.max(last.seq)));
        }
    }

    fn checkpoint(&mut self, name: &str, offset: u64, f: &frame::Frame<'_>) {
        self.report.checkpoints += 1;
        let cp = match Checkpoint::decode_payload(f.payload) {
            Ok(cp) if cp.tree_size == f.leaf => cp,
            Ok(_) => {
                self.problem(
                    Problem::new(
                        ProblemKind::BadCheckpoint,
                        "checkpoint header and payload disagree on its tree size",
                    )
                    .at(name, offset),
                );
                return;
            }
            Err(e) => {
                self.problem(Problem::new(ProblemKind::BadCheckpoint, e).at(name, offset));
                return;
            }
        };
        self.check_checkpoint(&cp, name, offset);
    }

    /// Checks `cp` against the leaves seen so far (in file order) and the collector key.
    fn check_checkpoint(&mut self, cp: &Checkpoint, name: &str, offset: u64) -> bool {
        let mut ok = true;
        match self.key {
            Some(key) if !cp.signature_ok(key) => {
                ok = false;
                self.problem(
                    Problem::new(
                        ProblemKind::BadCheckpointSignature,
                        format!(
                            "checkpoint over {} leaves is not signed by the collector key",
                            cp.tree_size
                        ),
                    )
                    .at(name, offset),
                );
            }
            Some(_) => {}
            None => {
                if !self
                    .report
                    .problems
                    .iter()
                    .any(|p| p.kind == ProblemKind::NoCollectorKey)
                {
                    self.problem(Problem::new(
                        ProblemKind::NoCollectorKey,
                        "checkpoint signatures were not checked: no collector public key (DATA/keys/collector.pub)",
                    ));
                }
            }
        }
        let have = self.hashes.len() as u64;
        let root_ok = if cp.tree_size > have {
            self.problem(
                Problem::new(
                    ProblemKind::Truncated,
                    format!(
                        "the checkpoint covers {} leaves but the log holds {have} before it: leaves {have}..={} are missing",
                        cp.tree_size,
                        cp.tree_size - 1
                    ),
                )
                .at(name, offset),
            );
            false
        } else {
            let matches = if self.holes.range(..cp.tree_size).next().is_some() {
                false
            } else if self.frontier_ok && cp.tree_size == self.frontier.size() {
                self.frontier.root() == cp.root
            } else {
                merkle::root(&self.hashes[..cp.tree_size as usize]) == cp.root
            };
            if matches {
                true
            } else {
                match &mut self.diverged {
                    Some((_, later)) => *later += 1,
                    None => {
                        let idx = self.problem(
                            Problem::new(
                                ProblemKind::BadCheckpoint,
                                format!(
                                    "the {} leaves before this checkpoint do not hash to its signed root: \
                                     records under it were edited, deleted, inserted or reordered",
                                    cp.tree_size
                                ),
                            )
                            .at(name, offset),
                        );
                        self.diverged = Some((idx, 0));
                    }
                }
                false
            }
        };
        if root_ok && ok {
            self.report.checkpointed_leaves = self.report.checkpointed_leaves.max(cp.tree_size);
        }
        ok && root_ok
    }

    fn latest_file(&mut self, read: std::io::Result<Vec<u8>>) {
        let bytes = match read {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.problem(Problem::new(ProblemKind::Unreadable, format!("cannot read: {e}")).at(LATEST_FILE, 0));
                return;
            }
        };
        match Checkpoint::decode_file(&bytes) {
            Ok(cp) => {
                self.report.checkpoints += 1;
                self.check_checkpoint(&cp, LATEST_FILE, 0);
            }
            Err(e) => {
                self.problem(Problem::new(ProblemKind::BadCheckpoint, e).at(LATEST_FILE, 0));
            }
        }
    }

    fn finish(mut self) -> VerifyReport {
        for (start, gap) in std::mem::take(&mut self.gaps) {
            let what = if start == gap.end {
                format!("leaf {start} is missing")
            } else {
                format!("leaves {start}..={} are missing", gap.end)
            };
            let mut p = Problem::new(
                ProblemKind::MissingRecords,
                format!("{what} here (after the previous record): records deleted"),
            )
            .at(&gap.file, gap.offset);
            p.leaf = Some(start);
            self.problem(p);
        }
        if let Some((idx, later)) = self.diverged {
            if later > 0 {
                self.report.problems[idx].message.push_str(&format!(
                    "; {later} later checkpoints do not match either, for the same reason"
                ));
            }
        }
        self.report
    }
}
