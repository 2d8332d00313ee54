//! Email output: builds the RFC 5322 message (subject
//! `[weir] <severity> <rule title> on <host>`, plain-text body with the details
//! and the link) and hands it to the SMTP client. Triage requests go only to
//! the person asked (the recipient's address), never to the team list.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::config::EmailSettings;
use crate::error::DeliveryError;
use crate::notification::{Kind, Notification};

/// Header text with line breaks and other control characters replaced, so event
/// data cannot inject headers.
fn header_text(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// RFC 2047 encoded-word when the text is not plain ASCII.
fn encode_header(text: &str) -> String {
    let text = header_text(text);
    if text.is_ascii() {
        return text;
    }
    // One encoded word per ~45 input bytes keeps each under 75 characters.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|word| format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(word)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// `[weir] <severity> <rule title> on <host>`.
pub fn subject(notification: &Notification) -> String {
    let prefix = match notification.kind {
        Kind::Alert => "",
        Kind::Escalation => "ESCALATION ",
        Kind::Breaker => "breaker ",
        Kind::Threshold => "threshold ",
        Kind::TriageRequest => "was this you? ",
        Kind::Resolved => "resolved ",
    };
    format!(
        "[weir] {prefix}{} {} on {}",
        notification.severity.as_str(),
        notification.rule_title,
        notification.host_label()
    )
}

/// The plain-text body.
pub fn body(notification: &Notification) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{}", notification.summary);
    let _ = writeln!(text);
    let _ = writeln!(text, "Kind:     {}", notification.kind.as_str());
    let _ = writeln!(text, "Severity: {}", notification.severity.as_str());
    let _ = writeln!(text, "Rule:     {} ({})", notification.rule_title, notification.rule_id);
    let _ = writeln!(
        text,
        "Host:     {} ({})",
        notification.host_label(),
        notification.host_id
    );
    if let Some(actor) = &notification.actor {
        let _ = writeln!(text, "Actor:    {actor}");
    }
    if let Some(alert_id) = notification.alert_id {
        let _ = writeln!(text, "Alert:    {alert_id}");
    }
    let _ = writeln!(text, "Time:     {}", crate::timefmt::rfc3339(notification.time_unix_ns));
    if !notification.details.is_empty() {
        let _ = writeln!(text);
        let _ = writeln!(text, "Details:");
        for (key, value) in &notification.details {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(text, "  {key}: {value}");
        }
    }
    if notification.kind == Kind::TriageRequest {
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "Please answer in the Weir console (link below) whether this was you."
        );
    }
    if let Some(url) = &notification.url {
        let _ = writeln!(text);
        let _ = writeln!(text, "{url}");
    }
    text
}

/// Who gets the message: the person asked, for triage requests; the configured list otherwise.
pub fn recipients<'a>(settings: &'a EmailSettings, notification: &'a Notification) -> Vec<&'a str> {
    if notification.kind == Kind::TriageRequest {
        return notification
            .recipient
            .iter()
            .filter_map(|r| r.email.as_deref())
            .collect();
    }
    settings.to.iter().map(String::as_str).collect()
}

/// Whether this output can deliver the notification (triage requests need the person's address).
pub fn can_deliver(settings: &EmailSettings, notification: &Notification) -> bool {
    !recipients(settings, notification).is_empty()
}

/// The full message with CRLF line ends. ASCII bodies with short lines go as 7bit;
/// anything else is base64 so no relay has to care about 8-bit data or line length.
pub fn render(settings: &EmailSettings, notification: &Notification, to: &[&str]) -> String {
    let text = body(notification);
    let plain = text.is_ascii() && text.lines().all(|line| line.len() <= 900);
    let mut message = String::new();
    let _ = write!(
        message,
        "Date: {}\r\n",
        crate::timefmt::rfc2822(crate::notification::now_unix_ns())
    );
    let _ = write!(message, "From: {}\r\n", settings.from);
    let _ = write!(message, "To: {}\r\n", to.join(", "));
    let _ = write!(message, "Subject: {}\r\n", encode_header(&subject(notification)));
    let _ = write!(
        message,
        "Message-ID: <weir.{}.{}@{}>\r\n",
        notification.time_unix_ns,
        fastrand::u64(..),
        settings
            .from
            .rsplit_once('@')
            .map(|(_, domain)| domain)
            .unwrap_or("weir")
    );
    let _ = write!(message, "X-Weir-Kind: {}\r\n", notification.kind.as_str());
    let _ = write!(message, "X-Weir-Severity: {}\r\n", notification.severity.as_str());
    let _ = write!(message, "X-Weir-Rule: {}\r\n", encode_header(&notification.rule_id));
    if notification.priority == crate::notification::Priority::High {
        message.push_str("Importance: high\r\nX-Priority: 1\r\n");
    }
    message.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
    if plain {
        message.push_str("Content-Transfer-Encoding: 7bit\r\n\r\n");
        for line in text.lines() {
            message.push_str(line);
            message.push_str("\r\n");
        }
    } else {
        message.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        for chunk in encoded.as_bytes().chunks(76) {
            message.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            message.push_str("\r\n");
        }
    }
    message
}

/// Sends one message.
pub async fn deliver(settings: &EmailSettings, notification: &Notification) -> Result<(), DeliveryError> {
    let to = recipients(settings, notification);
    if to.is_empty() {
        return Err(DeliveryError::Permanent("email: no recipient".into()));
    }
    if let Some(bad) = to
        .iter()
        .find(|address| address.chars().any(|c| c.is_control() || c.is_whitespace() || c == '>'))
    {
        return Err(DeliveryError::Permanent(format!("email: {bad:?} is not an address")));
    }
    let message = render(settings, notification, &to);
    crate::smtp::send_mail(settings, &to, &message).await
}
