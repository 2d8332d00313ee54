//! End to end in a real browser: the real `weir up` (collector, eBPF sensor,
//! detection) and headless Chromium driven by `browser/e2e.mjs`
//! (playwright-core). An analyst signs in and opens the alert queue; the
//! test then runs a marker program; the alert it raises appears in the
//! queue without a reload; the analyst opens it, the evidence inclusion
//! proof verifies in the browser, and the alert is resolved as a true
//! positive and a suppression is made from it, which the API and the audit
//! log then show. Screenshots of
//! every page go to target/console-screenshots/.
//!
//! Needs root and BPF (the sensor), /usr/bin/chromium (or WEIR_CHROMIUM),
//! node, and `npm install --prefix crates/weir/tests/browser`. Without the
//! browser parts the test says so and passes, unless WEIR_REQUIRE_BROWSER
//! is set (CI sets it).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{http_get, Up, WEIR};
use serde_json::Value;

const ANALYST: &str = "ana";
const ADMIN: &str = "adam";
const PASSWORD: &str = "console end-to-end password";
const RULE_TITLE: &str = "Console marker";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("console-screenshots")
}

/// The browser and driver, or why they are missing.
fn browser() -> Result<PathBuf, String> {
    let chromium = std::env::var_os("WEIR_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!("{} not found (apt-get install chromium)", chromium.display()));
    }
    if Command::new("node")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return Err("node not found (apt-get install nodejs)".into());
    }
    let driver = browser_dir().join("node_modules/playwright-core/package.json");
    if !driver.exists() {
        return Err(format!(
            "{} not found (npm install --prefix crates/weir/tests/browser)",
            driver.display()
        ));
    }
    Ok(chromium)
}

fn add_user(data: &Path, name: &str, role: &str) {
    use std::io::Write;
    let mut child = Command::new(WEIR)
        .args(["accounts", "add", name, "--role", role, "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run weir accounts add");
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "weir accounts add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn api(up: &Up, token: &str, path: &str) -> Value {
    let (status, body) = http_get(&up.http, path, Some(token));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn analyst_sees_a_live_alert_verifies_its_proof_and_resolves_it_in_chromium() {
    let chromium = match browser() {
        Ok(path) => path,
        Err(why) if std::env::var_os("WEIR_REQUIRE_BROWSER").is_none() => {
            eprintln!("SKIPPED console end-to-end test: {why} (set WEIR_REQUIRE_BROWSER=1 to make this fail)");
            return;
        }
        Err(why) => panic!("WEIR_REQUIRE_BROWSER is set but {why}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let marker = format!("weir-console-{}", std::process::id());
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("marker.yml"),
        format!(
            "title: {RULE_TITLE}\nid: 3c1f4d2e-5b6a-4f70-8e91-0a2b3c4d5e6f\nstatus: stable\nlevel: high\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image|endswith: '/true'\n    CommandLine|contains: '{marker}'\n  condition: selection\n"
        ),
    )
    .unwrap();
    let up = Up::start(&data, &rules);
    add_user(&data, ANALYST, "analyst");
    add_user(&data, ADMIN, "admin");
    let shots = screenshots_dir();
    let _ = std::fs::remove_dir_all(&shots);

    let mut driver = Command::new("node")
        .arg(browser_dir().join("e2e.mjs"))
        .current_dir(browser_dir())
        .env("WEIR_URL", &up.http)
        .env("WEIR_USER", ANALYST)
        .env("WEIR_PASSWORD", PASSWORD)
        .env("WEIR_ADMIN", ADMIN)
        .env("WEIR_ADMIN_PASSWORD", PASSWORD)
        .env("WEIR_RULE_TITLE", RULE_TITLE)
        .env("WEIR_MARKER", &marker)
        .env("WEIR_SHOTS", &shots)
        .env("WEIR_CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let (lines_tx, lines) = mpsc::channel();
    let stdout = driver.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let next_line = |timeout: Duration| lines.recv_timeout(timeout).ok();

    // Only once the queue is open in the browser does the marker run.
    let ready = next_line(Duration::from_secs(120));
    if ready.as_deref() != Some("READY") {
        let _ = driver.kill();
        panic!("the browser never opened the alert queue (got {ready:?})");
    }
    let ran_at = Instant::now();
    let status = Command::new("/bin/sh")
        .args(["-c", &format!("/bin/true {marker}; exit 0")])
        .status()
        .unwrap();
    assert!(status.success());
    let alert_line = next_line(Duration::from_secs(90));
    let shown_after = ran_at.elapsed();
    let Some(alert_id) = alert_line
        .as_deref()
        .and_then(|l| l.strip_prefix("ALERT "))
        .map(str::to_string)
    else {
        let _ = driver.kill();
        panic!("the alert never appeared in the live queue (got {alert_line:?})");
    };
    eprintln!("alert {alert_id} shown in the live queue {shown_after:?} after the exec");
    let done = next_line(Duration::from_secs(240));
    let exit = driver.wait().unwrap();
    assert_eq!(done.as_deref(), Some("DONE"), "the browser run failed ({exit})");
    assert!(exit.success(), "node exited with {exit}");

    // What the browser did is what the collector recorded.
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let token = token.trim();
    let detail = api(&up, token, &format!("/api/alerts/{alert_id}"));
    assert_eq!(detail["alert"]["rule_title"], RULE_TITLE);
    assert_eq!(detail["alert"]["state"], "true_positive", "{detail:#}");
    let by_analyst = detail["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["who"] == ANALYST && t["state"] == "true_positive");
    assert!(by_analyst, "{detail:#}");
    let suppressions = api(&up, token, "/api/suppressions");
    let suppressed = suppressions["suppressions"].as_array().unwrap().iter().any(|s| {
        s["author"] == ANALYST && s["reason"] == "known test marker" && s["rule_id"] == detail["alert"]["rule_id"]
    });
    assert!(suppressed, "no suppression by {ANALYST}: {suppressions:#}");
    let audit = api(&up, token, "/api/audit?limit=200");
    let resolve_path = format!("POST /api/alerts/{alert_id}/resolve");
    let audited = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["actor"] == ANALYST && r["action"] == resolve_path.as_str() && r["outcome"] == "200");
    assert!(audited, "no audit row for {resolve_path} by {ANALYST}: {audit:#}");

    let names = [
        "01-login",
        "02-overview",
        "03-alerts-live",
        "04-alert",
        "05-alert-resolved",
        "06-hosts",
        "07-host",
        "08-search",
        "09-rules",
        "10-audit",
        "11-rules-admin",
        "12-overview-admin",
    ];
    for name in names {
        let png = std::fs::read(shots.join(format!("{name}.png"))).unwrap_or_default();
        assert!(
            png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot {name}.png missing or empty"
        );
    }
    let status = up.stop();
    assert!(status.success(), "weir up exited with {status}");
}
