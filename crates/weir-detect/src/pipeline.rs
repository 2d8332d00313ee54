//! The detection stage of the collector: stored events go through a bounded
//! queue to one worker thread that runs the compiled rule set and the
//! stateful (correlation) rules and records what matched in the alert store.
//! A full queue makes the caller wait (back-pressure on the collector's
//! indexer), it never drops evidence. Correlation state is saved to a file
//! every few seconds and at stop, and restored at start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use weir_event::Event;
use weir_rules::{weir_fields, CorrelationHit, Correlator, FieldValue, Fields, RuleIdx, RuleMeta, RuleSet};

use crate::alerts::{AlertError, AlertStore, Mode, Recorded, RuleMatch};
use crate::exceptions::Exceptions;

/// Detection settings.
#[derive(Debug, Clone)]
pub struct DetectConfig {
    /// Matches of one rule and group key inside this window fold into one alert.
    pub realert: Duration,
    /// Event batches waiting for the worker.
    pub queue_batches: usize,
    /// How late (out of order) an event may arrive and still count in a correlation.
    pub lateness: Duration,
    /// Where correlation state is kept across restarts (`None`: not kept).
    pub state_path: Option<PathBuf>,
    /// How often correlation state is saved while running.
    pub save_every: Duration,
    /// Known-good activity per rule (kept outside the rules).
    pub exceptions: Exceptions,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            realert: Duration::from_secs(3600),
            queue_batches: 1024,
            lateness: Duration::from_secs(30),
            state_path: None,
            save_every: Duration::from_secs(5),
            exceptions: Exceptions::default(),
        }
    }
}

/// Counters of the detection stage.
#[derive(Debug, Default)]
pub struct DetectStats {
    pub events: AtomicU64,
    pub matches: AtomicU64,
    pub alerts_opened: AtomicU64,
    pub shadow_opened: AtomicU64,
    pub store_errors: AtomicU64,
    pub correlation_hits: AtomicU64,
    /// Matches let through by an exception.
    pub excepted: AtomicU64,
}

struct Job {
    host_id: String,
    leaf: u64,
    events: Vec<Event>,
}

/// A running detection stage.
pub struct Detector {
    queue: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
    stats: Arc<DetectStats>,
    rules: usize,
}

impl Detector {
    /// Opens the alert store at `alerts_path` and starts the worker.
    pub fn start(rules: RuleSet, alerts_path: &Path, mut config: DetectConfig) -> Result<Detector, AlertError> {
        let store = AlertStore::open(alerts_path)?;
        let (queue, jobs) = sync_channel::<Job>(config.queue_batches.max(1));
        let stats = Arc::new(DetectStats::default());
        let worker_stats = stats.clone();
        let rule_count = rules.rules().len();
        let realert_ns = config.realert.as_nanos() as u64;
        let worker = std::thread::Builder::new()
            .name("weir-detect".into())
            .spawn(move || {
                let mut correlator = Correlator::new(&rules, config.lateness.as_nanos() as u64);
                if let Some(path) = &config.state_path {
                    restore_state(&mut correlator, path);
                }
                let exceptions = std::mem::take(&mut config.exceptions);
                let mut worker = Worker {
                    rules: &rules,
                    store,
                    stats: worker_stats,
                    realert_ns,
                    correlator,
                    exceptions,
                    modes: Default::default(),
                };
                worker.refresh_modes();
                let mut matcher = rules.matcher();
                let mut saved = Instant::now();
                loop {
                    match jobs.recv_timeout(Duration::from_secs(1)) {
                        Ok(job) => worker.run(&mut matcher, job),
                        Err(RecvTimeoutError::Timeout) => worker.advance(),
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if saved.elapsed() >= config.save_every {
                        worker.save(config.state_path.as_deref());
                        worker.refresh_modes();
                        saved = Instant::now();
                    }
                }
                worker.save(config.state_path.as_deref());
            })
            .expect("spawning the detection thread");
        Ok(Detector {
            queue: Some(queue),
            worker: Some(worker),
            stats,
            rules: rule_count,
        })
    }

    /// Queues stored events for detection; waits while the queue is full.
    pub fn submit(&self, host_id: &str, leaf: u64, events: &[Event]) {
        if let Some(queue) = &self.queue {
            let job = Job {
                host_id: host_id.to_string(),
                leaf,
                events: events.to_vec(),
            };
            if queue.send(job).is_err() {
                tracing::error!("detection worker is gone; events of leaf {leaf} were not evaluated");
            }
        }
    }

    pub fn stats(&self) -> &DetectStats {
        &self.stats
    }

    /// Number of loaded rules.
    pub fn rule_count(&self) -> usize {
        self.rules
    }

    /// Evaluates what is queued, then stops the worker.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.queue.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Worker<'r> {
    rules: &'r RuleSet,
    store: AlertStore,
    stats: Arc<DetectStats>,
    realert_ns: u64,
    correlator: Correlator,
    exceptions: Exceptions,
    /// Promote/demote overrides from the alert store, re-read every few seconds.
    modes: std::collections::HashMap<String, Mode>,
}

/// Loads saved correlation state; a file that cannot be read is kept aside
/// (`.bad`) rather than overwritten, and detection starts with empty state.
fn restore_state(correlator: &mut Correlator, path: &Path) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::error!("reading correlation state {}: {e}; starting empty", path.display());
            return;
        }
    };
    if let Err(e) = correlator.restore(&bytes) {
        let aside = path.with_extension("bad");
        tracing::error!(
            "correlation state {} unusable ({e}); kept as {}, starting empty",
            path.display(),
            aside.display()
        );
        let _ = std::fs::rename(path, aside);
    }
}

fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Worker<'_> {
    fn run(&mut self, matcher: &mut weir_rules::Matcher<'_>, job: Job) {
        let mut hits: Vec<RuleIdx> = Vec::new();
        let mut found = Vec::new();
        for event in &job.events {
            let ecs = weir_event::ecs::to_ecs(event);
            let fields = weir_fields(&ecs);
            hits.clear();
            matcher.matches(&fields, &mut hits);
            for &hit in &hits {
                let meta = &self.rules.rules()[hit.0 as usize];
                if self.exceptions.covering(&meta.id, &ecs).is_some() {
                    self.stats.excepted.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let mut m = rule_match(meta, &job.host_id, job.leaf, event, &ecs, &fields);
                m.mode = self.mode(meta);
                found.push(m);
            }
            for hit in self.correlator.observe(&hits, event.time_unix_ns, &fields) {
                self.stats.correlation_hits.fetch_add(1, Ordering::Relaxed);
                let meta = &self.rules.rules()[hit.rule.0 as usize];
                let mut m = rule_match(meta, &job.host_id, job.leaf, event, &ecs, &fields);
                m.group_key = correlation_group(&hit);
                m.mode = self.mode(meta);
                m.summary = correlation_summary(meta, &hit);
                found.push(m);
            }
        }
        self.stats.events.fetch_add(job.events.len() as u64, Ordering::Relaxed);
        if found.is_empty() {
            return;
        }
        self.stats.matches.fetch_add(found.len() as u64, Ordering::Relaxed);
        match self.store.record(&found, self.realert_ns) {
            Ok(recorded) => {
                for (m, r) in found.iter().zip(recorded) {
                    if let Recorded::Opened(id) = r {
                        let counter = match m.mode {
                            Mode::Alert => &self.stats.alerts_opened,
                            Mode::Shadow => &self.stats.shadow_opened,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(alert = id, rule = %m.rule_title, host = %m.host_id, mode = ?m.mode, "{}", m.summary);
                    }
                }
            }
            Err(e) => {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("recording {} rule matches: {e}", found.len());
            }
        }
    }
}

impl Worker<'_> {
    fn refresh_modes(&mut self) {
        match self.store.rule_modes() {
            Ok(modes) => self.modes = modes,
            Err(e) => tracing::error!("reading rule mode overrides: {e}"),
        }
    }

    /// A rule's mode: a promote/demote override, else what its file says.
    fn mode(&self, meta: &RuleMeta) -> Mode {
        self.modes.get(&meta.id).copied().unwrap_or_else(|| mode_of(meta))
    }

    /// Lets time-driven rules (absence) fire when no events arrive.
    fn advance(&mut self) {
        let hits = self.correlator.advance(now_unix_ns());
        if hits.is_empty() {
            return;
        }
        let found: Vec<RuleMatch> = hits
            .iter()
            .map(|hit| {
                let meta = &self.rules.rules()[hit.rule.0 as usize];
                let host = hit
                    .group
                    .iter()
                    .find(|(k, _)| k == "host.id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                RuleMatch {
                    rule_id: meta.id.clone(),
                    rule_title: meta.title.clone(),
                    level: meta.level.clone(),
                    mode: self.mode(meta),
                    host_id: host,
                    group_key: correlation_group(hit),
                    actor: String::new(),
                    summary: correlation_summary(meta, hit),
                    // Not tied to one event: numbered by time so a repeat is a new match.
                    event_seq: hit.last_ns,
                    evidence_leaf: 0,
                    time_unix_ns: hit.last_ns,
                }
            })
            .collect();
        self.stats
            .correlation_hits
            .fetch_add(found.len() as u64, Ordering::Relaxed);
        if let Err(e) = self.store.record(&found, self.realert_ns) {
            self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("recording {} correlation matches: {e}", found.len());
        }
    }

    /// Writes correlation state atomically (temporary file, then rename).
    fn save(&self, path: Option<&Path>) {
        let Some(path) = path else { return };
        let tmp = path.with_extension("tmp");
        let result = std::fs::write(&tmp, self.correlator.save()).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            tracing::error!("saving correlation state to {}: {e}", path.display());
        }
    }
}

fn correlation_group(hit: &CorrelationHit) -> String {
    hit.group.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join("|")
}

fn correlation_summary(meta: &RuleMeta, hit: &CorrelationHit) -> String {
    let kind = meta
        .correlation
        .as_ref()
        .map(|c| format!("{:?}", c.kind))
        .unwrap_or_default();
    let group: Vec<String> = hit.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let span_s = hit.last_ns.saturating_sub(hit.first_ns) as f64 / 1e9;
    format!("{kind} {} within {span_s:.1}s for {}", hit.value, group.join(" "))
}

fn mode_of(meta: &RuleMeta) -> Mode {
    match meta.mode {
        weir_rules::Mode::Alert => Mode::Alert,
        weir_rules::Mode::Shadow => Mode::Shadow,
    }
}

fn rule_match(
    meta: &RuleMeta,
    host_id: &str,
    leaf: u64,
    event: &Event,
    ecs: &Map<String, Value>,
    fields: &impl Fields,
) -> RuleMatch {
    // The host an event is about: a sensor's own id, or for the collector's
    // integrity events the host named inside.
    let host = ecs
        .get("host.id")
        .and_then(Value::as_str)
        .unwrap_or(host_id)
        .to_string();
    let group_key = if meta.weir.suppress.is_empty() {
        host.clone()
    } else {
        meta.weir
            .suppress
            .iter()
            .map(|f| fields.get(f).map(render).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|")
    };
    RuleMatch {
        rule_id: meta.id.clone(),
        rule_title: meta.title.clone(),
        level: meta.level.clone(),
        mode: mode_of(meta),
        host_id: host,
        group_key,
        actor: text(ecs, "user.login")
            .or_else(|| text(ecs, "user.name"))
            .unwrap_or_default(),
        summary: summary(ecs),
        event_seq: event.seq,
        evidence_leaf: leaf,
        time_unix_ns: event.time_unix_ns,
    }
}

fn text(ecs: &Map<String, Value>, key: &str) -> Option<String> {
    ecs.get(key).and_then(Value::as_str).map(str::to_string)
}

/// One line for people: what happened, by kind.
fn summary(ecs: &Map<String, Value>) -> String {
    let action = text(ecs, "event.action").unwrap_or_default();
    let what = text(ecs, "process.command_line")
        .or_else(|| text(ecs, "process.executable"))
        .unwrap_or_default();
    if let Some(path) = text(ecs, "file.path") {
        return format!("{action} {path} by {what}");
    }
    if let Some(ip) = text(ecs, "destination.ip") {
        let port = ecs.get("destination.port").map(|p| p.to_string()).unwrap_or_default();
        return format!("{action} {ip}:{port} by {what}");
    }
    if let Some(problem) = text(ecs, "integrity.problem") {
        return format!("integrity: {problem}");
    }
    what
}

fn render(value: FieldValue<'_>) -> String {
    match value {
        FieldValue::Null | FieldValue::Object => String::new(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Int(i) => i.to_string(),
        FieldValue::UInt(u) => u.to_string(),
        FieldValue::Float(f) => f.to_string(),
        FieldValue::Str(s) => s.to_string(),
        FieldValue::List(items) => serde_json::to_string(items).unwrap_or_default(),
    }
}
