//! Email output against a real SMTP sink on a loopback socket: envelope,
//! headers, body, dot-stuffing, non-ASCII subjects, refused recipients,
//! STARTTLS required but not offered, and triage requests to one person.

mod common;

use base64::Engine as _;
use common::smtp_sink::SmtpSink;
use common::{config, sample_alert, FLUSH};
use weir_notify::{Kind, Notifier, Recipient};

fn email_config(sink: &SmtpSink, extra: &str) -> weir_notify::OutputsConfig {
    config(&format!(
        "outputs:\n  - name: mail\n    type: email\n    server: {}\n    tls: none\n    from: weir@example.com\n    to: [sec@example.com, oncall@example.com]\n    backoff: 10ms\n{extra}",
        sink.addr
    ))
}

#[test]
fn sends_a_plain_text_alert_mail() {
    let sink = SmtpSink::start(vec![]);
    let notifier = Notifier::start(email_config(&sink, "")).unwrap();
    let mut alert = sample_alert();
    alert.summary = ".hidden leading dot\n.\nend".into();
    notifier.send(&alert);
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.failed), (1, 0), "{:?}", stats.last_error);

    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "weir@example.com");
    assert_eq!(mail.to, ["sec@example.com", "oncall@example.com"]);
    assert!(!mail.helo.is_empty());
    assert_eq!(
        mail.header("Subject").unwrap(),
        "[weir] high Read of /etc/shadow by a shell on db-prod-1"
    );
    assert_eq!(mail.header("From").unwrap(), "weir@example.com");
    assert_eq!(mail.header("To").unwrap(), "sec@example.com, oncall@example.com");
    assert_eq!(mail.header("Content-Type").unwrap(), "text/plain; charset=utf-8");
    assert_eq!(mail.header("X-Weir-Severity").unwrap(), "high");
    assert!(mail.header("Date").unwrap().ends_with("+0000"));
    assert!(mail.header("Message-ID").unwrap().ends_with("@example.com>"));
    let body = mail.body();
    // Dot-stuffing was undone by the sink: the lines arrive as written.
    assert!(body.starts_with(".hidden leading dot\r\n.\r\nend\r\n"), "{body}");
    assert!(
        body.contains("Rule:     Read of /etc/shadow by a shell (weir-linux-shadow-read)\r\n"),
        "{body}"
    );
    assert!(body.contains("Actor:    alice\r\n"));
    assert!(body.contains("  command_line: cat /etc/shadow\r\n"));
    assert!(body.contains("  evidence: [1001,1002]\r\n"));
    assert!(body.contains("https://weir.example/alerts/42\r\n"));
    let commands = sink.commands.lock().unwrap().clone();
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
}

#[test]
fn non_ascii_subject_and_body_are_encoded() {
    let sink = SmtpSink::start(vec![]);
    let notifier = Notifier::start(email_config(&sink, "")).unwrap();
    let mut alert = sample_alert();
    alert.rule_title = "Accès à /etc/shadow — ünïcode".into();
    alert.summary = "cat /etc/shadow # café".into();
    notifier.send(&alert);
    assert!(notifier.flush(FLUSH));
    let mail = &sink.mails()[0];
    let subject = mail.header("Subject").unwrap();
    assert!(subject.is_ascii() && subject.starts_with("=?UTF-8?B?"), "{subject}");
    let decoded: String = subject
        .split(' ')
        .map(|word| {
            let encoded = word.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=");
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(decoded, "[weir] high Accès à /etc/shadow — ünïcode on db-prod-1");
    assert_eq!(mail.header("Content-Transfer-Encoding").unwrap(), "base64");
    let body: String = mail.body().split("\r\n").collect();
    let body = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body).unwrap()).unwrap();
    assert!(body.starts_with("cat /etc/shadow # café\n"), "{body}");
}

#[test]
fn header_injection_from_event_data_is_neutralised() {
    let sink = SmtpSink::start(vec![]);
    let notifier = Notifier::start(email_config(&sink, "")).unwrap();
    let mut alert = sample_alert();
    alert.rule_title = "evil\r\nBcc: attacker@example.net".into();
    notifier.send(&alert);
    assert!(notifier.flush(FLUSH));
    let mail = &sink.mails()[0];
    assert_eq!(mail.header("Bcc"), None);
    assert!(mail
        .header("Subject")
        .unwrap()
        .contains("evil  Bcc: attacker@example.net"));
}

#[test]
fn refused_recipient_is_a_permanent_failure() {
    let sink = SmtpSink::start(vec!["oncall@example.com".into()]);
    let notifier = Notifier::start(email_config(&sink, "")).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
    let error = stats.last_error.as_deref().unwrap();
    assert!(error.contains("550") && error.contains("oncall@example.com"), "{error}");
    assert!(sink.mails().is_empty());
}

#[test]
fn starttls_required_but_not_offered_is_refused() {
    let sink = SmtpSink::start(vec![]);
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: mail\n    type: email\n    server: {}\n    from: weir@example.com\n    to: [sec@example.com]\n",
        sink.addr
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
    assert!(stats.last_error.as_deref().unwrap().contains("STARTTLS"));
    assert!(sink.mails().is_empty());
}

#[test]
fn triage_request_goes_only_to_the_person_asked() {
    let sink = SmtpSink::start(vec![]);
    let notifier = Notifier::start(email_config(&sink, "")).unwrap();
    let mut request = sample_alert();
    request.kind = Kind::TriageRequest;
    assert_eq!(notifier.send(&request), 0, "no recipient: not sent to the team list");
    request.recipient = Some(Recipient {
        email: Some("alice@example.com".into()),
        ..Recipient::default()
    });
    assert_eq!(notifier.send(&request), 1);
    assert!(notifier.flush(FLUSH));
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["alice@example.com"]);
    assert!(mails[0]
        .header("Subject")
        .unwrap()
        .starts_with("[weir] was this you? high"));
}

#[test]
fn dead_server_is_retried_then_failed() {
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: mail\n    type: email\n    server: 127.0.0.1:{}\n    tls: none\n    from: weir@example.com\n    to: [sec@example.com]\n    retries: 2\n    backoff: 10ms\n",
        common::dead_port()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 2, 1));
    assert!(stats.last_error.as_deref().unwrap().contains("connect"));
}
