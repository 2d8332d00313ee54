//! Syslog output against real UDP and TCP listeners: RFC 5424 header,
//! priority, structured data with escaping, octet-counted TCP frames, UDP
//! size bound with the truncation flag; and a property test that any
//! notification formats to a message that parses back to its values.

mod common;

use std::time::{Duration, Instant};

use common::syslog_listener::{parse_rfc5424, SyslogListener};
use common::{config, sample_alert, FLUSH};
use proptest::prelude::*;
use weir_notify::syslog::format_message;
use weir_notify::{Kind, Notifier, Severity};

fn wait_for_messages(listener: &SyslogListener, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + FLUSH;
    loop {
        let messages = listener.messages();
        if messages.len() >= count || Instant::now() > deadline {
            return messages;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tricky_alert() -> weir_notify::Notification {
    let mut alert = sample_alert();
    alert.rule_title = r#"Shell "reads" C:\shadow [x]"#.into();
    alert
}

#[test]
fn udp_message_is_rfc_5424_with_escaped_structured_data() {
    let listener = SyslogListener::udp();
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: siem\n    type: syslog\n    address: {}\n    protocol: udp\n",
        listener.addr
    )))
    .unwrap();
    notifier.send(&tricky_alert());
    assert!(notifier.flush(FLUSH));
    let messages = wait_for_messages(&listener, 1);
    assert_eq!(messages.len(), 1);
    let raw = String::from_utf8(messages[0].clone()).unwrap();
    assert!(raw.contains(r#"title="Shell \"reads\" C:\\shadow [x\]""#), "{raw}");
    let parsed = parse_rfc5424(&messages[0]).unwrap();
    // authpriv (10) * 8 + err (3) for a high alert.
    assert_eq!(parsed.priority, 83);
    assert_eq!(parsed.version, 1);
    assert!(
        parsed.timestamp.ends_with('Z') && parsed.timestamp.contains('T'),
        "{}",
        parsed.timestamp
    );
    assert_eq!(parsed.app_name, "weir");
    assert_eq!(parsed.proc_id, std::process::id().to_string());
    assert_eq!(parsed.msg_id, "alert");
    assert_eq!(parsed.sd_id, "weir@32473");
    assert_eq!(parsed.params["rule"], "weir-linux-shadow-read");
    assert_eq!(parsed.params["title"], r#"Shell "reads" C:\shadow [x]"#);
    assert_eq!(parsed.params["host"], "db-prod-1");
    assert_eq!(parsed.params["alert"], "42");
    assert_eq!(parsed.params["actor"], "alice");
    assert_eq!(parsed.params["severity"], "high");
    assert!(!parsed.params.contains_key("truncated"));
    assert_eq!(parsed.message, "cat /etc/shadow");
    assert_eq!(notifier.stats()[0].sent, 1);
}

#[test]
fn tcp_messages_use_octet_counting_frames() {
    let listener = SyslogListener::tcp();
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: siem\n    type: syslog\n    address: {}\n    protocol: tcp\n    facility: local0\n",
        listener.addr
    )))
    .unwrap();
    let mut escalation = tricky_alert();
    escalation.kind = Kind::Escalation;
    escalation.severity = Severity::Critical;
    escalation.summary = "x".repeat(5000);
    notifier.send(&escalation);
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let messages = wait_for_messages(&listener, 2);
    assert_eq!(messages.len(), 2);
    let first = parse_rfc5424(&messages[0]).unwrap();
    // local0 (16) * 8 + crit (2).
    assert_eq!(first.priority, 130);
    assert_eq!(first.msg_id, "escalation");
    assert_eq!(first.message.len(), 5000, "TCP does not truncate a 5000-byte message");
    let second = parse_rfc5424(&messages[1]).unwrap();
    assert_eq!(second.priority, 16 * 8 + 3);
    assert_eq!(second.message, "cat /etc/shadow");
}

#[test]
fn udp_messages_are_bounded_and_flagged_when_cut() {
    let listener = SyslogListener::udp();
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: siem\n    type: syslog\n    address: {}\n    udp_max_bytes: 600\n",
        listener.addr
    )))
    .unwrap();
    let mut alert = sample_alert();
    alert.summary = "é".repeat(2000);
    alert.rule_title = "]".repeat(500);
    notifier.send(&alert);
    assert!(notifier.flush(FLUSH));
    let messages = wait_for_messages(&listener, 1);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].len() <= 600, "{} bytes", messages[0].len());
    let parsed = parse_rfc5424(&messages[0]).unwrap();
    assert_eq!(parsed.params["truncated"], "1");
    assert!(parsed.message.chars().all(|c| c == 'é') && !parsed.message.is_empty());
    assert!(parsed.params["title"].chars().all(|c| c == ']'));
}

#[test]
fn unreachable_tcp_collector_is_a_failure() {
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: siem\n    type: syslog\n    address: 127.0.0.1:{}\n    protocol: tcp\n    retries: 0\n",
        common::dead_port()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.failed), (0, 1));
    assert!(stats.last_error.as_deref().unwrap().contains("connect"));
}

proptest! {
    #[test]
    fn any_notification_formats_to_a_parseable_message(
        title in "\\PC{0,60}",
        summary in "\\PC{0,200}",
        actor in proptest::option::of("[ -~]{0,30}"),
        host in "[ -~]{0,40}",
        collector in "[!-~]{1,255}",
        max in proptest::option::of(480usize..2048),
    ) {
        let mut alert = sample_alert();
        alert.rule_title = title.clone();
        alert.summary = summary;
        alert.actor = actor.clone();
        alert.host_name = host;
        let message = format_message(&alert, 10, &collector, max);
        if let Some(max) = max {
            prop_assert!(message.len() <= max, "{} > {}", message.len(), max);
        }
        let parsed = parse_rfc5424(message.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {message}")))?;
        prop_assert_eq!(parsed.priority, 83);
        prop_assert!(collector.starts_with(parsed.hostname.as_str()));
        if !parsed.params.contains_key("truncated") {
            prop_assert_eq!(&parsed.params["title"], &title);
            if let Some(actor) = &actor {
                prop_assert_eq!(&parsed.params["actor"], actor);
            }
        } else {
            prop_assert!(title.starts_with(parsed.params["title"].as_str()));
        }
    }
}
