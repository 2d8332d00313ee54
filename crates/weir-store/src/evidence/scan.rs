//! Walks the bytes of one segment file: its header, every valid frame, and
//! every stretch of bytes that is not a valid frame (skipped by searching for
//! the next frame that checks out, so one damaged record does not hide the
//! rest). Shared by `EvidenceLog::open` and `verify`; never panics on any input.

use super::frame::{self, Frame, FrameError, SegmentHeader, SEGMENT_HEADER_LEN};

/// A stretch of bytes that is not a valid frame.
#[derive(Debug, Clone)]
pub struct Damage {
    pub offset: u64,
    pub end: u64,
    pub error: FrameError,
    /// Nothing valid follows and the bytes run out inside a record, or are
    /// all zero: what an interrupted write leaves (not proof of tampering).
    pub torn_tail: bool,
}

/// The result of walking a segment.
#[derive(Debug)]
pub struct SegmentScan<'a> {
    pub header: Result<SegmentHeader, String>,
    /// (offset in file, frame), in file order.
    pub frames: Vec<(u64, Frame<'a>)>,
    pub damage: Vec<Damage>,
    /// Offset just past the last valid frame (or the header).
    pub valid_end: u64,
}

pub fn scan(bytes: &[u8]) -> SegmentScan<'_> {
    let header = SegmentHeader::decode(bytes);
    let mut out = SegmentScan {
        header,
        frames: Vec::new(),
        damage: Vec::new(),
        valid_end: 0,
    };
    if out.header.is_err() {
        return out;
    }
    let mut at = SEGMENT_HEADER_LEN;
    out.valid_end = at as u64;
    while at < bytes.len() {
        match frame::decode(&bytes[at..]) {
            Ok(f) => {
                out.frames.push((at as u64, f));
                at += f.len();
                out.valid_end = at as u64;
            }
            Err(error) => match frame::resync(bytes, at + 1) {
                Some(next) => {
                    out.damage.push(Damage {
                        offset: at as u64,
                        end: next as u64,
                        error,
                        torn_tail: false,
                    });
                    at = next;
                }
                None => {
                    let rest = &bytes[at..];
                    let torn_tail = matches!(error, FrameError::Incomplete { .. }) || rest.iter().all(|&b| b == 0);
                    out.damage.push(Damage {
                        offset: at as u64,
                        end: bytes.len() as u64,
                        error,
                        torn_tail,
                    });
                    break;
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::frame::{encode, Kind};

    fn segment(n: usize) -> Vec<u8> {
        let mut buf = SegmentHeader {
            number: 0,
            first_leaf: 0,
        }
        .encode()
        .to_vec();
        for i in 0..n {
            encode(
                Kind::CollectorEvent,
                i as u64,
                format!("record {i}").as_bytes(),
                &mut buf,
            );
        }
        buf
    }

    #[test]
    fn clean_segment() {
        let buf = segment(3);
        let s = scan(&buf);
        assert_eq!(s.frames.len(), 3);
        assert!(s.damage.is_empty());
        assert_eq!(s.valid_end, buf.len() as u64);
    }

    #[test]
    fn cut_tail_is_torn_and_a_flip_in_the_middle_is_not() {
        let buf = segment(3);
        let cut = &buf[..buf.len() - 5];
        let s = scan(cut);
        assert_eq!(s.frames.len(), 2);
        assert_eq!(s.damage.len(), 1);
        assert!(s.damage[0].torn_tail);

        let mut bent = buf.clone();
        let second = s.frames[1].0 as usize;
        bent[second + 22] ^= 1;
        let s = scan(&bent);
        assert_eq!(s.frames.len(), 2);
        assert_eq!(s.damage.len(), 1);
        assert!(!s.damage[0].torn_tail);
        assert_eq!(s.damage[0].offset, second as u64);
        assert_eq!(s.frames[1].1.leaf, 2);
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let mut buf = segment(2);
        buf.extend_from_slice(&[0; 100]);
        let s = scan(&buf);
        assert_eq!(s.frames.len(), 2);
        assert!(s.damage[0].torn_tail);
    }
}
