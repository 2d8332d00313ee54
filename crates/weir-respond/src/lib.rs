//! Weir's host response actions, run by the sensor when the collector sends a
//! command: kill a process by entity id (never a reused pid), kill a process
//! tree, isolate the host's network except to the collector, block a
//! destination, and enforce exec predicates in the kernel (the process is
//! killed in the exec syscall that would start it, with no network hop).
//!
//! Guardrails: dry-run on every action, a protected list (pid 1, the sensor and
//! its ancestors, sshd, kubelet, ... configurable) that no action touches, and
//! an automatic undo after a TTL for isolation and blocks.
//!
//! Isolation and blocks are `cgroup/connect4|6` and `cgroup/sendmsg4|6`
//! programs attached (as BPF links owned by this process) to the root of the
//! cgroup v2 hierarchy. If the process dies, the kernel drops the links with
//! it: isolation and blocks never outlive the sensor. Connect hooks only see
//! new connections: connections established before isolation are not cut.
//!
//! Isolation cuts every new inet connection and datagram, loopback included,
//! except to `always_allow`: name resolution stops too, so give the collector
//! as resolved addresses (`ResponderConfig::allow_collector_url` resolves the
//! URL once at start).
//!
//! Enforcement (`enforce_set`) runs on `sched_process_exec`, after the new
//! image is installed and before any of its instructions run: the process is
//! sent SIGKILL in the exec syscall. `executable` matches the path given to
//! execve (for a script, the script) or the same file (device and inode)
//! under any other name; `name` matches the base name of either the file run
//! or the path given to execve; `argv_contains` strings are searched within the
//! first 1024 bytes of the argument area, each within one argument. A script
//! run as `sh script` is its interpreter's exec: only `argv_contains` sees it.
//! Pid 1, this process and protected names are never killed by the kernel
//! side either. Replacing a set leaves a gap of a few map updates with no
//! enforcement.
//!
//! `execute` does its work on the calling thread and returns within
//! milliseconds (kill_tree rescans /proc a bounded number of times); the
//! shipper already calls it on a blocking thread.
//!
//! ```no_run
//! use weir_respond::{Responder, ResponderConfig};
//! let mut config = ResponderConfig::new("host-id");
//! config.allow_collector_url("https://10.0.0.1:7443")?;
//! let responder = Responder::start(config)?;
//! let kills = responder.enforced().expect("taken once");
//! let action = responder.execute(&weir_event::Command {
//!     action: "isolate_host".into(),
//!     ttl_seconds: 600,
//!     ..Default::default()
//! });
//! assert!(action.result.starts_with("ok"));
//! # Ok::<(), weir_respond::RespondError>(())
//! ```

pub mod cgroup;
pub mod config;
pub mod kernel;
pub mod kill;
pub mod predicate;
pub mod procs;
pub mod responder;
pub mod target;

pub use config::ResponderConfig;
pub use predicate::{parse_predicates, Predicate, PredicateError};
pub use responder::Responder;
pub use target::{parse_destination, Destination, TargetError};

#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    #[error("loading the response BPF programs: {0}")]
    Load(String),
    #[error("attaching BPF program {0}: {1}")]
    Attach(String, String),
    #[error("updating BPF map {0}: {1}")]
    Map(String, String),
    #[error("responder configuration: {0}")]
    Config(String),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}
