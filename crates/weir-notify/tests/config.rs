//! `outputs.yaml` loading: a full valid file, secrets from files, and errors
//! that name the file, the output and the field; never a panic on any input.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use weir_notify::config::{OutputSettings, SlackTarget, SmtpTls, SyslogProtocol};
use weir_notify::{ConfigError, Kind, OutputsConfig, Severity};

fn error_of(yaml: &str) -> String {
    match OutputsConfig::from_yaml(yaml, "outputs.yaml") {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn loads_every_output_type_from_a_file() {
    let directory = tempfile::tempdir().unwrap();
    let key_file = directory.path().join("pd.key");
    std::fs::write(&key_file, "R0UT1NG-FROM-FILE\n").unwrap();
    let path = directory.path().join("outputs.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
outputs:
  - name: hook
    type: webhook
    url: https://hooks.example.com/weir
    secret: s3cret
    min_severity: medium
    kinds: [alert, escalation]
    retries: 3
    timeout: 5s
    queue: 64
  - name: slack-sec
    type: slack
    token: xoxb-1
    channel: C0SEC
  - name: pd
    type: pagerduty
    routing_key_file: {}
    min_severity: high
  - name: siem
    type: syslog
    address: siem.example.com:6514
    protocol: tcp
    facility: local3
  - name: mail
    type: email
    server: smtp.example.com:587
    from: weir@example.com
    to: [sec@example.com]
    username: weir
    password: hunter2
  - name: archive
    type: file
    path: /var/log/weir/alerts.jsonl
"#,
            key_file.display()
        ),
    )
    .unwrap();
    let config = OutputsConfig::load(&path).unwrap();
    let names: Vec<&str> = config.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["hook", "slack-sec", "pd", "siem", "mail", "archive"]);
    let types: Vec<&str> = config.outputs.iter().map(|o| o.type_name()).collect();
    assert_eq!(types, ["webhook", "slack", "pagerduty", "syslog", "email", "file"]);

    let hook = &config.outputs[0];
    assert_eq!(hook.min_severity, Severity::Medium);
    assert_eq!(hook.kinds.as_deref(), Some(&[Kind::Alert, Kind::Escalation][..]));
    assert_eq!(
        (hook.retries, hook.timeout, hook.queue_capacity),
        (3, Duration::from_secs(5), 64)
    );
    let slack = &config.outputs[1];
    assert_eq!(
        (slack.retries, slack.timeout, slack.min_severity),
        (5, Duration::from_secs(10), Severity::Informational)
    );
    match &slack.settings {
        OutputSettings::Slack(settings) => match &settings.target {
            SlackTarget::Bot { api_base, channel, .. } => {
                assert_eq!(
                    (api_base.as_str(), channel.as_str()),
                    ("https://slack.com/api", "C0SEC")
                )
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match &config.outputs[2].settings {
        OutputSettings::PagerDuty(settings) => {
            assert_eq!(settings.routing_key, "R0UT1NG-FROM-FILE");
            assert_eq!(settings.events_url, "https://events.pagerduty.com/v2/enqueue");
        }
        other => panic!("{other:?}"),
    }
    match &config.outputs[3].settings {
        OutputSettings::Syslog(settings) => {
            assert_eq!(
                (settings.protocol, settings.facility, settings.udp_max_bytes),
                (SyslogProtocol::Tcp, 19, 2048)
            )
        }
        other => panic!("{other:?}"),
    }
    match &config.outputs[4].settings {
        OutputSettings::Email(settings) => assert_eq!(settings.tls, SmtpTls::StartTls),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_the_file_output_and_field() {
    assert_eq!(
        error_of("outputs:\n  - name: pd\n    type: pagerduty\n"),
        r#"outputs.yaml: outputs[0] ("pd"): field routing_key: missing (type pagerduty needs it)"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: a\n    type: file\n    path: /x\n  - name: hook\n    type: webhook\n    url: http://x\n    retries: many\n"),
        "outputs.yaml: field outputs[1].retries: invalid type: string \"many\", expected u32 at line 8 column 14"
    );
    let unknown = error_of("outputs:\n  - name: hook\n    type: webhook\n    url: http://x\n    secert: s\n");
    assert!(
        unknown.starts_with("outputs.yaml: field outputs[0].secert: unknown field `secert`"),
        "{unknown}"
    );
    assert!(unknown.ends_with("at line 5 column 5"), "{unknown}");
    assert_eq!(
        error_of("outputs:\n  - name: hook\n    type: webhook\n    url: http://x\n    channel: C1\n"),
        r#"outputs.yaml: outputs[0] ("hook"): field channel: not a setting of type webhook"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: x\n    type: sms\n"),
        r#"outputs.yaml: outputs[0] ("x"): field type: "sms" is not one of webhook, slack, pagerduty, syslog, email, file"#
    );
    let severity = error_of("outputs:\n  - name: x\n    type: file\n    path: /x\n    min_severity: urgent\n");
    assert!(
        severity.starts_with("outputs.yaml: field outputs[0].min_severity: unknown variant `urgent`"),
        "{severity}"
    );
    assert_eq!(
        error_of("outputs:\n  - name: x\n    type: webhook\n    url: ftp://x\n"),
        r#"outputs.yaml: outputs[0] ("x"): field url: "ftp://x" does not start with http:// or https://"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: x\n    type: file\n    path: /a\n  - name: x\n    type: file\n    path: /b\n"),
        r#"outputs.yaml: outputs[1] ("x"): field name: another output already has this name"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: s\n    type: syslog\n    address: siem\n"),
        r#"outputs.yaml: outputs[0] ("s"): field address: "siem" is not host:port"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: s\n    type: syslog\n    address: h:514\n    facility: 24\n"),
        r#"outputs.yaml: outputs[0] ("s"): field facility: 24 is not a facility (0-23)"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: x\n    type: file\n    path: /a\n    timeout: soon\n"),
        r#"outputs.yaml: outputs[0] ("x"): field timeout: "soon" is not a duration like 500ms, 10s or 2m"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: m\n    type: email\n    server: h:25\n    tls: none\n    from: a@b\n    to: [c@d]\n    username: u\n    password: p\n"),
        r#"outputs.yaml: outputs[0] ("m"): field tls: refusing to send a password without TLS (use starttls or implicit)"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: m\n    type: email\n    server: h:25\n    from: a@b\n    to: [c@d, \"x\\r\\nBcc: e@f\"]\n"),
        r#"outputs.yaml: outputs[0] ("m"): field to[1]: "x\r\nBcc: e@f" is not an email address"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: sl\n    type: slack\n    token: t\n"),
        r#"outputs.yaml: outputs[0] ("sl"): field channel: missing (type slack with token needs it)"#
    );
    assert_eq!(
        error_of("outputs:\n  - name: has space\n    type: file\n    path: /a\n"),
        r#"outputs.yaml: outputs[0] ("has space"): field name: use letters, digits, '-', '_' or '.' (it labels metrics)"#
    );
}

#[test]
fn secret_file_errors_name_the_field_and_file() {
    let error = error_of(
        "outputs:\n  - name: hook\n    type: webhook\n    url: http://x\n    secret_file: /nonexistent/weir.secret\n",
    );
    assert!(
        error.starts_with(
            r#"outputs.yaml: outputs[0] ("hook"): field secret_file: cannot read /nonexistent/weir.secret: "#
        ),
        "{error}"
    );
    let error = error_of(
        "outputs:\n  - name: hook\n    type: webhook\n    url: http://x\n    secret: a\n    secret_file: /b\n",
    );
    assert_eq!(
        error,
        r#"outputs.yaml: outputs[0] ("hook"): field secret: give either secret or secret_file, not both"#
    );
}

#[test]
fn missing_file_names_the_path() {
    let error = OutputsConfig::load(std::path::Path::new("/nonexistent/outputs.yaml")).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(error.to_string().starts_with("/nonexistent/outputs.yaml: "), "{error}");
}

#[test]
fn empty_document_has_no_outputs() {
    assert!(OutputsConfig::from_yaml("outputs: []\n", "o.yaml")
        .unwrap()
        .outputs
        .is_empty());
    assert!(OutputsConfig::from_yaml("{}\n", "o.yaml").unwrap().outputs.is_empty());
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = OutputsConfig::from_yaml(&text, "fuzz.yaml");
    }

    #[test]
    fn never_panics_on_mangled_valid_config(cut in 0usize..400, insert in "[ -~\\n]{0,8}") {
        let valid = "outputs:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:9/x\n    secret: s\n  - name: s\n    type: syslog\n    address: h:514\n    facility: authpriv\n    udp_max_bytes: 900\n  - name: m\n    type: email\n    server: h:25\n    tls: none\n    from: a@b\n    to: [c@d]\n";
        let cut = cut.min(valid.len());
        let mangled = format!("{}{}{}", &valid[..cut], insert, &valid[cut..]);
        if let Err(error) = OutputsConfig::from_yaml(&mangled, "fuzz.yaml") {
            prop_assert!(error.to_string().starts_with("fuzz.yaml: "));
        }
    }
}

#[test]
fn shipped_example_loads_once_its_secret_files_exist() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/outputs.example.yaml")).unwrap();
    let directory = tempfile::tempdir().unwrap();
    let mut text = example.clone();
    for secret in [
        "soar-webhook",
        "slack-bot-token",
        "pagerduty-routing-key",
        "smtp-password",
    ] {
        let path = directory.path().join(secret);
        std::fs::write(&path, format!("{secret}-value\n")).unwrap();
        text = text.replace(&format!("/etc/weir/secrets/{secret}"), &path.display().to_string());
    }
    let config = OutputsConfig::from_yaml(&text, "outputs.example.yaml").unwrap();
    assert_eq!(config.outputs.len(), 6);
    match &config.outputs[2].settings {
        OutputSettings::PagerDuty(settings) => assert_eq!(settings.routing_key, "pagerduty-routing-key-value"),
        other => panic!("{other:?}"),
    }
    // As shipped (secret files absent) it names the first missing file.
    let error = OutputsConfig::from_yaml(&example, "outputs.example.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("secret_file: cannot read /etc/weir/secrets/soar-webhook"),
        "{error}"
    );
}
