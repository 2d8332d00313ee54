//! Errors at the crate edge: the risk config, the vulnerability database on disk and the risk store.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A bad risk config: the file, the field (dotted path) and why.
    #[error("{path}: field `{field}`: {reason}")]
    Config {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// YAML that does not parse or does not fit the schema; the message names the field.
    #[error("{path}: line {line} column {column}: {message}")]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: database: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A stored row that cannot be read back (e.g. an inventory that no longer decodes).
    #[error("{path}: stored {what} is corrupt: {reason}")]
    Corrupt {
        path: PathBuf,
        what: String,
        reason: String,
    },
    #[error("{path}: not a zip archive: {reason}")]
    Zip { path: PathBuf, reason: String },
    #[error("unknown host {0:?} (no inventory received under that id or name)")]
    UnknownHost(String),
}

/// Attaches the database path to rusqlite errors.
pub(crate) trait SqliteContext<T> {
    fn db(self, path: &std::path::Path) -> Result<T, RiskError>;
}

impl<T> SqliteContext<T> for Result<T, rusqlite::Error> {
    fn db(self, path: &std::path::Path) -> Result<T, RiskError> {
        self.map_err(|source| RiskError::Sqlite {
            path: path.to_path_buf(),
            source,
        })
    }
}
