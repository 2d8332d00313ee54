//! The crate's error types: one for the people directory (outside input,
//! errors name the file, line and field) and one for triage operations.

use std::path::PathBuf;

/// A people directory that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax or a field of the wrong type; `line` is 1-based when known.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A value that parses but is not allowed (duplicate id, login claimed twice, ...).
    #[error("{path}: person #{index} ({id}): field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        index: usize,
        id: String,
        field: &'static str,
        message: String,
    },
}

/// Why a triage operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("triage store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The link token is malformed, forged or names no request.
    #[error("this link is not valid")]
    BadToken,
    /// The question was already answered (or escalated): links are single-use.
    #[error("this alert was already answered or escalated ({state}); the link cannot be used again")]
    TokenUsed { state: String },
    /// The answer deadline passed: the alert was escalated to the security on-call.
    #[error("the deadline to answer has passed; the alert went to the security team")]
    DeadlinePassed,
    /// Too many attempts on this link in the last minute.
    #[error("too many attempts; wait a minute and try again")]
    RateLimited,
    /// The page's anti-forgery nonce is missing, forged or stale.
    #[error("the form is stale or was not issued by this server; reload the page")]
    BadFormNonce,
    #[error("alert {0} already has a triage request")]
    AlreadyRequested(i64),
    #[error("alert {0} has no triage request")]
    UnknownAlert(i64),
    /// A suppression asked for an alert that was not confirmed with a valid code.
    #[error("alert {alert_id} was not confirmed with a valid second factor ({state}); only an authenticated yes may suppress")]
    NotConfirmed { alert_id: i64, state: String },
    #[error("alert {0} already created its suppression")]
    AlreadySuppressed(i64),
    #[error("person `{0}` has no second factor enrolled")]
    NotEnrolled(String),
    #[error("invalid: {0}")]
    Invalid(String),
}
