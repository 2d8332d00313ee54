//! Per-call kernel cost of the sensor's programs on an open/close loop:
//! starts the sensor, turns on the kernel's BPF run-time statistics, runs
//! open(O_WRONLY|O_CREAT)/close on a path in a child process and prints
//! run_time_ns / run_cnt of every program that ran. Run as root:
//! `cargo run --release -p weir-sensor --example open_cost -- /etc/weir-cost [count]`.

use std::process::Command;

use weir_sensor::{Sensor, SensorConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let p = std::ffi::CString::new(args[2].as_str()).expect("path without NUL");
        let n: u64 = args[3].parse().expect("count");
        for _ in 0..n {
            // SAFETY: valid C string; the descriptor is closed right away.
            unsafe {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
                if fd >= 0 {
                    libc::close(fd);
                }
            }
        }
        return;
    }
    let path = args.get(1).cloned().unwrap_or_else(|| "/etc/weir-cost".into());
    let count = args.get(2).cloned().unwrap_or_else(|| "200000".into());
    let id = weir_sensor::host_identity().expect("host identity");
    if let Err(e) = weir_sensor::probe::loader::load(&SensorConfig::new(id.host_id.clone()), 0) {
        eprintln!("BPF load failed: {e}");
        std::process::exit(1);
    }
    let (sensor, mut rx) = Sensor::start(SensorConfig::new(id.host_id)).expect("sensor starts (root?)");
    let drain = std::thread::spawn(move || {
        let mut n = 0u64;
        while rx.blocking_recv().is_some() {
            n += 1;
        }
        n
    });
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1").expect("enabling BPF statistics");
    let started = std::time::Instant::now();
    let status = Command::new(std::env::current_exe().expect("own path"))
        .args(["--child", &path, &count])
        .status()
        .expect("running the child");
    let elapsed = started.elapsed();
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .expect("bpftool");
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "0").expect("disabling BPF statistics");
    assert!(status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        if !line.contains("run_time_ns") {
            continue;
        }
        let field = |key: &str| -> Option<u64> {
            let mut it = line.split_whitespace();
            it.position(|w| w == key)?;
            it.next()?.parse().ok()
        };
        let name = line
            .split_whitespace()
            .skip_while(|w| *w != "name")
            .nth(1)
            .unwrap_or("?");
        if let (Some(t), Some(c)) = (field("run_time_ns"), field("run_cnt")) {
            if c > 1000 {
                println!("{name:<24} {c:>10} runs {:>8.1} ns/run", t as f64 / c as f64);
            }
        }
    }
    println!(
        "loop: {:.1} ns per open+close",
        elapsed.as_nanos() as f64 / count.parse::<f64>().unwrap()
    );
    sensor.stop().expect("stop");
    println!("events delivered: {}", drain.join().unwrap());
    let _ = std::fs::remove_file(&path);
}
