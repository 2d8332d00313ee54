//! End to end, automated response with the real `weir up` (collector, eBPF
//! sensor, detection): a rule in respond mode kills the process that
//! matched, through the sensor's command channel, and the action is in the
//! evidence log; a rule in enforce mode is pushed into the kernel and the
//! matching program dies at exec before it runs a single instruction (its
//! marker file never appears); `weir verify` still passes. Needs root and BPF.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{http_get, query, Up};
use serde_json::Value;

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn respond_kills_the_matching_process_and_enforce_stops_a_program_at_exec() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let victim_name = format!("victim-{}", std::process::id());
    let victim = dir.path().join(&victim_name);
    std::fs::copy("/bin/sleep", &victim).unwrap();
    let blocked = dir.path().join("blocked.sh");
    let marker = dir.path().join("marker");
    std::fs::write(&blocked, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&blocked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        rules.join("victim.yml"),
        format!(
            "title: Victim started\nid: 7a1e0c52-0d7e-4b7e-9a56-2f0d6c1f3a01\nstatus: stable\nlevel: high\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image|endswith: '/{victim_name}'\n  condition: selection\n\
             weir:\n  mode: respond\n  respond: [kill_process]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("blocked.yml"),
        format!(
            "title: Blocked script\nid: 7a1e0c52-0d7e-4b7e-9a56-2f0d6c1f3a02\nstatus: stable\nlevel: critical\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image: '{}'\n  condition: selection\n\
             weir:\n  mode: enforce\n  respond: [kill_process]\n",
            blocked.display()
        ),
    )
    .unwrap();
    let up = Up::start(&data, &rules);
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();

    // Respond: the victim is killed through the collector.
    let started = Instant::now();
    let mut child = Command::new(&victim).arg("30").spawn().unwrap();
    let status = wait_for("the victim to be killed", Duration::from_secs(15), || {
        child.try_wait().unwrap()
    });
    let killed_after = started.elapsed();
    eprintln!("victim killed {killed_after:?} after it started");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let actions = wait_for("the kill to be recorded", Duration::from_secs(10), || {
        let (code, body) = http_get(&up.http, "/api/actions", Some(token.trim()));
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let done: Vec<Value> = v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["action"] == "kill_process" && a["status"] == "ok")
            .cloned()
            .collect();
        (!done.is_empty()).then_some(done)
    });
    assert_eq!(actions[0]["rule_id"], "7a1e0c52-0d7e-4b7e-9a56-2f0d6c1f3a01");
    assert!(actions[0]["alert_id"].as_i64().unwrap() > 0);

    // Enforce: once the sensor has the rule, the script dies at exec.
    wait_for("the enforcement set on the sensor", Duration::from_secs(15), || {
        query(&data, "enforce_set").into_iter().find(|e| {
            e["response.action"] == "enforce_set"
                && e["response.result"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("ok: enforcing 1 ") && r.contains("3a02"))
        })
    });
    let status = Command::new(&blocked).status().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "the blocked script ran");

    assert!(up.stop().success());
    // The kill is in the evidence log, and the log verifies.
    let kills: Vec<Value> = query(&data, "kill_process")
        .into_iter()
        .filter(|e| e["response.action"] == "kill_process")
        .collect();
    assert!(
        kills
            .iter()
            .any(|e| e["response.result"].as_str().is_some_and(|r| r.starts_with("ok"))),
        "{kills:#?}"
    );
    common::verify(&data);
}

fn victim_rule(rules: &std::path::Path, id: &str, name: &str) {
    std::fs::write(
        rules.join(format!("{name}.yml")),
        format!(
            "title: Victim {name}\nid: {id}\nstatus: stable\nlevel: high\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image|endswith: '/{name}'\n  condition: selection\n\
             weir:\n  mode: respond\n  respond: [kill_process]\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_budget_of_three_real_kills_trips_the_breaker_and_dry_run_kills_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let name = format!("budget-victim-{}", std::process::id());
    let victim = dir.path().join(&name);
    std::fs::copy("/bin/sleep", &victim).unwrap();
    let rule_id = "7a1e0c52-0d7e-4b7e-9a56-2f0d6c1f3a10";
    victim_rule(&rules, rule_id, &name);
    let response = dir.path().join("response.yaml");
    std::fs::write(&response, "budget: {max_actions: 3, window: 3600}\n").unwrap();
    let data = dir.path().join("data");
    let up = common::Up::start_with(&data, &rules, &["--response".as_ref(), response.as_os_str()]);
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();

    for i in 0..3 {
        let mut child = Command::new(&victim).arg("30").spawn().unwrap();
        let status = wait_for(&format!("kill {i}"), Duration::from_secs(15), || {
            child.try_wait().unwrap()
        });
        assert_eq!(status.signal(), Some(libc::SIGKILL), "trigger {i}: {status:?}");
    }
    // The fourth trigger spends past the budget: refused, the rule demoted.
    let mut fourth = Command::new(&victim).arg("30").spawn().unwrap();
    let breaker = wait_for("the circuit breaker alert", Duration::from_secs(15), || {
        let (_, body) = http_get(&up.http, "/api/alerts", Some(token.trim()));
        let v: Value = serde_json::from_str(&body).unwrap();
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule_id"] == "weir-response-circuit-breaker")
            .cloned()
    });
    assert!(breaker["summary"].as_str().unwrap().contains(rule_id), "{breaker}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        fourth.try_wait().unwrap().is_none(),
        "the fourth victim was killed past the budget"
    );
    let _ = fourth.kill();
    let _ = fourth.wait();
    let (_, body) = http_get(&up.http, "/api/rules", Some(token.trim()));
    let rules_now: Value = serde_json::from_str(&body).unwrap();
    let rule = rules_now["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"]["id"] == rule_id)
        .unwrap();
    assert_eq!(rule["mode"], "shadow", "{rule}");
    assert!(up.stop().success());
    common::verify(&data);

    // Dry run: the host validates and reports, the victim lives.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let victim = dir.path().join(&name);
    std::fs::copy("/bin/sleep", &victim).unwrap();
    victim_rule(&rules, rule_id, &name);
    let response = dir.path().join("response.yaml");
    std::fs::write(&response, "dry_run: true\n").unwrap();
    let data = dir.path().join("data");
    let up = common::Up::start_with(&data, &rules, &["--response".as_ref(), response.as_os_str()]);
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let mut child = Command::new(&victim).arg("30").spawn().unwrap();
    let action = wait_for("the dry-run answer", Duration::from_secs(15), || {
        let (_, body) = http_get(&up.http, "/api/actions", Some(token.trim()));
        let v: Value = serde_json::from_str(&body).unwrap();
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["status"] == "dry_run")
            .cloned()
    });
    assert!(
        action["result"].as_str().unwrap().starts_with("dry-run: would"),
        "{action}"
    );
    assert!(child.try_wait().unwrap().is_none(), "dry run killed the process");
    let _ = child.kill();
    let _ = child.wait();
    assert!(up.stop().success());
}
