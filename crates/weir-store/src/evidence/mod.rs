//! The evidence log: append-only segment files holding every record exactly
//! as received (host enrollments, hosts' signed batches, the collector's own
//! events), with periodic Merkle checkpoints (RFC 9162) signed by the
//! collector, and `verify`, which rechecks all of it.
//!
//! Byte layout: `frame.rs` (framing), `record.rs` (payloads), `checkpoint.rs`.
//!
//! What protects what:
//! - a host's batches: the host's own signature and hash chain, checked
//!   against the key in that host's HostEnrolled record. Nobody without the
//!   host key (the collector included) can forge, edit or reorder them
//!   unnoticed; deleting a batch leaves a gap in the chain.
//! - every record (enrollments and collector events too), its position and
//!   the log's length: the collector-signed Merkle checkpoints, one every
//!   `checkpoint_every_records` leaves or `checkpoint_interval`. Records
//!   after the newest checkpoint are covered only by their own signature
//!   (batches) until the next one.
//! - accidental damage and torn writes: each frame's digest.
//!
//! Someone holding the collector's private key and write access to this
//! directory can rewrite the log and re-sign checkpoints; detecting that
//! needs the checkpoints published outside the collector (not done here).

mod checkpoint;
mod error;
pub mod frame;
mod host;
mod log;
pub mod merkle;
mod record;
mod scan;
mod verify;

use std::collections::BTreeMap;

pub use checkpoint::{Checkpoint, LATEST_FILE};
pub use error::EvidenceError;
pub use host::{BatchHeader, HostState};
pub use log::{EvidenceConfig, EvidenceLog, InclusionProof, Recovery};
pub use merkle::{verify_inclusion, Hash};
pub use record::Record;
pub use verify::{verify, Problem, ProblemKind, VerifyReport};

/// Where a record is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// Leaf number in the Merkle tree (0-based, contiguous over the whole log).
    pub leaf: u64,
    /// Segment number (file `frame::segment_file_name(segment)`).
    pub segment: u64,
    /// Byte offset of the record's frame in that file.
    pub offset: u64,
}

/// Records read back from a store.
pub type RecordIter<'a> = Box<dyn Iterator<Item = Result<(Position, Record), EvidenceError>> + 'a>;

/// What the collector needs from durable evidence storage; `EvidenceLog` is
/// the single-node engine, a replicated stream can implement it later.
pub trait EvidenceStore: Send {
    /// Appends all records and makes them durable before returning.
    fn append(&mut self, records: &[Record]) -> Result<Vec<Position>, EvidenceError>;
    /// Per host: enrolled key and chain head as of its last stored batch.
    fn hosts(&self) -> &BTreeMap<String, HostState>;
    /// Records from leaf `from` on, in order.
    fn read_from(&self, from: u64) -> RecordIter<'_>;
    /// Number of leaves stored.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Seals everything stored so far under a signed checkpoint.
    fn checkpoint(&mut self) -> Result<Checkpoint, EvidenceError>;
    /// For a timer: seals new records once the checkpoint interval has passed.
    fn checkpoint_if_due(&mut self) -> Result<Option<Checkpoint>, EvidenceError>;
}

impl EvidenceStore for EvidenceLog {
    fn append(&mut self, records: &[Record]) -> Result<Vec<Position>, EvidenceError> {
        EvidenceLog::append(self, records)
    }
    fn hosts(&self) -> &BTreeMap<String, HostState> {
        EvidenceLog::hosts(self)
    }
    fn read_from(&self, from: u64) -> RecordIter<'_> {
        Box::new(EvidenceLog::read_from(self, from))
    }
    fn len(&self) -> u64 {
        EvidenceLog::len(self)
    }
    fn checkpoint(&mut self) -> Result<Checkpoint, EvidenceError> {
        EvidenceLog::checkpoint(self)
    }
    fn checkpoint_if_due(&mut self) -> Result<Option<Checkpoint>, EvidenceError> {
        EvidenceLog::checkpoint_if_due(self)
    }
}
