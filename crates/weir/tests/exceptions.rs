//! An exception made through the API on a running `weir up`: it is written
//! to DATA/exceptions/console.yml with its author, listed, and within seconds
//! the same activity no longer raises the rule (a real sensor event).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{http, http_get, query, Up};
use serde_json::Value;

fn alert_count(base: &str, token: &str) -> u64 {
    let (_, body) = http_get(
        base,
        "/api/alerts?rule_id=4e1d0a64-7b1e-4c47-9e51-8f0f4f7f2a55",
        Some(token),
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn an_exception_from_the_api_lets_the_activity_through_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let marker = format!("weir-exception-{}", std::process::id());
    std::fs::write(
        rules.join("marker.yml"),
        format!(
            "title: Exception marker\nid: 4e1d0a64-7b1e-4c47-9e51-8f0f4f7f2a55\nstatus: stable\nlevel: low\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image|endswith: '/true'\n    CommandLine|contains: '{marker}'\n  condition: selection\n"
        ),
    )
    .unwrap();
    let up = Up::start(&data, &rules);
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let token = token.trim();

    Command::new("/bin/true").arg(format!("{marker}-1")).status().unwrap();
    let started = Instant::now();
    while alert_count(&up.http, token) < 1 {
        assert!(started.elapsed() < Duration::from_secs(15), "no alert");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = query(&data, &format!("{marker}-1"));
    let exe = seen
        .iter()
        .find_map(|e| e["process.executable"].as_str().filter(|x| x.ends_with("/true")))
        .unwrap()
        .to_string();

    let body = serde_json::json!({
        "rule_id": "4e1d0a64-7b1e-4c47-9e51-8f0f4f7f2a55",
        "reason": "the health check runs true with the marker",
        "where": { "process.executable": exe }
    });
    let auth = [
        ("Authorization", format!("Bearer {token}")),
        ("Content-Type", "application/json".to_string()),
    ];
    let (status, text) = http(&up.http, "POST", "/api/exceptions", &auth, &body.to_string());
    assert_eq!(status, 200, "{text}");
    // A bad one is refused and changes nothing.
    let bad = serde_json::json!({ "rule_id": "4e1d0a64-7b1e-4c47-9e51-8f0f4f7f2a55", "reason": "", "where": {} });
    let (status, text) = http(&up.http, "POST", "/api/exceptions", &auth, &bad.to_string());
    assert_eq!(status, 400, "{text}");
    let file = std::fs::read_to_string(data.join("exceptions").join("console.yml")).unwrap();
    assert!(file.contains("admin-token") && file.contains(&exe), "{file}");
    let (_, listed) = http_get(&up.http, "/api/exceptions", Some(token));
    assert!(listed.contains("the health check runs true"), "{listed}");

    // Detection re-reads exceptions every few seconds.
    std::thread::sleep(Duration::from_secs(7));
    Command::new("/bin/true").arg(format!("{marker}-2")).status().unwrap();
    let started = Instant::now();
    while query(&data, &format!("{marker}-2")).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the second exec was not stored"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        alert_count(&up.http, token),
        1,
        "the excepted activity still raised the rule"
    );
    assert!(up.stop().success());
}
