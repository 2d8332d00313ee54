//! The background scanner: a low-priority thread that scans at start, every interval, and soon after a
//! package manager changes its database, handing each `Inventory` to a callback.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use weir_event::Inventory;

use crate::config::ScanConfig;
use crate::scan::scan_cancellable;

/// How often to look at the watched paths' modification times.
const WATCH_POLL: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct ScannerConfig {
    pub scan: ScanConfig,
    /// Time between periodic scans.
    pub interval: Duration,
    /// Paths whose modification time changing triggers a scan (reason "package_manager").
    pub watch: Vec<PathBuf>,
    /// Least time between two scans: a package manager run touches its database many times.
    pub min_gap: Duration,
}

impl Default for ScannerConfig {
    fn default() -> ScannerConfig {
        ScannerConfig {
            scan: ScanConfig::default(),
            interval: Duration::from_secs(600),
            watch: vec![PathBuf::from("/var/lib/dpkg/status"), PathBuf::from("/var/lib/rpm")],
            min_gap: Duration::from_secs(30),
        }
    }
}

/// A running scanner; dropping it stops the thread too.
pub struct Scanner {
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// Cuts a scan in progress short when stopping.
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn mtimes(paths: &[PathBuf]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// Lowers this thread's CPU and I/O priority (nice 19, SCHED_IDLE, idle I/O class): a scan must never take
/// time from the workload. Failures are ignored: priority is a courtesy, not a requirement.
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread with valid arguments.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_IDLE: libc::c_long = 3;
        libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_IDLE << 13);
    }
}

impl Scanner {
    /// Starts the thread; the first scan runs at once with reason "start".
    pub fn start(config: ScannerConfig, on_inventory: impl Fn(Inventory) + Send + 'static) -> Scanner {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop_thread = stop.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let cancel_thread = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("weir-hostscan".into())
            .spawn(move || {
                lower_priority();
                run(config, on_inventory, &stop_thread, cancel_thread)
            })
            .expect("spawning the host scan thread");
        Scanner {
            stop,
            cancel,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits for it; a scan in progress is cut short and not delivered.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    config: ScannerConfig,
    on_inventory: impl Fn(Inventory),
    stop: &(Mutex<bool>, Condvar),
    cancel: Arc<AtomicBool>,
) {
    let (lock, cv) = stop;
    let mut reason = "start";
    let mut seen = mtimes(&config.watch);
    loop {
        let mut inv = scan_cancellable(&config.scan, cancel.clone());
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        inv.reason = reason.to_string();
        on_inventory(inv);
        let last_scan = Instant::now();
        let mut changed = false;
        reason = loop {
            let elapsed = last_scan.elapsed();
            let due_periodic = config.interval.saturating_sub(elapsed);
            let due = if changed {
                due_periodic.min(config.min_gap.saturating_sub(elapsed))
            } else {
                due_periodic
            };
            if due.is_zero() {
                break if changed && elapsed < config.interval {
                    "package_manager"
                } else {
                    "periodic"
                };
            }
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
            let (guard, _) = cv
                .wait_timeout(guard, due.min(WATCH_POLL))
                .unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
            drop(guard);
            let now = mtimes(&config.watch);
            if now != seen {
                seen = now;
                changed = true;
            }
        };
    }
}
