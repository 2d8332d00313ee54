//! Delivers Weir's alerts, escalations and triage requests to the outside
//! world: signed webhook, Slack, PagerDuty, syslog (RFC 5424 over UDP/TCP),
//! SMTP email and a JSON-lines file, configured by `outputs.yaml`. The
//! [`Notifier`] queues per output (bounded, never blocking the caller),
//! retries with backoff and counts everything for health and `/metrics`.
//! It also verifies what comes back: Slack interaction signatures and Weir's
//! own webhook signatures (for receivers).

pub mod config;
pub mod email;
pub mod error;
pub mod file;
pub mod http;
pub mod notification;
pub mod notifier;
pub mod pagerduty;
pub mod signature;
pub mod slack;
pub mod smtp;
pub mod stats;
pub mod syslog;
mod timefmt;
pub mod tls;
pub mod webhook;

pub use config::{OutputConfig, OutputSettings, OutputsConfig};
pub use error::{ConfigError, DeliveryError};
pub use notification::{now_unix_ns, Kind, Notification, Priority, Recipient, Severity};
pub use notifier::Notifier;
pub use signature::{sign_webhook, verify_webhook, SignatureError};
pub use stats::OutputStats;
