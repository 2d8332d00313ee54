//! The triage store with an injected clock: deadlines per severity, exactly-once
//! escalations, late answers, re-enrollment, unenrolled people and refusals.

mod common;

use std::time::Duration;

use common::{alert, config};
use weir_triage::{Answer, CodeRejection, EscalationReason, Outcome, Triage, TriageError};

const T0: u64 = 1_800_000_000;

fn open(adjust: impl FnOnce(&mut weir_triage::TriageConfig)) -> (tempfile::TempDir, Triage) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    adjust(&mut cfg);
    let triage = Triage::open(&dir.path().join("triage.db"), cfg).unwrap();
    (dir, triage)
}

fn secret_of(enrollment: &weir_triage::Enrollment) -> Vec<u8> {
    totp_rs::Secret::Encoded(enrollment.secret_base32.clone())
        .to_bytes()
        .unwrap()
}

fn answer(yes: bool, code: Option<String>) -> Answer {
    Answer {
        yes,
        code,
        suppress_for: None,
        source: "192.0.2.7".parse().unwrap(),
        user_agent: "curl/8".into(),
    }
}

#[test]
fn deadlines_follow_severity() {
    let (_dir, mut triage) = open(|_| {});
    let critical = triage.request(&alert(1, "critical", vec![]), T0).unwrap();
    let high = triage.request(&alert(2, "HIGH", vec![]), T0).unwrap();
    let medium = triage.request(&alert(3, "medium", vec![]), T0).unwrap();
    let low = triage.request(&alert(4, "informational", vec![]), T0).unwrap();
    let unknown = triage.request(&alert(5, "weird", vec![]), T0).unwrap();
    assert_eq!(critical.deadline, T0 + 300);
    assert_eq!(high.deadline, T0 + 1800);
    assert_eq!(medium.deadline, T0 + 4 * 3600);
    assert_eq!(low.deadline, T0 + 24 * 3600);
    assert_eq!(unknown.deadline, T0 + 1800, "an unknown level gets the high deadline");
    assert_ne!(critical.token, high.token);
}

#[test]
fn due_escalates_each_overdue_request_exactly_once() {
    let (_dir, mut triage) = open(|c| c.deadlines.critical = Duration::from_secs(1));
    triage.request(&alert(1, "critical", vec![]), T0).unwrap();
    triage.request(&alert(2, "high", vec![]), T0).unwrap();
    assert!(triage.due(T0 + 1).unwrap().is_empty(), "not past the deadline yet");
    let escalations = triage.due(T0 + 2).unwrap();
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].alert_id, 1);
    assert_eq!(escalations[0].reason, EscalationReason::Unanswered);
    assert!(escalations[0].answer.is_none());
    assert!(triage.due(T0 + 3).unwrap().is_empty());
    let later = triage.due(T0 + 1801).unwrap();
    assert_eq!(later.iter().map(|e| e.alert_id).collect::<Vec<_>>(), [2]);
    assert!(triage.due(T0 + 99_999).unwrap().is_empty());
    let kinds: Vec<String> = triage.timeline(1).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["requested", "escalated"]);
}

#[test]
fn escalations_survive_reopening_until_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    let mut triage = Triage::open(&path, config(dir.path())).unwrap();
    let request = triage.request(&alert(1, "critical", vec![]), T0).unwrap();
    // A late answer escalates but the escalation is handed out by `due`.
    let late = triage.answer(&request.token, &answer(false, None), T0 + 301);
    assert!(matches!(late, Err(TriageError::DeadlinePassed)), "{late:?}");
    drop(triage);
    let mut triage = Triage::open(&path, config(dir.path())).unwrap();
    let escalations = triage.due(T0 + 302).unwrap();
    assert_eq!(escalations.len(), 1);
    assert!(triage.due(T0 + 303).unwrap().is_empty());
}

#[test]
fn person_without_second_factor_cannot_confirm() {
    let (_dir, mut triage) = open(|_| {});
    let request = triage.request(&alert(1, "high", vec![]), T0).unwrap();
    let requested = &triage.timeline(1).unwrap()[0];
    assert!(
        requested.detail.contains("no second factor enrolled"),
        "{}",
        requested.detail
    );
    let outcome = triage
        .answer(&request.token, &answer(true, Some("123456".into())), T0 + 1)
        .unwrap();
    match outcome {
        Outcome::CodeRejected(r) => assert_eq!(r.reason, CodeRejection::NotEnrolled),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn codes_around_now_and_replay_across_steps() {
    let (_dir, mut triage) = open(|_| {});
    let secret = secret_of(&triage.enroll_totp("alice", "", T0).unwrap());
    let code = |t: u64| weir_triage::totp::code_at(&secret, t).unwrap();
    let first = triage.request(&alert(1, "high", vec![]), T0).unwrap();
    let second = triage.request(&alert(2, "high", vec![]), T0).unwrap();
    let third = triage.request(&alert(3, "high", vec![]), T0).unwrap();
    // The next step's code is accepted (clock skew of one step).
    let next = triage
        .answer(&first.token, &answer(true, Some(code(T0 + 30))), T0)
        .unwrap();
    assert!(matches!(next, Outcome::Confirmed(_)), "{next:?}");
    // The current step's code is now older than the last accepted step: refused as replay.
    let older = triage
        .answer(&second.token, &answer(true, Some(code(T0))), T0 + 30)
        .unwrap();
    assert!(
        matches!(older, Outcome::CodeRejected(ref r) if r.reason == CodeRejection::Replayed),
        "{older:?}"
    );
    // A later step works.
    let later = triage
        .answer(&second.token, &answer(true, Some(code(T0 + 60))), T0 + 60)
        .unwrap();
    assert!(matches!(later, Outcome::Confirmed(_)), "{later:?}");
    let malformed = triage
        .answer(&third.token, &answer(true, Some("12 34".into())), T0 + 60)
        .unwrap();
    assert!(matches!(malformed, Outcome::CodeRejected(ref r) if r.reason == CodeRejection::Malformed));
}

#[test]
fn reenrolling_replaces_the_secret_and_is_audited() {
    let (_dir, mut triage) = open(|_| {});
    let first = triage.enroll_totp("alice", "alice@example.com", T0).unwrap();
    assert!(!first.replaced);
    assert!(
        first
            .otpauth_uri
            .starts_with("otpauth://totp/Weir:alice@example.com?secret="),
        "{}",
        first.otpauth_uri
    );
    assert!(first.otpauth_uri.contains(&first.secret_base32));
    assert!(first.terminal_qr.as_deref().is_some_and(|qr| qr.lines().count() > 10));
    let old_secret = secret_of(&first);
    let second = triage.enroll_totp("alice", "alice@example.com", T0 + 10).unwrap();
    assert!(second.replaced);
    assert_ne!(first.secret_base32, second.secret_base32);
    assert_eq!(triage.totp_enrolled("alice").unwrap(), Some(T0 + 10));
    let audit = triage.totp_audit("alice").unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit[1].1.contains("replaced"), "{audit:?}");

    let request = triage.request(&alert(1, "high", vec![]), T0 + 20).unwrap();
    let old_code = weir_triage::totp::code_at(&old_secret, T0 + 20).unwrap();
    let new_code = weir_triage::totp::code_at(&secret_of(&second), T0 + 20).unwrap();
    if old_code != new_code {
        let outcome = triage
            .answer(&request.token, &answer(true, Some(old_code)), T0 + 20)
            .unwrap();
        assert!(
            matches!(outcome, Outcome::CodeRejected(_)),
            "the old secret no longer works: {outcome:?}"
        );
    }
    let outcome = triage
        .answer(&request.token, &answer(true, Some(new_code)), T0 + 20)
        .unwrap();
    assert!(matches!(outcome, Outcome::Confirmed(_)), "{outcome:?}");
}

#[test]
fn refusals_are_typed() {
    let (_dir, mut triage) = open(|_| {});
    let request = triage.request(&alert(1, "high", vec![]), T0).unwrap();
    assert!(matches!(
        triage.request(&alert(1, "high", vec![]), T0),
        Err(TriageError::AlreadyRequested(1))
    ));
    let mut nobody = alert(2, "high", vec![]);
    nobody.person_id = " ".into();
    assert!(matches!(triage.request(&nobody, T0), Err(TriageError::Invalid(_))));
    assert!(matches!(triage.state(99), Err(TriageError::UnknownAlert(99))));
    assert!(matches!(
        triage.answer("x.y", &answer(false, None), T0),
        Err(TriageError::BadToken)
    ));
    // A token whose id exists but whose MAC was made with another key.
    let other_key = weir_triage::LinkKey::generate();
    let (id, _) = request.token.split_once('.').unwrap();
    let forged = other_key.link_token(id, 1, "alice");
    assert!(matches!(
        triage.answer(&forged, &answer(false, None), T0),
        Err(TriageError::BadToken)
    ));
    // The same id bound to another person is not the same capability.
    let rebound = triage.config().link_key.link_token(id, 1, "mallory");
    assert!(matches!(triage.view(&rebound), Err(TriageError::BadToken)));
    assert_eq!(triage.state(1).unwrap(), "pending");
}

#[test]
fn link_key_file_is_private_and_stable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.key");
    let a = weir_triage::LinkKey::load_or_create(&path).unwrap();
    let b = weir_triage::LinkKey::load_or_create(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(
        a.link_token(&"0".repeat(32), 1, "p"),
        b.link_token(&"0".repeat(32), 1, "p")
    );
    std::fs::write(&path, "not hex").unwrap();
    let err = weir_triage::LinkKey::load_or_create(&path).unwrap_err();
    assert!(err.to_string().contains("triage.key"), "{err}");
    let db = dir.path().join("triage.db");
    let other = tempfile::tempdir().unwrap();
    Triage::open(&db, config(other.path())).unwrap();
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn alert_without_a_person_escalates_at_once_and_only_once() {
    let (_dir, mut triage) = open(|_| {});
    let mut orphan = alert(9, "medium", vec![]);
    orphan.person_id = String::new();
    let escalation = triage
        .escalate_without_actor(&orphan, "loginuid 4242 is not in people.yaml", T0)
        .unwrap();
    assert_eq!(escalation.reason, EscalationReason::NoActor);
    assert_eq!(triage.state(9).unwrap(), "no_actor");
    // Handed out here, so `due` does not repeat it, and no link can be made for it.
    assert!(triage.due(T0 + 99_999).unwrap().is_empty());
    assert!(matches!(
        triage.request(&alert(9, "medium", vec![]), T0),
        Err(TriageError::AlreadyRequested(9))
    ));
    let timeline = triage.timeline(9).unwrap();
    assert!(timeline[0].detail.contains("loginuid 4242"), "{timeline:?}");
    assert_eq!(timeline[1].kind, "escalated");
}

#[test]
fn database_from_an_earlier_version_loses_its_retired_columns_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    {
        // The requests table as earlier versions created it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE requests (
                id TEXT PRIMARY KEY, alert_id INTEGER NOT NULL UNIQUE, rule_id TEXT NOT NULL,
                rule_title TEXT NOT NULL, severity TEXT NOT NULL, host_id TEXT NOT NULL,
                host_name TEXT NOT NULL, host_addresses TEXT NOT NULL, summary TEXT NOT NULL,
                person_id TEXT NOT NULL, created INTEGER NOT NULL, deadline INTEGER NOT NULL,
                link_expires INTEGER NOT NULL, state TEXT NOT NULL,
                failed_codes INTEGER NOT NULL DEFAULT 0, rate_limited INTEGER NOT NULL DEFAULT 0,
                confirmed_step INTEGER, suppressed_until INTEGER
            );",
        )
        .unwrap();
    }
    let mut triage = Triage::open(&path, config(dir.path())).unwrap();
    let request = triage.request(&alert(1, "critical", vec![]), T0).unwrap();
    assert_eq!(triage.view(&request.token).unwrap().deadline, T0 + 300);
    drop(triage);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('requests')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !columns.iter().any(|c| c == "link_expires" || c == "rate_limited"),
        "{columns:?}"
    );
    // Reopening a database already without them is fine too.
    Triage::open(&path, config(dir.path())).unwrap();
}
