//! Where things live in a Weir data directory (shared by the collector,
//! `weir up`, `weir query` and `weir verify`).
//!
//! ```text
//! DATA/evidence/           evidence log segments and LATEST-CHECKPOINT
//! DATA/index.db            SQLite event index (plus -wal/-shm)
//! DATA/keys/collector.pub  collector's ed25519 public key, 32 raw bytes
//! DATA/state.db            the collector's own state
//! ```

use std::path::{Path, PathBuf};

/// Environment variable naming the data directory.
pub const DATA_ENV: &str = "WEIR_DATA";
/// Data directory used when neither `--data` nor `$WEIR_DATA` is given.
pub const DEFAULT_DATA_DIR: &str = "weir-data";

/// `explicit`, else `$WEIR_DATA`, else `./weir-data`.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    match std::env::var_os(DATA_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

pub fn evidence_dir(data: &Path) -> PathBuf {
    data.join("evidence")
}

pub fn index_path(data: &Path) -> PathBuf {
    data.join("index.db")
}

pub fn collector_key_path(data: &Path) -> PathBuf {
    data.join("keys").join("collector.pub")
}

/// Why a collector public key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: holds {len} bytes; a collector public key is 32 raw bytes", path.display())]
    Length { path: PathBuf, len: usize },
    #[error("{}: not a valid ed25519 public key", path.display())]
    Invalid { path: PathBuf },
}

/// Reads a collector public key file (32 raw bytes); `Ok(None)` when it does not exist.
pub fn read_collector_key(path: &Path) -> Result<Option<ed25519_dalek::VerifyingKey>, KeyFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeyFileError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let raw: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyFileError::Length {
        path: path.to_path_buf(),
        len: bytes.len(),
    })?;
    ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map(Some)
        .map_err(|_| KeyFileError::Invalid {
            path: path.to_path_buf(),
        })
}
