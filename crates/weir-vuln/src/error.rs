//! Errors at the crate edge: loading OSV files and parsing inventories, each naming the file and field or line.

use std::path::PathBuf;

pub use crate::version::VersionError;

/// Why one OSV file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line} column {column}: field `{field}`: {message}")]
    Json {
        path: PathBuf,
        field: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: field `{field}`: {reason}")]
    Invalid {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("{path}: duplicate advisory id {id} (first seen in {first})")]
    Duplicate { path: PathBuf, id: String, first: PathBuf },
}

/// Why an inventory file (dpkg status, lockfile, metadata) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: line {line}: {reason}")]
pub struct InventoryError {
    /// The file (or a description of the input) being parsed.
    pub source_name: String,
    /// 1-based line number; 0 when the error is about the whole input.
    pub line: usize,
    pub reason: String,
}

impl InventoryError {
    pub(crate) fn new(source_name: &str, line: usize, reason: impl Into<String>) -> InventoryError {
        InventoryError {
            source_name: source_name.to_string(),
            line,
            reason: reason.into(),
        }
    }
}
