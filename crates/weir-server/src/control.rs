//! A cloneable, synchronous handle on a running collector for the pipeline
//! stages that act (automated response): send a command down a connected
//! host's stream without waiting, and append a collector event (an action
//! record) to the evidence log. Safe to call from plain threads.

use std::sync::Arc;

use weir_event::{Command, Event};

use crate::committer::Job;
use crate::{ServerError, Shared};

#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

impl Control {
    /// Queues a command on a host's stream; fails at once if the host is
    /// not connected or its stream is backed up (never blocks).
    pub fn try_send_command(&self, host_id: &str, command: Command) -> Result<(), ServerError> {
        self.shared
            .command_tx(host_id)?
            .try_send(crate::command_message(command))
            .map_err(|_| ServerError::NotConnected(host_id.to_string()))
    }

    /// Appends a collector event to the evidence log (numbered and attributed
    /// to the collector there). Waits for room in the committer's queue, so
    /// call it from a plain thread, not from async code.
    pub fn record_event(&self, event: Event) -> Result<(), ServerError> {
        self.shared
            .jobs
            .blocking_send(Job::Event { event })
            .map_err(|_| ServerError::NotConnected("collector (stopped)".into()))
    }

    /// Inclusion proof (RFC 9162 audit path) of evidence leaf `leaf` against
    /// the collector's latest signed checkpoint.
    pub async fn inclusion_proof(&self, leaf: u64) -> Result<weir_store::evidence::InclusionProof, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.shared
            .jobs
            .send(Job::Proof { leaf, reply })
            .await
            .map_err(|_| "the collector is stopping".to_string())?;
        answer.await.map_err(|_| "the collector is stopping".to_string())?
    }

    /// Enrolled hosts with counters and chain heads (as GET /api/hosts).
    pub fn hosts(&self) -> Vec<serde_json::Value> {
        self.shared.host_summaries()
    }

    /// When a host enrolled (the collector's first sighting of it).
    pub fn enrolled_unix_ns(&self, host_id: &str) -> Option<u64> {
        self.shared
            .hosts
            .read()
            .unwrap()
            .get(host_id)
            .map(|h| h.record.enrolled_unix_ns)
    }

    /// Open streams as (host, stream number): the number changes whenever a
    /// host reconnects, even when its old stream was never seen to close
    /// (a host that rebooted without a FIN), so per-stream state such as a
    /// pushed enforcement set can be sent again.
    pub fn connections(&self) -> Vec<(String, u64)> {
        self.shared
            .commands
            .lock()
            .unwrap()
            .iter()
            .map(|(host, s)| (host.clone(), s.connection))
            .collect()
    }
}
