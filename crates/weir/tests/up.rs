//! End to end: the real `weir up` (collector + embedded storage + a real eBPF
//! sensor on this host) sees a program the test runs, with its lineage,
//! within a second or so; `weir query` finds it and `weir verify` passes.
//! Needs root and BPF, like the sensor itself.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{http_get, query, Up, WEIR};
use serde_json::Value;

fn is_true(event: &Value) -> bool {
    event["process.executable"]
        .as_str()
        .is_some_and(|exe| exe.ends_with("/true"))
}

#[test]
fn up_sees_an_exec_with_lineage_alerts_on_it_and_the_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let marker = format!("weir-e2e-{}", std::process::id());
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("marker.yml"),
        format!(
            "title: End-to-end marker\nid: 5d0f6a64-7b1e-4c47-9e51-8f0f4f7f2a10\nstatus: stable\nlevel: high\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image|endswith: '/true'\n    CommandLine|contains: '{marker}'\n  condition: selection\n"
        ),
    )
    .unwrap();
    let up = Up::start(&data, &rules);
    assert!(up.http.starts_with("http://127.0.0.1:"), "{}", up.http);
    // The first start makes a console admin whose password only root can read.
    let password = data.join("console-admin.password");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&password).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let accounts = Command::new(WEIR)
        .args(["accounts", "list", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&accounts.stdout).contains(r#""username":"admin","role":"admin""#));

    // sh (with the marker in its command line) runs /bin/true with the marker as argument.
    let started = Instant::now();
    let status = Command::new("/bin/sh")
        .args(["-c", &format!("/bin/true {marker}; exit 0")])
        .status()
        .unwrap();
    assert!(status.success());

    let mut found = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        found = query(&data, &marker);
        if found.iter().any(is_true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen_after = started.elapsed();
    eprintln!("exec searchable after {seen_after:?}");
    let child = found
        .iter()
        .find(|e| e["event.kind"] == "exec" && is_true(e))
        .unwrap_or_else(|| panic!("no exec of true with {marker} in {found:#?}"));
    let parent = found
        .iter()
        .find(|e| e["event.kind"] == "exec" && e["process.name"].as_str().is_some_and(|n| n.ends_with("sh")))
        .unwrap_or_else(|| panic!("no exec of the parent shell in {found:#?}"));
    assert_eq!(child["process.args"], serde_json::json!(["/bin/true", marker]));
    assert_eq!(child["process.parent.entity_id"], parent["process.entity_id"]);
    assert_eq!(child["process.parent.executable"], parent["process.executable"]);
    assert_eq!(child["process.parent.pid"], parent["process.pid"]);
    assert_eq!(child["user.id"], 0);

    // The rule fired once, and the alert API wants the admin token.
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    assert_eq!(http_get(&up.http, "/api/alerts", None).0, 401);
    let mut alerts = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        let (status, body) = http_get(&up.http, "/api/alerts", Some(token.trim()));
        assert_eq!(status, 200, "{body}");
        alerts = serde_json::from_str::<Value>(&body).unwrap()["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !alerts.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["rule_title"], "End-to-end marker");
    assert_eq!(alerts[0]["count"], 1);
    assert_eq!(alerts[0]["mode"], "alert");

    let status = up.stop();
    assert!(status.success(), "weir up exited with {status}");

    // A backtest of the same rule over the stored history finds the same
    // event, and the per-rule statistics count the alert.
    let backtest = Command::new(WEIR)
        .args(["rules", "backtest", "--json", "--since", "1h", "--data"])
        .arg(&data)
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        backtest.status.success(),
        "{}",
        String::from_utf8_lossy(&backtest.stderr)
    );
    let results: Vec<Value> = String::from_utf8(backtest.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0]["title"], "End-to-end marker");
    assert_eq!(results[0]["matches"], 1);
    let stats = Command::new(WEIR)
        .args(["rules", "stats", "--json", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let stats: Value = serde_json::from_str(String::from_utf8(stats.stdout).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(
        (stats["rule_title"].as_str(), stats["alerts"].as_u64()),
        (Some("End-to-end marker"), Some(1))
    );

    // Running it again resumes with the same identity and data: the host is
    // not enrolled twice, its chain continues, and new events are found.
    let hosts_before = std::fs::read_dir(data.join("sensor")).unwrap().count();
    let up = Up::start(&data, &rules);
    let again = format!("{marker}-again");
    Command::new("/bin/true").arg(&again).status().unwrap();
    let restarted = Instant::now();
    while query(&data, &again).is_empty() {
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "no event after restarting weir up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_dir(data.join("sensor")).unwrap().count(), hosts_before);
    let found = query(&data, &marker);
    let host_ids: std::collections::BTreeSet<_> = found.iter().map(|e| e["host.id"].to_string()).collect();
    assert_eq!(host_ids.len(), 1, "one host identity across restarts: {host_ids:?}");
    assert!(up.stop().success());
    let verify = Command::new(WEIR)
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "weir verify failed after a restart: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let verify = Command::new(WEIR)
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "weir verify failed:\n{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
