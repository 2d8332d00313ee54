//! Weir's stores: the evidence log (append-only segment files of records
//! exactly as received, with signed RFC 9162 Merkle checkpoints, and
//! `verify`) and the event index (SQLite) behind `weir query` and the API.
//!
//! Both sit behind traits (`evidence::EvidenceStore`, `index::EventStore`)
//! so scale-out engines can replace the embedded ones.

pub mod evidence;
pub mod index;
pub mod layout;
