//! Shared test harness: starts a real sensor in-process, collects its events
//! on a thread, and runs helper actions in child processes (the sensor
//! ignores its own process, so every workload runs in a child).

#![allow(dead_code)]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_event::event::Body;
use weir_event::Event;
use weir_sensor::{Sensor, SensorConfig};

pub const HOST: &str = "7e57000000000000000000000000beef";

pub struct Harness {
    sensor: Option<Sensor>,
    events: Arc<Mutex<Vec<Event>>>,
    collector: Option<std::thread::JoinHandle<()>>,
}

pub fn config(prefixes: &[&str]) -> SensorConfig {
    let mut c = SensorConfig::new(HOST);
    c.watch_prefixes = prefixes.iter().map(|s| s.to_string()).collect();
    c
}

impl Harness {
    pub fn start(config: SensorConfig) -> Harness {
        let (sensor, mut rx) = Sensor::start(config).expect("sensor starts (tests run as root)");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let collector = std::thread::spawn(move || {
            while let Some(ev) = rx.blocking_recv() {
                sink.lock().unwrap().push(ev);
            }
        });
        Harness {
            sensor: Some(sensor),
            events,
            collector: Some(collector),
        }
    }

    /// Waits until `pred` holds for some event (generous bound: this guards
    /// against a hang, it does not time anything).
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.events.lock().unwrap().iter().find(|e| pred(e)) {
                return e.clone();
            }
            assert!(Instant::now() < deadline, "no {what} event arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the sensor and returns everything it delivered.
    pub fn finish(mut self) -> Vec<Event> {
        self.sensor.take().unwrap().stop().unwrap();
        self.collector.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.sensor.take() {
            let _ = s.stop();
        }
    }
}

pub fn pid_of(e: &Event) -> u32 {
    e.process.as_ref().map(|p| p.pid).unwrap_or(0)
}

pub fn is_exec_of(e: &Event, pid: u32) -> bool {
    matches!(e.body, Some(Body::Exec(_))) && pid_of(e) == pid
}

/// Runs this test binary again as a child that performs `action` (see
/// `helper_entry` in each test file); returns its stdout and pid.
pub fn helper(action: &str, args: &[&str]) -> (u32, String) {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_entry", "--nocapture", "--test-threads=1", "-q"])
        .env("WEIR_HELPER", action)
        .env("WEIR_HELPER_ARGS", args.join("\u{1}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "helper {action} failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or("RESULT ")
        .to_string();
    (pid, line["RESULT ".len()..].to_string())
}

pub fn helper_args() -> Vec<String> {
    std::env::var("WEIR_HELPER_ARGS")
        .unwrap_or_default()
        .split('\u{1}')
        .map(String::from)
        .collect()
}

/// Entity id computed independently, from /proc/PID/stat.
pub fn proc_entity_id(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let start: u64 = rest.split_whitespace().nth(19).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    weir_event::entity::entity_id(HOST, pid, start * (1_000_000_000 / hz))
}

pub fn unique(tag: &str) -> String {
    format!(
        "weir-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
