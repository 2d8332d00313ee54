//! The crate's error types: config problems (naming the file, output and
//! field) and delivery failures (classified as retryable or permanent).

use std::path::PathBuf;

/// Why `outputs.yaml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The YAML does not fit the schema; `field` is the path inside the document (`outputs[1].retries`).
    #[error("{origin}: field {field}: {message}")]
    Parse {
        origin: String,
        field: String,
        message: String,
    },
    /// One output's settings are wrong.
    #[error("{origin}: outputs[{index}] ({name:?}): field {field}: {message}")]
    Invalid {
        origin: String,
        index: usize,
        name: String,
        field: String,
        message: String,
    },
    /// A `*_file` secret could not be read.
    #[error("{origin}: outputs[{index}] ({name:?}): field {field}: cannot read {file}: {source}")]
    SecretFile {
        origin: String,
        index: usize,
        name: String,
        field: String,
        file: PathBuf,
        source: std::io::Error,
    },
}

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again (network error, timeout, 5xx, 429, SMTP 4xx).
    #[error("{0}")]
    Transient(String),
    /// Trying again would fail the same way (4xx other than 429, SMTP 5xx, bad address).
    #[error("{0}")]
    Permanent(String),
}

impl DeliveryError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Permanent(_))
    }

    /// Classifies an HTTP status: 429 and 5xx are retried, other 4xx are not.
    pub fn from_http_status(what: &str, status: u16, body: &str) -> DeliveryError {
        let snippet: String = body.chars().take(200).collect();
        let message = format!("{what}: HTTP {status}: {snippet}");
        if status == 429 || !(400..500).contains(&status) {
            DeliveryError::Transient(message)
        } else {
            DeliveryError::Permanent(message)
        }
    }
}
