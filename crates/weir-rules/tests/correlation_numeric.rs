//! value_sum, value_avg and value_percentile correlations and the spike
//! extension: each fires exactly when it should (and not right at its
//! threshold), out-of-order events within lateness count, non-numeric
//! values are left out and counted, and state survives a restart.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use weir_rules::{Correlator, RuleSet};

const S: u64 = 1_000_000_000;

const BASE: &str = r#"
title: data sent
id: xfer
name: transfer
logsource:
    product: test
detection:
    sel:
        action: send
    condition: sel
---
title: failed login
id: fail
name: failed_login
logsource:
    product: test
detection:
    sel:
        action: fail
    condition: sel
"#;

const SUM: &str = r#"
title: exfiltration volume
id: sum
correlation:
    type: value_sum
    rules: [transfer]
    group-by: [user]
    timespan: 60s
    condition:
        field: bytes
        gt: 100
"#;

const AVG: &str = r#"
title: large average transfer
id: avg
correlation:
    type: value_avg
    rules: [transfer]
    group-by: [user]
    timespan: 60s
    condition:
        field: bytes
        gt: 50
"#;

const PCT: &str = r#"
title: large median transfer
id: pct
correlation:
    type: value_percentile
    rules: [xfer]
    group-by: [user]
    timespan: 60s
    condition:
        field: bytes
        percentile: 50
        gt: 20
"#;

const SPIKE: &str = r#"
title: failed login spike
id: spike
correlation:
    type: spike
    rules: [failed_login]
    group-by: [host]
    timespan: 60s
    factor: 3
    baseline: 4
    min_count: 5
"#;

fn set(corr: &str) -> RuleSet {
    RuleSet::from_yaml(&format!("{BASE}---\n{corr}"), "num.yml").unwrap()
}

fn send(user: &str, bytes: Value) -> Map<String, Value> {
    let mut m = json!({"action": "send", "user": user}).as_object().unwrap().clone();
    if !bytes.is_null() {
        m.insert("bytes".into(), bytes);
    }
    m
}

fn fail(host: &str) -> Map<String, Value> {
    json!({"action": "fail", "host": host}).as_object().unwrap().clone()
}

fn feed(set: &RuleSet, c: &mut Correlator, t: u64, e: &Map<String, Value>) -> Vec<String> {
    let mut m = set.matcher();
    let mut hits = Vec::new();
    m.matches(e, &mut hits);
    c.observe(&hits, t, e)
        .into_iter()
        .map(|h| set.rules()[h.rule.0 as usize].id.clone())
        .collect()
}

fn fired(set: &RuleSet, c: &mut Correlator, t: u64, e: &Map<String, Value>) -> bool {
    let ids = feed(set, c, t, e);
    assert!(ids.len() <= 1, "{ids:?}");
    !ids.is_empty()
}

#[test]
fn value_sum_fires_above_the_threshold_only() {
    let set = set(SUM);
    let mut c = Correlator::new(&set, 0);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    assert!(!fired(&set, &mut c, S, &send("alice", json!(40))));
    // Non-numeric and missing values are left out and counted.
    assert!(!fired(&set, &mut c, 2 * S, &send("alice", json!("abc"))));
    assert!(!fired(&set, &mut c, 3 * S, &send("alice", Value::Null)));
    assert!(!fired(&set, &mut c, 4 * S, &send("alice", json!(true))));
    assert!(!fired(&set, &mut c, 5 * S, &send("alice", json!("NaN"))));
    assert_eq!(c.non_numeric(), 4);
    // A numeric string counts; the sum is exactly 100: not above 100.
    assert!(!fired(&set, &mut c, 6 * S, &send("alice", json!(" 60 "))));
    // Another group does not add to alice's sum.
    assert!(!fired(&set, &mut c, 7 * S, &send("bob", json!(99))));
    let mut m = set.matcher();
    let mut hits = Vec::new();
    let e = send("alice", json!(0.5));
    m.matches(&e, &mut hits);
    let out = c.observe(&hits, 8 * S, &e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, 100.5);
    assert_eq!(out[0].group, vec![("user".to_string(), "alice".to_string())]);
    assert_eq!((out[0].first_ns, out[0].last_ns), (S, 8 * S));
    // The window starts afresh after firing.
    assert!(!fired(&set, &mut c, 9 * S, &send("alice", json!(50))));
    // Values further apart than the timespan are never summed.
    let mut c = Correlator::new(&set, 0);
    assert!(!fired(&set, &mut c, 0, &send("carol", json!(60))));
    assert!(!fired(&set, &mut c, 61 * S, &send("carol", json!(60))));
    assert!(fired(&set, &mut c, 62 * S, &send("carol", json!(41))));
}

#[test]
fn value_avg_is_the_mean_of_the_timespan() {
    let set = set(AVG);
    let mut c = Correlator::new(&set, 0);
    assert!(!fired(&set, &mut c, S, &send("alice", json!(40))));
    // Mean exactly 50: not above 50.
    assert!(!fired(&set, &mut c, 2 * S, &send("alice", json!(60.0))));
    assert!(!fired(&set, &mut c, 3 * S, &send("alice", json!("x"))));
    // (40 + 60 + 80) / 3 = 60.
    assert!(fired(&set, &mut c, 4 * S, &send("alice", json!(80))));
    // One large value does not make a large mean.
    assert!(!fired(&set, &mut c, 5 * S, &send("bob", json!(10))));
    assert!(!fired(&set, &mut c, 6 * S, &send("bob", json!(10))));
    assert!(!fired(&set, &mut c, 7 * S, &send("bob", json!(100))));
    assert_eq!(c.non_numeric(), 1);
}

#[test]
fn value_percentile_interpolates_between_ranks() {
    let set = set(PCT);
    let mut c = Correlator::new(&set, 0);
    assert!(!fired(&set, &mut c, S, &send("alice", json!(10))));
    assert!(!fired(&set, &mut c, 2 * S, &send("alice", json!(30))));
    // Median of 10, 30, 20 is 20: not above 20.
    assert!(!fired(&set, &mut c, 3 * S, &send("alice", json!(20))));
    // Median of 10, 20, 30, 40 is 25.
    let mut m = set.matcher();
    let mut hits = Vec::new();
    let e = send("alice", json!(40));
    m.matches(&e, &mut hits);
    let out = c.observe(&hits, 4 * S, &e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, 25.0);
}

#[test]
fn value_percentile_needs_a_percentile_in_range() {
    let no_pct = PCT.replace("        percentile: 50\n", "");
    let Err(err) = RuleSet::from_yaml(&format!("{BASE}---\n{no_pct}"), "p.yml") else {
        panic!("loaded without a percentile")
    };
    assert!(err.to_string().contains("percentile"), "{err}");
    let bad = PCT.replace("percentile: 50", "percentile: 150");
    assert!(RuleSet::from_yaml(&format!("{BASE}---\n{bad}"), "p.yml").is_err());
    let no_field = SUM.replace("        field: bytes\n", "");
    assert!(RuleSet::from_yaml(&format!("{BASE}---\n{no_field}"), "p.yml").is_err());
    let no_cmp = SUM.replace("        gt: 100\n", "");
    assert!(RuleSet::from_yaml(&format!("{BASE}---\n{no_cmp}"), "p.yml").is_err());
}

#[test]
fn numeric_out_of_order_within_lateness_and_late_drop() {
    let set = set(SUM);
    let mut c = Correlator::new(&set, 30 * S);
    assert!(!fired(&set, &mut c, 100 * S, &send("eve", json!(50))));
    assert!(!fired(&set, &mut c, 120 * S, &send("eve", json!(50))));
    // Happened at t=95, arrives after t=120: within lateness, and the
    // 60s window ending at t=120 now holds 10 + 50 + 50.
    assert!(fired(&set, &mut c, 95 * S, &send("eve", json!(10))));
    // Far too late: dropped and counted.
    assert!(!fired(&set, &mut c, 10 * S, &send("eve", json!(1000))));
    assert_eq!(c.late_dropped(), 1);
}

#[test]
fn numeric_state_survives_a_restart() {
    let set = set(&format!("{SUM}---\n{AVG}"));
    let mut c = Correlator::new(&set, 0);
    assert!(feed(&set, &mut c, S, &send("frank", json!(50))).is_empty());
    assert!(feed(&set, &mut c, 2 * S, &send("frank", json!(50))).is_empty());
    assert!(feed(&set, &mut c, 3 * S, &send("frank", json!("n/a"))).is_empty());
    let saved = c.save();
    let mut c2 = Correlator::new(&set, 0);
    c2.restore(&saved).unwrap();
    assert_eq!(c2.non_numeric(), 2, "one per correlation");
    // 50 + 50 + 1 > 100, mean 33.7 is not above 50.
    assert_eq!(feed(&set, &mut c2, 4 * S, &send("frank", json!(1))), vec!["sum"]);
    // Without the restore the last value alone does not fire.
    let mut c3 = Correlator::new(&set, 0);
    assert!(feed(&set, &mut c3, 4 * S, &send("frank", json!(1))).is_empty());
}

#[test]
fn version_1_state_still_restores() {
    let set = set(SUM);
    let v1 = format!(
        r#"{{"version":1,"watermark_ns":{},"late_dropped":3,"windows":{{"sum":{{"alice":[{{"t":{},"member":0,"value":null}}]}}}},"seen":{{}},"learning_start":{{}},"last_seen":{{}}}}"#,
        2 * S,
        S
    );
    let mut c = Correlator::new(&set, 0);
    c.restore(v1.as_bytes()).unwrap();
    assert_eq!(c.late_dropped(), 3);
    // A version-1 entry carries no numeric value and adds nothing.
    assert!(!fired(&set, &mut c, 3 * S, &send("alice", json!(100))));
    assert!(fired(&set, &mut c, 4 * S, &send("alice", json!(1))));
    let saved: Value = serde_json::from_slice(&c.save()).unwrap();
    assert_eq!(saved["version"], 2);
    let future = r#"{"version":3,"watermark_ns":0,"late_dropped":0,"windows":{}}"#;
    assert!(Correlator::new(&set, 0).restore(future.as_bytes()).is_err());
}

/// Feeds `n` failed logins for `host` in window `w` (60s windows).
fn fails(set: &RuleSet, c: &mut Correlator, host: &str, w: u64, n: u64) -> Vec<bool> {
    (0..n).map(|i| fired(set, c, w * 60 * S + i * S, &fail(host))).collect()
}

#[test]
fn spike_fires_above_factor_times_baseline() {
    let set = set(SPIKE);
    let mut c = Correlator::new(&set, 0);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    // Baseline: 2 per window in windows 0..3, mean 2; a spike is > 6 (and >= 5).
    for w in 0..4 {
        assert!(fails(&set, &mut c, "h", w, 2).iter().all(|f| !f));
    }
    // Six in window 4 is exactly 3 x 2: not a spike; the seventh is; the
    // eighth is the same spike, not reported again.
    assert_eq!(
        fails(&set, &mut c, "h", 4, 8),
        vec![false, false, false, false, false, false, true, false]
    );
}

#[test]
fn spike_needs_the_minimum_count_and_a_full_baseline() {
    let set = set(SPIKE);
    let mut c = Correlator::new(&set, 0);
    // One event in window 0, silence in 1..3: baseline mean 0.25.
    assert!(!fails(&set, &mut c, "m", 0, 1)[0]);
    // Four is far above 0.75 but below min_count 5; the fifth fires.
    assert_eq!(fails(&set, &mut c, "m", 4, 5), vec![false, false, false, false, true]);
    // A group first seen now has no baseline yet: no spike, however many.
    assert!(fails(&set, &mut c, "new", 4, 50).iter().all(|f| !f));
}

#[test]
fn spike_counts_out_of_order_events_within_lateness() {
    let set = set(SPIKE);
    let mut c = Correlator::new(&set, 120 * S);
    for w in 0..4 {
        assert!(fails(&set, &mut c, "o", w, 1).iter().all(|f| !f));
    }
    // Four in window 5 (baseline windows 1..4: 1, 1, 1, 0): below min_count.
    assert!(fails(&set, &mut c, "o", 5, 4).iter().all(|f| !f));
    // Late events of window 4 (baseline 1, 1, 1, 1) arrive after them.
    let mut m = set.matcher();
    let mut hits = Vec::new();
    let e = fail("o");
    m.matches(&e, &mut hits);
    for i in 0..4 {
        assert!(c.observe(&hits, 250 * S + i, &e).is_empty());
    }
    let out = c.observe(&hits, 250 * S + 4, &e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, 5.0);
    assert_eq!(out[0].first_ns, 240 * S);
    // Beyond the lateness: dropped.
    assert!(c.observe(&hits, 100 * S, &e).is_empty());
    assert_eq!(c.late_dropped(), 1);
}

#[test]
fn spike_state_survives_a_restart() {
    let set = set(SPIKE);
    let mut c = Correlator::new(&set, 0);
    for w in 0..4 {
        fails(&set, &mut c, "r", w, 1);
    }
    assert_eq!(fails(&set, &mut c, "r", 4, 4), vec![false; 4]);
    let saved = c.save();
    let mut c2 = Correlator::new(&set, 0);
    c2.restore(&saved).unwrap();
    // The fifth of window 4 (baseline 1, 1, 1, 1) is the spike.
    assert!(fired(&set, &mut c2, 4 * 60 * S + 10 * S, &fail("r")));
    // Without the restore the group has no baseline.
    let mut c3 = Correlator::new(&set, 0);
    assert!(fails(&set, &mut c3, "r", 4, 20).iter().all(|f| !f));
}

#[test]
fn spike_yaml_is_checked() {
    let no_factor = SPIKE.replace("    factor: 3\n", "");
    assert!(RuleSet::from_yaml(&format!("{BASE}---\n{no_factor}"), "s.yml").is_err());
    let bad = SPIKE.replace("baseline: 4", "baseline: 0");
    assert!(RuleSet::from_yaml(&format!("{BASE}---\n{bad}"), "s.yml").is_err());
    let bad = SPIKE.replace("min_count: 5", "min_count: 2.5");
    assert!(RuleSet::from_yaml(&format!("{BASE}---\n{bad}"), "s.yml").is_err());
    let defaults = SPIKE.replace("    baseline: 4\n    min_count: 5\n", "");
    let set = RuleSet::from_yaml(&format!("{BASE}---\n{defaults}"), "s.yml").unwrap();
    let spec = set.rules().iter().find_map(|r| r.correlation.as_ref()).unwrap();
    let sp = spec.spike.as_ref().unwrap();
    assert_eq!((sp.baseline_windows, sp.min_count), (12, 10));
}

fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        any::<f64>().prop_map(|f| json!(f)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("NaN"),
            Just("inf"),
            Just("-inf"),
            Just("1e400"),
            Just("-1e308"),
            Just("1.7976931348623157e308"),
            Just(" 42 "),
            Just("0x10"),
            Just(""),
        ]
        .prop_map(|s| json!(s)),
        prop::collection::vec(any::<i32>(), 0..3).prop_map(|v| json!(v)),
        Just(json!({"nested": 1})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_field_values_never_panic(
        events in prop::collection::vec((0u64..400, field_value(), 0u8..3, any::<bool>()), 1..60),
        big_times in any::<bool>(),
        restart_at in 0usize..60,
    ) {
        let all = format!("{SUM}---\n{AVG}---\n{PCT}---\n{SPIKE}");
        let set = set(&all);
        let mut c = Correlator::new(&set, 30 * S);
        let mut m = set.matcher();
        let mut hits = Vec::new();
        for (i, (secs, bytes, who, is_fail)) in events.into_iter().enumerate() {
            if i == restart_at {
                let saved = c.save();
                c = Correlator::new(&set, 30 * S);
                c.restore(&saved).unwrap();
            }
            let user = ["a", "b", "c"][who as usize];
            let mut e = if is_fail { fail(user) } else { send(user, json!(null)) };
            e.insert("bytes".into(), bytes);
            let t = if big_times { u64::MAX - 500 * S + secs * S } else { secs * S };
            hits.clear();
            m.matches(&e, &mut hits);
            for h in c.observe(&hits, t, &e) {
                prop_assert!(!h.value.is_nan());
                prop_assert!(h.first_ns <= h.last_ns);
            }
        }
        let _ = c.advance(u64::MAX);
        let mut again = Correlator::new(&set, 30 * S);
        prop_assert!(again.restore(&c.save()).is_ok());
    }
}
