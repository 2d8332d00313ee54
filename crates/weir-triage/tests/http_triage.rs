//! Triage end to end over real HTTP: the confirm page, answers with real TOTP
//! codes (valid, replayed, wrong, expired), "no", deadlines, suppression only
//! after an authenticated yes, single-use and tamper-proof links, flagged
//! source addresses and the anti-forgery nonce.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{alert, now, path_of, start};
use weir_triage::EscalationReason;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn confirm_page_shows_the_alert_with_security_headers() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "critical", vec![]));
    assert!(
        request.url.starts_with("https://weir.example.test/triage/"),
        "{}",
        request.url
    );
    let page = h.get(&path_of(&request));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Was this you?"));
    assert!(page.body.contains("Production database dropped"));
    assert!(page.body.contains("db-1"));
    // The summary is escaped, never markup.
    assert!(page.body.contains("&lt;script&gt;") && !page.body.contains("<script>"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'; style-src 'nonce-"), "{csp}");
    let style_nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(page.body.contains(&format!("<style nonce=\"{style_nonce}\">")));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Two renders, two different nonces.
    assert_ne!(h.nonce(&path_of(&request)), h.nonce(&path_of(&request)));
}

#[test]
fn valid_code_confirms_and_the_link_is_single_use() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![]));
    let path = path_of(&request);
    let response = h.answer(&path, "yes", Some(&h.code_at(now())));
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.body.contains("Confirmed"), "{}", response.body);
    let confirmations = h.hooks.confirmations.lock().unwrap().clone();
    assert_eq!(confirmations.len(), 1);
    assert_eq!(confirmations[0].alert_id, 1);
    assert_eq!(confirmations[0].answer.source, LOOPBACK);
    assert_eq!(confirmations[0].answer.user_agent, "weir-test/1.0");
    assert!(!confirmations[0].answer.from_flagged_host);
    assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "confirmed");

    // The link cannot be used again, neither to view nor to answer.
    assert_eq!(h.get(&path).status, 409);
    let nonce = h.triage.lock().unwrap().form_nonce(&request.token, now());
    let again = h.post(&path, &[("nonce", &nonce), ("answer", "no")]);
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(h.hooks.escalations.lock().unwrap().is_empty());

    let timeline = h.triage.lock().unwrap().timeline(1).unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["requested", "answered_yes"]);
    assert_eq!(timeline[1].source.as_deref(), Some("127.0.0.1"));
    assert_eq!(timeline[1].user_agent.as_deref(), Some("weir-test/1.0"));
}

#[test]
fn a_code_is_never_accepted_twice_even_for_another_alert() {
    let h = start(|_| {});
    let first = h.request(&alert(1, "high", vec![]));
    let second = h.request(&alert(2, "high", vec![]));
    let code = h.code_at(now());
    assert_eq!(h.answer(&path_of(&first), "yes", Some(&code)).status, 200);
    let replay = h.answer(&path_of(&second), "yes", Some(&code));
    assert_eq!(replay.status, 200);
    assert!(replay.body.contains("code already used"), "{}", replay.body);
    let triage = h.triage.lock().unwrap();
    assert_eq!(triage.state(2).unwrap(), "pending");
    let failed = triage
        .timeline(2)
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "code_failed")
        .unwrap();
    assert!(failed.detail.contains("code already used"), "{}", failed.detail);
    assert_eq!(h.hooks.confirmations.lock().unwrap().len(), 1);
}

#[test]
fn expired_code_is_refused() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![]));
    let response = h.answer(&path_of(&request), "yes", Some(&h.code_at(now() - 90)));
    assert!(response.body.contains("expired code"), "{}", response.body);
    assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "pending");
    assert!(h.hooks.confirmations.lock().unwrap().is_empty());
}

#[test]
fn yes_without_a_code_does_not_confirm() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![]));
    let response = h.answer(&path_of(&request), "yes", None);
    assert!(response.body.contains("missing code"), "{}", response.body);
    assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "pending");
}

#[test]
fn three_wrong_codes_escalate_at_high_priority() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![]));
    let path = path_of(&request);
    let wrong = h.wrong_code();
    for left in [2, 1] {
        let response = h.answer(&path, "yes", Some(&wrong));
        assert!(
            response.body.contains(&format!("{left} attempt(s) left")),
            "{}",
            response.body
        );
        assert!(h.hooks.escalations.lock().unwrap().is_empty());
    }
    let last = h.answer(&path, "yes", Some(&wrong));
    assert!(last.body.contains("security team"), "{}", last.body);
    let escalations = h.hooks.escalations.lock().unwrap().clone();
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].reason, EscalationReason::FailedCodes);
    // Escalated by the answer, so `due` does not hand it out a second time.
    assert!(h.triage.lock().unwrap().due(now()).unwrap().is_empty());
    // And now even a valid code is refused.
    assert_eq!(h.get(&path).status, 409);
}

#[test]
fn no_escalates_at_high_priority() {
    let h = start(|_| {});
    let request = h.request(&alert(7, "low", vec![]));
    let response = h.answer(&path_of(&request), "no", None);
    assert_eq!(response.status, 200);
    assert!(response.body.contains("security team"), "{}", response.body);
    let escalations = h.hooks.escalations.lock().unwrap().clone();
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].alert_id, 7);
    assert_eq!(escalations[0].reason, EscalationReason::Denied);
    assert_eq!(escalations[0].answer.as_ref().unwrap().source, LOOPBACK);
    let triage = h.triage.lock().unwrap();
    assert_eq!(triage.state(7).unwrap(), "denied");
    let kinds: Vec<String> = triage.timeline(7).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["requested", "answered_no", "escalated"]);
}

#[test]
fn shortened_deadline_escalates_exactly_once() {
    let h = start(|c| {
        c.deadlines.critical = Duration::from_secs(1);
    });
    let request = h.request(&alert(3, "critical", vec![]));
    let nonce = h.nonce(&path_of(&request));
    assert!(h.triage.lock().unwrap().due(now()).unwrap().is_empty());
    std::thread::sleep(Duration::from_millis(2100));
    // A late answer is refused and escalates; `due` hands that escalation out once.
    let code = h.code_at(now());
    let late = h.post(
        &path_of(&request),
        &[("nonce", &nonce), ("answer", "yes"), ("code", &code)],
    );
    assert_eq!(late.status, 410, "{}", late.body);
    let escalations = h.triage.lock().unwrap().due(now()).unwrap();
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].reason, EscalationReason::Unanswered);
    assert!(h.triage.lock().unwrap().due(now() + 3600).unwrap().is_empty());
    assert_eq!(h.triage.lock().unwrap().state(3).unwrap(), "unanswered");
    assert!(h.hooks.confirmations.lock().unwrap().is_empty());
}

#[test]
fn suppression_only_after_an_authenticated_yes_and_capped() {
    let h = start(|c| c.suppression_max_ttl = Duration::from_secs(86_400));
    let request = h.request(&alert(4, "high", vec![]));
    let path = path_of(&request);
    let suppressed_until = || {
        let requests = h.triage.lock().unwrap().recent(10).unwrap();
        requests.into_iter().find(|r| r.alert_id == 4).unwrap().suppressed_until
    };
    // A yes with a wrong or no code asking for a suppression creates none.
    for code in [h.wrong_code(), String::new()] {
        let nonce = h.nonce(&path);
        let refused = h.post(
            &path,
            &[
                ("nonce", &nonce),
                ("answer", "yes"),
                ("code", &code),
                ("suppress_hours", "168"),
            ],
        );
        assert!(!refused.body.contains("silenced until"), "{}", refused.body);
        assert_eq!(suppressed_until(), None);
    }

    // Authenticated yes asking for 7 days through the form: capped at 1 day.
    let spare_nonce = h.nonce(&path);
    let nonce = h.nonce(&path);
    let code = h.code_at(now());
    let response = h.post(
        &path,
        &[
            ("nonce", &nonce),
            ("answer", "yes"),
            ("code", &code),
            ("suppress_hours", "168"),
        ],
    );
    assert!(response.body.contains("silenced until"), "{}", response.body);
    let confirmation = h.hooks.confirmations.lock().unwrap()[0].clone();
    let grant = confirmation.suppression.unwrap();
    assert_eq!(
        (grant.rule_id.as_str(), grant.person_id.as_str()),
        ("weir.db.drop", "alice")
    );
    let t = now();
    assert!(
        grant.until <= t + 86_400 && grant.until + 5 >= t + 86_400,
        "until {} now {t}",
        grant.until
    );
    assert_eq!(suppressed_until(), Some(grant.until));
    // Once per alert: the link is spent, so a second suppression cannot be asked for.
    let again = h.post(
        &path,
        &[
            ("nonce", &spare_nonce),
            ("answer", "yes"),
            ("code", &h.code_at(now())),
            ("suppress_hours", "1"),
        ],
    );
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(suppressed_until(), Some(grant.until));
}

#[test]
fn tampered_or_unknown_tokens_are_refused() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![]));
    let mut tampered = request.token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = format!("/triage/{}", String::from_utf8(tampered).unwrap());
    assert_eq!(h.get(&tampered).status, 404);
    assert_eq!(h.get("/triage/not-a-token").status, 404);
    // A nonce is bound to its token: the real token's nonce does not help the forged one.
    let nonce = h.nonce(&path_of(&request));
    assert_eq!(h.post(&tampered, &[("nonce", &nonce), ("answer", "no")]).status, 403);
    assert!(h.hooks.escalations.lock().unwrap().is_empty());
    assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "pending");
}

#[test]
fn answer_from_the_flagged_host_is_flagged() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec!["10.0.0.9".parse().unwrap(), LOOPBACK]));
    assert_eq!(h.answer(&path_of(&request), "yes", Some(&h.code_at(now()))).status, 200);
    let response_body_check = h.hooks.confirmations.lock().unwrap()[0].clone();
    assert!(response_body_check.answer.from_flagged_host);
    let timeline = h.triage.lock().unwrap().timeline(1).unwrap();
    assert!(timeline.iter().any(|e| e.kind == "answered_yes" && e.from_flagged_host));
}

#[test]
fn missing_or_foreign_nonce_is_refused() {
    let h = start(|_| {});
    let first = h.request(&alert(1, "high", vec![]));
    let second = h.request(&alert(2, "high", vec![]));
    let missing = h.post(&path_of(&first), &[("answer", "no")]);
    assert_eq!(missing.status, 403, "{}", missing.body);
    let foreign = h.nonce(&path_of(&second));
    assert_eq!(
        h.post(&path_of(&first), &[("nonce", &foreign), ("answer", "no")])
            .status,
        403
    );
    assert_eq!(
        h.post(&path_of(&first), &[("nonce", "1.2.3"), ("answer", "no")]).status,
        403
    );
    assert!(h.hooks.escalations.lock().unwrap().is_empty());
    assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "pending");
}

#[test]
fn attempts_are_rate_limited_per_link() {
    let h = start(|c| {
        c.max_failed_codes = 10;
        c.max_attempts_per_minute = 2;
    });
    let request = h.request(&alert(1, "high", vec![]));
    let path = path_of(&request);
    let wrong = h.wrong_code();
    assert_eq!(h.answer(&path, "yes", Some(&wrong)).status, 200);
    assert_eq!(h.answer(&path, "yes", Some(&wrong)).status, 200);
    let limited = h.answer(&path, "yes", Some(&h.code_at(now())));
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(h.triage.lock().unwrap().state(1).unwrap(), "pending");
}

#[test]
fn malformed_form_is_a_clear_400() {
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![]));
    let nonce = h.nonce(&path_of(&request));
    let response = h.post(&path_of(&request), &[("nonce", &nonce), ("answer", "maybe")]);
    assert_eq!(response.status, 400);
    assert!(response.body.contains("must be yes or no"), "{}", response.body);
    let response = h.post(&path_of(&request), &[("nonce", &nonce)]);
    assert_eq!(response.status, 422, "{}", response.body);
    assert!(response.body.contains("missing field `answer`"), "{}", response.body);
}

#[test]
fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let flagged_host: IpAddr = "10.0.0.9".parse().unwrap();
    // Not trusted: the header is ignored and the TCP peer is the source.
    let h = start(|_| {});
    let request = h.request(&alert(1, "high", vec![flagged_host]));
    let nonce = h.nonce(&path_of(&request));
    let form = [("nonce", nonce.as_str()), ("answer", "no")];
    h.post_with_headers(&path_of(&request), &form, "X-Forwarded-For: 10.0.0.9\r\n");
    let escalation = h.hooks.escalations.lock().unwrap()[0].clone();
    let answer = escalation.answer.unwrap();
    assert_eq!((answer.source, answer.from_flagged_host), (LOOPBACK, false));

    // Loopback trusted as the proxy: the last forwarded address is the client.
    let h = start(|c| c.trusted_proxies = vec![LOOPBACK]);
    let request = h.request(&alert(1, "high", vec![flagged_host]));
    let nonce = h.nonce(&path_of(&request));
    let form = [("nonce", nonce.as_str()), ("answer", "no")];
    h.post_with_headers(&path_of(&request), &form, "X-Forwarded-For: 203.0.113.5, 10.0.0.9\r\n");
    let escalation = h.hooks.escalations.lock().unwrap()[0].clone();
    let answer = escalation.answer.unwrap();
    assert_eq!((answer.source, answer.from_flagged_host), (flagged_host, true));
    let timeline = h.triage.lock().unwrap().timeline(1).unwrap();
    assert!(timeline
        .iter()
        .any(|e| e.kind == "answered_no" && e.source.as_deref() == Some("10.0.0.9")));
}

#[test]
fn page_past_the_deadline_says_so() {
    let h = start(|c| c.deadlines.high = Duration::from_secs(1));
    let request = h.request(&alert(1, "high", vec![]));
    std::thread::sleep(Duration::from_millis(2100));
    let page = h.get(&path_of(&request));
    assert_eq!(page.status, 410);
    assert!(page.body.contains("deadline"), "{}", page.body);
}

#[test]
fn recent_lists_requests_with_their_state() {
    let h = start(|_| {});
    h.request(&alert(1, "high", vec![]));
    let second = h.request(&alert(2, "high", vec![]));
    h.answer(&path_of(&second), "no", None);
    let recent = h.triage.lock().unwrap().recent(10).unwrap();
    let states: Vec<(i64, &str)> = recent.iter().map(|r| (r.alert_id, r.state.as_str())).collect();
    assert_eq!(states, [(2, "denied"), (1, "pending")]);
}
