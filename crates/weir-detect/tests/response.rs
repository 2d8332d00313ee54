//! Automated response decided by the detection stage: a rule in respond mode
//! sends one kill per matching process through the transport hooks, a fleet
//! budget trips the circuit breaker (rule back to shadow, an alert says so),
//! protected processes are never targeted, shadow rules only record what
//! they would have done, dry-run marks the command, and a host's answer is
//! kept with the decision. The host side (the kill itself) is tested with the
//! real sensor in the `weir` crate.

use std::sync::{Arc, Mutex};

use weir_detect::{AlertQuery, AlertStore, DetectConfig, Detector, ResponseConfig, ResponseHooks, RuleMode};
use weir_event::{event::Body, Action, Command, Event, Exec, Process};

const RULE: &str = r#"
title: Netcat listener
id: 11111111-2222-3333-4444-555555555555
status: stable
level: high
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    Image|endswith: '/nc'
  condition: selection
weir:
  mode: respond
  respond: [kill_process]
"#;

#[derive(Debug, Default)]
struct Transport {
    commands: Mutex<Vec<(String, Command)>>,
    records: Mutex<Vec<Action>>,
    opened: Mutex<Vec<i64>>,
}

impl ResponseHooks for Transport {
    fn send_command(&self, host_id: &str, command: Command) -> Result<(), String> {
        self.commands.lock().unwrap().push((host_id.to_string(), command));
        Ok(())
    }
    fn record_action(&self, action: Action) {
        self.records.lock().unwrap().push(action);
    }
    fn alert_opened(
        &self,
        alert_id: i64,
        _m: &weir_detect::RuleMatch,
        _ecs: &serde_json::Map<String, serde_json::Value>,
    ) {
        self.opened.lock().unwrap().push(alert_id);
    }
}

fn exec(seq: u64, exe: &str) -> Event {
    Event {
        seq,
        time_unix_ns: 1_800_000_000_000_000_000 + seq,
        host_id: "host-a".into(),
        process: Some(Process {
            pid: 1000 + seq as u32,
            entity_id: format!("entity-{seq}"),
            executable: exe.into(),
            args: vec![exe.as_bytes().to_vec()],
            ..Default::default()
        }),
        body: Some(Body::Exec(Exec::default())),
        ..Default::default()
    }
}

fn start(dir: &std::path::Path, yaml: &str) -> (Detector, Arc<Transport>) {
    let rules = weir_rules::RuleSet::from_yaml(RULE, "nc.yml").unwrap();
    let transport = Arc::new(Transport::default());
    let config = DetectConfig {
        response: ResponseConfig::parse(yaml).unwrap(),
        response_text: yaml.to_string(),
        hooks: Some(transport.clone()),
        ..Default::default()
    };
    (
        Detector::start(rules, &dir.join("alerts.db"), config).unwrap(),
        transport,
    )
}

#[test]
fn a_budget_of_three_trips_on_the_fourth_and_the_rule_goes_back_to_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let (detector, transport) = start(dir.path(), "budget: {max_actions: 3, window: 3600}");
    let events: Vec<Event> = (1..=5).map(|i| exec(i, "/usr/bin/nc")).collect();
    detector.submit("host-a", 1, &events);
    detector.stop();

    let commands = transport.commands.lock().unwrap().clone();
    assert_eq!(commands.len(), 3, "{commands:?}");
    for (i, (host, c)) in commands.iter().enumerate() {
        assert_eq!(host, "host-a");
        assert_eq!(c.action, "kill_process");
        assert_eq!(c.target, format!("entity-{}", i + 1));
        assert_eq!(c.pid_hint, 1001 + i as u32);
        assert!(!c.dry_run);
        assert!(!c.policy_version.is_empty());
        assert!(c.alert_id > 0);
    }
    // The fourth is refused (and kept in the evidence log); the fifth comes
    // after the demotion, so it is only a would-be action.
    let records = transport.records.lock().unwrap().clone();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].result.contains("budget"), "{}", records[0].result);

    let store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    assert_eq!(
        store.rule_modes().unwrap().get("11111111-2222-3333-4444-555555555555"),
        Some(&RuleMode::Shadow)
    );
    let breaker: Vec<_> = store
        .list(&AlertQuery::default())
        .unwrap()
        .into_iter()
        .filter(|a| a.rule_id == weir_detect::BREAKER_RULE_ID)
        .collect();
    assert_eq!(breaker.len(), 1);
    assert!(
        breaker[0].summary.contains("demoted to shadow"),
        "{}",
        breaker[0].summary
    );
    let actions = store.actions(None, 100).unwrap();
    let count = |status: &str| actions.iter().filter(|a| a.status == status).count();
    assert_eq!(
        (count("sent"), count("refused"), count("shadow")),
        (3, 1, 1),
        "{actions:?}"
    );
    let changes = store.rule_mode_changes("11111111-2222-3333-4444-555555555555").unwrap();
    assert_eq!(changes.last().unwrap().1, "circuit-breaker");
    // Alerts were handed on for notification: the rule's and the breaker's.
    assert!(transport.opened.lock().unwrap().len() >= 2);
}

#[test]
fn protected_processes_are_never_targeted_and_dry_run_marks_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (detector, transport) = start(dir.path(), "dry_run: true\nprotected: [nc]");
    detector.submit("host-a", 1, &[exec(1, "/usr/bin/nc")]);
    detector.stop();
    assert!(transport.commands.lock().unwrap().is_empty());
    let records = transport.records.lock().unwrap().clone();
    assert!(records[0].result.starts_with("refused:") && records[0].result.contains("protected"));

    let dir = tempfile::tempdir().unwrap();
    let (detector, transport) = start(dir.path(), "dry_run: true");
    detector.submit("host-a", 1, &[exec(1, "/usr/bin/nc")]);
    // The host answers; the answer is kept with the decision.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while transport.commands.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let command = transport.commands.lock().unwrap()[0].1.clone();
    assert!(command.dry_run);
    let answer = Event {
        seq: 9,
        time_unix_ns: 1_800_000_000_000_000_100,
        host_id: "collector".into(),
        body: Some(Body::Action(Action {
            action: command.action.clone(),
            target: command.target.clone(),
            result: "dry-run: would kill pid 1001 (/usr/bin/nc)".into(),
            latency_us: 42,
            command_id: command.command_id.clone(),
            host_id: "host-a".into(),
            dry_run: true,
            ..Default::default()
        })),
        ..Default::default()
    };
    detector.submit("collector", 2, &[answer]);
    detector.stop();
    let store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let actions = store.actions(None, 10).unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].status, "dry_run");
    assert_eq!(actions[0].host_latency_us, Some(42));
    assert_eq!(actions[0].mode, "dry_run");
}

#[test]
fn shadow_rules_record_would_be_actions_in_their_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let (detector, transport) = start(dir.path(), "");
    let store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    drop(store);
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    store
        .set_rule_mode(
            "11111111-2222-3333-4444-555555555555",
            RuleMode::Shadow,
            "alice",
            "staging",
            1,
        )
        .unwrap();
    drop(store);
    // The worker re-reads modes every few seconds; a new detector reads them at start.
    detector.stop();
    let rules = weir_rules::RuleSet::from_yaml(RULE, "nc.yml").unwrap();
    let config = DetectConfig {
        hooks: Some(transport.clone()),
        ..Default::default()
    };
    let detector = Detector::start(rules, &dir.path().join("alerts.db"), config).unwrap();
    detector.submit("host-a", 1, &[exec(1, "/usr/bin/nc"), exec(2, "/usr/bin/nc")]);
    detector.stop();
    assert!(transport.commands.lock().unwrap().is_empty());
    let store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let stats = store.rule_stats().unwrap();
    let shadow = stats.iter().find(|s| s.mode == weir_detect::Mode::Shadow).unwrap();
    assert_eq!(shadow.actions, 2);
}

#[test]
fn triage_transitions_give_the_actor_confirmation_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
    let m = |seq: u64, group: &str| weir_detect::RuleMatch {
        rule_id: "r-confirm".into(),
        rule_title: "Dropped a table".into(),
        level: "high".into(),
        mode: weir_detect::Mode::Alert,
        host_id: "db-1".into(),
        group_key: group.into(),
        actor: "alice".into(),
        summary: "psql -c 'drop table x'".into(),
        event_seq: seq,
        evidence_leaf: 1,
        time_unix_ns: seq,
    };
    let ids: Vec<i64> = store
        .record(&[m(1, "a"), m(2, "b"), m(3, "c")], 10)
        .unwrap()
        .into_iter()
        .map(|r| match r {
            weir_detect::Recorded::Opened(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    for id in &ids {
        store
            .transition(*id, "pending_confirmation", "triage", "asked alice", 10)
            .unwrap();
    }
    store
        .transition(ids[0], "confirmed", "triage", "yes with a code", 11)
        .unwrap();
    store.transition(ids[1], "escalated", "triage", "denied", 11).unwrap();
    // A resolved alert takes no more triage transitions.
    store.resolve(ids[2], "benign", "bob", "", 12).unwrap();
    assert!(store.transition(ids[2], "confirmed", "triage", "", 13).is_err());
    let stats = store.rule_stats().unwrap();
    assert_eq!((stats[0].asked, stats[0].confirmed), (3, 1));
    let states: Vec<String> = store
        .list(&AlertQuery::default())
        .unwrap()
        .into_iter()
        .map(|a| a.state)
        .collect();
    assert!(
        states.contains(&"confirmed".to_string()) && states.contains(&"escalated".to_string()),
        "{states:?}"
    );
}
