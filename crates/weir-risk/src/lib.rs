//! weir-risk: the collector's fleet risk metrics.
//!
//! - [`vulndb`]: the vulnerability database on disk (`DATA/vulndb`), imported from OSV directories and
//!   osv-scanner `all.zip` files, loaded into a [`weir_vuln::VulnDb`].
//! - [`config`]: `risk.yaml` (which addresses are Internet-facing, SLOs, thresholds, policy).
//! - [`exposure`]: listener -> process -> library -> package -> advisory chains for one inventory.
//! - [`uptime`]: reverse uptime from host-age signals cross-checked with the collector's first sighting.
//! - [`store`]: `DATA/risk.db`, the latest inventory per host, first sightings, the daily series.
//! - [`fleet`]: fleet aggregates, threshold breaches and Prometheus gauges.
//! - [`periodic`]: the collector's timed run: fleet view, daily point, new and cleared breaches.
//! - [`sink`]: the collector entry point that picks inventories out of incoming events.

pub mod cidr;
pub mod config;
pub mod error;
pub mod exposure;
pub mod fleet;
pub mod periodic;
pub mod sink;
pub mod store;
pub mod uptime;
pub mod vulndb;

pub use config::{Reach, RiskConfig, Thresholds};
pub use error::RiskError;
pub use exposure::{ExposedVuln, Exposure, ListenerCounts};
pub use fleet::{
    breaches, fleet_of, prometheus_text, Breach, DailyPoint, FleetRisk, Histogram, HostSummary, HostValue,
    MetricSummary,
};
pub use periodic::{RiskMetrics, Tick};
pub use sink::RiskSink;
pub use store::{HostRecord, HostRisk, IngestOutcome, RiskStore};
pub use uptime::{AgeSignal, ReverseUptime, UptimeFlag};
pub use vulndb::{ImportFailure, ImportProgress, ImportReport, VulnDbStats, VulnStore};
