//! A backtest over the same events as live detection reads them the same
//! way: same matches, hosts, actors and event summaries.

use weir_detect::{AlertQuery, AlertStore, Backtest, DetectConfig, Detector};
use weir_event::{event::Body, Event, Exec, Process};

const RULE: &str = r#"
title: Shell runs curl
id: 3c9d7e21-6b0a-4f55-9d2e-7a1b4c8e0f31
status: stable
level: medium
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    Image|endswith: '/sh'
    CommandLine|contains: 'curl'
  condition: selection
"#;

fn exec(seq: u64, host: &str, login: &str, args: &[&str]) -> Event {
    Event {
        seq,
        time_unix_ns: 1_800_000_000_000_000_000 + seq,
        host_id: host.into(),
        process: Some(Process {
            pid: 100 + seq as u32,
            executable: "/usr/bin/sh".into(),
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            loginuid: 1000,
            login_name: login.into(),
            ..Default::default()
        }),
        body: Some(Body::Exec(Exec::default())),
        ..Default::default()
    }
}

#[test]
fn backtest_counts_hosts_actors_and_summaries_as_detection_does() {
    let dir = tempfile::tempdir().unwrap();
    let rule_file = dir.path().join("curl.yml");
    std::fs::write(&rule_file, RULE).unwrap();
    let host_a = vec![
        exec(1, "host-a", "alice", &["sh", "-c", "curl -s http://x/a"]),
        exec(2, "host-a", "alice", &["sh", "-c", "echo hello"]),
    ];
    let host_b = vec![exec(3, "host-b", "bob", &["sh", "-c", "curl -s http://x/b"])];

    let (rules, report) = weir_rules::RuleSet::load_paths(std::slice::from_ref(&rule_file));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let alerts = dir.path().join("alerts.db");
    let detector = Detector::start(rules, &alerts, DetectConfig::default()).unwrap();
    detector.submit("host-a", 1, &host_a);
    detector.submit("host-b", 2, &host_b);
    detector.stop();
    let detected = AlertStore::open(&alerts).unwrap().list(&AlertQuery::default()).unwrap();
    assert_eq!(detected.len(), 2, "{detected:#?}");

    let (rules, _) = weir_rules::RuleSet::load_paths(&[rule_file]);
    let mut backtest = Backtest::new(&rules);
    for event in host_a.iter().chain(&host_b) {
        backtest.observe(event);
    }
    assert_eq!(backtest.events(), 3);
    let results = backtest.finish();
    assert_eq!(results.len(), 1, "{results:#?}");
    let result = &results[0];
    assert_eq!(result.matches, detected.iter().map(|a| a.count).sum::<u64>());
    let hosts: std::collections::BTreeSet<String> = detected.iter().map(|a| a.host_id.clone()).collect();
    let actors: std::collections::BTreeSet<String> = detected.iter().map(|a| a.actor.clone()).collect();
    assert_eq!(result.hosts, hosts);
    assert_eq!(result.actors, actors);
    assert_eq!(result.examples.len(), 2, "{:?}", result.examples);
    for alert in &detected {
        assert!(
            result
                .examples
                .iter()
                .any(|e| e.contains(&alert.host_id) && e.ends_with(&format!(": {}", alert.summary))),
            "no example for {alert:#?} in {:?}",
            result.examples
        );
    }
}
