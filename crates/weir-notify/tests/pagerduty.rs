//! PagerDuty Events API v2 output against a real local HTTP server standing
//! in for the events endpoint: trigger and resolve shapes, severity mapping,
//! retry on 429 and no retry on 400.

mod common;

use common::http_receiver::HttpReceiver;
use common::{config, sample_alert, FLUSH};
use weir_notify::{Kind, Notifier, Severity};

fn pagerduty_config(events_url: &str) -> weir_notify::OutputsConfig {
    config(&format!(
        "outputs:\n  - name: pd\n    type: pagerduty\n    routing_key: R0UT1NGKEY\n    events_url: {events_url}\n    backoff: 10ms\n"
    ))
}

const ACCEPTED: (u16, &str) = (
    202,
    r#"{"status":"success","message":"Event processed","dedup_key":"k"}"#,
);

#[test]
fn triggers_then_resolves_one_incident() {
    let receiver = HttpReceiver::start(vec![], ACCEPTED);
    let notifier = Notifier::start(pagerduty_config(&receiver.url("/v2/enqueue"))).unwrap();
    let alert = sample_alert();
    notifier.send(&alert);
    let mut resolved = alert.clone();
    resolved.kind = Kind::Resolved;
    notifier.send(&resolved);
    assert!(notifier.flush(FLUSH));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v2/enqueue");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    let trigger = requests[0].json();
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "weir-linux-shadow-read/alice");
    let payload = &trigger["payload"];
    assert_eq!(payload["severity"], "error");
    assert_eq!(payload["source"], "db-prod-1");
    assert_eq!(
        payload["summary"],
        "Read of /etc/shadow by a shell: cat /etc/shadow on db-prod-1"
    );
    assert_eq!(payload["component"], "weir-linux-shadow-read");
    assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(payload["custom_details"]["command_line"], "cat /etc/shadow");
    assert_eq!(payload["custom_details"]["evidence"], serde_json::json!([1001, 1002]));
    assert_eq!(payload["custom_details"]["alert_id"], 42);
    assert_eq!(payload["custom_details"]["actor"], "alice");
    assert_eq!(trigger["links"][0]["href"], "https://weir.example/alerts/42");

    let resolve = requests[1].json();
    assert_eq!(
        resolve,
        serde_json::json!({"routing_key": "R0UT1NGKEY", "event_action": "resolve", "dedup_key": "weir-linux-shadow-read/alice"})
    );
    assert_eq!(notifier.stats()[0].sent, 2);
}

#[test]
fn maps_every_severity() {
    let receiver = HttpReceiver::start(vec![], ACCEPTED);
    let notifier = Notifier::start(pagerduty_config(&receiver.url("/"))).unwrap();
    let severities = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
    ];
    for severity in severities {
        let mut alert = sample_alert();
        alert.severity = severity;
        notifier.send(&alert);
    }
    assert!(notifier.flush(FLUSH));
    let sent: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.json()["payload"]["severity"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, ["critical", "error", "warning", "info", "info"]);
}

#[test]
fn retries_rate_limit_but_not_a_bad_request() {
    let receiver = HttpReceiver::start(
        vec![(429, "rate limited"), (400, r#"{"status":"invalid event"}"#)],
        ACCEPTED,
    );
    let notifier = Notifier::start(pagerduty_config(&receiver.url("/"))).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    assert_eq!(receiver.requests().len(), 2);
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 1, 1));
    assert!(stats.last_error.as_deref().unwrap().contains("invalid event"));
}

#[test]
fn triage_requests_never_page() {
    let receiver = HttpReceiver::start(vec![], ACCEPTED);
    let notifier = Notifier::start(pagerduty_config(&receiver.url("/"))).unwrap();
    let mut request = sample_alert();
    request.kind = Kind::TriageRequest;
    assert_eq!(notifier.send(&request), 0);
    assert!(notifier.flush(FLUSH));
    assert!(receiver.requests().is_empty());
}
