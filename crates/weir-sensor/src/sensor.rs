//! The running sensor: a drain thread that polls the ring buffer, converts
//! records to events and hands them to a bounded queue without ever
//! blocking; drops are counted per kind and reported in Loss events, and
//! Health events mark start, heartbeats and stop.

use std::collections::{HashMap, VecDeque};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use prost::Message;
use tokio::sync::mpsc;
use weir_event::event::Body as EvBody;
use weir_event::{health, Event, Health, Loss};

use crate::convert::{self, Converter};
use crate::fallback;
use crate::probe::loader::{self, Loaded};
use crate::probe::record::{self, K_MAX};
use crate::procs::ProcTable;
use crate::repeats::{AggKey, KernelCount, RepeatTracker};
use crate::{SensorConfig, SensorError};

/// A running sensor. `stop()` (or drop) detaches the programs after a last
/// drain and the Stopped health event.
pub struct Sensor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Programs attached, by name.
    pub attached: Vec<String>,
    /// Programs left out because the kernel lacks their hook.
    pub skipped: Vec<(String, String)>,
}

impl Sensor {
    /// Loads and attaches, snapshots /proc, starts the drain thread. Events
    /// arrive on the returned bounded receiver; the drain thread never blocks
    /// on it (a full queue drops and counts).
    pub fn start(config: SensorConfig) -> Result<(Sensor, mpsc::Receiver<Event>), SensorError> {
        if config.queue_events == 0 || config.queue_bytes == 0 {
            return Err(SensorError::Config(
                "queue_events and queue_bytes must be positive".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(config.queue_events);
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("weir-sensor".into())
            .spawn(move || {
                let self_tgid = std::process::id();
                let loaded = if config.force_proc_connector {
                    Err(SensorError::Load("BPF not tried (proc connector forced)".into()))
                } else {
                    loader::load(&config, self_tgid)
                };
                let source = match loaded {
                    Ok(l) => Source::Bpf(Box::new(l)),
                    Err(e) => match fallback::open() {
                        Ok(fd) => {
                            tracing::warn!("BPF unavailable ({e}); degraded mode: netlink process connector + /proc");
                            Source::Connector(fd, e.to_string())
                        }
                        Err(fe) => {
                            tracing::error!("process connector unavailable too: {fe}");
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    },
                };
                let names = match &source {
                    Source::Bpf(l) => (l.attached.clone(), l.skipped.clone()),
                    Source::Connector(..) => (Vec::new(), Vec::new()),
                };
                let _ = ready_tx.send(Ok(names));
                Drain::new(config, source, tx, stop2).run();
            })
            .map_err(|e| SensorError::Io("spawning the drain thread".into(), e))?;
        match ready_rx.recv() {
            Ok(Ok((attached, skipped))) => Ok((
                Sensor {
                    stop,
                    thread: Some(thread),
                    attached,
                    skipped,
                },
                rx,
            )),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SensorError::Load("the drain thread ended while loading".into()))
            }
        }
    }

    /// Drains what the kernel already wrote, emits the final Loss (if any)
    /// and the Stopped health event, then detaches.
    pub fn stop(mut self) -> Result<(), SensorError> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), SensorError> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| SensorError::Load("the drain thread panicked".into()))?;
        }
        Ok(())
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// Where records come from.
enum Source {
    Bpf(Box<Loaded>),
    /// Degraded mode, with the reason BPF could not be used.
    Connector(std::os::fd::OwnedFd, String),
}

/// Per-kind counters.
type Counts = HashMap<&'static str, u64>;

fn to_map(c: &Counts) -> std::collections::HashMap<String, u64> {
    c.iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
}

struct Drain {
    config: SensorConfig,
    source: Source,
    tx: mpsc::Sender<Event>,
    stop: Arc<AtomicBool>,
    conv: Converter,
    /// Sizes of the events sent and not yet received, oldest first.
    in_flight: VecDeque<usize>,
    in_flight_bytes: usize,
    seen: Counts,
    dropped_user: Counts,
    kernel_seen_drops: [u64; K_MAX as usize],
    /// Drops already carried by a delivered Loss event.
    reported_kernel: [u64; K_MAX as usize],
    reported_user: Counts,
    loss_from_ns: u64,
    decode_errors: u64,
    repeats: RepeatTracker,
    /// File events sent with an incomplete or unresolved path.
    truncated_paths: u64,
    /// Set while stopping: Loss and Stopped wait (bounded) for queue space.
    final_words: bool,
}

/// Most repeated-file-operation keys followed for flushing (the kernel map holds 4096).
const REPEAT_KEYS: usize = 4096;

/// How long the final Loss and Stopped events wait for a full queue.
const FINAL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Drain {
    fn new(config: SensorConfig, source: Source, tx: mpsc::Sender<Event>, stop: Arc<AtomicBool>) -> Self {
        let mut table = ProcTable::new(&config.host_id, config.max_processes);
        table.snapshot();
        let conv = Converter::new(table, &config.host_id, &config.host_name, config.home_filter);
        Drain {
            config,
            source,
            tx,
            stop,
            conv,
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            seen: Counts::new(),
            dropped_user: Counts::new(),
            kernel_seen_drops: [0; K_MAX as usize],
            reported_kernel: [0; K_MAX as usize],
            reported_user: Counts::new(),
            loss_from_ns: Converter::now_ns(),
            decode_errors: 0,
            repeats: RepeatTracker::new(REPEAT_KEYS),
            truncated_paths: 0,
            final_words: false,
        }
    }

    fn run(mut self) {
        let epfd = match &self.source {
            Source::Bpf(l) => epoll_for(l.ring.as_raw_fd()),
            Source::Connector(fd, _) => epoll_for(fd.as_raw_fd()),
        };
        self.health(health::State::Started);
        let mut next_loss = Instant::now() + self.config.loss_interval;
        let mut next_beat = Instant::now() + self.config.heartbeat;
        let timeout_ms = self.config.poll_timeout.as_millis().clamp(1, 1000) as i32;
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            if !stopping {
                wait(epfd, timeout_ms);
            }
            self.drain_ring();
            let now = Instant::now();
            if stopping {
                // The last words may wait a little for queue space: losing
                // the final Loss report would make earlier drops silent.
                self.final_words = true;
                self.flush_repeats();
                self.report_loss();
                self.health(health::State::Stopped);
                break;
            }
            if now >= next_loss {
                self.flush_repeats();
                self.report_loss();
                next_loss = now + self.config.loss_interval;
            }
            if now >= next_beat {
                self.health(health::State::Heartbeat);
                next_beat = now + self.config.heartbeat;
            }
        }
        if epfd >= 0 {
            // SAFETY: closing the epoll fd this thread created.
            unsafe { libc::close(epfd) };
        }
    }

    fn drain_ring(&mut self) {
        let loaded = match &mut self.source {
            Source::Bpf(l) => l,
            Source::Connector(fd, _) => {
                for ev in fallback::read_ready(fd) {
                    let kind = match ev {
                        fallback::ConnEvent::Fork { .. } => "fork",
                        fallback::ConnEvent::Exec { .. } => "exec",
                        fallback::ConnEvent::Exit { .. } => "exit",
                        fallback::ConnEvent::Other(_) => continue,
                    };
                    *self.seen.entry(kind).or_default() += 1;
                    if let Some(ev) = self.conv.convert_connector(ev) {
                        self.send(ev);
                    }
                }
                return;
            }
        };
        let mut records = Vec::new();
        loop {
            let rec = {
                let Some(item) = loaded.ring.next() else { break };
                record::decode(&item)
            };
            records.push(rec);
            if records.len() >= 256 {
                break;
            }
        }
        let more = records.len() >= 256;
        for rec in records {
            match rec {
                Ok(rec) => {
                    let kind = record::kind_name(rec.header.kind);
                    *self.seen.entry(kind).or_default() += 1;
                    let folded = match &rec.body {
                        record::Body::File(f) => {
                            if rec.header.flags & record::F_PATH_TRUNC != 0 {
                                self.truncated_paths += 1;
                            }
                            AggKey::of(&rec.header, f).map(|k| (k, f.agg_total))
                        }
                        _ => None,
                    };
                    if let Some(mut ev) = self.conv.convert(rec) {
                        if let Some((key, total)) = folded {
                            self.repeats.observe(key, total, &mut ev);
                        }
                        self.send(ev);
                    }
                }
                Err(e) => {
                    self.decode_errors += 1;
                    if self.decode_errors == 1 {
                        tracing::warn!("undecodable ring buffer record: {e}");
                    }
                }
            }
        }
        if more {
            self.drain_ring();
        }
    }

    /// Frees the accounting of events the consumer already took.
    fn settle(&mut self) {
        let queued = self.tx.max_capacity() - self.tx.capacity();
        while self.in_flight.len() > queued {
            if let Some(n) = self.in_flight.pop_front() {
                self.in_flight_bytes -= n;
            }
        }
    }

    /// Sends a bookkeeping event; while stopping, waits (bounded) for space.
    fn send_report(&mut self, ev: Event) -> bool {
        if !self.final_words {
            return self.send(ev);
        }
        let size = ev.encoded_len();
        let deadline = Instant::now() + FINAL_WAIT;
        while Instant::now() < deadline {
            self.settle();
            let room = self.tx.capacity() > 0 && self.in_flight_bytes + size <= self.config.queue_bytes;
            if room || self.tx.is_closed() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.send(ev)
    }

    /// Never blocks: a full queue (events or bytes) drops and counts.
    fn send(&mut self, ev: Event) -> bool {
        self.settle();
        let kind = weir_event::kind_name(&ev);
        let size = ev.encoded_len();
        if self.in_flight_bytes + size > self.config.queue_bytes {
            *self.dropped_user.entry(kind).or_default() += 1;
            return false;
        }
        match self.tx.try_send(ev) {
            Ok(()) => {
                self.in_flight.push_back(size);
                self.in_flight_bytes += size;
                true
            }
            Err(_) => {
                *self.dropped_user.entry(kind).or_default() += 1;
                false
            }
        }
    }

    /// Sends the repeat counts of closed kernel windows that no event carried.
    fn flush_repeats(&mut self) {
        let Source::Bpf(l) = &self.source else { return };
        if self.repeats.is_empty() {
            return;
        }
        let window = self.config.file_repeat_window.as_nanos() as u64;
        let agg = &l.file_agg;
        let events = self
            .repeats
            .flush(convert::boot_now_ns(), window, Converter::now_ns(), |k| {
                agg.get(&k.to_bytes(), 0).ok().map(|v| KernelCount {
                    window_start_ns: v[0],
                    total: v[1],
                })
            });
        for ev in events {
            self.send(ev);
        }
    }

    fn read_kernel_drops(&mut self) {
        if let Source::Bpf(l) = &self.source {
            self.kernel_seen_drops = loader::kernel_drops(&l.drops);
        }
    }

    fn kernel_counts(counts: &[u64; K_MAX as usize]) -> Counts {
        let mut out = Counts::new();
        for (i, n) in counts.iter().enumerate() {
            if *n > 0 {
                *out.entry(record::kind_name(i as u32)).or_default() += n;
            }
        }
        out
    }

    /// Emits a Loss event with the drops not yet reported. If the Loss event
    /// itself cannot be queued, the counts stay pending for the next try.
    fn report_loss(&mut self) {
        self.read_kernel_drops();
        let mut kernel = [0u64; K_MAX as usize];
        for (i, k) in kernel.iter_mut().enumerate() {
            *k = self.kernel_seen_drops[i] - self.reported_kernel[i].min(self.kernel_seen_drops[i]);
        }
        let mut user = Counts::new();
        for (k, v) in &self.dropped_user {
            let d = v - self.reported_user.get(k).copied().unwrap_or(0);
            if d > 0 {
                user.insert(k, d);
            }
        }
        if kernel.iter().all(|n| *n == 0) && user.is_empty() {
            return;
        }
        let to = Converter::now_ns();
        let loss = Loss {
            from_unix_ns: self.loss_from_ns,
            to_unix_ns: to,
            kernel_ring: to_map(&Self::kernel_counts(&kernel)),
            user_queue: to_map(&user),
            ..Default::default()
        };
        let ev = self.conv.event(to, None, EvBody::Loss(loss));
        if self.send_report(ev) {
            self.reported_kernel = self.kernel_seen_drops;
            for (k, v) in user {
                *self.reported_user.entry(k).or_default() += v;
            }
            self.loss_from_ns = to;
        }
    }

    fn health(&mut self, state: health::State) {
        self.read_kernel_drops();
        let (cpu, rss) = self_usage();
        let mut detail = String::new();
        let (degraded, mode) = match &self.source {
            Source::Bpf(l) => {
                if state == health::State::Started && !l.skipped.is_empty() {
                    let names: Vec<&str> = l.skipped.iter().map(|(n, _)| n.as_str()).collect();
                    detail = format!("not attached (no hook on this kernel): {}", names.join(", "));
                }
                (false, "ebpf")
            }
            Source::Connector(_, why) => {
                detail = format!("BPF unavailable: {why}; exec/fork/exit only, details read from /proc");
                (true, "proc-connector")
            }
        };
        if let Source::Bpf(l) = &self.source {
            let counts = [
                (
                    "file repeats folded",
                    loader::file_stat(&l.file_stats, loader::FS_FOLDED),
                ),
                ("file paths truncated or unresolved", self.truncated_paths),
                (
                    "opened files too deep to check",
                    loader::file_stat(&l.file_stats, loader::FS_UNRESOLVED),
                ),
                (
                    "file records without their exit",
                    loader::file_stat(&l.file_stats, loader::FS_STALE),
                ),
                ("file repeat keys not tracked (table full)", self.repeats.untracked),
            ];
            for (what, n) in counts.iter().filter(|(_, n)| *n > 0) {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!("{what}: {n}"));
            }
        }
        if self.decode_errors > 0 {
            detail.push_str(&format!(
                "{}undecodable records: {}",
                if detail.is_empty() { "" } else { "; " },
                self.decode_errors
            ));
        }
        let h = Health {
            state: state as i32,
            degraded,
            mode: mode.into(),
            seen: to_map(&self.seen),
            dropped_kernel: to_map(&Self::kernel_counts(&self.kernel_seen_drops)),
            dropped_user: to_map(&self.dropped_user),
            cpu_seconds: cpu,
            rss_bytes: rss,
            version: env!("CARGO_PKG_VERSION").into(),
            detail,
            processes_tracked: self.conv.table.len() as u64,
        };
        let ev = self.conv.event(Converter::now_ns(), None, EvBody::Health(h));
        self.send_report(ev);
    }
}

/// CPU seconds (user + system) and resident bytes of this process.
pub fn self_usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let cpu = crate::procs::procfs::parse_stat(&stat)
        .and(stat.rfind(')').map(|i| {
            let f: Vec<&str> = stat[i + 1..].split_whitespace().collect();
            let t = |n: usize| f.get(n).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            (t(11) + t(12)) as f64 * crate::procs::procfs::ns_per_tick() as f64 / 1e9
        }))
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        // SAFETY: sysconf has no preconditions.
        .map(|pages| pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64)
        .unwrap_or(0);
    (cpu, rss)
}

fn epoll_for(fd: i32) -> i32 {
    // SAFETY: plain syscalls on fds we own; the event struct lives on the stack.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if ep < 0 {
            return -1;
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        if libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) < 0 {
            libc::close(ep);
            return -1;
        }
        ep
    }
}

fn wait(epfd: i32, timeout_ms: i32) {
    if epfd < 0 {
        std::thread::sleep(std::time::Duration::from_millis(timeout_ms as u64));
        return;
    }
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: the buffer holds 4 events, as we tell the kernel.
    unsafe { libc::epoll_wait(epfd, evs.as_mut_ptr(), 4, timeout_ms) };
}
