//! The Slack interactions endpoint of a real `weir up` with triage on: a
//! request without Slack's signature is refused; a signed "Yes" is answered
//! with the confirm page link (a yes needs the second factor); a signed "No"
//! on an unknown token is answered without escalating anything.

mod common;

use common::Up;

fn post(base: &str, path: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut all = headers.to_vec();
    all.push(("Content-Type", "application/x-www-form-urlencoded".to_string()));
    common::http(base, "POST", path, &all, body)
}

fn interaction(action_id: &str, token: &str) -> String {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": "U123"},
        "actions": [{"action_id": action_id, "value": token}]
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

#[test]
fn slack_buttons_are_verified_and_a_yes_still_needs_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("people.yaml"),
        "- id: alice\n  name: Alice\n  logins: [alice]\n  slack_id: U123\n",
    )
    .unwrap();
    let secret = dir.path().join("slack.secret");
    std::fs::write(&secret, "8f742231b10e8888abcd99yyyzzz85a5\n").unwrap();
    let up = Up::start_with(
        &data,
        &rules,
        &[
            "--no-sensor".as_ref(),
            "--slack-signing-secret-file".as_ref(),
            secret.as_os_str(),
        ],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = |body: &str| {
        vec![
            ("X-Slack-Request-Timestamp", now.to_string()),
            (
                "X-Slack-Signature",
                weir_notify::signature::sign_slack_request("8f742231b10e8888abcd99yyyzzz85a5", now, body.as_bytes()),
            ),
        ]
    };

    let body = interaction(weir_notify::slack::TRIAGE_NO_ACTION, "bogus-token");
    let (status, _) = post(&up.http, "/api/slack/interactions", &[], &body);
    assert_eq!(status, 401, "unsigned request accepted");
    let mut wrong = signed(&body);
    wrong[1].1 = weir_notify::signature::sign_slack_request("another secret", now, body.as_bytes());
    assert_eq!(post(&up.http, "/api/slack/interactions", &wrong, &body).0, 401);

    let (status, text) = post(&up.http, "/api/slack/interactions", &signed(&body), &body);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("cannot be answered"), "{text}");

    let body = interaction(weir_notify::slack::TRIAGE_YES_ACTION, "tok123");
    let (status, text) = post(&up.http, "/api/slack/interactions", &signed(&body), &body);
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("/triage/tok123") && text.contains("second factor"),
        "{text}"
    );
    let status = up.stop();
    assert!(status.success(), "{status:?}");
}
