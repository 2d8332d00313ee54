//! Weir's event model and wire messages (generated from `proto/weir.proto`),
//! process identity, canonical ECS-style JSON rendering, and the signed,
//! hash-chained batches that carry events off a host.
//!
//! Nothing here touches the network, the kernel or a database; the optional
//! `grpc` feature only adds the generated tonic stubs.

#[allow(clippy::all, missing_docs)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/weir.v1.rs"));
}

pub mod chain;
pub mod ecs;
pub mod entity;
pub mod proc_stat;

pub use pb::*;

/// Short, stable name of an event's kind ("exec", "file", "network", ...).
pub fn kind_name(event: &Event) -> &'static str {
    use event::Body;
    match &event.body {
        Some(Body::Exec(_)) => "exec",
        Some(Body::Fork(_)) => "fork",
        Some(Body::Exit(_)) => "exit",
        Some(Body::File(_)) => "file",
        Some(Body::Network(_)) => "network",
        Some(Body::Privilege(_)) => "privilege",
        Some(Body::Ptrace(_)) => "ptrace",
        Some(Body::Memfd(_)) => "memfd",
        Some(Body::Bpf(_)) => "bpf",
        Some(Body::Module(_)) => "module",
        Some(Body::Loss(_)) => "loss",
        Some(Body::Health(_)) => "health",
        Some(Body::Integrity(_)) => "integrity",
        Some(Body::Action(_)) => "action",
        Some(Body::Inventory(_)) => "inventory",
        None => "unknown",
    }
}

/// Login uid value meaning "not set" (no human login behind the process).
pub const LOGINUID_UNSET: u32 = u32::MAX;
