//! Errors of the evidence log.

use std::path::PathBuf;

use weir_event::chain::ChainError;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The log on disk is not what this code wrote; `weir verify` names every problem.
    #[error("evidence log damaged: {file} at byte {offset}: {problem} (run `weir verify` for the full report)")]
    Damaged { file: String, offset: u64, problem: String },
    #[error("batch for host {host_id}, which has no HostEnrolled record in the evidence log")]
    NotEnrolled { host_id: String },
    #[error("batch for host {host_id} is not the next link of its chain: {error}")]
    Chain { host_id: String, error: ChainError },
    #[error("record of {0} bytes exceeds the 64 MiB record limit")]
    TooLarge(usize),
    #[error("no leaf {leaf}: the log has {len} leaves")]
    NoSuchLeaf { leaf: u64, len: u64 },
    #[error("leaf {leaf} is not covered by a checkpoint yet (the latest covers {tree_size} leaves)")]
    NotCheckpointed { leaf: u64, tree_size: u64 },
    #[error("the evidence log refuses writes after an earlier failed write ({0}); restart to recover")]
    Poisoned(String),
}

impl EvidenceError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EvidenceError {
        let path = path.into();
        move |source| EvidenceError::Io { path, source }
    }
}
