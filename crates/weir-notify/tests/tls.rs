//! TLS outputs against real TLS servers with a throwaway CA: https webhook and
//! PagerDuty trusted through `ca_file`, refused without it (certificates are
//! really checked), SMTP with STARTTLS + AUTH PLAIN and with implicit TLS.

mod common;

use common::http_receiver::HttpReceiver;
use common::smtp_sink::{SinkOptions, SmtpSink};
use common::test_pki::TestPki;
use common::{config, now_secs, sample_alert, FLUSH};
use weir_notify::{verify_webhook, Notifier};

#[test]
fn https_webhook_with_a_private_ca() {
    let pki = TestPki::new();
    let receiver = HttpReceiver::start_with_tls(vec![], (200, "ok"), Some(pki.server_config.clone()));
    let port = receiver.addr.port();
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: hook\n    type: webhook\n    url: https://localhost:{port}/in\n    secret: k\n    ca_file: {}\n",
        pki.ca_file.display()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.failed), (1, 0), "{:?}", stats.last_error);
    let request = &receiver.requests()[0];
    assert_eq!(request.header("host"), Some(format!("localhost:{port}").as_str()));
    let verified = verify_webhook(
        b"k",
        request.header("x-weir-timestamp").unwrap(),
        &request.body,
        request.header("x-weir-signature").unwrap(),
        now_secs(),
    );
    assert_eq!(verified, Ok(()));
}

#[test]
fn https_to_an_untrusted_certificate_is_refused() {
    let pki = TestPki::new();
    let receiver = HttpReceiver::start_with_tls(vec![], (202, "{}"), Some(pki.server_config.clone()));
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: pd\n    type: pagerduty\n    routing_key: R\n    events_url: https://127.0.0.1:{}/v2/enqueue\n    retries: 0\n",
        receiver.addr.port()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.failed), (0, 1));
    let error = stats.last_error.as_deref().unwrap();
    assert!(
        error.contains("TLS") && error.to_lowercase().contains("certificate"),
        "{error}"
    );
    assert!(receiver.requests().is_empty());
}

#[test]
fn https_pagerduty_to_an_ip_address_with_a_private_ca() {
    let pki = TestPki::new();
    let receiver = HttpReceiver::start_with_tls(vec![], (202, "{}"), Some(pki.server_config.clone()));
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: pd\n    type: pagerduty\n    routing_key: R\n    events_url: https://127.0.0.1:{}/v2/enqueue\n    ca_file: {}\n",
        receiver.addr.port(),
        pki.ca_file.display()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    assert_eq!(notifier.stats()[0].sent, 1, "{:?}", notifier.stats()[0].last_error);
    assert_eq!(receiver.requests()[0].json()["event_action"], "trigger");
}

#[test]
fn smtp_starttls_then_auth_plain() {
    let pki = TestPki::new();
    let sink = SmtpSink::start_with(SinkOptions {
        tls: Some(pki.server_config.clone()),
        ..SinkOptions::default()
    });
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: mail\n    type: email\n    server: localhost:{}\n    tls: starttls\n    from: weir@example.com\n    to: [sec@example.com]\n    username: weir\n    password: hunter2\n    ca_file: {}\n",
        sink.addr.port(),
        pki.ca_file.display()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.failed), (1, 0), "{:?}", stats.last_error);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].over_tls);
    assert_eq!(mails[0].auth.as_deref(), Some("weir:hunter2"));
    let commands = sink.commands.lock().unwrap().clone();
    // EHLO again after STARTTLS, credentials only after it.
    let starttls = commands.iter().position(|c| c == "STARTTLS").unwrap();
    let auth = commands.iter().position(|c| c.starts_with("AUTH PLAIN")).unwrap();
    assert!(commands[..starttls].iter().any(|c| c.starts_with("EHLO")));
    assert!(commands[starttls..auth].iter().any(|c| c.starts_with("EHLO")));
}

#[test]
fn smtp_implicit_tls() {
    let pki = TestPki::new();
    let sink = SmtpSink::start_with(SinkOptions {
        tls: Some(pki.server_config.clone()),
        implicit_tls: true,
        ..SinkOptions::default()
    });
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: mail\n    type: email\n    server: localhost:{}\n    tls: implicit\n    from: weir@example.com\n    to: [sec@example.com]\n    ca_file: {}\n",
        sink.addr.port(),
        pki.ca_file.display()
    )))
    .unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    assert_eq!(notifier.stats()[0].sent, 1, "{:?}", notifier.stats()[0].last_error);
    assert!(sink.mails()[0].over_tls);
}

#[test]
fn bad_ca_file_is_a_config_error() {
    let directory = tempfile::tempdir().unwrap();
    let not_pem = directory.path().join("ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let error = weir_notify::OutputsConfig::from_yaml(
        &format!(
            "outputs:\n  - name: hook\n    type: webhook\n    url: https://x\n    ca_file: {}\n",
            not_pem.display()
        ),
        "outputs.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with(r#"outputs.yaml: outputs[0] ("hook"): field ca_file: "#),
        "{error}"
    );
    assert!(error.contains("no PEM certificate"), "{error}");
}
