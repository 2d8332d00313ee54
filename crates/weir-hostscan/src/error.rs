//! Errors at the crate edge: every one names the file (or /proc entry) and what was wrong with it.

use std::path::PathBuf;

/// Why one source of host data could not be read or understood. A scan never fails as a whole: these
/// end up as "path: reason" lines in `Inventory.errors` or `HostAge.notes`.
#[derive(Debug, thiserror::Error)]
pub enum HostScanError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: larger than the {limit}-byte limit, skipped", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{source_name}: line {line}: {reason}")]
    Parse {
        source_name: String,
        /// 1-based; 0 when the problem is about the whole input.
        line: usize,
        reason: String,
    },
    #[error(transparent)]
    Inventory(#[from] weir_vuln::InventoryError),
}

impl HostScanError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> HostScanError {
        HostScanError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(source_name: impl Into<String>, line: usize, reason: impl Into<String>) -> HostScanError {
        HostScanError::Parse {
            source_name: source_name.into(),
            line,
            reason: reason.into(),
        }
    }
}
