//! Weir's on-host sensor: eBPF programs (bpf/sensor.bpf.c) that observe
//! process, file, network and privilege activity, a drain thread that turns
//! their records into `weir_event::Event`s with process identity and lineage,
//! and the accounting that makes every drop visible (Loss and Health events).
//!
//! File telemetry covers writes, creates, truncations, unlinks, renames,
//! links, symlinks, chmod and chown under the watched prefixes. Each event
//! carries the syscall's result (`File.result`, 0 or -errno); identical
//! operations of one process inside `SensorConfig::file_repeat_window` are
//! folded in the kernel into one event plus `File.repeat_count` (every
//! event stands for 1 + repeat_count operations; see `repeats`); a
//! write-open through a symlink to a watched file is reported with the real
//! path (`File.resolved`); names too long or too deep to resolve are
//! reported with `File.truncated` and counted in the Health detail.
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
