//! Real local receivers for the output tests: an HTTP server (hyper), an SMTP
//! sink speaking the protocol over TCP, and syslog listeners on UDP and TCP,
//! each on its own thread and an ephemeral loopback port; plus helpers to
//! build notifications and configs.
#![allow(dead_code)]

pub mod http_receiver;
pub mod smtp_sink;
pub mod syslog_listener;
pub mod test_pki;

use std::time::Duration;

use weir_notify::{Kind, Notification, OutputsConfig, Severity};

/// A high-severity alert with every optional field set.
pub fn sample_alert() -> Notification {
    let mut notification = Notification::new(
        Kind::Alert,
        Severity::High,
        "weir-linux-shadow-read",
        "Read of /etc/shadow by a shell",
        "h-1f3a",
        "cat /etc/shadow",
    );
    notification.alert_id = Some(42);
    notification.host_name = "db-prod-1".into();
    notification.actor = Some("alice".into());
    notification.url = Some("https://weir.example/alerts/42".into());
    notification.dedup_key = "weir-linux-shadow-read/alice".into();
    notification
        .details
        .insert("command_line".into(), "cat /etc/shadow".into());
    notification
        .details
        .insert("evidence".into(), serde_json::json!([1001, 1002]));
    notification
}

/// Parses an `outputs.yaml` text, panicking with the error (tests only).
pub fn config(yaml: &str) -> OutputsConfig {
    OutputsConfig::from_yaml(yaml, "test outputs.yaml").unwrap_or_else(|error| panic!("{error}"))
}

/// Plenty for anything on loopback.
pub const FLUSH: Duration = Duration::from_secs(20);

/// A loopback port nothing listens on (bound, then released).
pub fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn now_secs() -> u64 {
    weir_notify::now_unix_ns() / 1_000_000_000
}
