//! Slack output against a real local HTTP server standing in for Slack's API
//! (bot `chat.postMessage` and incoming webhooks), and the interactions side:
//! request signature verification and payload parsing.

mod common;

use common::http_receiver::HttpReceiver;
use common::{config, now_secs, sample_alert, FLUSH};
use proptest::prelude::*;
use weir_notify::slack::{self, InteractionError, TRIAGE_NO_ACTION, TRIAGE_YES_ACTION};
use weir_notify::{Kind, Notifier, Recipient, SignatureError};

fn bot_config(api_base: &str) -> weir_notify::OutputsConfig {
    config(&format!(
        "outputs:\n  - name: slack-sec\n    type: slack\n    token: xoxb-test-token\n    channel: C0SECURITY\n    api_base: {api_base}\n    backoff: 10ms\n"
    ))
}

fn triage_request() -> weir_notify::Notification {
    let mut request = sample_alert();
    request.kind = Kind::TriageRequest;
    request.recipient = Some(Recipient {
        email: Some("alice@example.com".into()),
        slack_user_id: Some("U024BE7LH".into()),
        triage_token: Some("tok-7f3a9".into()),
    });
    request
}

#[test]
fn bot_posts_a_block_kit_message_to_the_channel() {
    let receiver = HttpReceiver::start(vec![], (200, r#"{"ok":true,"ts":"1.2"}"#));
    let notifier = Notifier::start(bot_config(&receiver.url("/api"))).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/api/chat.postMessage");
    assert_eq!(request.header("authorization"), Some("Bearer xoxb-test-token"));
    let message = request.json();
    assert_eq!(message["channel"], "C0SECURITY");
    assert!(message["text"]
        .as_str()
        .unwrap()
        .contains("Read of /etc/shadow by a shell"));
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "Alert: Read of /etc/shadow by a shell");
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert!(
        fields.iter().any(|f| f.starts_with("*Severity*") && f.contains("high")),
        "{fields:?}"
    );
    assert!(fields.contains(&"*Host*\ndb-prod-1"), "{fields:?}");
    assert!(fields.contains(&"*Actor*\nalice"), "{fields:?}");
    assert!(
        fields.contains(&"*Rule*\nRead of /etc/shadow by a shell (weir-linux-shadow-read)"),
        "{fields:?}"
    );
    assert_eq!(blocks[2]["text"]["text"], "cat /etc/shadow");
    let buttons = blocks[3]["elements"].as_array().unwrap();
    assert_eq!(buttons.len(), 1);
    assert_eq!(buttons[0]["url"], "https://weir.example/alerts/42");
    assert_eq!(notifier.stats()[0].sent, 1);
}

#[test]
fn escapes_mrkdwn_control_characters_from_events() {
    let receiver = HttpReceiver::start(vec![], (200, r#"{"ok":true}"#));
    let notifier = Notifier::start(bot_config(&receiver.url(""))).unwrap();
    let mut alert = sample_alert();
    alert.summary = "echo <!channel> & curl http://x >/dev/null".into();
    notifier.send(&alert);
    assert!(notifier.flush(FLUSH));
    let message = receiver.requests()[0].json();
    assert_eq!(
        message["blocks"][2]["text"]["text"],
        "echo &lt;!channel&gt; &amp; curl http://x &gt;/dev/null"
    );
}

#[test]
fn triage_request_goes_to_the_person_as_a_dm_with_yes_no_buttons() {
    let receiver = HttpReceiver::start(vec![], (200, r#"{"ok":true}"#));
    let notifier = Notifier::start(bot_config(&receiver.url(""))).unwrap();
    assert_eq!(notifier.send(&triage_request()), 1);
    assert!(notifier.flush(FLUSH));
    let message = receiver.requests()[0].json();
    assert_eq!(message["channel"], "U024BE7LH");
    assert_eq!(
        message["blocks"][0]["text"]["text"],
        "Was this you?: Read of /etc/shadow by a shell"
    );
    let buttons = message["blocks"][3]["elements"].as_array().unwrap();
    let by_action = |action: &str| buttons.iter().find(|b| b["action_id"] == action).unwrap().clone();
    assert_eq!(by_action(TRIAGE_YES_ACTION)["value"], "tok-7f3a9");
    assert_eq!(by_action(TRIAGE_NO_ACTION)["value"], "tok-7f3a9");
    assert_eq!(by_action(TRIAGE_YES_ACTION)["style"], "primary");
}

#[test]
fn triage_request_without_a_slack_user_is_not_posted_to_the_channel() {
    let receiver = HttpReceiver::start(vec![], (200, r#"{"ok":true}"#));
    let notifier = Notifier::start(bot_config(&receiver.url(""))).unwrap();
    let mut request = triage_request();
    request.recipient.as_mut().unwrap().slack_user_id = None;
    assert_eq!(notifier.send(&request), 0);
    assert!(notifier.flush(FLUSH));
    assert!(receiver.requests().is_empty());
}

#[test]
fn api_error_reply_is_a_permanent_failure() {
    let receiver = HttpReceiver::start(vec![], (200, r#"{"ok":false,"error":"channel_not_found"}"#));
    let notifier = Notifier::start(bot_config(&receiver.url(""))).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    assert_eq!(receiver.requests().len(), 1);
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
    assert!(stats.last_error.as_deref().unwrap().contains("channel_not_found"));
}

#[test]
fn rate_limited_reply_is_retried() {
    let receiver = HttpReceiver::start(
        vec![(200, r#"{"ok":false,"error":"ratelimited"}"#)],
        (200, r#"{"ok":true}"#),
    );
    let notifier = Notifier::start(bot_config(&receiver.url(""))).unwrap();
    notifier.send(&sample_alert());
    assert!(notifier.flush(FLUSH));
    let stats = &notifier.stats()[0];
    assert_eq!((stats.sent, stats.retried, stats.failed), (1, 1, 0));
}

#[test]
fn incoming_webhook_posts_blocks_without_channel_and_skips_triage() {
    let receiver = HttpReceiver::start(vec![], (200, "ok"));
    let notifier = Notifier::start(config(&format!(
        "outputs:\n  - name: slack-hook\n    type: slack\n    webhook_url: {}\n",
        receiver.url("/services/T0/B0/XXXX")
    )))
    .unwrap();
    assert_eq!(notifier.send(&triage_request()), 0);
    assert_eq!(notifier.send(&sample_alert()), 1);
    assert!(notifier.flush(FLUSH));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/services/T0/B0/XXXX");
    let message = requests[0].json();
    assert!(message.get("channel").is_none());
    assert_eq!(message["blocks"][0]["type"], "header");
}

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// A `block_actions` body as Slack posts it to the interactions endpoint.
fn interaction_body(action_id: &str, value: &str, user_id: &str) -> Vec<u8> {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": { "id": user_id, "username": "alice", "team_id": "T0" },
        "actions": [{ "type": "button", "action_id": action_id, "block_id": "b1", "value": value, "action_ts": "1.2" }],
        "response_url": "https://hooks.slack.com/actions/T0/1/abc",
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
        .into_bytes()
}

#[test]
fn interaction_round_trip_verifies_and_parses() {
    let body = interaction_body(TRIAGE_YES_ACTION, "tok-7f3a9", "U024BE7LH");
    let now = now_secs();
    let signature = slack::sign_request(SIGNING_SECRET, now, &body);
    assert_eq!(
        slack::verify_request(SIGNING_SECRET, &now.to_string(), &body, &signature, now),
        Ok(())
    );
    let interaction = slack::parse_interaction(&body).unwrap();
    assert_eq!(interaction.user_id, "U024BE7LH");
    assert_eq!(interaction.action_id, TRIAGE_YES_ACTION);
    assert_eq!(interaction.value, "tok-7f3a9");
}

#[test]
fn verification_refuses_forgeries_replays_and_garbage() {
    let body = interaction_body(TRIAGE_NO_ACTION, "tok-1", "U1");
    let now = now_secs();
    let timestamp = now.to_string();
    let signature = slack::sign_request(SIGNING_SECRET, now, &body);
    let verify = |secret: &str, timestamp: &str, body: &[u8], signature: &str, now: u64| {
        slack::verify_request(secret, timestamp, body, signature, now)
    };
    assert_eq!(
        verify("wrong secret", &timestamp, &body, &signature, now),
        Err(SignatureError::Mismatch)
    );
    let mut tampered = body.clone();
    tampered.extend_from_slice(b"&x=1");
    assert_eq!(
        verify(SIGNING_SECRET, &timestamp, &tampered, &signature, now),
        Err(SignatureError::Mismatch)
    );
    // Signed six minutes ago, and a clock six minutes ahead: both outside the window.
    let old = now - 360;
    let old_signature = slack::sign_request(SIGNING_SECRET, old, &body);
    assert_eq!(
        verify(SIGNING_SECRET, &old.to_string(), &body, &old_signature, now),
        Err(SignatureError::Stale { skew_secs: 360 })
    );
    let future = now + 360;
    let future_signature = slack::sign_request(SIGNING_SECRET, future, &body);
    assert!(matches!(
        verify(SIGNING_SECRET, &future.to_string(), &body, &future_signature, now),
        Err(SignatureError::Stale { .. })
    ));
    // Four minutes old is inside the window.
    let recent = now - 240;
    let recent_signature = slack::sign_request(SIGNING_SECRET, recent, &body);
    assert_eq!(
        verify(SIGNING_SECRET, &recent.to_string(), &body, &recent_signature, now),
        Ok(())
    );
    // Malformed headers.
    assert_eq!(
        verify(SIGNING_SECRET, "", &body, &signature, now),
        Err(SignatureError::MalformedTimestamp)
    );
    assert_eq!(
        verify(SIGNING_SECRET, "12a4", &body, &signature, now),
        Err(SignatureError::MalformedTimestamp)
    );
    assert_eq!(
        verify(SIGNING_SECRET, "-5", &body, &signature, now),
        Err(SignatureError::MalformedTimestamp)
    );
    assert_eq!(
        verify(SIGNING_SECRET, "99999999999999999999999", &body, &signature, now),
        Err(SignatureError::MalformedTimestamp)
    );
    let malformed = Err(SignatureError::MalformedSignature("v0="));
    assert_eq!(verify(SIGNING_SECRET, &timestamp, &body, "", now), malformed);
    assert_eq!(
        verify(SIGNING_SECRET, &timestamp, &body, &signature[3..], now),
        malformed
    );
    assert_eq!(
        verify(SIGNING_SECRET, &timestamp, &body, &signature.replace("v0=", "v1="), now),
        malformed
    );
    assert_eq!(
        verify(
            SIGNING_SECRET,
            &timestamp,
            &body,
            &signature[..signature.len() - 2],
            now
        ),
        malformed
    );
    assert_eq!(
        verify(
            SIGNING_SECRET,
            &timestamp,
            &body,
            &format!("{}zz", &signature[..signature.len() - 2]),
            now
        ),
        malformed
    );
    // A different valid-looking signature.
    let mut flipped = signature.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        verify(
            SIGNING_SECRET,
            &timestamp,
            &body,
            std::str::from_utf8(&flipped).unwrap(),
            now
        ),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn interaction_parser_names_what_is_missing() {
    assert_eq!(
        slack::parse_interaction(b"token=x"),
        Err(InteractionError::MissingPayload)
    );
    assert!(matches!(
        slack::parse_interaction(b"payload=%7Bnot-json"),
        Err(InteractionError::NotJson(_))
    ));
    let no_actions = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", r#"{"user":{"id":"U1"},"actions":[]}"#)
        .finish();
    assert_eq!(
        slack::parse_interaction(no_actions.as_bytes()),
        Err(InteractionError::MissingField("actions[0]"))
    );
    let no_user = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", r#"{"actions":[{"action_id":"a","value":"v"}]}"#)
        .finish();
    assert_eq!(
        slack::parse_interaction(no_user.as_bytes()),
        Err(InteractionError::MissingField("user.id"))
    );
    assert_eq!(
        slack::parse_interaction(&vec![b'a'; 300 * 1024]),
        Err(InteractionError::TooLarge)
    );
}

proptest! {
    #[test]
    fn verify_never_panics_on_arbitrary_input(
        secret in ".{0,40}",
        timestamp in ".{0,24}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        signature in ".{0,80}",
        now in any::<u64>(),
    ) {
        let _ = slack::verify_request(&secret, &timestamp, &body, &signature, now);
        let _ = weir_notify::verify_webhook(secret.as_bytes(), &timestamp, &body, &signature, now);
    }

    #[test]
    fn verify_accepts_exactly_what_was_signed(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        flip in any::<prop::sample::Index>(),
        skew in 0u64..=300,
    ) {
        let signed_at = 1_700_000_000u64;
        let signature = slack::sign_request(SIGNING_SECRET, signed_at, &body);
        prop_assert_eq!(slack::verify_request(SIGNING_SECRET, &signed_at.to_string(), &body, &signature, signed_at + skew), Ok(()));
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 0x01;
            prop_assert_eq!(
                slack::verify_request(SIGNING_SECRET, &signed_at.to_string(), &tampered, &signature, signed_at),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn interaction_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = slack::parse_interaction(&body);
    }

    #[test]
    fn interaction_parser_recovers_any_value(value in ".{0,64}", user in "U[A-Z0-9]{1,12}") {
        let parsed = slack::parse_interaction(&interaction_body(TRIAGE_YES_ACTION, &value, &user)).unwrap();
        prop_assert_eq!(parsed.value, value);
        prop_assert_eq!(parsed.user_id, user);
    }
}
