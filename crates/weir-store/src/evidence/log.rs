//! `EvidenceLog`: the single writer of the evidence directory. Opens and
//! recovers it, appends records with one fsync per call (group commit),
//! rotates segments, writes signed checkpoints, reads records back and
//! builds inclusion proofs.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use serde::Serialize;

use super::checkpoint::{Checkpoint, LATEST_FILE};
use super::error::EvidenceError;
use super::frame::{self, Kind, SegmentHeader, FRAME_DIGEST_LEN, FRAME_HEADER_LEN, MAX_PAYLOAD, SEGMENT_HEADER_LEN};
use super::host::{BatchHeader, HostState};
use super::merkle::{self, Frontier, Hash, SubtreeRoots};
use super::record::Record;
use super::scan;
use super::Position;

/// Tuning of an evidence log.
#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    /// A new segment starts when the current one would exceed this size.
    pub segment_bytes: u64,
    /// A checkpoint is written after this many new leaves...
    pub checkpoint_every_records: u64,
    /// ...or when an append comes this long after the last checkpoint.
    pub checkpoint_interval: Duration,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            segment_bytes: 64 << 20,
            checkpoint_every_records: 10_000,
            checkpoint_interval: Duration::from_secs(10),
        }
    }
}

/// Something `open` repaired: a record cut short by a crash before it was
/// made durable (so never acknowledged).
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub file: String,
    pub offset: u64,
    pub bytes_cut: u64,
    /// Where the cut bytes were saved for inspection.
    pub saved_to: Option<PathBuf>,
    pub reason: String,
}

/// Proof that a leaf is in the tree signed by `checkpoint`.
#[derive(Debug, Clone, Serialize)]
pub struct InclusionProof {
    pub leaf: u64,
    #[serde(serialize_with = "hex_hash")]
    pub leaf_hash: Hash,
    #[serde(serialize_with = "hex_path")]
    pub path: Vec<Hash>,
    pub checkpoint: Checkpoint,
}

fn hex_hash<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

fn hex_path<S: serde::Serializer>(p: &[Hash], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(hex::encode))
}

impl InclusionProof {
    /// Checks the path against the checkpoint's root (not its signature).
    pub fn verify(&self) -> bool {
        merkle::verify_inclusion(
            self.leaf,
            self.checkpoint.tree_size,
            &self.leaf_hash,
            &self.path,
            &self.checkpoint.root,
        )
    }
}

struct Segment {
    number: u64,
    first_leaf: u64,
}

/// The append-only evidence log in one directory.
pub struct EvidenceLog {
    dir: PathBuf,
    signer: SigningKey,
    config: EvidenceConfig,
    segments: Vec<Segment>,
    file: File,
    file_len: u64,
    leaves: Vec<Hash>,
    /// Cached subtree roots over `leaves`, for inclusion proofs.
    subtrees: SubtreeRoots,
    offsets: Vec<u64>,
    frontier: Frontier,
    hosts: BTreeMap<String, HostState>,
    last_checkpoint: Option<Checkpoint>,
    last_checkpoint_at: Instant,
    recovery: Vec<Recovery>,
    poisoned: Option<String>,
    buf: Vec<u8>,
}

pub(crate) fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Segment files of `dir`, sorted by number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, EvidenceError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(EvidenceError::io(dir))? {
        let entry = entry.map_err(EvidenceError::io(dir))?;
        if let Some(n) = entry.file_name().to_str().and_then(frame::parse_segment_file_name) {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), EvidenceError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(EvidenceError::io(dir))
}

fn damaged(file: &str, offset: u64, problem: impl Into<String>) -> EvidenceError {
    EvidenceError::Damaged {
        file: file.to_string(),
        offset,
        problem: problem.into(),
    }
}

impl EvidenceLog {
    /// Opens (creating) `dir` with the default configuration.
    pub fn open(dir: &Path, signer: SigningKey) -> Result<EvidenceLog, EvidenceError> {
        EvidenceLog::open_with(dir, signer, EvidenceConfig::default())
    }

    /// Opens (creating) `dir`: scans every segment, rebuilds the leaf hashes
    /// and host chain heads, checks checkpoints, and cuts off a torn record at
    /// the very end of the newest segment (saved aside and reported in
    /// `recovery()`). Anything else that does not check out is refused with
    /// `EvidenceError::Damaged`: the log is not extended past damage.
    pub fn open_with(dir: &Path, signer: SigningKey, config: EvidenceConfig) -> Result<EvidenceLog, EvidenceError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(EvidenceError::io(dir))?;
        let mut log = EvidenceLog {
            dir: dir.to_path_buf(),
            signer,
            config,
            segments: Vec::new(),
            file: File::open(dir).map_err(EvidenceError::io(dir))?,
            file_len: 0,
            leaves: Vec::new(),
            subtrees: SubtreeRoots::default(),
            offsets: Vec::new(),
            frontier: Frontier::new(),
            hosts: BTreeMap::new(),
            last_checkpoint: None,
            last_checkpoint_at: Instant::now(),
            recovery: Vec::new(),
            poisoned: None,
            buf: Vec::new(),
        };
        let files = list_segments(dir)?;
        let count = files.len();
        for (i, (number, path)) in files.into_iter().enumerate() {
            log.load_segment(number, &path, i, i + 1 == count)?;
        }
        match log.segments.last() {
            None => log.create_segment(0, 0)?,
            Some(last) => {
                let path = log.segment_path(last.number);
                log.file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(EvidenceError::io(&path))?;
                log.file_len = log.file.metadata().map_err(EvidenceError::io(&path))?.len();
            }
        }
        log.check_latest_file()?;
        log.subtrees.extend(&log.leaves);
        Ok(log)
    }

    fn segment_path(&self, number: u64) -> PathBuf {
        self.dir.join(frame::segment_file_name(number))
    }

    fn load_segment(&mut self, number: u64, path: &Path, index: usize, last: bool) -> Result<(), EvidenceError> {
        let name = frame::segment_file_name(number);
        if number != index as u64 {
            return Err(damaged(
                &frame::segment_file_name(index as u64),
                0,
                format!("segment file missing (next present is {name})"),
            ));
        }
        let bytes = std::fs::read(path).map_err(EvidenceError::io(path))?;
        let scan = scan::scan(&bytes);
        let header = match scan.header {
            Ok(h) => h,
            Err(e) if last && bytes.len() < SEGMENT_HEADER_LEN => {
                // Crash while starting this segment: write its header again.
                let first_leaf = self.leaves.len() as u64;
                self.save_torn(&name, 0, &bytes, format!("incomplete segment header: {e}"))?;
                let file = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .map_err(EvidenceError::io(path))?;
                let mut file = file;
                file.write_all(&SegmentHeader { number, first_leaf }.encode())
                    .and_then(|_| file.sync_all())
                    .map_err(EvidenceError::io(path))?;
                self.segments.push(Segment { number, first_leaf });
                return Ok(());
            }
            Err(e) => return Err(damaged(&name, 0, e)),
        };
        if header.number != number {
            return Err(damaged(
                &name,
                8,
                format!("header says segment {}, file name says {number}", header.number),
            ));
        }
        if header.first_leaf != self.leaves.len() as u64 {
            return Err(damaged(
                &name,
                16,
                format!(
                    "segment starts at leaf {}, but the previous segments end at leaf {}",
                    header.first_leaf,
                    self.leaves.len()
                ),
            ));
        }
        self.segments.push(Segment {
            number,
            first_leaf: header.first_leaf,
        });
        if let Some(d) = scan.damage.first() {
            if !(last && d.torn_tail && scan.damage.len() == 1) {
                return Err(damaged(&name, d.offset, d.error.to_string()));
            }
        }
        for (offset, f) in &scan.frames {
            self.load_frame(&name, *offset, f)?;
        }
        if let Some(d) = scan.damage.first() {
            self.save_torn(&name, d.offset, &bytes[d.offset as usize..], d.error.to_string())?;
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(EvidenceError::io(path))?;
            file.set_len(d.offset)
                .and_then(|_| file.sync_all())
                .map_err(EvidenceError::io(path))?;
        }
        Ok(())
    }

    fn load_frame(&mut self, name: &str, offset: u64, f: &frame::Frame<'_>) -> Result<(), EvidenceError> {
        let len = self.leaves.len() as u64;
        if f.kind == Kind::Checkpoint {
            let cp = Checkpoint::decode_payload(f.payload).map_err(|e| damaged(name, offset, e))?;
            if cp.tree_size != len || cp.tree_size != f.leaf || cp.root != self.frontier.root() {
                return Err(damaged(
                    name,
                    offset,
                    format!(
                        "checkpoint for {} leaves does not match the {len} leaves before it",
                        cp.tree_size
                    ),
                ));
            }
            if !cp.signature_ok(&self.signer.verifying_key()) {
                return Err(damaged(name, offset, "checkpoint signature is not the collector key's"));
            }
            self.last_checkpoint = Some(cp);
            return Ok(());
        }
        if f.leaf != len {
            return Err(damaged(
                name,
                offset,
                format!("record numbered leaf {}, expected {len}", f.leaf),
            ));
        }
        match Record::decode_payload(f.kind, f.payload).map_err(|e| damaged(name, offset, e))? {
            Record::HostEnrolled {
                host_id,
                public_key,
                machine_id,
                host_name,
                time_unix_ns,
            } => {
                let state = HostState::enrolled(
                    self.hosts.get(&host_id),
                    public_key,
                    &machine_id,
                    &host_name,
                    time_unix_ns,
                    len,
                );
                self.hosts.insert(host_id, state);
            }
            Record::HostBatch { host_id, signed } => {
                let state = self
                    .hosts
                    .get_mut(&host_id)
                    .ok_or_else(|| damaged(name, offset, format!("batch for unenrolled host {host_id}")))?;
                state
                    .advance(&signed.batch, len)
                    .map_err(|e| damaged(name, offset, format!("host {host_id}: {e}")))?;
            }
            Record::CollectorEvent { .. } => {}
        }
        self.leaves.push(f.digest);
        self.offsets.push(offset);
        self.frontier.push(f.digest);
        Ok(())
    }

    /// Keeps bytes cut off by recovery in `torn-<segment>-<offset>.bin`.
    fn save_torn(&mut self, name: &str, offset: u64, bytes: &[u8], reason: String) -> Result<(), EvidenceError> {
        let saved_to = if bytes.is_empty() {
            None
        } else {
            let path = self
                .dir
                .join(format!("torn-{}-{offset}.bin", name.trim_end_matches(".seg")));
            std::fs::write(&path, bytes).map_err(EvidenceError::io(&path))?;
            Some(path)
        };
        self.recovery.push(Recovery {
            file: name.to_string(),
            offset,
            bytes_cut: bytes.len() as u64,
            saved_to,
            reason,
        });
        Ok(())
    }

    fn check_latest_file(&mut self) -> Result<(), EvidenceError> {
        let path = self.dir.join(LATEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(EvidenceError::io(&path)(e)),
        };
        let cp = Checkpoint::decode_file(&bytes).map_err(|e| damaged(LATEST_FILE, 0, e))?;
        let len = self.leaves.len() as u64;
        if cp.tree_size > len {
            return Err(damaged(
                LATEST_FILE,
                0,
                format!(
                    "the latest checkpoint covers {} leaves but the log holds {len}: leaves {len}..{} are missing",
                    cp.tree_size,
                    cp.tree_size - 1
                ),
            ));
        }
        if merkle::root(&self.leaves[..cp.tree_size as usize]) != cp.root {
            return Err(damaged(
                LATEST_FILE,
                0,
                "the log does not match the latest checkpoint's root",
            ));
        }
        Ok(())
    }

    fn create_segment(&mut self, number: u64, first_leaf: u64) -> Result<(), EvidenceError> {
        let path = self.segment_path(number);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(EvidenceError::io(&path))?;
        file.write_all(&SegmentHeader { number, first_leaf }.encode())
            .and_then(|_| file.sync_all())
            .map_err(EvidenceError::io(&path))?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.file_len = SEGMENT_HEADER_LEN as u64;
        self.segments.push(Segment { number, first_leaf });
        Ok(())
    }

    /// What `open` repaired.
    pub fn recovery(&self) -> &[Recovery] {
        &self.recovery
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Per host: its public key and chain head as of its last HostBatch.
    pub fn hosts(&self) -> &BTreeMap<String, HostState> {
        &self.hosts
    }

    /// The newest checkpoint written or found.
    pub fn latest_checkpoint(&self) -> Option<&Checkpoint> {
        self.last_checkpoint.as_ref()
    }

    /// RFC 9162 leaf hash of leaf `leaf`.
    pub fn leaf_hash(&self, leaf: u64) -> Option<Hash> {
        self.leaves.get(leaf as usize).copied()
    }

    /// Merkle tree head over every leaf so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends all records and fsyncs once before returning: durable on
    /// return. A HostBatch must belong to an enrolled host (enrolled earlier
    /// in the log or earlier in `records`) and be the next link of its chain;
    /// otherwise nothing is written.
    pub fn append(&mut self, records: &[Record]) -> Result<Vec<Position>, EvidenceError> {
        if let Some(reason) = &self.poisoned {
            return Err(EvidenceError::Poisoned(reason.clone()));
        }
        let base = self.leaves.len() as u64;
        let mut hosts: BTreeMap<String, HostState> = BTreeMap::new();
        for (i, record) in records.iter().enumerate() {
            let leaf = base + i as u64;
            match record {
                Record::HostEnrolled {
                    host_id,
                    public_key,
                    machine_id,
                    host_name,
                    time_unix_ns,
                } => {
                    let previous = hosts.get(host_id).or_else(|| self.hosts.get(host_id));
                    let state = HostState::enrolled(previous, *public_key, machine_id, host_name, *time_unix_ns, leaf);
                    hosts.insert(host_id.clone(), state);
                }
                Record::HostBatch { host_id, signed } => {
                    if !hosts.contains_key(host_id) {
                        let current = self.hosts.get(host_id).ok_or_else(|| EvidenceError::NotEnrolled {
                            host_id: host_id.clone(),
                        })?;
                        hosts.insert(host_id.clone(), current.clone());
                    }
                    let chain = |error| EvidenceError::Chain {
                        host_id: host_id.clone(),
                        error,
                    };
                    let header = BatchHeader::parse(&signed.batch).map_err(chain)?;
                    if header.host_id != *host_id {
                        return Err(chain(weir_event::chain::ChainError::WrongHost {
                            expected: host_id.clone(),
                            found: header.host_id,
                        }));
                    }
                    let state = hosts.get_mut(host_id).expect("inserted above");
                    state.advance(&signed.batch, leaf).map_err(chain)?;
                }
                Record::CollectorEvent { .. } => {}
            }
        }

        let start_segments = self.segments.len();
        let start_len = self.file_len;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut payload = Vec::new();
        let mut positions = Vec::with_capacity(records.len());
        let mut digests = Vec::with_capacity(records.len());
        let result = (|| -> Result<Option<Checkpoint>, EvidenceError> {
            for (i, record) in records.iter().enumerate() {
                payload.clear();
                record.encode_payload(&mut payload);
                if payload.len() > MAX_PAYLOAD {
                    return Err(EvidenceError::TooLarge(payload.len()));
                }
                let frame_len = (FRAME_HEADER_LEN + payload.len() + FRAME_DIGEST_LEN) as u64;
                let used = self.file_len + buf.len() as u64;
                if used + frame_len > self.config.segment_bytes && used > SEGMENT_HEADER_LEN as u64 {
                    self.write_and_sync(&buf)?;
                    buf.clear();
                    let next = self.segments.last().map_or(0, |s| s.number + 1);
                    self.create_segment(next, base + i as u64)?;
                }
                let offset = self.file_len + buf.len() as u64;
                let leaf = base + i as u64;
                digests.push(frame::encode(record.kind(), leaf, &payload, &mut buf));
                positions.push(Position {
                    leaf,
                    segment: self.segments.last().map_or(0, |s| s.number),
                    offset,
                });
            }
            let new_leaves = (base + records.len() as u64) - self.last_checkpoint.as_ref().map_or(0, |c| c.tree_size);
            let due = new_leaves > 0
                && (new_leaves >= self.config.checkpoint_every_records
                    || self.last_checkpoint_at.elapsed() >= self.config.checkpoint_interval);
            let mut checkpoint = None;
            if due {
                let mut frontier = self.frontier.clone();
                digests.iter().for_each(|d| frontier.push(*d));
                let cp = Checkpoint::sign(&self.signer, frontier.size(), frontier.root(), now_unix_ns());
                cp.encode_frame(&mut buf);
                checkpoint = Some(cp);
            }
            self.write_and_sync(&buf)?;
            Ok(checkpoint)
        })();
        self.buf = buf;
        let checkpoint = match result {
            Ok(c) => c,
            Err(e) => {
                self.roll_back(start_segments, start_len, &e);
                return Err(e);
            }
        };
        for (p, d) in positions.iter().zip(&digests) {
            self.leaves.push(*d);
            self.offsets.push(p.offset);
            self.frontier.push(*d);
        }
        self.subtrees.extend(&self.leaves);
        self.hosts.extend(hosts);
        if let Some(cp) = checkpoint {
            self.last_checkpoint_at = Instant::now();
            // The records and the checkpoint frame are durable: failing the
            // append now would refuse an acknowledgement for stored data.
            // LATEST-CHECKPOINT is the outside copy; the next checkpoint retries it.
            if let Err(error) = self.write_latest(&cp) {
                tracing::warn!(%error, tree_size = cp.tree_size, "could not update LATEST-CHECKPOINT");
            }
            self.last_checkpoint = Some(cp);
        }
        Ok(positions)
    }

    fn write_and_sync(&mut self, bytes: &[u8]) -> Result<(), EvidenceError> {
        let path = self.segment_path(self.segments.last().map_or(0, |s| s.number));
        self.file
            .write_all(bytes)
            .and_then(|_| self.file.sync_data())
            .map_err(EvidenceError::io(&path))?;
        self.file_len += bytes.len() as u64;
        Ok(())
    }

    /// After a failed append: cut the current segment back, or refuse
    /// further writes when that is not possible.
    fn roll_back(&mut self, start_segments: usize, start_len: u64, error: &EvidenceError) {
        if self.segments.len() != start_segments {
            self.poisoned = Some(format!("failed while rotating segments: {error}"));
            return;
        }
        match self.file.set_len(start_len).and_then(|_| self.file.sync_all()) {
            Ok(()) => self.file_len = start_len,
            Err(e) => self.poisoned = Some(format!("{error}; and could not cut the segment back: {e}")),
        }
    }

    /// Writes a signed checkpoint over all leaves so far.
    pub fn checkpoint(&mut self) -> Result<Checkpoint, EvidenceError> {
        if let Some(reason) = &self.poisoned {
            return Err(EvidenceError::Poisoned(reason.clone()));
        }
        let cp = Checkpoint::sign(&self.signer, self.len(), self.frontier.root(), now_unix_ns());
        let mut buf = Vec::new();
        cp.encode_frame(&mut buf);
        let start_len = self.file_len;
        if let Err(e) = self.write_and_sync(&buf) {
            self.roll_back(self.segments.len(), start_len, &e);
            return Err(e);
        }
        self.last_checkpoint = Some(cp.clone());
        self.last_checkpoint_at = Instant::now();
        self.write_latest(&cp)?;
        Ok(cp)
    }

    /// For a timer: writes a checkpoint when leaves were appended since the
    /// last one and the checkpoint interval has passed (appends only check
    /// this when they happen, so an idle collector needs the timer).
    pub fn checkpoint_if_due(&mut self) -> Result<Option<Checkpoint>, EvidenceError> {
        let covered = self.last_checkpoint.as_ref().map_or(0, |c| c.tree_size);
        if self.len() > covered && self.last_checkpoint_at.elapsed() >= self.config.checkpoint_interval {
            return self.checkpoint().map(Some);
        }
        Ok(None)
    }

    /// Replaces LATEST-CHECKPOINT atomically (temporary file, fsync, rename, fsync dir).
    fn write_latest(&self, cp: &Checkpoint) -> Result<(), EvidenceError> {
        let tmp = self.dir.join(format!("{LATEST_FILE}.tmp"));
        let mut bytes = Vec::new();
        cp.encode_frame(&mut bytes);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(EvidenceError::io(&tmp))?;
        file.write_all(&bytes)
            .and_then(|_| file.sync_all())
            .map_err(EvidenceError::io(&tmp))?;
        let path = self.dir.join(LATEST_FILE);
        std::fs::rename(&tmp, &path).map_err(EvidenceError::io(&path))?;
        sync_dir(&self.dir)
    }

    /// Reads records from leaf `from` on (up to the length at the time of the call).
    pub fn read_from(&self, from: u64) -> impl Iterator<Item = Result<(Position, Record), EvidenceError>> + '_ {
        LeafReader {
            log: self,
            next: from,
            end: self.len(),
            open: None,
        }
    }

    /// Position of leaf `leaf`.
    pub fn position(&self, leaf: u64) -> Option<Position> {
        let offset = *self.offsets.get(leaf as usize)?;
        let i = self.segments.partition_point(|s| s.first_leaf <= leaf).checked_sub(1)?;
        Some(Position {
            leaf,
            segment: self.segments[i].number,
            offset,
        })
    }

    /// Inclusion proof for leaf `leaf` against the latest checkpoint (RFC 9162 audit path).
    pub fn inclusion_proof(&self, leaf: u64) -> Result<InclusionProof, EvidenceError> {
        if leaf >= self.len() {
            return Err(EvidenceError::NoSuchLeaf { leaf, len: self.len() });
        }
        let checkpoint = self
            .last_checkpoint
            .clone()
            .ok_or(EvidenceError::NotCheckpointed { leaf, tree_size: 0 })?;
        if leaf >= checkpoint.tree_size {
            return Err(EvidenceError::NotCheckpointed {
                leaf,
                tree_size: checkpoint.tree_size,
            });
        }
        let tree = &self.leaves[..checkpoint.tree_size as usize];
        Ok(InclusionProof {
            leaf,
            leaf_hash: tree[leaf as usize],
            path: self.subtrees.audit_path(leaf as usize, tree),
            checkpoint,
        })
    }
}

/// Sequential reader behind `read_from`.
struct LeafReader<'a> {
    log: &'a EvidenceLog,
    next: u64,
    end: u64,
    /// (segment number, reader, current file position)
    open: Option<(u64, BufReader<File>, u64)>,
}

impl LeafReader<'_> {
    fn read(&mut self, leaf: u64) -> Result<(Position, Record), EvidenceError> {
        let position = self.log.position(leaf).ok_or(EvidenceError::NoSuchLeaf {
            leaf,
            len: self.log.len(),
        })?;
        let path = self.log.segment_path(position.segment);
        let name = frame::segment_file_name(position.segment);
        let io = EvidenceError::io(&path);
        if self.open.as_ref().map(|o| o.0) != Some(position.segment) {
            let file = File::open(&path).map_err(EvidenceError::io(&path))?;
            self.open = Some((position.segment, BufReader::with_capacity(1 << 20, file), 0));
        }
        let (_, reader, at) = self.open.as_mut().expect("opened above");
        if *at != position.offset {
            if position.offset > *at {
                reader.seek_relative((position.offset - *at) as i64).map_err(io)?;
            } else {
                reader.seek(SeekFrom::Start(position.offset)).map_err(io)?;
            }
            *at = position.offset;
        }
        let mut header = [0u8; FRAME_HEADER_LEN];
        let read = reader.read_exact(&mut header);
        let mut bytes = header.to_vec();
        let result = read.and_then(|_| {
            let total = frame::announced_len(&header).min(FRAME_HEADER_LEN + MAX_PAYLOAD + FRAME_DIGEST_LEN);
            bytes.resize(total, 0);
            reader.read_exact(&mut bytes[FRAME_HEADER_LEN..])
        });
        result.map_err(|e| damaged(&name, position.offset, format!("cannot read record: {e}")))?;
        *at = position.offset + bytes.len() as u64;
        let f = frame::decode(&bytes).map_err(|e| damaged(&name, position.offset, e.to_string()))?;
        if !f.kind.is_leaf() || f.leaf != leaf {
            return Err(damaged(&name, position.offset, format!("expected leaf {leaf} here")));
        }
        let record = Record::decode_payload(f.kind, f.payload).map_err(|e| damaged(&name, position.offset, e))?;
        Ok((position, record))
    }
}

impl Iterator for LeafReader<'_> {
    type Item = Result<(Position, Record), EvidenceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let leaf = self.next;
        let item = self.read(leaf);
        self.next = if item.is_ok() { leaf + 1 } else { self.end };
        Some(item)
    }
}
