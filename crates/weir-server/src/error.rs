//! The collector's error type at the crate edge.

use std::path::PathBuf;

/// Why the collector could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("tls: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("state database {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("evidence log: {0}")]
    Evidence(#[from] weir_store::evidence::EvidenceError),
    #[error("event index: {0}")]
    Index(#[from] weir_store::index::IndexError),
    #[error("host {0} has no open stream")]
    NotConnected(String),
    #[error("data directory {path} is in use by another running collector")]
    InUse { path: PathBuf },
    #[error("collector is shutting down")]
    Stopped,
}
