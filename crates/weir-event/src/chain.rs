//! Signed, hash-chained batches: how a sensor seals what it saw, and how the
//! collector (or `weir verify`) checks that a host's stream was neither
//! edited, reordered, replayed, forked nor cut.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::{Batch, Hello, SignedBatch};

/// The hash a batch's successor must carry in `prev_hash`.
pub type BatchHash = [u8; 32];

/// `prev_hash` of a host's very first batch.
pub const GENESIS_HASH: BatchHash = [0u8; 32];

/// Why a batch cannot be accepted as the next one of its host's chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("batch bytes do not decode: {0}")]
    Malformed(String),
    #[error("signature is not valid for host {host_id}'s key")]
    BadSignature { host_id: String },
    #[error("batch is for host {found}, stream belongs to {expected}")]
    WrongHost { expected: String, found: String },
    #[error("replay: batch index {index} already accepted (next is {next_index})")]
    Replay { index: u64, next_index: u64 },
    #[error("gap: expected batch index {expected}, got {found}")]
    IndexGap { expected: u64, found: u64 },
    #[error("gap: expected first sequence {expected}, got {found}")]
    SeqGap { expected: u64, found: u64 },
    #[error("fork: batch {index} does not chain to the previous batch")]
    Fork { index: u64 },
    #[error("batch {index} claims events {first}..={last} but holds {count} events")]
    BadRange {
        index: u64,
        first: u64,
        last: u64,
        count: usize,
    },
}

/// sha256 of a batch's encoded bytes (as signed).
pub fn hash_batch(encoded: &[u8]) -> BatchHash {
    Sha256::digest(encoded).into()
}

/// Encodes and signs `batch`.
pub fn seal(key: &SigningKey, batch: &Batch) -> SignedBatch {
    let bytes = batch.encode_to_vec();
    let signature = key.sign(&bytes).to_bytes().to_vec();
    SignedBatch {
        batch: bytes,
        signature,
    }
}

/// Checks the signature of `signed` against `key`, then decodes the batch.
pub fn open(signed: &SignedBatch, key: &VerifyingKey, host_id: &str) -> Result<Batch, ChainError> {
    let bad = || ChainError::BadSignature {
        host_id: host_id.to_string(),
    };
    let signature = Signature::from_slice(&signed.signature).map_err(|_| bad())?;
    key.verify(&signed.batch, &signature).map_err(|_| bad())?;
    let batch = Batch::decode(signed.batch.as_slice()).map_err(|e| ChainError::Malformed(e.to_string()))?;
    if batch.host_id != host_id {
        return Err(ChainError::WrongHost {
            expected: host_id.to_string(),
            found: batch.host_id,
        });
    }
    Ok(batch)
}

/// Where a host's chain stands: what the next batch must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub next_index: u64,
    pub next_seq: u64,
    pub head_hash: BatchHash,
}

impl Default for ChainHead {
    fn default() -> Self {
        ChainHead {
            next_index: 0,
            next_seq: 0,
            head_hash: GENESIS_HASH,
        }
    }
}

impl ChainHead {
    /// Checks that `batch` (whose encoded bytes are `encoded`) is exactly the
    /// next link; on success advances the head past it.
    pub fn advance(&mut self, batch: &Batch, encoded: &[u8]) -> Result<(), ChainError> {
        self.check(batch)?;
        self.next_index = batch.index + 1;
        if !batch.events.is_empty() {
            self.next_seq = batch.last_seq + 1;
        }
        self.head_hash = hash_batch(encoded);
        Ok(())
    }

    /// Checks without advancing.
    pub fn check(&self, batch: &Batch) -> Result<(), ChainError> {
        if batch.index < self.next_index {
            return Err(ChainError::Replay {
                index: batch.index,
                next_index: self.next_index,
            });
        }
        if batch.index > self.next_index {
            return Err(ChainError::IndexGap {
                expected: self.next_index,
                found: batch.index,
            });
        }
        if batch.prev_hash.as_slice() != self.head_hash {
            return Err(ChainError::Fork { index: batch.index });
        }
        check_range(batch)?;
        if !batch.events.is_empty() && batch.first_seq != self.next_seq {
            return Err(ChainError::SeqGap {
                expected: self.next_seq,
                found: batch.first_seq,
            });
        }
        Ok(())
    }
}

/// A batch's events must be numbered first_seq..=last_seq, in order, no holes.
fn check_range(batch: &Batch) -> Result<(), ChainError> {
    let bad = || ChainError::BadRange {
        index: batch.index,
        first: batch.first_seq,
        last: batch.last_seq,
        count: batch.events.len(),
    };
    if batch.events.is_empty() {
        return Ok(());
    }
    if batch.last_seq < batch.first_seq || batch.last_seq - batch.first_seq + 1 != batch.events.len() as u64 {
        return Err(bad());
    }
    for (offset, event) in batch.events.iter().enumerate() {
        if event.seq != batch.first_seq + offset as u64 {
            return Err(bad());
        }
    }
    Ok(())
}

/// The bytes a sensor signs in its `Hello` to prove it holds the host key.
pub fn hello_message(host_id: &str, time_unix_ns: u64, nonce: &[u8]) -> Vec<u8> {
    let mut message = b"weir-hello\0".to_vec();
    message.extend_from_slice(host_id.as_bytes());
    message.push(0);
    message.extend_from_slice(&time_unix_ns.to_be_bytes());
    message.extend_from_slice(nonce);
    message
}

/// Builds a signed `Hello`.
pub fn sign_hello(key: &SigningKey, host_id: &str, time_unix_ns: u64, nonce: Vec<u8>) -> Hello {
    let signature = key
        .sign(&hello_message(host_id, time_unix_ns, &nonce))
        .to_bytes()
        .to_vec();
    Hello {
        host_id: host_id.to_string(),
        time_unix_ns,
        nonce,
        signature,
    }
}

/// Checks a `Hello`'s signature against the host's enrolled key.
pub fn verify_hello(hello: &Hello, key: &VerifyingKey) -> bool {
    let Ok(signature) = Signature::from_slice(&hello.signature) else {
        return false;
    };
    key.verify(
        &hello_message(&hello.host_id, hello.time_unix_ns, &hello.nonce),
        &signature,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn batch(index: u64, first_seq: u64, n: u64, prev_hash: BatchHash) -> Batch {
        Batch {
            host_id: "h1".into(),
            index,
            first_seq,
            last_seq: first_seq + n - 1,
            prev_hash: prev_hash.to_vec(),
            events: (0..n)
                .map(|i| Event {
                    seq: first_seq + i,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_chain_of_three_verifies() {
        let k = key(1);
        let mut head = ChainHead::default();
        let mut prev = GENESIS_HASH;
        for i in 0..3 {
            let sealed = seal(&k, &batch(i, i * 10, 10, prev));
            let opened = open(&sealed, &k.verifying_key(), "h1").unwrap();
            head.advance(&opened, &sealed.batch).unwrap();
            prev = hash_batch(&sealed.batch);
        }
        assert_eq!(head.next_index, 3);
        assert_eq!(head.next_seq, 30);
    }

    #[test]
    fn tampering_is_refused() {
        let k = key(1);
        let sealed = seal(&k, &batch(0, 0, 2, GENESIS_HASH));
        let mut flipped = sealed.clone();
        flipped.batch[3] ^= 1;
        assert!(matches!(
            open(&flipped, &k.verifying_key(), "h1"),
            Err(ChainError::BadSignature { .. })
        ));
        assert!(matches!(
            open(&sealed, &key(2).verifying_key(), "h1"),
            Err(ChainError::BadSignature { .. })
        ));
        assert!(matches!(
            open(&sealed, &k.verifying_key(), "h2"),
            Err(ChainError::WrongHost { .. })
        ));
    }

    #[test]
    fn replay_gap_and_fork_are_refused() {
        let k = key(1);
        let mut head = ChainHead::default();
        let first = seal(&k, &batch(0, 0, 2, GENESIS_HASH));
        head.advance(&open(&first, &k.verifying_key(), "h1").unwrap(), &first.batch)
            .unwrap();
        let replay = open(&first, &k.verifying_key(), "h1").unwrap();
        assert!(matches!(head.check(&replay), Err(ChainError::Replay { .. })));
        let h = hash_batch(&first.batch);
        assert!(matches!(
            head.check(&batch(2, 2, 1, h)),
            Err(ChainError::IndexGap { .. })
        ));
        assert!(matches!(head.check(&batch(1, 5, 1, h)), Err(ChainError::SeqGap { .. })));
        assert!(matches!(
            head.check(&batch(1, 2, 1, [9; 32])),
            Err(ChainError::Fork { .. })
        ));
        let mut lying = batch(1, 2, 2, h);
        lying.last_seq = 9;
        assert!(matches!(head.check(&lying), Err(ChainError::BadRange { .. })));
        head.check(&batch(1, 2, 1, h)).unwrap();
    }

    #[test]
    fn hello_binds_host_and_key() {
        let k = key(3);
        let hello = sign_hello(&k, "h1", 42, vec![1, 2, 3]);
        assert!(verify_hello(&hello, &k.verifying_key()));
        assert!(!verify_hello(&hello, &key(4).verifying_key()));
        let mut other = hello.clone();
        other.host_id = "h2".into();
        assert!(!verify_hello(&other, &k.verifying_key()));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
                                       sig in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let k = key(5);
            let signed = SignedBatch { batch: bytes, signature: sig };
            let _ = open(&signed, &k.verifying_key(), "h1");
        }
    }
}
