//! Suppressions and resolutions on a real alert store: a suppression silences
//! only its scope and only until it expires or is lifted (and keeps its audit
//! fields); resolving an alert is recorded and feeds the rule's statistics.

use weir_detect::{AlertQuery, AlertStore, Mode, NewSuppression, Recorded, RuleMatch};

const S: u64 = 1_000_000_000;

fn hit(seq: u64, time_s: u64, group: &str) -> RuleMatch {
    RuleMatch {
        rule_id: "r1".into(),
        rule_title: "Rule one".into(),
        level: "high".into(),
        mode: Mode::Alert,
        host_id: "h1".into(),
        group_key: group.into(),
        actor: "alice".into(),
        summary: "x".into(),
        event_seq: seq,
        evidence_leaf: seq,
        time_unix_ns: time_s * S,
    }
}

fn suppression(group: Option<&str>, from_s: u64, until_s: u64) -> NewSuppression {
    NewSuppression {
        rule_id: "r1".into(),
        group_key: group.map(str::to_string),
        host_id: None,
        reason: "backup job runs this nightly".into(),
        author: "bob".into(),
        created_unix_ns: from_s * S,
        expires_unix_ns: until_s * S,
    }
}

#[test]
fn a_suppression_silences_its_scope_until_it_expires_or_is_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let id = store.suppress(&suppression(Some("backup"), 100, 200)).unwrap();
    let window = 10 * S;

    let r = store
        .record(&[hit(1, 150, "backup"), hit(2, 150, "other")], window)
        .unwrap();
    assert_eq!(r[0], Recorded::Suppressed(id));
    assert!(matches!(r[1], Recorded::Opened(_)), "another group key is not silenced");
    // A replay of the suppressed event stays a duplicate.
    assert_eq!(
        store.record(&[hit(1, 150, "backup")], window).unwrap(),
        vec![Recorded::Duplicate]
    );
    // After expiry the same group alerts again.
    assert!(matches!(
        store.record(&[hit(3, 250, "backup")], window).unwrap()[0],
        Recorded::Opened(_)
    ));

    // A second suppression, lifted early: matches after the lift alert.
    let second = store.suppress(&suppression(None, 300, 900)).unwrap();
    assert_eq!(
        store.record(&[hit(4, 310, "any")], window).unwrap(),
        vec![Recorded::Suppressed(second)]
    );
    store.lift_suppression(second, "carol", 400 * S).unwrap();
    assert!(matches!(
        store.record(&[hit(5, 410, "any")], window).unwrap()[0],
        Recorded::Opened(_)
    ));
    assert!(store.lift_suppression(second, "carol", 401 * S).is_err(), "lifted once");

    let listed = store.suppressions().unwrap();
    assert_eq!(listed.len(), 2);
    let lifted = listed.iter().find(|s| s.id == second).unwrap();
    assert_eq!(
        (lifted.hits, lifted.lifted_by.as_deref(), lifted.author.as_str()),
        (1, Some("carol"), "bob")
    );
    assert_eq!(listed.iter().find(|s| s.id == id).unwrap().hits, 1);
}

#[test]
fn suppressions_need_a_reason_an_author_and_a_bounded_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let mut s = suppression(None, 100, 200);
    s.reason = " ".into();
    assert!(store.suppress(&s).is_err());
    assert!(
        store.suppress(&suppression(None, 100, 100)).is_err(),
        "must expire after it starts"
    );
    assert!(
        store.suppress(&suppression(None, 0, 91 * 86_400)).is_err(),
        "at most 90 days"
    );
}

#[test]
fn resolutions_are_recorded_once_and_counted_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    store
        .record(&[hit(1, 10, "a"), hit(2, 10, "b"), hit(3, 10, "c")], S)
        .unwrap();
    let ids: Vec<i64> = store
        .list(&AlertQuery::default())
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    store
        .resolve(ids[0], "false_positive", "bob", "test box", 20 * S)
        .unwrap();
    store.resolve(ids[1], "true_positive", "bob", "", 21 * S).unwrap();
    assert!(
        store.resolve(ids[1], "benign", "bob", "", 22 * S).is_err(),
        "already resolved"
    );
    assert!(
        store.resolve(ids[2], "maybe", "bob", "", 22 * S).is_err(),
        "unknown resolution"
    );
    assert!(
        store.resolve(999, "benign", "bob", "", 22 * S).is_err(),
        "unknown alert"
    );
    assert_eq!(
        store.transitions(ids[0]).unwrap(),
        vec![(
            20 * S,
            "false_positive".to_string(),
            "bob".to_string(),
            "test box".to_string()
        )]
    );
    let stats = store.rule_stats().unwrap();
    assert_eq!(
        (
            stats[0].alerts,
            stats[0].true_positives,
            stats[0].false_positives,
            stats[0].benign
        ),
        (3, 1, 1, 0)
    );
}
