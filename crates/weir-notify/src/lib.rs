//! Delivers Weir's alerts, escalations and triage requests to the outside
//! world: signed webhook, Slack, PagerDuty, syslog (RFC 5424 over UDP/TCP),
//! SMTP email and a JSON-lines file, configured by `outputs.yaml`. The
//! [`Notifier`] queues per output (bounded, never blocking the caller),
//! retries with backoff and counts everything for health and `/metrics`.
//! It also verifies what comes back: Slack interaction signatures and Weir's
//! own webhook signatures (for receivers).
//!
//! ```
//! use std::time::Duration;
//! use weir_notify::{Kind, Notification, Notifier, OutputsConfig, Severity};
//!
//! let directory = tempfile::tempdir().unwrap();
//! let path = directory.path().join("notifications.jsonl");
//! let yaml = format!("outputs:\n  - name: archive\n    type: file\n    path: {}\n", path.display());
//! let notifier = Notifier::start(OutputsConfig::from_yaml(&yaml, "outputs.yaml").unwrap()).unwrap();
//!
//! let mut alert = Notification::new(Kind::Alert, Severity::High, "r1", "Shadow read", "host-1", "cat /etc/shadow");
//! alert.actor = Some("alice".into());
//! assert_eq!(notifier.send(&alert), 1); // queued for one output, never blocks
//! assert!(notifier.flush(Duration::from_secs(10)));
//! assert_eq!(notifier.stats()[0].sent, 1);
//! assert!(std::fs::read_to_string(&path).unwrap().contains("\"actor\":\"alice\""));
//! assert!(notifier.prometheus_text().contains("weir_output_sent_total{output=\"archive\",type=\"file\"} 1"));
//! assert!(notifier.shutdown(Duration::from_secs(1)));
//! ```

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
