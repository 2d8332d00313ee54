//! Where triage keeps its files in the data directory, and the one-call way
//! to open the store there with default settings.

use std::path::{Path, PathBuf};

use crate::config::TriageConfig;
use crate::error::TriageError;
use crate::store::Triage;
use crate::token::LinkKey;

/// The triage database (requests, answers, escalations, TOTP secrets), mode 0600.
pub const DB_FILE: &str = "triage.db";
/// The key signing link tokens and form nonces, mode 0600.
pub const KEY_FILE: &str = "triage.key";
/// The people directory read by default.
pub const PEOPLE_FILE: &str = "people.yaml";

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

pub fn people_path(data_dir: &Path) -> PathBuf {
    data_dir.join(PEOPLE_FILE)
}

/// Default settings with the data directory's link key (created if absent).
pub fn default_config(data_dir: &Path, public_base_url: &str) -> Result<TriageConfig, TriageError> {
    Ok(TriageConfig::new(
        public_base_url,
        LinkKey::load_or_create(&key_path(data_dir))?,
    ))
}

/// Opens `DATA/triage.db` with [`default_config`].
pub fn open_in(data_dir: &Path, public_base_url: &str) -> Result<Triage, TriageError> {
    Triage::open(&db_path(data_dir), default_config(data_dir, public_base_url)?)
}
