//! Triage settings: answer deadlines per severity, attempt limits, the
//! suppression cap and the base URL links are built on.

use std::time::Duration;

use crate::token::LinkKey;

/// An alert's severity, as far as triage deadlines are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Maps a rule level (`critical`, `high`, `medium`, `low`, `informational`).
    /// An unknown level gets the `high` deadline rather than a lax one.
    pub fn from_level(level: &str) -> Severity {
        match level.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "medium" => Severity::Medium,
            "low" | "informational" | "info" => Severity::Low,
            _ => Severity::High,
        }
    }
}

/// How long the person has to answer, by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub critical: Duration,
    pub high: Duration,
    pub medium: Duration,
    pub low: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            critical: Duration::from_secs(5 * 60),
            high: Duration::from_secs(30 * 60),
            medium: Duration::from_secs(4 * 3600),
            low: Duration::from_secs(24 * 3600),
        }
    }
}

impl Deadlines {
    pub fn for_severity(&self, severity: Severity) -> Duration {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }
}

/// Everything [`crate::Triage`] needs besides its database.
#[derive(Clone)]
pub struct TriageConfig {
    pub deadlines: Deadlines,
    /// Wrong, replayed or expired codes before the alert escalates.
    pub max_failed_codes: u32,
    /// Answers accepted per link per minute (beyond that: refused, not counted).
    pub max_attempts_per_minute: u32,
    /// Longest suppression an authenticated yes may create.
    pub suppression_max_ttl: Duration,
    /// Where the collector's public triage route is reached, e.g. `https://weir.example.com`.
    pub public_base_url: String,
    /// Signs link tokens and form nonces.
    pub link_key: LinkKey,
    /// Issuer name shown in authenticator apps.
    pub totp_issuer: String,
    /// Reverse proxies whose `X-Forwarded-For` names the answering client
    /// (empty: the TCP peer is the source).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl TriageConfig {
    /// Defaults: deadlines critical 5 min, high 30 min, medium 4 h, low 24 h;
    /// 3 failed codes; 5 attempts a minute; suppressions up to 7 days.
    pub fn new(public_base_url: impl Into<String>, link_key: LinkKey) -> TriageConfig {
        TriageConfig {
            deadlines: Deadlines::default(),
            max_failed_codes: 3,
            max_attempts_per_minute: 5,
            suppression_max_ttl: Duration::from_secs(7 * 86_400),
            public_base_url: public_base_url.into(),
            link_key,
            totp_issuer: "Weir".into(),
            trusted_proxies: Vec::new(),
        }
    }
}
