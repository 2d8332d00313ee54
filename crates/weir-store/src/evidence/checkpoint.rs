//! Signed checkpoints: the collector's ed25519 signature over the Merkle tree
//! head of the first `tree_size` leaves, and the `LATEST-CHECKPOINT` file
//! that keeps the newest one outside the segments (so a cut tail or a
//! removed newest segment is still noticed).
//!
//! ```text
//! payload (112 bytes)  u64 tree_size | 32 root | u64 time_unix_ns | 64 signature
//! signed message       "weir-checkpoint-v1\0" | u64 tree_size | 32 root | u64 time_unix_ns
//! LATEST-CHECKPOINT    one checkpoint frame (see frame.rs), written to a temporary file and renamed
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;

use super::frame::{self, Kind};
use super::merkle::Hash;

pub const PAYLOAD_LEN: usize = 112;
pub const LATEST_FILE: &str = "LATEST-CHECKPOINT";
const DOMAIN: &[u8] = b"weir-checkpoint-v1\0";

/// A signed statement "the log's first `tree_size` leaves have this root".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub tree_size: u64,
    #[serde(serialize_with = "hex_ser")]
    pub root: Hash,
    pub time_unix_ns: u64,
    #[serde(serialize_with = "hex_ser")]
    pub signature: [u8; 64],
}

fn hex_ser<S: serde::Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

impl Checkpoint {
    /// The bytes the collector signs.
    pub fn message(tree_size: u64, root: &Hash, time_unix_ns: u64) -> Vec<u8> {
        let mut m = Vec::with_capacity(DOMAIN.len() + 48);
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(&tree_size.to_be_bytes());
        m.extend_from_slice(root);
        m.extend_from_slice(&time_unix_ns.to_be_bytes());
        m
    }

    pub fn sign(key: &SigningKey, tree_size: u64, root: Hash, time_unix_ns: u64) -> Checkpoint {
        let signature = key
            .sign(&Checkpoint::message(tree_size, &root, time_unix_ns))
            .to_bytes();
        Checkpoint {
            tree_size,
            root,
            time_unix_ns,
            signature,
        }
    }

    pub fn signature_ok(&self, key: &VerifyingKey) -> bool {
        let message = Checkpoint::message(self.tree_size, &self.root, self.time_unix_ns);
        key.verify(&message, &Signature::from_bytes(&self.signature)).is_ok()
    }

    pub fn encode_payload(&self) -> [u8; PAYLOAD_LEN] {
        let mut out = [0u8; PAYLOAD_LEN];
        out[..8].copy_from_slice(&self.tree_size.to_be_bytes());
        out[8..40].copy_from_slice(&self.root);
        out[40..48].copy_from_slice(&self.time_unix_ns.to_be_bytes());
        out[48..].copy_from_slice(&self.signature);
        out
    }

    pub fn decode_payload(payload: &[u8]) -> Result<Checkpoint, String> {
        if payload.len() != PAYLOAD_LEN {
            return Err(format!(
                "checkpoint payload is {} bytes, expected {PAYLOAD_LEN}",
                payload.len()
            ));
        }
        Ok(Checkpoint {
            tree_size: frame::be64(&payload[..8]),
            root: payload[8..40].try_into().expect("32 bytes"),
            time_unix_ns: frame::be64(&payload[40..48]),
            signature: payload[48..].try_into().expect("64 bytes"),
        })
    }

    /// The full frame (as stored in a segment and in LATEST-CHECKPOINT).
    pub fn encode_frame(&self, out: &mut Vec<u8>) {
        frame::encode(Kind::Checkpoint, self.tree_size, &self.encode_payload(), out);
    }

    /// Parses the content of a LATEST-CHECKPOINT file.
    pub fn decode_file(bytes: &[u8]) -> Result<Checkpoint, String> {
        let f = frame::decode(bytes).map_err(|e| e.to_string())?;
        if f.kind != Kind::Checkpoint {
            return Err(format!("holds a {:?} record, not a checkpoint", f.kind));
        }
        if f.len() != bytes.len() {
            return Err(format!(
                "{} unexpected bytes after the checkpoint",
                bytes.len() - f.len()
            ));
        }
        let checkpoint = Checkpoint::decode_payload(f.payload)?;
        if checkpoint.tree_size != f.leaf {
            return Err("frame header and payload disagree on the tree size".into());
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_round_trip() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let cp = Checkpoint::sign(&key, 10, [5; 32], 99);
        assert!(cp.signature_ok(&key.verifying_key()));
        assert!(!cp.signature_ok(&SigningKey::from_bytes(&[4; 32]).verifying_key()));
        let mut moved = cp.clone();
        moved.tree_size = 11;
        assert!(!moved.signature_ok(&key.verifying_key()));
        assert_eq!(Checkpoint::decode_payload(&cp.encode_payload()).unwrap(), cp);
        let mut file = Vec::new();
        cp.encode_frame(&mut file);
        assert_eq!(Checkpoint::decode_file(&file).unwrap(), cp);
        file.push(0);
        assert!(Checkpoint::decode_file(&file).is_err());
    }
}
