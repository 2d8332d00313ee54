//! Correlation rules on a stream: thresholds per group within a timespan,
//! out-of-order events within the lateness bound, late events dropped, and
//! state saved and restored across a restart.

use serde_json::{json, Map, Value};
use weir_rules::{Correlator, RuleSet};

const S: u64 = 1_000_000_000;

const RULES: &str = r#"
title: failed login
id: base-fail
name: failed_login
logsource:
    product: test
detection:
    sel:
        action: fail
    condition: sel
---
title: success login
id: base-ok
name: ok_login
logsource:
    product: test
detection:
    sel:
        action: ok
    condition: sel
---
title: brute force
id: corr-count
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [user]
    timespan: 60s
    condition:
        gte: 3
---
title: password spray
id: corr-values
correlation:
    type: value_count
    rules: [base-fail]
    group-by: [src]
    timespan: 60s
    condition:
        field: user
        gte: 3
---
title: fail then success
id: corr-ordered
correlation:
    type: temporal_ordered
    rules: [failed_login, ok_login]
    group-by: [user]
    timespan: 30s
"#;

fn ev(action: &str, user: &str, src: &str) -> Map<String, Value> {
    json!({"action": action, "user": user, "src": src})
        .as_object()
        .unwrap()
        .clone()
}

struct Rig {
    set: RuleSet,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            set: RuleSet::from_yaml(RULES, "corr.yml").unwrap(),
        }
    }
    fn feed(&self, c: &mut Correlator, t: u64, e: &Map<String, Value>) -> Vec<String> {
        let mut m = self.set.matcher();
        let mut hits = Vec::new();
        m.matches(e, &mut hits);
        c.observe(&hits, t, e)
            .into_iter()
            .map(|h| self.set.rules()[h.rule.0 as usize].id.clone())
            .collect()
    }
}

#[test]
fn event_count_per_group_within_timespan() {
    let r = Rig::new();
    let mut c = Correlator::new(&r.set, 10 * S);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    assert!(r.feed(&mut c, 0, &ev("fail", "alice", "a")).is_empty());
    assert!(r.feed(&mut c, 10 * S, &ev("fail", "bob", "b")).is_empty());
    assert!(r.feed(&mut c, 20 * S, &ev("fail", "alice", "a")).is_empty());
    // Third failure for alice within 60s fires; bob's does not count.
    assert_eq!(r.feed(&mut c, 50 * S, &ev("fail", "alice", "a")), vec!["corr-count"]);
    // Window reset after firing.
    assert!(r.feed(&mut c, 51 * S, &ev("fail", "alice", "a")).is_empty());
    // Failures spread wider than the timespan never fire.
    let mut c = Correlator::new(&r.set, 0);
    for i in 0..5 {
        assert!(r.feed(&mut c, i * 61 * S, &ev("fail", "carol", "c")).is_empty());
    }
}

#[test]
fn value_count_counts_distinct_values() {
    let r = Rig::new();
    let mut c = Correlator::new(&r.set, 0);
    assert!(r.feed(&mut c, S, &ev("fail", "u1", "10.0.0.1")).is_empty());
    assert!(r.feed(&mut c, 2 * S, &ev("fail", "u1", "10.0.0.1")).is_empty());
    assert!(r.feed(&mut c, 3 * S, &ev("fail", "u2", "10.0.0.1")).is_empty());
    let fired = r.feed(&mut c, 4 * S, &ev("fail", "u3", "10.0.0.1"));
    assert!(fired.contains(&"corr-values".to_string()), "{fired:?}");
}

#[test]
fn temporal_ordered_needs_the_order() {
    let r = Rig::new();
    let mut c = Correlator::new(&r.set, 0);
    assert!(r.feed(&mut c, S, &ev("ok", "dave", "x")).is_empty());
    assert!(r.feed(&mut c, 2 * S, &ev("fail", "dave", "x")).is_empty());
    assert_eq!(r.feed(&mut c, 3 * S, &ev("ok", "dave", "x")), vec!["corr-ordered"]);
}

#[test]
fn out_of_order_events_within_lateness_count_and_late_ones_drop() {
    let r = Rig::new();
    let mut c = Correlator::new(&r.set, 30 * S);
    assert!(r.feed(&mut c, 100 * S, &ev("fail", "eve", "e")).is_empty());
    assert!(r.feed(&mut c, 120 * S, &ev("fail", "eve", "e")).is_empty());
    // Arrives after t=120 but happened at t=95: within lateness and window.
    assert_eq!(r.feed(&mut c, 95 * S, &ev("fail", "eve", "e")), vec!["corr-count"]);
    // Far too late: dropped and counted.
    assert!(r.feed(&mut c, 10 * S, &ev("fail", "eve", "e")).is_empty());
    assert_eq!(c.late_dropped(), 1);
}

#[test]
fn state_survives_a_restart() {
    let r = Rig::new();
    let mut c = Correlator::new(&r.set, 0);
    r.feed(&mut c, S, &ev("fail", "frank", "f"));
    r.feed(&mut c, 2 * S, &ev("fail", "frank", "f"));
    let saved = c.save();
    // A new process: same rules, fresh correlator, restored state.
    let r2 = Rig::new();
    let mut c2 = Correlator::new(&r2.set, 0);
    c2.restore(&saved).unwrap();
    assert_eq!(r2.feed(&mut c2, 3 * S, &ev("fail", "frank", "f")), vec!["corr-count"]);
    // Without the restore the third failure alone does not fire.
    let mut c3 = Correlator::new(&r2.set, 0);
    assert!(r2.feed(&mut c3, 3 * S, &ev("fail", "frank", "f")).is_empty());
    assert!(c3.restore(b"{not json").is_err());
}

#[test]
fn correlation_referencing_unknown_rule_is_reported() {
    let text = "title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [nope]\n    timespan: 1m\n    condition:\n        gte: 2\n";
    let set = RuleSet::from_yaml(text, "c.yml").unwrap();
    let c = Correlator::new(&set, 0);
    assert_eq!(c.problems().len(), 1);
    assert!(c.problems()[0].1.contains("nope"));
}

const EXT: &str = r#"
title: process start
id: exec
name: exec
logsource:
    product: test
detection:
    sel:
        action: exec
    condition: sel
---
title: heartbeat
id: hb
name: heartbeat
logsource:
    product: test
detection:
    sel:
        action: heartbeat
    condition: sel
---
title: new parent of a program
id: nv
correlation:
    type: new_value
    rules: [exec]
    group-by: [image]
    fields: [parent]
    learning: 60s
---
title: sensor silent
id: silent
correlation:
    type: absence
    rules: [heartbeat]
    group-by: [host]
    timespan: 5m
"#;

fn ext_ev(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
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

#[test]
fn new_value_after_learning() {
    let set = RuleSet::from_yaml(EXT, "ext.yml").unwrap();
    let mut c = Correlator::new(&set, 0);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    let exec = |img: &str, parent: &str| ext_ev(json!({"action": "exec", "image": img, "parent": parent}));
    // Learning period: values are remembered, not reported.
    assert!(feed(&set, &mut c, 0, &exec("/usr/sbin/sshd", "/usr/lib/systemd/systemd")).is_empty());
    assert!(feed(&set, &mut c, 10 * S, &exec("/usr/bin/bash", "/usr/sbin/sshd")).is_empty());
    // After it: a known tuple is quiet, a new one is reported once.
    assert!(feed(
        &set,
        &mut c,
        100 * S,
        &exec("/usr/sbin/sshd", "/usr/lib/systemd/systemd")
    )
    .is_empty());
    assert_eq!(
        feed(&set, &mut c, 110 * S, &exec("/usr/sbin/sshd", "/tmp/x")),
        vec!["nv"]
    );
    assert!(feed(&set, &mut c, 120 * S, &exec("/usr/sbin/sshd", "/tmp/x")).is_empty());
    // Restored state remembers what was learned.
    let mut c2 = Correlator::new(&set, 0);
    c2.restore(&c.save()).unwrap();
    assert!(feed(&set, &mut c2, 130 * S, &exec("/usr/bin/bash", "/usr/sbin/sshd")).is_empty());
    assert_eq!(
        feed(&set, &mut c2, 140 * S, &exec("/usr/bin/bash", "/usr/bin/python3")),
        vec!["nv"]
    );
}

#[test]
fn absence_reports_a_silent_group_once() {
    let set = RuleSet::from_yaml(EXT, "ext.yml").unwrap();
    let mut c = Correlator::new(&set, 0);
    let hb = |host: &str| ext_ev(json!({"action": "heartbeat", "host": host}));
    assert!(feed(&set, &mut c, 0, &hb("a")).is_empty());
    assert!(feed(&set, &mut c, 0, &hb("b")).is_empty());
    assert!(feed(&set, &mut c, 200 * S, &hb("a")).is_empty());
    // b has been silent for 5 minutes at t=300s; a has not.
    let hits = c.advance(300 * S);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].group, vec![("host".to_string(), "b".to_string())]);
    assert!(c.advance(400 * S).is_empty(), "reported once per silence");
    // The state survives a restart: a goes silent later, b is not re-reported.
    let mut c2 = Correlator::new(&set, 0);
    c2.restore(&c.save()).unwrap();
    let hits = c2.advance(500 * S);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].group, vec![("host".to_string(), "a".to_string())]);
    // b speaks again, then falls silent again: reported again.
    assert!(feed(&set, &mut c2, 510 * S, &hb("b")).is_empty());
    assert_eq!(c2.advance(811 * S).len(), 1);
}
