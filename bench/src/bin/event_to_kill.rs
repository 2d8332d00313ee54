//! Latency of automated response through the collector, as deployed: the
//! real `weir up` (eBPF sensor -> signed batches -> collector -> evidence log
//! -> detection -> command down the stream -> responder kills by entity id)
//! with a rule in respond mode on a victim program. For each trigger it
//! measures spawn -> the victim is dead (waitpid), and reads from the alert
//! store the collector's own times: kernel event -> alert recorded and kill
//! command sent, and the host's time to carry out the kill. Baseline in the
//! same run: spawn -> dead when the bench kills the victim itself.
//!
//! Run as root, after `cargo build --release -p weir`:
//! `cargo run --release -p weir-bench --bin event_to_kill [TRIGGERS]`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn pct(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let triggers: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let weir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/weir");
    assert!(weir.exists(), "build it first: cargo build --release -p weir");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let victim = dir.path().join(format!("victim-{}", std::process::id()));
    std::fs::copy("/bin/sleep", &victim).unwrap();
    std::fs::write(
        rules.join("victim.yml"),
        format!(
            "title: Bench victim\nid: 0b1e0c52-0d7e-4b7e-9a56-2f0d6c1f3a99\nstatus: stable\nlevel: high\n\
             logsource:\n  product: linux\n  category: process_creation\n\
             detection:\n  selection:\n    Image|endswith: '/{}'\n  condition: selection\n\
             weir:\n  mode: respond\n  respond: [kill_process]\n",
            victim.file_name().unwrap().to_string_lossy()
        ),
    )
    .unwrap();
    let response = dir.path().join("response.yaml");
    std::fs::write(&response, "budget: {max_actions: 1000000, window: 60}\n").unwrap();
    let data = dir.path().join("data");
    let mut up = Command::new(&weir)
        .args(["up", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--rules")
        .arg(&rules)
        .arg("--response")
        .arg(&response)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(up.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    std::thread::sleep(Duration::from_secs(2));

    // Baseline: the same program, killed by us as soon as it is started.
    let mut baseline = Vec::with_capacity(triggers);
    for _ in 0..triggers.min(300) {
        let started = Instant::now();
        let mut child = Command::new("/bin/sleep").arg("30").spawn().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        baseline.push(started.elapsed());
    }

    let mut killed = Vec::with_capacity(triggers);
    let mut missed = 0;
    for _ in 0..triggers {
        let started = Instant::now();
        let mut child = Command::new(&victim).arg("30").spawn().unwrap();
        loop {
            if child.try_wait().unwrap().is_some() {
                killed.push(started.elapsed());
                break;
            }
            if started.elapsed() > Duration::from_secs(5) {
                missed += 1;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_secs(2));
    unsafe { libc::kill(up.id() as i32, libc::SIGINT) };
    let _ = up.wait();

    // The collector's own times, from the alert store.
    let db = rusqlite::Connection::open(data.join("alerts.db")).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT decided_unix_ns - event_unix_ns, host_latency_us FROM actions
             WHERE action = 'kill_process' AND status = 'ok'",
        )
        .unwrap();
    let rows: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut decided: Vec<Duration> = rows.iter().map(|r| Duration::from_nanos(r.0.max(0) as u64)).collect();
    let mut on_host: Vec<Duration> = rows.iter().map(|r| Duration::from_micros(r.1.max(0) as u64)).collect();

    println!(
        "triggers {triggers}, killed {}, missed {missed}, kills recorded ok {}",
        killed.len(),
        rows.len()
    );
    let b50 = pct(&mut baseline, 0.5);
    let (k50, k99) = (pct(&mut killed, 0.5), pct(&mut killed, 0.99));
    println!("baseline spawn -> killed by the bench     p50 {b50:>10.2?}");
    println!(
        "spawn -> killed by weir (via collector)   p50 {k50:>10.2?}  p99 {k99:>10.2?}  (p50 {:.1}x baseline)",
        k50.as_secs_f64() / b50.as_secs_f64()
    );
    if !decided.is_empty() {
        println!(
            "kernel event -> alert recorded, command sent  p50 {:>10.2?}  p99 {:>10.2?}",
            pct(&mut decided, 0.5),
            pct(&mut decided, 0.99)
        );
        println!(
            "command received -> kill done on the host     p50 {:>10.2?}  p99 {:>10.2?}",
            pct(&mut on_host, 0.5),
            pct(&mut on_host, 0.99)
        );
    }
}
