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

use crate::actions::ActionRecord;
use crate::alerts::{AlertError, AlertStore, Mode, Recorded, RuleMatch};
use crate::exceptions::Exceptions;
use crate::response::{self, Decision, ResponseConfig, ResponseGate, ResponseHooks};
use weir_rules::Mode as RuleMode;

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
    /// Where `exceptions` came from: re-read when a file there changes
    /// (checked every few seconds), so new exceptions apply without a restart.
    pub exception_paths: Vec<PathBuf>,
    /// Guardrails of automated response, and the text they were read from
    /// (part of the policy version recorded with every action).
    pub response: ResponseConfig,
    pub response_text: String,
    /// Where commands go and action records are kept; `None`: no response.
    pub hooks: Option<Arc<dyn ResponseHooks>>,
}

/// The current in-kernel enforcement set, for the transport to push to hosts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnforceSet {
    /// `enforce_set` payload (JSON list of exec predicates).
    pub payload: String,
    /// Policy version it belongs to.
    pub version: String,
    /// Rules in enforce mode that are not simple exec predicates, with why.
    pub not_enforceable: Vec<(String, String)>,
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
            exception_paths: Vec::new(),
            response: ResponseConfig::default(),
            response_text: String::new(),
            hooks: None,
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
    /// Commands sent to hosts, actions refused by a guardrail, shadow would-be actions.
    pub actions_sent: AtomicU64,
    pub actions_refused: AtomicU64,
    pub actions_shadow: AtomicU64,
    pub breakers_tripped: AtomicU64,
    /// Time from the event to the command being sent, last value (µs).
    pub last_decision_latency_us: AtomicU64,
    /// Time spent evaluating rules and correlations (ns), and batches evaluated.
    pub eval_ns: AtomicU64,
    pub batches: AtomicU64,
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
    enforce: Arc<std::sync::Mutex<EnforceSet>>,
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
        let enforce = Arc::new(std::sync::Mutex::new(EnforceSet::default()));
        let worker_enforce = enforce.clone();
        let worker = std::thread::Builder::new()
            .name("weir-detect".into())
            .spawn(move || {
                let mut correlator = Correlator::new(&rules, config.lateness.as_nanos() as u64);
                if let Some(path) = &config.state_path {
                    restore_state(&mut correlator, path);
                }
                let exceptions = std::mem::take(&mut config.exceptions);
                let exception_paths = std::mem::take(&mut config.exception_paths);
                let exceptions_seen = Exceptions::signature(&exception_paths);
                let gate = ResponseGate::new(config.response.clone(), String::new());
                let mut worker = Worker {
                    gate,
                    hooks: config.hooks.clone(),
                    response_text: std::mem::take(&mut config.response_text),
                    enforce: worker_enforce,
                    rules: &rules,
                    store,
                    stats: worker_stats,
                    realert_ns,
                    correlator,
                    exceptions,
                    exception_paths,
                    exceptions_seen,
                    modes: Default::default(),
                };
                worker.refresh_modes();
                let mut matcher = rules.matcher();
                let mut saved = Instant::now();
                loop {
                    match jobs.recv_timeout(Duration::from_secs(1)) {
                        Ok(job) => {
                            let started = Instant::now();
                            worker.run(&mut matcher, job);
                            let stats = &worker.stats;
                            stats
                                .eval_ns
                                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                            stats.batches.fetch_add(1, Ordering::Relaxed);
                        }
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
            enforce,
        })
    }

    /// The enforcement set as of the last mode refresh (every few seconds).
    pub fn enforce_set(&self) -> EnforceSet {
        self.enforce.lock().unwrap().clone()
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
    exception_paths: Vec<PathBuf>,
    exceptions_seen: Vec<(PathBuf, u64, Option<SystemTime>)>,
    /// Promote/demote overrides from the alert store, re-read every few seconds.
    modes: std::collections::HashMap<String, RuleMode>,
    gate: ResponseGate,
    hooks: Option<Arc<dyn ResponseHooks>>,
    response_text: String,
    enforce: Arc<std::sync::Mutex<EnforceSet>>,
}

/// A match with what deciding its actions needs.
/// Where a match came from: its rule and the index of its event in the job.
struct Origin {
    rule: usize,
    event: usize,
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
        let mut found: Vec<RuleMatch> = Vec::new();
        let mut origins: Vec<Origin> = Vec::new();
        for (index, event) in job.events.iter().enumerate() {
            if let Some(weir_event::event::Body::Action(a)) = &event.body {
                self.action_done(a, event.time_unix_ns);
            }
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
                let mode = self.mode(meta);
                let mut m = rule_match(meta, &job.host_id, job.leaf, event, &ecs, &fields);
                m.mode = alert_mode(mode);
                found.push(m);
                origins.push(Origin {
                    rule: hit.0 as usize,
                    event: index,
                });
            }
            for hit in self.correlator.observe(&hits, event.time_unix_ns, &fields) {
                self.stats.correlation_hits.fetch_add(1, Ordering::Relaxed);
                let meta = &self.rules.rules()[hit.rule.0 as usize];
                let mode = self.mode(meta);
                let mut m = rule_match(meta, &job.host_id, job.leaf, event, &ecs, &fields);
                m.group_key = correlation_group(&hit);
                m.mode = alert_mode(mode);
                m.summary = correlation_summary(meta, &hit);
                found.push(m);
                origins.push(Origin {
                    rule: hit.rule.0 as usize,
                    event: index,
                });
            }
        }
        self.stats.events.fetch_add(job.events.len() as u64, Ordering::Relaxed);
        if found.is_empty() {
            return;
        }
        self.stats.matches.fetch_add(found.len() as u64, Ordering::Relaxed);
        match self.store.record(&found, self.realert_ns) {
            Ok(recorded) => {
                for ((m, origin), r) in found.iter().zip(&origins).zip(recorded) {
                    // The event's fields again, only for the few matches that
                    // open an alert or act (most fold into an open alert).
                    let acts = self.hooks.is_some() && !self.rules.rules()[origin.rule].weir.respond.is_empty();
                    let opens = matches!(r, Recorded::Opened(_)) && m.mode == Mode::Alert && self.hooks.is_some();
                    let ecs = if acts || opens {
                        weir_event::ecs::to_ecs(&job.events[origin.event])
                    } else {
                        Map::new()
                    };
                    let alert_id = match r {
                        Recorded::Opened(id) => {
                            let counter = match m.mode {
                                Mode::Alert => &self.stats.alerts_opened,
                                Mode::Shadow => &self.stats.shadow_opened,
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(alert = id, rule = %m.rule_title, host = %m.host_id, mode = ?m.mode, "{}", m.summary);
                            if m.mode == Mode::Alert {
                                if let Some(hooks) = &self.hooks {
                                    hooks.alert_opened(id, m, &ecs);
                                }
                            }
                            id
                        }
                        Recorded::Folded(id) => id,
                        // A replay must not act twice; a suppressed match does not act.
                        Recorded::Duplicate | Recorded::Suppressed(_) => continue,
                    };
                    self.respond(m, origin.rule, &ecs, alert_id);
                }
            }
            Err(e) => {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("recording {} rule matches: {e}", found.len());
            }
        }
    }

    /// Decides and carries out the rule's response actions for one match.
    fn respond(&mut self, m: &RuleMatch, rule: usize, ecs: &Map<String, Value>, alert_id: i64) {
        let meta = &self.rules.rules()[rule];
        if meta.weir.respond.is_empty() {
            return;
        }
        let Some(hooks) = self.hooks.clone() else { return };
        let now = now_unix_ns();
        // The mode now, not when the batch was matched: a breaker tripped by
        // an earlier match of this batch already demoted the rule.
        let mode = self.mode(meta);
        let decisions = self.gate.decide(meta, mode, &m.host_id, Some(alert_id), ecs, now);
        for decision in decisions {
            let (command, mode, status, result) = match decision {
                Decision::Send(command) => {
                    let mode = if command.dry_run { "dry_run" } else { "respond" };
                    let sent = hooks.send_command(&m.host_id, command.clone());
                    let latency = now.saturating_sub(m.time_unix_ns) / 1000;
                    self.stats.last_decision_latency_us.store(latency, Ordering::Relaxed);
                    match sent {
                        Ok(()) => {
                            self.stats.actions_sent.fetch_add(1, Ordering::Relaxed);
                            (command, mode, "sent", String::new())
                        }
                        Err(e) => (command, mode, "error", format!("error: {e}")),
                    }
                }
                Decision::Run { command, argv } => {
                    run_collector_command(hooks.clone(), command.clone(), argv, m);
                    self.stats.actions_sent.fetch_add(1, Ordering::Relaxed);
                    (command, "respond", "sent", String::new())
                }
                Decision::WouldDo(command) => {
                    self.stats.actions_shadow.fetch_add(1, Ordering::Relaxed);
                    let result = format!("shadow: would {} {}", command.action, command.target);
                    (command, "shadow", "shadow", result)
                }
                Decision::Refused { command, why } => {
                    self.stats.actions_refused.fetch_add(1, Ordering::Relaxed);
                    (command, "respond", "refused", format!("refused: {why}"))
                }
                Decision::Tripped { command, budget } => {
                    self.stats.actions_refused.fetch_add(1, Ordering::Relaxed);
                    self.stats.breakers_tripped.fetch_add(1, Ordering::Relaxed);
                    let why = format!(
                        "refused: response budget of {} actions per {} s spent; rule demoted to shadow",
                        budget.max_actions,
                        budget.window.as_secs()
                    );
                    self.trip_breaker(meta, m, &why, now);
                    (command, "respond", "refused", why)
                }
            };
            let done = (status != "sent").then_some(now);
            let record = ActionRecord {
                command_id: command.command_id.clone(),
                alert_id: Some(alert_id),
                rule_id: meta.id.clone(),
                host_id: m.host_id.clone(),
                action: command.action.clone(),
                target: command.target.clone(),
                mode: mode.to_string(),
                status: status.to_string(),
                result: result.clone(),
                policy_version: command.policy_version.clone(),
                event_unix_ns: m.time_unix_ns,
                decided_unix_ns: now,
                done_unix_ns: done,
                host_latency_us: None,
            };
            if let Err(e) = self.store.record_action(&record) {
                tracing::error!("recording action {}: {e}", record.command_id);
            }
            if status == "refused" || status == "error" {
                // Collector-side outcomes go to the evidence log like host results.
                hooks.record_action(weir_event::Action {
                    action: command.action,
                    target: command.target,
                    rule_id: meta.id.clone(),
                    result,
                    latency_us: 0,
                    command_id: command.command_id,
                    host_id: m.host_id.clone(),
                    policy_version: command.policy_version,
                    dry_run: command.dry_run,
                    alert_id,
                });
            }
        }
    }

    /// Demotes a rule whose budget ran out and raises an alert saying so.
    fn trip_breaker(&mut self, meta: &RuleMeta, m: &RuleMatch, why: &str, now: u64) {
        tracing::warn!(rule = %meta.id, "{why}");
        self.modes.insert(meta.id.clone(), RuleMode::Shadow);
        if let Err(e) = self
            .store
            .set_rule_mode(&meta.id, RuleMode::Shadow, "circuit-breaker", why, now)
        {
            tracing::error!("demoting rule {}: {e}", meta.id);
        }
        self.publish_policy();
        let alert = RuleMatch {
            rule_id: BREAKER_RULE_ID.to_string(),
            rule_title: "Response circuit breaker tripped".to_string(),
            level: "high".to_string(),
            mode: Mode::Alert,
            host_id: m.host_id.clone(),
            group_key: meta.id.clone(),
            actor: String::new(),
            summary: format!("rule {} ({}): {why}", meta.id, meta.title),
            // Not an event of the host: numbered by time, like correlation hits.
            event_seq: now,
            evidence_leaf: m.evidence_leaf,
            time_unix_ns: now,
        };
        match self.store.record(std::slice::from_ref(&alert), self.realert_ns) {
            Ok(r) => {
                if let (Some(Recorded::Opened(id)), Some(hooks)) = (r.first(), &self.hooks) {
                    hooks.alert_opened(*id, &alert, &Map::new());
                }
            }
            Err(e) => tracing::error!("recording the circuit breaker alert: {e}"),
        }
    }

    /// A host (or collector command) answered: keep the result with the decision.
    fn action_done(&mut self, a: &weir_event::Action, at: u64) {
        if a.command_id.is_empty() {
            return;
        }
        if let Err(e) = self.store.complete_action(&a.command_id, &a.result, a.latency_us, at) {
            tracing::error!("recording the result of {}: {e}", a.command_id);
        }
    }
}

/// Rule id of the alert raised when a rule's response budget runs out.
pub const BREAKER_RULE_ID: &str = "weir-response-circuit-breaker";

/// Runs a configured collector command on its own thread (bounded to 30 s)
/// and records its outcome as an action event.
fn run_collector_command(
    hooks: Arc<dyn ResponseHooks>,
    command: weir_event::Command,
    argv: Vec<String>,
    m: &RuleMatch,
) {
    let env = [
        ("WEIR_ALERT_ID", command.alert_id.to_string()),
        ("WEIR_RULE_ID", m.rule_id.clone()),
        ("WEIR_HOST_ID", m.host_id.clone()),
        ("WEIR_ACTOR", m.actor.clone()),
        ("WEIR_TARGET", m.group_key.clone()),
    ];
    let spawned = std::thread::Builder::new().name("weir-command".into()).spawn(move || {
        let started = Instant::now();
        let result = match std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            Err(e) => format!("error: starting {}: {e}", argv[0]),
            Ok(mut child) => loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => break "ok".to_string(),
                    Ok(Some(status)) => break format!("failed: {status}"),
                    Ok(None) if started.elapsed() > Duration::from_secs(30) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break "failed: timed out after 30 s".to_string();
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => break format!("error: {e}"),
                }
            },
        };
        hooks.record_action(weir_event::Action {
            action: command.action,
            target: command.target,
            rule_id: command.rule_id,
            result,
            latency_us: started.elapsed().as_micros() as u64,
            command_id: command.command_id,
            host_id: "collector".into(),
            policy_version: command.policy_version,
            dry_run: false,
            alert_id: command.alert_id,
        });
    });
    if let Err(e) = spawned {
        tracing::error!("starting a collector command thread: {e}");
    }
}

fn alert_mode(mode: RuleMode) -> Mode {
    if mode.alerts() {
        Mode::Alert
    } else {
        Mode::Shadow
    }
}

impl Worker<'_> {
    fn refresh_modes(&mut self) {
        match self.store.rule_modes() {
            Ok(modes) => self.modes = modes,
            Err(e) => tracing::error!("reading rule mode overrides: {e}"),
        }
        self.publish_policy();
        self.refresh_exceptions();
    }

    /// Re-reads the exception files when one changed; a file that no longer
    /// loads keeps the exceptions in force as they were.
    fn refresh_exceptions(&mut self) {
        if self.exception_paths.is_empty() {
            return;
        }
        let now = Exceptions::signature(&self.exception_paths);
        if now == self.exceptions_seen {
            return;
        }
        match Exceptions::load(&self.exception_paths) {
            Ok(loaded) => {
                tracing::info!(exceptions = loaded.len(), "rule exceptions reloaded");
                self.exceptions = loaded;
                self.exceptions_seen = now;
            }
            Err(e) => tracing::error!("exceptions not reloaded, the previous ones stay in force: {e}"),
        }
    }

    /// Recomputes the policy version and the enforcement set from the modes.
    fn publish_policy(&mut self) {
        let rules = self.rules;
        let modes: Vec<(&RuleMeta, RuleMode)> = rules.rules().iter().map(|m| (m, self.mode(m))).collect();
        let version = response::policy_version(&self.response_text, modes.iter().map(|(m, mode)| (*m, *mode)));
        let (payload, not_enforceable) = response::enforce_payload(modes.iter().map(|(m, mode)| (*m, *mode)));
        self.gate.set_policy_version(version.clone());
        let mut enforce = self.enforce.lock().unwrap();
        if enforce.version != version || enforce.payload != payload {
            for (rule, why) in &not_enforceable {
                tracing::warn!(rule = %rule, "enforce mode: not in the enforcement set ({why}); the collector still responds");
            }
            *enforce = EnforceSet {
                payload,
                version,
                not_enforceable,
            };
        }
    }

    /// A rule's mode: a promote/demote override, else what its file says.
    fn mode(&self, meta: &RuleMeta) -> RuleMode {
        self.modes.get(&meta.id).copied().unwrap_or(meta.mode)
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
                    mode: alert_mode(self.mode(meta)),
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

pub(crate) fn correlation_summary(meta: &RuleMeta, hit: &CorrelationHit) -> String {
    let kind = meta
        .correlation
        .as_ref()
        .map(|c| format!("{:?}", c.kind))
        .unwrap_or_default();
    let group: Vec<String> = hit.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let span_s = hit.last_ns.saturating_sub(hit.first_ns) as f64 / 1e9;
    format!("{kind} {} within {span_s:.1}s for {}", hit.value, group.join(" "))
}

pub(crate) fn rule_match(
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
        mode: alert_mode(meta.mode),
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
