//! What the log knows about each host: its enrolled key and where its batch
//! chain stands. The chain head moves only with HostBatch records.
//!
//! The log checks chain linkage on append and at open from the batch's
//! header fields alone (index, sequence range, previous hash, event count),
//! read straight from the protobuf bytes without decoding the events: the
//! collector has already checked the signature and every event, and
//! `weir verify` rechecks everything.

use serde::Serialize;
use weir_event::chain::{hash_batch, ChainError, ChainHead};

/// A host as recorded in the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostState {
    #[serde(serialize_with = "hex_key")]
    pub public_key: [u8; 32],
    pub machine_id: String,
    pub host_name: String,
    pub enrolled_unix_ns: u64,
    /// Leaf of the HostEnrolled record that set the current key.
    pub enrolled_leaf: u64,
    #[serde(skip)]
    pub head: ChainHead,
    /// HostBatch records stored for this host.
    pub batches: u64,
    /// Leaf of the host's newest HostBatch.
    pub last_batch_leaf: Option<u64>,
}

fn hex_key<S: serde::Serializer>(key: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(key))
}

impl HostState {
    /// State after an enrollment. A host enrolling again (new key or same)
    /// keeps its chain: the chain is the host's history, the key only says
    /// who may extend it from now on.
    pub fn enrolled(
        previous: Option<&HostState>,
        public_key: [u8; 32],
        machine_id: &str,
        host_name: &str,
        time_unix_ns: u64,
        leaf: u64,
    ) -> HostState {
        HostState {
            public_key,
            machine_id: machine_id.to_string(),
            host_name: host_name.to_string(),
            enrolled_unix_ns: time_unix_ns,
            enrolled_leaf: leaf,
            head: previous.map(|p| p.head.clone()).unwrap_or_default(),
            batches: previous.map_or(0, |p| p.batches),
            last_batch_leaf: previous.and_then(|p| p.last_batch_leaf),
        }
    }

    /// Checks that `batch_bytes` is this host's next link, then advances.
    pub fn advance(&mut self, batch_bytes: &[u8], leaf: u64) -> Result<(), ChainError> {
        let header = BatchHeader::parse(batch_bytes)?;
        header.check(&self.head)?;
        self.head.next_index = header.index.saturating_add(1);
        if header.events > 0 {
            self.head.next_seq = header.last_seq.saturating_add(1);
        }
        self.head.head_hash = hash_batch(batch_bytes);
        self.batches += 1;
        self.last_batch_leaf = Some(leaf);
        Ok(())
    }
}

/// The fields of a `weir.v1.Batch` that place it in its chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchHeader {
    pub host_id: String,
    pub index: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub prev_hash: Vec<u8>,
    pub events: u64,
}

impl BatchHeader {
    /// Reads the header fields from an encoded Batch, counting (not decoding) its events.
    pub fn parse(mut buf: &[u8]) -> Result<BatchHeader, ChainError> {
        use prost::encoding::{decode_key, decode_varint, WireType};
        let bad = |e: String| ChainError::Malformed(e);
        let mut h = BatchHeader::default();
        while !buf.is_empty() {
            let (tag, wire) = decode_key(&mut buf).map_err(|e| bad(e.to_string()))?;
            match wire {
                WireType::Varint => {
                    let v = decode_varint(&mut buf).map_err(|e| bad(e.to_string()))?;
                    match tag {
                        3 => h.index = v,
                        4 => h.first_seq = v,
                        5 => h.last_seq = v,
                        _ => {}
                    }
                }
                WireType::LengthDelimited => {
                    let len = decode_varint(&mut buf).map_err(|e| bad(e.to_string()))?;
                    if len > buf.len() as u64 {
                        return Err(bad(format!("field {tag} runs past the end of the batch")));
                    }
                    let (value, rest) = buf.split_at(len as usize);
                    buf = rest;
                    match tag {
                        1 => {
                            h.host_id =
                                String::from_utf8(value.to_vec()).map_err(|_| bad("host_id is not UTF-8".into()))?
                        }
                        6 => h.prev_hash = value.to_vec(),
                        8 => h.events += 1,
                        _ => {}
                    }
                }
                WireType::SixtyFourBit => {
                    if buf.len() < 8 {
                        return Err(bad(format!("field {tag} runs past the end of the batch")));
                    }
                    buf = &buf[8..];
                }
                WireType::ThirtyTwoBit => {
                    if buf.len() < 4 {
                        return Err(bad(format!("field {tag} runs past the end of the batch")));
                    }
                    buf = &buf[4..];
                }
                WireType::StartGroup | WireType::EndGroup => {
                    return Err(bad(format!("field {tag} uses deprecated groups")));
                }
            }
        }
        Ok(h)
    }

    /// The same checks as `ChainHead::check`, except the per-event sequence
    /// numbers (only their count against the claimed range).
    pub fn check(&self, head: &ChainHead) -> Result<(), ChainError> {
        if self.index < head.next_index {
            return Err(ChainError::Replay {
                index: self.index,
                next_index: head.next_index,
            });
        }
        if self.index > head.next_index {
            return Err(ChainError::IndexGap {
                expected: head.next_index,
                found: self.index,
            });
        }
        if self.prev_hash.as_slice() != head.head_hash {
            return Err(ChainError::Fork { index: self.index });
        }
        if self.events > 0 {
            if self.last_seq < self.first_seq || self.last_seq - self.first_seq != self.events - 1 {
                return Err(ChainError::BadRange {
                    index: self.index,
                    first: self.first_seq,
                    last: self.last_seq,
                    count: self.events as usize,
                });
            }
            if self.first_seq != head.next_seq {
                return Err(ChainError::SeqGap {
                    expected: head.next_seq,
                    found: self.first_seq,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use weir_event::chain::GENESIS_HASH;
    use weir_event::{Batch, Event};

    fn batch(index: u64, first: u64, n: u64, prev: [u8; 32]) -> Batch {
        Batch {
            host_id: "h1".into(),
            boot_id: "b".into(),
            index,
            first_seq: first,
            last_seq: first + n - 1,
            prev_hash: prev.to_vec(),
            sent_unix_ns: 5,
            events: (0..n)
                .map(|i| Event {
                    seq: first + i,
                    time_unix_ns: 1,
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn header_walk_agrees_with_prost_and_chain_head() {
        let b = batch(0, 0, 3, GENESIS_HASH);
        let bytes = b.encode_to_vec();
        let h = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(
            (h.host_id.as_str(), h.index, h.first_seq, h.last_seq, h.events),
            ("h1", 0, 0, 2, 3)
        );
        let mut state = HostState::enrolled(None, [1; 32], "m", "n", 0, 0);
        state.advance(&bytes, 1).unwrap();
        let mut reference = ChainHead::default();
        reference.advance(&b, &bytes).unwrap();
        assert_eq!(state.head, reference);
        assert!(matches!(state.advance(&bytes, 2), Err(ChainError::Replay { .. })));
        let next = batch(1, 4, 1, hash_batch(&bytes)).encode_to_vec();
        assert!(matches!(state.advance(&next, 2), Err(ChainError::SeqGap { .. })));
        let fork = batch(1, 3, 1, [7; 32]).encode_to_vec();
        assert!(matches!(state.advance(&fork, 2), Err(ChainError::Fork { .. })));
        let good = batch(1, 3, 2, hash_batch(&bytes)).encode_to_vec();
        state.advance(&good, 2).unwrap();
        assert_eq!((state.head.next_index, state.head.next_seq, state.batches), (2, 5, 2));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = BatchHeader::parse(&bytes);
        }
    }
}
