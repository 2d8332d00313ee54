//! What the responder is told at start: host identity, what is protected, what
//! isolation must never cut, and the TTL bounds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Process names no action touches unless the configuration replaces them.
pub const DEFAULT_PROTECTED_NAMES: &[&str] = &["systemd", "init", "sshd", "kubelet", "containerd", "dockerd", "weir"];

#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// Host id used in entity ids (the sensor's, so ids match its events).
    pub host_id: String,
    /// Process names (comm or executable base name) never killed, and never
    /// named by an enforce predicate. Pid 1, this process and its ancestors
    /// are always protected besides these.
    pub protected_names: Vec<String>,
    pub protected_pids: Vec<u32>,
    /// Destinations isolation never cuts (the collector). A port of 0 allows
    /// every port of the address.
    pub always_allow: Vec<SocketAddr>,
    /// TTL of isolate/block when the command gives none.
    pub default_ttl: Duration,
    /// Longest TTL accepted; longer ones are capped.
    pub max_ttl: Duration,
    /// cgroup v2 directory the network hooks attach to; `None` = the root of
    /// the cgroup v2 hierarchy (mounted if absent), i.e. the whole host.
    pub cgroup: Option<PathBuf>,
}

impl ResponderConfig {
    pub fn new(host_id: impl Into<String>) -> ResponderConfig {
        ResponderConfig {
            host_id: host_id.into(),
            protected_names: DEFAULT_PROTECTED_NAMES.iter().map(|s| s.to_string()).collect(),
            protected_pids: Vec::new(),
            always_allow: Vec::new(),
            default_ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(24 * 3600),
            cgroup: None,
        }
    }

    /// The TTL to apply for a command's `ttl_seconds` (0 = default), and
    /// whether it was capped.
    pub fn effective_ttl(&self, ttl_seconds: u64) -> (Duration, bool) {
        let asked = if ttl_seconds == 0 {
            self.default_ttl
        } else {
            Duration::from_secs(ttl_seconds)
        };
        if asked > self.max_ttl {
            (self.max_ttl, true)
        } else {
            (asked, false)
        }
    }
}
