//! Slack output (Block Kit messages through an incoming webhook or a bot's
//! `chat.postMessage`; triage requests as direct messages with Yes/No
//! buttons), and the receiving half: request signature verification and the
//! interaction payload parser for the collector's interactions endpoint.

use serde_json::{json, Value};

use crate::config::{SlackSettings, SlackTarget};
use crate::error::DeliveryError;
use crate::notification::{Kind, Notification, Severity};

pub use crate::signature::{sign_slack_request as sign_request, SlackVerifyError};

/// Slack's header block text limit.
const MAX_HEADER_CHARS: usize = 150;
/// Slack's section text limit.
const MAX_SECTION_CHARS: usize = 3000;
/// Slack's field text limit is 2000; keep fields short anyway.
const MAX_FIELD_CHARS: usize = 500;
/// Largest interaction payload accepted (Slack's are a few KiB).
const MAX_INTERACTION_BYTES: usize = 256 * 1024;
/// `action_id` of the triage buttons.
pub const TRIAGE_YES_ACTION: &str = "weir_triage_yes";
pub const TRIAGE_NO_ACTION: &str = "weir_triage_no";

/// Checks `X-Slack-Request-Timestamp` / `X-Slack-Signature` on a request body
/// (v0 scheme, 5-minute window either side, constant-time compare).
pub fn verify_request(
    signing_secret: &str,
    timestamp_header: &str,
    body: &[u8],
    signature_header: &str,
    now_unix_secs: u64,
) -> Result<(), SlackVerifyError> {
    crate::signature::verify_slack_request(signing_secret, timestamp_header, body, signature_header, now_unix_secs)
}

/// The part of a Slack `block_actions` interaction Weir acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// Member id of the person who clicked.
    pub user_id: String,
    /// `action_id` of the button (e.g. [`TRIAGE_YES_ACTION`]).
    pub action_id: String,
    /// The button's `value` (for triage buttons: the triage token).
    pub value: String,
}

/// Why an interaction body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("interaction body is larger than {MAX_INTERACTION_BYTES} bytes")]
    TooLarge,
    #[error("interaction body has no payload= form field")]
    MissingPayload,
    #[error("interaction payload is not JSON: {0}")]
    NotJson(String),
    #[error("interaction payload has no {0}")]
    MissingField(&'static str),
}

/// Parses the `application/x-www-form-urlencoded` body Slack posts to the
/// interactions endpoint (`payload=<JSON>`), returning who clicked what.
/// Verify the signature with [`verify_request`] first.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, InteractionError> {
    if body.len() > MAX_INTERACTION_BYTES {
        return Err(InteractionError::TooLarge);
    }
    let payload = form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or(InteractionError::MissingPayload)?;
    let payload: Value =
        serde_json::from_str(&payload).map_err(|error| InteractionError::NotJson(error.to_string()))?;
    let text = |value: &Value| value.as_str().map(str::to_string);
    let user_id = payload
        .pointer("/user/id")
        .and_then(text)
        .ok_or(InteractionError::MissingField("user.id"))?;
    let action = payload
        .pointer("/actions/0")
        .ok_or(InteractionError::MissingField("actions[0]"))?;
    let action_id = action
        .get("action_id")
        .and_then(text)
        .ok_or(InteractionError::MissingField("actions[0].action_id"))?;
    let value = action
        .get("value")
        .and_then(text)
        .ok_or(InteractionError::MissingField("actions[0].value"))?;
    Ok(Interaction {
        user_id,
        action_id,
        value,
    })
}

/// Slack mrkdwn needs `&`, `<` and `>` escaped; anything else from events is shown as typed.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn cut(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn severity_marker(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":red_circle: critical",
        Severity::High => ":large_orange_circle: high",
        Severity::Medium => ":large_yellow_circle: medium",
        Severity::Low => ":large_blue_circle: low",
        Severity::Informational => ":white_circle: informational",
    }
}

fn heading(notification: &Notification) -> String {
    let prefix = match notification.kind {
        Kind::Alert => "Alert",
        Kind::Escalation => "Escalation",
        Kind::Breaker => "Circuit breaker",
        Kind::Threshold => "Threshold",
        Kind::TriageRequest => "Was this you?",
        Kind::Resolved => "Resolved",
    };
    format!("{prefix}: {}", notification.rule_title)
}

/// The Block Kit message (`text` fallback + `blocks`), without a channel.
pub fn message(notification: &Notification) -> Value {
    let field = |label: &str, value: &str| json!({ "type": "mrkdwn", "text": cut(&format!("*{label}*\n{}", escape(value)), MAX_FIELD_CHARS) });
    let mut fields = vec![
        json!({ "type": "mrkdwn", "text": format!("*Severity*\n{}", severity_marker(notification.severity)) }),
        field("Host", notification.host_label()),
        field(
            "Rule",
            &format!("{} ({})", notification.rule_title, notification.rule_id),
        ),
    ];
    if let Some(actor) = &notification.actor {
        fields.push(field("Actor", actor));
    }
    if let Some(alert_id) = notification.alert_id {
        fields.push(field("Alert", &alert_id.to_string()));
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": cut(&heading(notification), MAX_HEADER_CHARS) } }),
        json!({ "type": "section", "fields": fields }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut(&escape(&notification.summary), MAX_SECTION_CHARS) } }),
    ];
    let mut buttons = Vec::new();
    if notification.kind == Kind::TriageRequest {
        let token = notification
            .recipient
            .as_ref()
            .and_then(|r| r.triage_token.clone())
            .unwrap_or_default();
        buttons.push(json!({
            "type": "button", "action_id": TRIAGE_YES_ACTION, "style": "primary",
            "text": { "type": "plain_text", "text": "Yes, it was me" }, "value": token,
        }));
        buttons.push(json!({
            "type": "button", "action_id": TRIAGE_NO_ACTION, "style": "danger",
            "text": { "type": "plain_text", "text": "No, it was not me" }, "value": token,
        }));
    }
    if let Some(url) = &notification.url {
        buttons.push(json!({
            "type": "button", "action_id": "weir_open", "url": url,
            "text": { "type": "plain_text", "text": "Open in Weir" },
        }));
    }
    if !buttons.is_empty() {
        blocks.push(json!({ "type": "actions", "elements": buttons }));
    }
    let fallback = format!(
        "[{}] {} on {}: {}",
        notification.severity.as_str(),
        notification.rule_title,
        notification.host_label(),
        notification.summary
    );
    json!({ "text": cut(&fallback, MAX_SECTION_CHARS), "blocks": blocks })
}

/// Whether this Slack output can deliver the notification: triage requests need
/// a bot token and the person's member id (they go as a direct message, never to a channel).
pub fn can_deliver(settings: &SlackSettings, notification: &Notification) -> bool {
    if notification.kind != Kind::TriageRequest {
        return true;
    }
    matches!(settings.target, SlackTarget::Bot { .. })
        && notification
            .recipient
            .as_ref()
            .is_some_and(|r| r.slack_user_id.is_some())
}

/// Slack Web API errors worth retrying (the rest are configuration problems).
fn is_transient_api_error(error: &str) -> bool {
    matches!(
        error,
        "ratelimited" | "internal_error" | "service_unavailable" | "request_timeout" | "fatal_error"
    )
}

/// Posts one message.
pub async fn deliver(settings: &SlackSettings, notification: &Notification) -> Result<(), DeliveryError> {
    let mut body = message(notification);
    match &settings.target {
        SlackTarget::IncomingWebhook { url } => {
            let headers = [("Content-Type", "application/json; charset=utf-8".to_string())];
            let response =
                crate::http::post(url, &headers, body.to_string().into_bytes(), &settings.tls_client).await?;
            if (200..300).contains(&response.status) {
                Ok(())
            } else {
                Err(DeliveryError::from_response("slack webhook", &response))
            }
        }
        SlackTarget::Bot {
            token,
            channel,
            api_base,
        } => {
            let direct = notification.recipient.as_ref().and_then(|r| r.slack_user_id.clone());
            body["channel"] = match (notification.kind, direct) {
                (Kind::TriageRequest, Some(user_id)) => json!(user_id),
                _ => json!(channel),
            };
            let headers = [
                ("Content-Type", "application/json; charset=utf-8".to_string()),
                ("Authorization", format!("Bearer {token}")),
            ];
            let url = format!("{api_base}/chat.postMessage");
            let response =
                crate::http::post(&url, &headers, body.to_string().into_bytes(), &settings.tls_client).await?;
            if !(200..300).contains(&response.status) {
                return Err(DeliveryError::from_response("slack chat.postMessage", &response));
            }
            let reply: Value = serde_json::from_str(&response.body).map_err(|_| {
                DeliveryError::Transient(format!(
                    "slack chat.postMessage: reply is not JSON: {}",
                    cut(&response.body, 200)
                ))
            })?;
            if reply.get("ok").and_then(Value::as_bool) == Some(true) {
                return Ok(());
            }
            let error = reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_string();
            let message = format!("slack chat.postMessage: {error}");
            if is_transient_api_error(&error) {
                Err(DeliveryError::Transient(message))
            } else {
                Err(DeliveryError::Permanent(message))
            }
        }
    }
}
