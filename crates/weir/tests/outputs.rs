//! A real `weir up` with a file output: an alert raised by a real sensor
//! event reaches the output as a JSON line, and every metric the Grafana
//! dashboard in deploy/ charts is on `GET /metrics` (so the dashboard never
//! shows a panel fed by a name that does not exist).

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{http_get, Up};

fn dashboard_metrics() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/grafana/weir-fleet.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("weir_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn alerts_reach_a_file_output_and_the_dashboard_metrics_exist() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let marker = format!("weir-outputs-{}", std::process::id());
    std::fs::write(
        rules.join("marker.yml"),
        format!(
            "title: Output marker\nid: 3c1d0a64-7b1e-4c47-9e51-8f0f4f7f2a77\nstatus: stable\nlevel: high\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image|endswith: '/true'\n    CommandLine|contains: '{marker}'\n  condition: selection\n"
        ),
    )
    .unwrap();
    let sink = dir.path().join("notifications.jsonl");
    let outputs = dir.path().join("outputs.yaml");
    std::fs::write(
        &outputs,
        format!(
            "outputs:\n  - name: archive\n    type: file\n    path: {}\n",
            sink.display()
        ),
    )
    .unwrap();
    let up = Up::start_with(
        &data,
        &rules,
        &[
            "--outputs".as_ref(),
            outputs.as_os_str(),
            "--risk-every".as_ref(),
            "1".as_ref(),
        ],
    );
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();

    Command::new("/bin/true").arg(&marker).status().unwrap();
    let started = Instant::now();
    let line = loop {
        let text = std::fs::read_to_string(&sink).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("Output marker")) {
            break line.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no notification in {}",
            sink.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let n: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(n["kind"], "alert");
    assert_eq!(n["severity"], "high");
    assert!(n["alert_id"].as_i64().unwrap() > 0);
    assert!(n["url"].as_str().unwrap().contains("/alerts/"), "{n}");

    // Risk gauges appear after the first evaluation (inventory sent at start).
    let wanted = dashboard_metrics();
    assert!(wanted.len() > 15, "{wanted:?}");
    let mut missing = wanted.clone();
    while started.elapsed() < Duration::from_secs(30) {
        let (status, body) = http_get(&up.http, "/metrics", Some(token.trim()));
        assert_eq!(status, 200);
        missing = wanted
            .iter()
            .filter(|name| !body.contains(name.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(missing.is_empty(), "dashboard metrics not exposed: {missing:?}");
    assert!(up.stop().success());
}
