//! The message every output delivers: one alert, escalation, breaker trip,
//! threshold crossing, resolution or triage request, independent of the
//! detection crates so any part of the collector can raise one.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A rule matched and opened an alert.
    Alert,
    /// Triage said "no", failed its second factor or timed out: the security team must look.
    Escalation,
    /// A response circuit breaker tripped (a rule went back to shadow mode).
    Breaker,
    /// A risk metric crossed its threshold.
    Threshold,
    /// A question to the person who acted ("was it you?").
    TriageRequest,
    /// An alert was resolved; PagerDuty closes the incident with the same dedup key.
    Resolved,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Escalation => "escalation",
            Kind::Breaker => "breaker",
            Kind::Threshold => "threshold",
            Kind::TriageRequest => "triage_request",
            Kind::Resolved => "resolved",
        }
    }
}

/// How bad it is, ordered so outputs can filter on a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Maps a Sigma rule `level` (informational, low, medium, high, critical);
    /// anything unknown is treated as medium so it is not silently dropped.
    pub fn from_level(level: &str) -> Severity {
        match level.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Severity::Informational,
            "low" => Severity::Low,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => Severity::Medium,
        }
    }
}

/// Escalations are high priority; everything else normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Normal,
    High,
}

/// Who a triage request goes to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Recipient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Slack member id (`U…`); the request is sent as a direct message to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user_id: Option<String>,
    /// Opaque token the person's answer must carry back (Slack button value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage_token: Option<String>,
}

/// One thing to tell people about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<i64>,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: Severity,
    #[serde(default)]
    pub priority: Priority,
    pub host_id: String,
    pub host_name: String,
    /// The login user / person behind the activity, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// One line for people.
    pub summary: String,
    /// Extra fields (evidence event ids, the process command line, ...).
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Console link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Rule + group key; PagerDuty's dedup_key, so repeats and the resolve hit one incident.
    pub dedup_key: String,
    pub time_unix_ns: u64,
    /// Set for triage requests to a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Recipient>,
}

impl Notification {
    /// A notification with the required fields; the rest empty.
    pub fn new(kind: Kind, severity: Severity, rule_id: &str, rule_title: &str, host_id: &str, summary: &str) -> Self {
        Notification {
            kind,
            alert_id: None,
            rule_id: rule_id.to_string(),
            rule_title: rule_title.to_string(),
            severity,
            priority: if kind == Kind::Escalation {
                Priority::High
            } else {
                Priority::Normal
            },
            host_id: host_id.to_string(),
            host_name: host_id.to_string(),
            actor: None,
            summary: summary.to_string(),
            details: serde_json::Map::new(),
            url: None,
            dedup_key: format!("{rule_id}/{host_id}"),
            time_unix_ns: now_unix_ns(),
            recipient: None,
        }
    }

    /// The host as people know it: the name, else the id.
    pub fn host_label(&self) -> &str {
        if self.host_name.is_empty() {
            &self.host_id
        } else {
            &self.host_name
        }
    }
}

/// Wall clock in nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
