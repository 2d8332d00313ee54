//! Syslog output: RFC 5424 messages over UDP (one datagram each, bounded in
//! size: values and message are cut and `truncated="1"` is set) or over TCP
//! with octet-counting framing (RFC 6587 3.4.1).

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::config::{SyslogProtocol, SyslogSettings};
use crate::error::DeliveryError;
use crate::notification::{Notification, Severity};

/// SD-ID of Weir's structured data (32473 is the enterprise number RFC 5612 reserves for examples).
pub const SD_ID: &str = "weir@32473";
/// Longest structured-data value on TCP (UDP values get a share of the datagram limit).
const MAX_TCP_VALUE_BYTES: usize = 1024;
/// Longest message on TCP.
const MAX_TCP_MESSAGE_BYTES: usize = 16 * 1024;

/// RFC 5424 severity for a Weir severity.
pub fn syslog_severity(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Informational => 6,
    }
}

/// Appends `value` escaped as an SD-PARAM value (`"`, `\` and `]` get a backslash),
/// stopping before `max_bytes` of escaped output; returns whether it was cut.
fn push_escaped_value(out: &mut String, value: &str, max_bytes: usize) -> bool {
    let mut written = 0;
    for c in value.chars() {
        let c = if c.is_control() { ' ' } else { c };
        let escaped_len = c.len_utf8() + usize::from(matches!(c, '"' | '\\' | ']'));
        if written + escaped_len > max_bytes {
            return true;
        }
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
        written += escaped_len;
    }
    false
}

/// A header field (HOSTNAME, APP-NAME, MSGID): printable ASCII without spaces, bounded, `-` when empty.
fn header_field(value: &str, max_len: usize) -> String {
    let cleaned: String = value.chars().filter(|c| c.is_ascii_graphic()).take(max_len).collect();
    if cleaned.is_empty() {
        "-".to_string()
    } else {
        cleaned
    }
}

/// Formats one RFC 5424 message. `max_bytes` bounds the whole message (UDP);
/// when anything had to be cut, the structured data says `truncated="1"`.
pub fn format_message(notification: &Notification, facility: u8, hostname: &str, max_bytes: Option<usize>) -> String {
    let priority = u16::from(facility) * 8 + u16::from(syslog_severity(notification.severity));
    let header = format!(
        "<{priority}>1 {} {} weir {} {} ",
        crate::timefmt::rfc3339(notification.time_unix_ns),
        // Keep the header small enough that a minimal UDP datagram (480 bytes) still fits.
        header_field(hostname, if max_bytes.is_some() { 64 } else { 255 }),
        std::process::id(),
        header_field(notification.kind.as_str(), 32),
    );
    let alert_id = notification.alert_id.map(|id| id.to_string());
    let mut params: Vec<(&str, &str)> = vec![
        ("rule", &notification.rule_id),
        ("title", &notification.rule_title),
        ("severity", notification.severity.as_str()),
        ("host", notification.host_label()),
        ("host_id", &notification.host_id),
    ];
    if let Some(alert_id) = &alert_id {
        params.push(("alert", alert_id));
    }
    if let Some(actor) = &notification.actor {
        params.push(("actor", actor));
    }
    params.push(("dedup", &notification.dedup_key));
    if let Some(url) = &notification.url {
        params.push(("url", url));
    }
    // On UDP, structured data may take half the datagram, shared equally by the values;
    // if escaping still makes it too long, the share is halved until it fits.
    let flag = " truncated=\"1\"]";
    let mut value_budget = match max_bytes {
        Some(max) => max.saturating_sub(header.len()) / 2 / params.len(),
        None => MAX_TCP_VALUE_BYTES,
    };
    let (mut structured, mut truncated) = structured_data(&params, value_budget);
    while let Some(max) = max_bytes {
        if header.len() + structured.len() + flag.len() <= max || value_budget == 0 {
            break;
        }
        value_budget /= 2;
        (structured, truncated) = structured_data(&params, value_budget);
    }
    let message_budget = match max_bytes {
        Some(max) => max.saturating_sub(header.len() + structured.len() + flag.len() + 1),
        None => MAX_TCP_MESSAGE_BYTES,
    };
    let summary: String = notification
        .summary
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut message_end = summary.len().min(message_budget);
    while !summary.is_char_boundary(message_end) {
        message_end -= 1;
    }
    truncated |= message_end < summary.len();
    if truncated {
        structured.push_str(" truncated=\"1\"");
    }
    structured.push(']');
    let mut line = header;
    line.push_str(&structured);
    if message_end > 0 {
        line.push(' ');
        line.push_str(&summary[..message_end]);
    }
    line
}

/// `[weir@32473 name="value" ...` (not yet closed) with every value cut to `value_budget`
/// escaped bytes; true when any value was cut.
fn structured_data(params: &[(&str, &str)], value_budget: usize) -> (String, bool) {
    let mut truncated = false;
    let mut structured = format!("[{SD_ID}");
    for (name, value) in params {
        structured.push(' ');
        structured.push_str(name);
        structured.push_str("=\"");
        truncated |= push_escaped_value(&mut structured, value, value_budget);
        structured.push('"');
    }
    (structured, truncated)
}

/// This machine's host name for the HOSTNAME field (the collector sends the message;
/// the host the alert is about is in the structured data).
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// Sends one message.
pub async fn deliver(settings: &SyslogSettings, notification: &Notification) -> Result<(), DeliveryError> {
    let hostname = local_hostname();
    let transient = |what: &str, error: std::io::Error| {
        DeliveryError::Transient(format!("syslog {} {what}: {error}", settings.address))
    };
    match settings.protocol {
        SyslogProtocol::Udp => {
            let message = format_message(notification, settings.facility, &hostname, Some(settings.udp_max_bytes));
            let target = tokio::net::lookup_host(&settings.address)
                .await
                .map_err(|e| transient("lookup", e))?
                .next()
                .ok_or_else(|| DeliveryError::Transient(format!("syslog {}: no address", settings.address)))?;
            let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let socket = UdpSocket::bind(bind).await.map_err(|e| transient("bind", e))?;
            socket
                .send_to(message.as_bytes(), target)
                .await
                .map_err(|e| transient("send", e))?;
            Ok(())
        }
        SyslogProtocol::Tcp => {
            let message = format_message(notification, settings.facility, &hostname, None);
            let mut stream = TcpStream::connect(&settings.address)
                .await
                .map_err(|e| transient("connect", e))?;
            let framed = format!("{} {message}", message.len());
            stream
                .write_all(framed.as_bytes())
                .await
                .map_err(|e| transient("write", e))?;
            stream.shutdown().await.map_err(|e| transient("close", e))?;
            Ok(())
        }
    }
}
