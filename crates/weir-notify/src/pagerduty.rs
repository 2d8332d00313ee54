//! PagerDuty Events API v2 output: `trigger` for alerts and escalations
//! (dedup_key = rule + group key, so repeats join one incident) and `resolve`
//! when the alert is resolved.

use serde_json::{json, Value};

use crate::config::PagerDutySettings;
use crate::error::DeliveryError;
use crate::notification::{Kind, Notification, Severity};

/// PagerDuty's limit on `payload.summary`.
const MAX_SUMMARY_CHARS: usize = 1024;

/// PagerDuty's four severities.
pub fn pagerduty_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "info",
    }
}

/// The Events API v2 body for a notification.
pub fn event_body(routing_key: &str, notification: &Notification) -> Value {
    if notification.kind == Kind::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": notification.dedup_key,
        });
    }
    let summary: String = format!(
        "{}: {} on {}",
        notification.rule_title,
        notification.summary,
        notification.host_label()
    )
    .chars()
    .take(MAX_SUMMARY_CHARS)
    .collect();
    let mut custom_details = notification.details.clone();
    custom_details.insert("kind".into(), json!(notification.kind.as_str()));
    custom_details.insert("rule_id".into(), json!(notification.rule_id));
    custom_details.insert("host_id".into(), json!(notification.host_id));
    custom_details.insert("weir_severity".into(), json!(notification.severity.as_str()));
    if let Some(alert_id) = notification.alert_id {
        custom_details.insert("alert_id".into(), json!(alert_id));
    }
    if let Some(actor) = &notification.actor {
        custom_details.insert("actor".into(), json!(actor));
    }
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": notification.dedup_key,
        "payload": {
            "summary": summary,
            "source": notification.host_label(),
            "severity": pagerduty_severity(notification.severity),
            "timestamp": crate::timefmt::rfc3339(notification.time_unix_ns),
            "component": notification.rule_id,
            "class": notification.kind.as_str(),
            "custom_details": custom_details,
        },
    });
    if let Some(url) = &notification.url {
        body["links"] = json!([{ "href": url, "text": "Open in Weir" }]);
    }
    body
}

/// Sends one event; PagerDuty answers 202 when it accepted it.
pub async fn deliver(settings: &PagerDutySettings, notification: &Notification) -> Result<(), DeliveryError> {
    let body = serde_json::to_vec(&event_body(&settings.routing_key, notification))
        .map_err(|error| DeliveryError::Permanent(format!("encoding event: {error}")))?;
    let headers = [("Content-Type", "application/json".to_string())];
    let response = crate::http::post(&settings.events_url, &headers, body, &settings.tls_client).await?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(DeliveryError::from_response("pagerduty", &response))
    }
}
