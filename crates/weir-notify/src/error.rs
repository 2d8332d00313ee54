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
    /// The receiver asked to wait (`Retry-After` on 429/503): retried no sooner than that.
    #[error("{message} (retry after {retry_after:?})")]
    Throttled {
        message: String,
        retry_after: std::time::Duration,
    },
}

impl DeliveryError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Permanent(_))
    }

    /// How long the receiver asked to wait before the next attempt, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            DeliveryError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Classifies a non-2xx HTTP response: 429 and 5xx are retried (honouring
    /// `Retry-After`), other 4xx are not.
    pub fn from_response(what: &str, response: &crate::http::HttpResponse) -> DeliveryError {
        let status = response.status;
        let snippet: String = response.body.chars().take(200).collect();
        let message = format!("{what}: HTTP {status}: {snippet}");
        if let (429 | 503, Some(retry_after)) = (status, response.retry_after) {
            return DeliveryError::Throttled { message, retry_after };
        }
        if status == 429 || !(400..500).contains(&status) {
            DeliveryError::Transient(message)
        } else {
            DeliveryError::Permanent(message)
        }
    }
}
