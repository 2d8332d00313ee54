//! The evidence log's on-disk format, byte for byte.
//!
//! A log is a directory of segment files named `<segment number, 20 digits>.seg`,
//! numbered from 0 without holes. All integers are big-endian.
//!
//! ```text
//! segment file  = segment header, then frames back to back
//! segment header (24 bytes)
//!   0  8  magic "WEIRSEG1"
//!   8  8  segment number (equals the number in the file name)
//!  16  8  leaf number of the first record in this segment
//! frame (20 + len + 32 bytes)
//!   0  4  magic "WREC"
//!   4  1  kind: 1 HostEnrolled, 2 HostBatch, 3 CollectorEvent (leaves), 16 Checkpoint (not a leaf)
//!   5  3  zero
//!   8  8  leaf number (for a checkpoint: its tree size)
//!  16  4  len, payload length, at most 64 MiB
//!  20  len payload (see record.rs / checkpoint.rs)
//!  20+len 32 digest = SHA-256(0x00 || kind || payload)
//! ```
//!
//! For a leaf, `kind || payload` are the RFC 9162 leaf bytes and the digest
//! is the leaf hash, so checking a frame and hashing the Merkle tree are the
//! same work. Every header byte is checked: magic, zero bytes and kind
//! directly, the length by the digest landing where it says, the leaf number
//! by continuity with the previous frame.

use sha2::{Digest, Sha256};

use super::merkle::Hash;

pub const SEGMENT_MAGIC: &[u8; 8] = b"WEIRSEG1";
pub const SEGMENT_HEADER_LEN: usize = 24;
pub const FRAME_MAGIC: &[u8; 4] = b"WREC";
pub const FRAME_HEADER_LEN: usize = 20;
pub const FRAME_DIGEST_LEN: usize = 32;
pub const MAX_PAYLOAD: usize = 64 << 20;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    HostEnrolled = 1,
    HostBatch = 2,
    CollectorEvent = 3,
    Checkpoint = 16,
}

impl Kind {
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::HostEnrolled),
            2 => Some(Kind::HostBatch),
            3 => Some(Kind::CollectorEvent),
            16 => Some(Kind::Checkpoint),
            _ => None,
        }
    }

    pub fn is_leaf(self) -> bool {
        self != Kind::Checkpoint
    }
}

/// File name of segment `n`.
pub fn segment_file_name(n: u64) -> String {
    format!("{n:020}.seg")
}

/// Segment number of a file name written by `segment_file_name`.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub number: u64,
    pub first_leaf: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[..8].copy_from_slice(SEGMENT_MAGIC);
        out[8..16].copy_from_slice(&self.number.to_be_bytes());
        out[16..24].copy_from_slice(&self.first_leaf.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < SEGMENT_HEADER_LEN {
            return Err(format!(
                "segment header is {} bytes, needs {SEGMENT_HEADER_LEN}",
                bytes.len()
            ));
        }
        if &bytes[..8] != SEGMENT_MAGIC {
            return Err("segment header magic is not WEIRSEG1".into());
        }
        Ok(SegmentHeader {
            number: be64(&bytes[8..16]),
            first_leaf: be64(&bytes[16..24]),
        })
    }
}

/// One decoded frame, borrowing its payload.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub kind: Kind,
    pub leaf: u64,
    pub payload: &'a [u8],
    pub digest: Hash,
}

impl Frame<'_> {
    /// Bytes this frame takes in the file.
    pub fn len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload.len() + FRAME_DIGEST_LEN
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Why bytes at some offset are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The file ends inside the frame (header or declared length).
    Incomplete {
        have: usize,
        need: usize,
    },
    BadMagic,
    BadKind(u8),
    NonZeroReserved,
    TooLarge(usize),
    /// The stored digest does not match the kind and payload.
    BadDigest,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete { have, need } => {
                write!(f, "record cut short: {have} bytes left, the record needs {need}")
            }
            FrameError::BadMagic => write!(f, "no record starts here (magic is not WREC)"),
            FrameError::BadKind(k) => write!(f, "unknown record kind {k}"),
            FrameError::NonZeroReserved => write!(f, "reserved header bytes are not zero"),
            FrameError::TooLarge(n) => write!(f, "declared payload length {n} exceeds {MAX_PAYLOAD}"),
            FrameError::BadDigest => write!(f, "record digest does not match its content (edited bytes)"),
        }
    }
}

/// SHA-256(0x00 || kind || payload).
pub fn digest(kind: Kind, payload: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8, kind as u8]);
    h.update(payload);
    h.finalize().into()
}

/// Appends the frame for (kind, leaf, payload) to `out`; returns its digest.
pub fn encode(kind: Kind, leaf: u64, payload: &[u8], out: &mut Vec<u8>) -> Hash {
    let d = digest(kind, payload);
    out.extend_from_slice(FRAME_MAGIC);
    out.extend_from_slice(&[kind as u8, 0, 0, 0]);
    out.extend_from_slice(&leaf.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&d);
    d
}

/// Total frame length announced by a frame header (no checks beyond reading).
pub fn announced_len(header: &[u8; FRAME_HEADER_LEN]) -> usize {
    FRAME_HEADER_LEN + be32(&header[16..20]) as usize + FRAME_DIGEST_LEN
}

/// Decodes the frame at the start of `buf`, checking everything it can alone.
pub fn decode(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    if buf.len() < FRAME_HEADER_LEN {
        if !FRAME_MAGIC.starts_with(&buf[..buf.len().min(4)]) {
            return Err(FrameError::BadMagic);
        }
        return Err(FrameError::Incomplete {
            have: buf.len(),
            need: FRAME_HEADER_LEN,
        });
    }
    if &buf[..4] != FRAME_MAGIC {
        return Err(FrameError::BadMagic);
    }
    let kind = Kind::from_byte(buf[4]).ok_or(FrameError::BadKind(buf[4]))?;
    if buf[5..8] != [0, 0, 0] {
        return Err(FrameError::NonZeroReserved);
    }
    let leaf = be64(&buf[8..16]);
    let len = be32(&buf[16..20]) as usize;
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    let need = FRAME_HEADER_LEN + len + FRAME_DIGEST_LEN;
    if buf.len() < need {
        return Err(FrameError::Incomplete { have: buf.len(), need });
    }
    let payload = &buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
    let stored: Hash = buf[FRAME_HEADER_LEN + len..need].try_into().expect("32 bytes");
    if digest(kind, payload) != stored {
        return Err(FrameError::BadDigest);
    }
    Ok(Frame {
        kind,
        leaf,
        payload,
        digest: stored,
    })
}

/// Reads a frame's fields without checking its digest: for naming what a
/// damaged record claimed to be, never for trusting it.
pub fn decode_unchecked(buf: &[u8]) -> Option<(Kind, u64, &[u8])> {
    if buf.len() < FRAME_HEADER_LEN || &buf[..4] != FRAME_MAGIC {
        return None;
    }
    let kind = Kind::from_byte(buf[4])?;
    let len = be32(&buf[16..20]) as usize;
    let payload = buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN.checked_add(len)?)?;
    Some((kind, be64(&buf[8..16]), payload))
}

/// Offset of the next position after `from` where a valid frame starts, if any.
pub fn resync(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + FRAME_HEADER_LEN <= buf.len() {
        let rel = buf[at..].windows(4).position(|w| w == FRAME_MAGIC)?;
        at += rel;
        if decode(&buf[at..]).is_ok() {
            return Some(at);
        }
        at += 1;
    }
    None
}

pub fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}

pub fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_every_byte_is_checked() {
        let mut buf = Vec::new();
        let d = encode(Kind::HostBatch, 7, b"payload", &mut buf);
        let frame = decode(&buf).unwrap();
        assert_eq!(
            (frame.kind, frame.leaf, frame.payload, frame.digest),
            (Kind::HostBatch, 7, &b"payload"[..], d)
        );
        assert_eq!(frame.len(), buf.len());
        for i in 0..buf.len() {
            if (8..16).contains(&i) {
                continue; // the leaf number is checked by continuity, not here
            }
            let mut bent = buf.clone();
            bent[i] ^= 0x40;
            assert!(decode(&bent).is_err(), "flip at byte {i} went unnoticed");
        }
        assert!(matches!(
            decode(&buf[..buf.len() - 1]),
            Err(FrameError::Incomplete { .. })
        ));
    }

    #[test]
    fn resync_finds_the_next_frame() {
        let mut buf = Vec::new();
        encode(Kind::HostEnrolled, 0, b"WRECWREC", &mut buf);
        let second = buf.len();
        encode(Kind::CollectorEvent, 1, b"x", &mut buf);
        buf[30] ^= 1;
        assert!(decode(&buf).is_err());
        assert_eq!(resync(&buf, 1), Some(second));
        assert_eq!(resync(&buf, second + 1), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), from in 0usize..300) {
            let _ = decode(&bytes);
            let _ = decode_unchecked(&bytes);
            let _ = resync(&bytes, from.min(bytes.len()));
            let _ = SegmentHeader::decode(&bytes);
            let _ = super::super::checkpoint::Checkpoint::decode_file(&bytes);
        }
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(3), "00000000000000000003.seg");
        assert_eq!(parse_segment_file_name("00000000000000000003.seg"), Some(3));
        assert_eq!(parse_segment_file_name("3.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000000x.seg"), None);
    }
}
