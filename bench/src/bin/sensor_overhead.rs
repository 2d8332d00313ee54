//! Sensor overhead: throughput of exec, open/close (unwatched, watched, and
//! an unwatched dotfile under a dot directory) and loopback TCP connect loops with no monitoring, with empty programs on
//! the sensor's attach points (the floor any tracepoint-based sensor pays on
//! this kernel), with the Weir sensor (events drained and discarded) and with
//! auditd carrying equivalent rules.
//! Runs are interleaved (A B C A B C ...) and the table shows median ratios
//! against the baseline, drops, the sensor's CPU per 100k events and its peak
//! RSS. Run as root: `cargo run --release -p weir-bench --bin sensor_overhead`.
//!
//! Workloads run in a child process (this binary re-executed with
//! `--worker`), because the sensor never reports its own process.
//!
//! Sensor settings under test: `FILE_REPEAT_MS` (window of the kernel's
//! folding of repeated file operations; 0 sends every one; default the
//! sensor's) and `RESOLVE_OPENED=0` (no check of opened files' real paths).
//! `WORKLOADS=open-unwatched,connect` runs only those workloads.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_bench::empty_probes::EmptyProbes;
use weir_event::event::Body;
use weir_sensor::{Sensor, SensorConfig};

const WATCHED: &str = "/etc/weir-bench-watched";
const UNWATCHED: &str = "/tmp/weir-bench-unwatched";
const DOT_DIR: &str = "/tmp/.weir-bench-dot";
const DOTFILE: &str = "/tmp/.weir-bench-dot/.f";
const WORKLOADS: [&str; 5] = ["exec", "open-unwatched", "open-watched", "open-dotfile", "connect"];
const MODES: [&str; 4] = ["baseline", "hooks", "weir", "auditd"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        worker(&args[2], args[3].parse().unwrap());
        return;
    }
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let run_ms: u64 = std::env::var("RUN_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let only = std::env::var("WORKLOADS").ok();
    let workloads: Vec<&str> = WORKLOADS
        .into_iter()
        .filter(|w| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == *w)))
        .collect();
    let audit = Audit::available();
    if !audit {
        eprintln!("auditd/auditctl not found: the auditd column is skipped (apt-get install auditd)");
    }
    std::fs::write(WATCHED, b"").expect("creating the watched file under /etc (run as root)");
    std::fs::create_dir_all(DOT_DIR).expect("creating the dot directory under /tmp");
    let mut results: std::collections::HashMap<(&str, &str), Vec<f64>> = Default::default();
    let mut weir = WeirStats::default();
    for round in 0..rounds {
        for mode in MODES {
            if mode == "auditd" && !audit {
                continue;
            }
            let guard = Mode::enter(mode);
            for &w in &workloads {
                let before = guard.events();
                let ops = run_worker(w, run_ms);
                if let Mode::Weir(s) = &guard {
                    std::thread::sleep(Duration::from_millis(50));
                    weir.events += s.received.load(Ordering::Relaxed) - before;
                }
                results.entry((w, mode)).or_default().push(ops);
            }
            if let Mode::Weir(s) = guard {
                weir.add(s.finish());
            } else {
                drop(guard);
            }
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }
    let _ = std::fs::remove_file(WATCHED);
    let _ = std::fs::remove_file(UNWATCHED);
    let _ = std::fs::remove_file(DOTFILE);
    let _ = std::fs::remove_dir(DOT_DIR);

    println!("sensor overhead: median ops/s over {rounds} interleaved rounds of {run_ms} ms, ratio vs baseline");
    println!(
        "{:<16} {:>12} {:>8} {:>12} {:>8} {:>12} {:>8}",
        "workload", "baseline/s", "hooks x", "weir/s", "weir x", "auditd/s", "audit x"
    );
    for &w in &workloads {
        let base = median(&results[&(w, "baseline")]);
        let hooks = median(&results[&(w, "hooks")]);
        let we = median(&results[&(w, "weir")]);
        let au = results.get(&(w, "auditd")).map(|v| median(v));
        println!(
            "{:<16} {:>12.0} {:>8.3} {:>12.0} {:>8.3} {:>12} {:>8}",
            w,
            base,
            hooks / base,
            we,
            we / base,
            au.map(|a| format!("{a:.0}")).unwrap_or("-".into()),
            au.map(|a| format!("{:.3}", a / base)).unwrap_or("-".into())
        );
    }
    println!(
        "weir: {} events delivered, dropped kernel ring {} user queue {}, sensor CPU {:.3} s per 100k events, peak RSS {:.1} MiB",
        weir.events,
        weir.dropped_kernel,
        weir.dropped_user,
        if weir.events > 0 { weir.cpu_seconds * 100_000.0 / weir.events as f64 } else { 0.0 },
        weir.peak_rss as f64 / (1 << 20) as f64
    );
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs one workload in a child for `ms` milliseconds; returns ops/s.
fn run_worker(workload: &str, ms: u64) -> f64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--worker", workload, &ms.to_string()])
        .output()
        .expect("spawning the worker");
    assert!(
        out.status.success(),
        "worker {workload} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("worker prints ops/s")
}

fn worker(workload: &str, ms: u64) {
    let deadline = Duration::from_millis(ms);
    let start = Instant::now();
    let mut ops: u64 = 0;
    match workload {
        "exec" => {
            while start.elapsed() < deadline {
                Command::new("/bin/true").status().unwrap();
                ops += 1;
            }
        }
        "open-unwatched" | "open-watched" | "open-dotfile" => {
            let path = match workload {
                "open-watched" => WATCHED,
                "open-dotfile" => DOTFILE,
                _ => UNWATCHED,
            };
            let p = std::ffi::CString::new(path).unwrap();
            while start.elapsed() < deadline {
                for _ in 0..100 {
                    // SAFETY: valid C string; the fd is closed right away.
                    unsafe {
                        let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
                        assert!(fd >= 0);
                        libc::close(fd);
                    }
                }
                ops += 100;
            }
        }
        "connect" => {
            // Connect, then accept on the same thread: no scheduling between
            // two threads on a busy machine in the measurement.
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            while start.elapsed() < deadline {
                let c = std::net::TcpStream::connect(addr).unwrap();
                let (s, _) = l.accept().unwrap();
                drop(c);
                drop(s);
                ops += 1;
            }
        }
        other => panic!("unknown workload {other}"),
    }
    let rate = ops as f64 / start.elapsed().as_secs_f64();
    let mut out = std::io::stdout();
    writeln!(out, "{rate}").unwrap();
}

#[derive(Default)]
struct WeirStats {
    events: u64,
    dropped_kernel: u64,
    dropped_user: u64,
    cpu_seconds: f64,
    peak_rss: u64,
}

impl WeirStats {
    fn add(&mut self, r: RunResult) {
        self.dropped_kernel += r.dropped_kernel;
        self.dropped_user += r.dropped_user;
        self.cpu_seconds += r.cpu_seconds;
        self.peak_rss = self.peak_rss.max(r.peak_rss);
    }
}

struct RunResult {
    dropped_kernel: u64,
    dropped_user: u64,
    cpu_seconds: f64,
    peak_rss: u64,
}

struct RunningSensor {
    sensor: Sensor,
    drain: std::thread::JoinHandle<(u64, u64)>,
    received: Arc<AtomicU64>,
    cpu_start: f64,
}

impl RunningSensor {
    fn start() -> Self {
        let id = weir_sensor::host_identity().expect("host identity");
        let mut config = SensorConfig::new(id.host_id);
        if let Some(ms) = std::env::var("FILE_REPEAT_MS").ok().and_then(|v| v.parse().ok()) {
            config.file_repeat_window = Duration::from_millis(ms);
        }
        if std::env::var("RESOLVE_OPENED").as_deref() == Ok("0") {
            config.resolve_opened_files = false;
        }
        let (sensor, mut rx) = Sensor::start(config).expect("starting the sensor (root?)");
        let received = Arc::new(AtomicU64::new(0));
        let r = received.clone();
        let drain = std::thread::spawn(move || {
            let (mut kernel, mut user) = (0u64, 0u64);
            while let Some(ev) = rx.blocking_recv() {
                match &ev.body {
                    Some(Body::Loss(l)) => {
                        kernel += l.kernel_ring.values().sum::<u64>();
                        user += l.user_queue.values().sum::<u64>();
                    }
                    Some(Body::Health(_)) => {}
                    _ => {
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (kernel, user)
        });
        RunningSensor {
            sensor,
            drain,
            received,
            cpu_start: weir_sensor::sensor::self_usage().0,
        }
    }

    fn finish(self) -> RunResult {
        let cpu = weir_sensor::sensor::self_usage().0 - self.cpu_start;
        self.sensor.stop().expect("stopping the sensor");
        let (dropped_kernel, dropped_user) = self.drain.join().unwrap();
        RunResult {
            dropped_kernel,
            dropped_user,
            cpu_seconds: cpu,
            peak_rss: peak_rss(),
        }
    }
}

fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

enum Mode {
    Baseline,
    Hooks(#[allow(dead_code)] EmptyProbes),
    Weir(RunningSensor),
    Auditd(#[allow(dead_code)] Audit),
}

impl Mode {
    fn enter(mode: &str) -> Mode {
        match mode {
            "baseline" => Mode::Baseline,
            "hooks" => {
                let probes = EmptyProbes::attach().expect("attaching empty programs (root?)");
                eprintln!("empty programs on {} attach points", probes.attached);
                Mode::Hooks(probes)
            }
            "weir" => Mode::Weir(RunningSensor::start()),
            _ => Mode::Auditd(Audit::start()),
        }
    }

    fn events(&self) -> u64 {
        match self {
            Mode::Weir(s) => s.received.load(Ordering::Relaxed),
            _ => 0,
        }
    }
}

/// auditd started by this benchmark, with rules equivalent to the sensor's.
struct Audit {
    pid: Option<i32>,
    stopped: AtomicBool,
}

impl Audit {
    fn available() -> bool {
        ["/usr/sbin/auditd", "/usr/sbin/auditctl", "/sbin/auditd"]
            .iter()
            .filter(|p| std::path::Path::new(p).exists())
            .count()
            >= 2
    }

    fn start() -> Audit {
        let pidfile = "/var/run/auditd.pid";
        let _ = std::fs::remove_file(pidfile);
        let ok = Command::new("auditd").status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "auditd failed to start");
        let mut pid = None;
        for _ in 0..100 {
            if let Some(p) = std::fs::read_to_string(pidfile)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                pid = Some(p);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for rule in [
            vec!["-a", "always,exit", "-F", "arch=b64", "-S", "execve"],
            vec!["-a", "always,exit", "-F", "arch=b64", "-S", "connect"],
            vec!["-w", "/etc", "-p", "wa"],
        ] {
            let s = Command::new("auditctl").args(&rule).output().expect("auditctl");
            assert!(
                s.status.success(),
                "auditctl {rule:?}: {}",
                String::from_utf8_lossy(&s.stderr)
            );
        }
        let _ = Command::new("auditctl").args(["-e", "1"]).output();
        Audit {
            pid,
            stopped: AtomicBool::new(false),
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = Command::new("auditctl").arg("-D").output();
        if let Some(pid) = self.pid {
            // SAFETY: signalling the auditd this benchmark started, by its pid.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            for _ in 0..100 {
                // SAFETY: signal 0 only checks that the pid exists.
                if unsafe { libc::kill(pid, 0) } != 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
