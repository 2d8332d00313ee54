//! The shipper's error type at the crate edge.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("enrollment refused by the collector: {0}")]
    EnrollRefused(String),
    #[error("host {host_id} is not enrolled yet and no enrollment token was given")]
    NoToken { host_id: String },
    #[error("tls: {0}")]
    Tls(String),
}
