//! Memory bound, end to end: with 10,000 extra live processes on the host
//! (snapshotted from /proc at start) and a few thousand execs and exits while
//! it runs, the real sensor, running alone in its own process, settles at no
//! more than 40 MiB resident; and once those processes exit, its process
//! table gives their entries back (reaped on exit). Run as root.
//!
//! Three processes take part, all this test binary re-executed:
//! - the spawner (WEIR_MEMORY_CHILD=spawn) forks the 10,000 idle processes,
//!   in its own process group, and kills and reaps them when its stdin closes;
//! - the sensor (WEIR_MEMORY_CHILD=sensor) runs `Sensor::start`, drains every
//!   event to a counter and prints each Health event as a line on stdout;
//! - the test itself measures the sensor's VmRSS from /proc/PID/status.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use weir_event::event::Body;
use weir_event::health::State;

const HOST: &str = "7e57000000000000000000000000beef";
/// Extra live processes held while the sensor starts and runs.
const LIVE: usize = 10_000;
/// Short-lived processes (fork, exec, exit) run while the sensor runs.
const CHURN: usize = 3_000;
/// The requirement: steady-state RSS at most 40 MB with 10,000 live processes.
const RSS_LIMIT: u64 = 40 << 20;
/// Quiet time before measuring.
const SETTLE: Duration = Duration::from_secs(3);

/// Entry point of the child processes; does nothing in a normal test run.
#[test]
fn memory_child_entry() {
    match std::env::var("WEIR_MEMORY_CHILD").as_deref() {
        Ok("spawn") => spawn_and_hold(std::env::var("WEIR_MEMORY_COUNT").unwrap().parse().unwrap()),
        Ok("sensor") => run_sensor(),
        _ => {}
    }
}

/// Forks `n` processes that sleep until killed, reports how many, then waits
/// for stdin to close and kills and reaps every one of them.
fn spawn_and_hold(n: usize) {
    let mut kids = Vec::with_capacity(n);
    // SAFETY: between fork and _exit the child makes only async-signal-safe
    // calls (prctl, getppid, pause, _exit).
    unsafe {
        let me = libc::getpid();
        for _ in 0..n {
            let pid = libc::fork();
            if pid == 0 {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != me {
                    libc::_exit(0);
                }
                loop {
                    libc::pause();
                }
            }
            if pid < 0 {
                eprintln!("fork failed after {}: {}", kids.len(), std::io::Error::last_os_error());
                break;
            }
            kids.push(pid);
        }
    }
    println!("READY {}", kids.len());
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let mut reaped = 0;
    // SAFETY: plain syscalls on our own children.
    unsafe {
        for &k in &kids {
            libc::kill(k, libc::SIGKILL);
        }
        for &k in &kids {
            if libc::waitpid(k, std::ptr::null_mut(), 0) == k {
                reaped += 1;
            }
        }
    }
    println!("REAPED {reaped}");
    let _ = std::io::stdout().flush();
}

/// Runs the real sensor until stdin closes; every event goes to a counter,
/// Health events are printed as `HEALTH <state> <processes_tracked> <rss>
/// <events so far>`.
fn run_sensor() {
    let mut config = weir_sensor::SensorConfig::new(HOST);
    config.heartbeat = Duration::from_millis(250);
    let (sensor, mut rx) = weir_sensor::Sensor::start(config).expect("sensor starts (tests run as root)");
    let drain = std::thread::spawn(move || {
        let (mut events, mut lost) = (0u64, 0u64);
        while let Some(ev) = rx.blocking_recv() {
            events += 1;
            match &ev.body {
                Some(Body::Health(h)) => {
                    let state = State::try_from(h.state).map(|s| s.as_str_name()).unwrap_or("?");
                    println!("HEALTH {state} {} {} {events}", h.processes_tracked, h.rss_bytes);
                    let _ = std::io::stdout().flush();
                }
                Some(Body::Loss(l)) => {
                    lost += l.kernel_ring.values().sum::<u64>() + l.user_queue.values().sum::<u64>();
                }
                _ => {}
            }
        }
        println!("DRAINED {events} lost {lost}");
    });
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    sensor.stop().unwrap();
    drain.join().unwrap();
}

/// A child in its own process group. Drop closes its stdin (its signal to
/// finish), waits a bounded time, then kills the whole group and reaps.
struct Group {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Group {
    fn start(mode: &str, count: usize) -> Group {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "memory_child_entry", "--nocapture", "--test-threads=1", "-q"])
            .env("WEIR_MEMORY_CHILD", mode)
            .env("WEIR_MEMORY_COUNT", count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: setpgid and prctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Group { child, stdin, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line starting with `prefix`, within `limit`.
    fn line(&self, prefix: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The newest `prefix` line already printed, or else the next one.
    fn latest(&self, prefix: &str, limit: Duration) -> Option<String> {
        let mut last = None;
        while let Ok(l) = self.lines.try_recv() {
            if l.starts_with(prefix) {
                last = Some(l);
            }
        }
        last.or_else(|| self.line(prefix, limit))
    }

    /// Closes stdin and waits (bounded) for a clean exit.
    fn finish(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.finish(Duration::from_secs(10)).is_none() {
            // SAFETY: the group is the child's own (setpgid(0, 0) before exec).
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

struct Beat {
    state: String,
    tracked: u64,
    rss: u64,
}

fn beat(line: &str) -> Beat {
    let f: Vec<&str> = line.split_whitespace().collect();
    Beat {
        state: f[1].to_string(),
        tracked: f[2].parse().unwrap(),
        rss: f[3].parse().unwrap(),
    }
}

fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb << 10
}

fn proc_count() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

fn read_num(path: &str) -> usize {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

#[test]
fn rss_stays_bounded_with_10k_processes_and_exits_are_reaped() {
    if std::env::var_os("WEIR_MEMORY_CHILD").is_some() {
        return;
    }
    let t0 = Instant::now();
    let (pid_max, threads_max, before) = (
        read_num("/proc/sys/kernel/pid_max"),
        read_num("/proc/sys/kernel/threads-max"),
        proc_count(),
    );
    let need = LIVE + 1_000;
    assert!(
        pid_max.saturating_sub(before) > need && threads_max.saturating_sub(before) > need,
        "not enough room for {LIVE} processes: pid_max {pid_max}, threads-max {threads_max}, {before} running"
    );

    let spawner = Group::start("spawn", LIVE);
    let ready = spawner.line("READY ", Duration::from_secs(60)).expect("spawner ready");
    let held: usize = ready["READY ".len()..].parse().unwrap();
    assert_eq!(held, LIVE, "the spawner forked only {held} processes");
    let live = proc_count();
    eprintln!(
        "memory: {held} processes held, {live} live on the host ({:.1}s)",
        t0.elapsed().as_secs_f64()
    );

    let mut sensor = Group::start("sensor", 0);
    let started = beat(
        &sensor
            .line("HEALTH STATE_STARTED", Duration::from_secs(60))
            .expect("sensor Started health event"),
    );
    assert!(
        started.tracked as usize >= LIVE,
        "the /proc snapshot tracks {} processes, fewer than the {LIVE} held",
        started.tracked
    );
    eprintln!(
        "memory: sensor pid {} started tracking {} processes, rss {:.1} MiB ({:.1}s)",
        sensor.pid(),
        started.tracked,
        mib(vm_rss(sensor.pid())),
        t0.elapsed().as_secs_f64()
    );

    // Churn: fork, exec, exit while the sensor runs, from two threads.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..CHURN / 2 {
                    let st = Command::new("/bin/true").status().unwrap();
                    assert!(st.success());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    eprintln!(
        "memory: {CHURN} short-lived processes run ({:.1}s)",
        t0.elapsed().as_secs_f64()
    );

    std::thread::sleep(SETTLE);
    // Steady state: the largest of a few samples over half a second.
    let mut rss = 0;
    for _ in 0..5 {
        rss = rss.max(vm_rss(sensor.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let steady = beat(
        &sensor
            .latest("HEALTH STATE_HEARTBEAT", Duration::from_secs(5))
            .expect("heartbeat"),
    );
    eprintln!(
        "memory: steady state with {} live processes ({} tracked): VmRSS {:.1} MiB (health rss {:.1} MiB, limit {:.0} MiB)",
        proc_count(),
        steady.tracked,
        mib(rss),
        mib(steady.rss),
        mib(RSS_LIMIT)
    );
    assert!(steady.tracked as usize >= LIVE, "only {} tracked", steady.tracked);

    // The held processes exit: their entries must go.
    let mut spawner = spawner;
    drop(spawner.stdin.take());
    let reaped = spawner
        .line("REAPED ", Duration::from_secs(30))
        .expect("spawner reaped");
    assert_eq!(reaped, format!("REAPED {LIVE}"));
    assert!(spawner.finish(Duration::from_secs(10)).is_some_and(|s| s.success()));
    let want = steady.tracked.saturating_sub(LIVE as u64) + 200;
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        std::thread::sleep(Duration::from_millis(250));
        let b = beat(
            &sensor
                .latest("HEALTH ", Duration::from_secs(5))
                .expect("heartbeat after exits"),
        );
        if b.tracked <= want || Instant::now() > deadline {
            break b;
        }
    };
    eprintln!(
        "memory: after the {LIVE} exits: {} tracked ({} live on the host), VmRSS {:.1} MiB ({:.1}s)",
        after.tracked,
        proc_count(),
        mib(vm_rss(sensor.pid())),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(after.state, "STATE_HEARTBEAT");
    assert!(
        after.tracked <= want,
        "process table not reaped: {} tracked before the exits, {} after",
        steady.tracked,
        after.tracked
    );

    let status = sensor.finish(Duration::from_secs(15)).expect("sensor stops");
    assert!(status.success(), "sensor child: {status:?}");
    let drained = sensor.line("DRAINED ", Duration::from_secs(5)).expect("drain summary");
    eprintln!("memory: sensor {drained}");
    let delivered: usize = drained.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        delivered >= 2 * CHURN,
        "the sensor delivered only {delivered} events for {CHURN} execs and exits"
    );

    assert!(
        rss <= RSS_LIMIT,
        "steady-state RSS {:.1} MiB over {:.0} MiB with {LIVE} live processes",
        mib(rss),
        mib(RSS_LIMIT)
    );
}
