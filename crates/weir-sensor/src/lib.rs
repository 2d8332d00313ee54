//! Weir's on-host sensor: eBPF programs (bpf/sensor.bpf.c) that observe
//! process, file, network and privilege activity, a drain thread that turns
//! their records into `weir_event::Event`s with process identity and lineage,
//! and the accounting that makes every drop visible (Loss and Health events).
//!
//! ```no_run
//! let id = weir_sensor::host_identity()?;
//! let (sensor, mut events) = weir_sensor::Sensor::start(weir_sensor::SensorConfig::new(id.host_id))?;
//! while let Some(ev) = events.blocking_recv() { /* ... */ }
//! sensor.stop()?;
//! # Ok::<(), weir_sensor::SensorError>(())
//! ```

pub mod config;
pub mod convert;
pub mod fallback;
pub mod host;
pub mod probe;
pub mod procs;
pub mod repeats;
pub mod sensor;
pub mod users;

pub use config::SensorConfig;
pub use host::{host_identity, HostIdentity};
pub use probe::check::{check, Feature, KernelSupport};
pub use sensor::Sensor;

#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error("loading the BPF programs: {0}")]
    Load(String),
    #[error("attaching BPF program {0}: {1}")]
    Attach(String, String),
    #[error("sensor configuration: {0}")]
    Config(String),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}
