//! The Responder: runs each command from the collector on this host and says
//! what happened as a `weir_event::Action`; undoes isolation and blocks when
//! their TTL expires; reports the kernel's exec-time kills.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aya::maps::{MapData, RingBuf};
use weir_event::{Action, Command};

use crate::cgroup;
use crate::config::ResponderConfig;
use crate::kernel::{Kernel, KillRecord, DENY_ISOLATION, MAX_BLOCKS};
use crate::kill::{self, Outcome};
use crate::predicate::parse_predicates;
use crate::procs::Protection;
use crate::target::{parse_destination, Destination};
use crate::RespondError;

/// Unsolicited reports (exec-time kills, TTL undos) waiting to be taken;
/// past this they are dropped and counted.
const REPORT_QUEUE: usize = 1024;
/// How often the TTL thread looks at deadlines, and the ring poll timeout.
const TICK: Duration = Duration::from_millis(100);
/// Generations of enforce sets remembered to name the rule of a late report.
const GENERATIONS_KEPT: usize = 8;

struct Isolation {
    until: Instant,
    denied_before: u64,
}

struct State {
    kernel: Kernel,
    isolation: Option<Isolation>,
    blocks: HashMap<Destination, Instant>,
    generation: u32,
}

struct Inner {
    config: ResponderConfig,
    protection: Protection,
    allow: Vec<Destination>,
    state: Mutex<State>,
    /// (generation, rule ids by predicate index) of recent enforce sets.
    rule_ids: Mutex<VecDeque<(u32, Vec<String>)>>,
    stop: AtomicBool,
    reports: SyncSender<Action>,
    reports_dropped: AtomicU64,
}

/// Host response actions. Dropping it (or `stop`) lifts isolation and
/// blocks and detaches every BPF program.
pub struct Responder {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
    reports: Mutex<Option<Receiver<Action>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Responder {
    /// Loads the BPF programs and starts the TTL and report threads.
    pub fn start(config: ResponderConfig) -> Result<Responder, RespondError> {
        if config.host_id.is_empty() {
            return Err(RespondError::Config("host_id is empty".into()));
        }
        if config.default_ttl.is_zero() || config.max_ttl < config.default_ttl {
            return Err(RespondError::Config(format!(
                "default TTL {:?} must be non-zero and at most the max TTL {:?}",
                config.default_ttl, config.max_ttl
            )));
        }
        let allow: Vec<Destination> = config.always_allow.iter().map(allow_destination).collect();
        let cgroup = match &config.cgroup {
            Some(p) => p.clone(),
            None => cgroup::cgroup2_root()?,
        };
        let (kernel, ring) = Kernel::load(std::process::id(), &cgroup, &config.protected_names, &allow)?;
        let (tx, rx) = sync_channel(REPORT_QUEUE);
        let inner = Arc::new(Inner {
            protection: Protection::new(&config.protected_names, &config.protected_pids),
            allow,
            config,
            state: Mutex::new(State {
                kernel,
                isolation: None,
                blocks: HashMap::new(),
                generation: 0,
            }),
            rule_ids: Mutex::new(VecDeque::new()),
            stop: AtomicBool::new(false),
            reports: tx,
            reports_dropped: AtomicU64::new(0),
        });
        let ttl = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("weir-respond-ttl".into())
                .spawn(move || ttl_loop(&inner))
                .map_err(|e| RespondError::Io("starting the TTL thread".into(), e))?
        };
        let drain = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("weir-respond-kills".into())
                .spawn(move || drain_loop(&inner, ring))
                .map_err(|e| RespondError::Io("starting the kill report thread".into(), e))?
        };
        Ok(Responder {
            inner,
            threads: vec![ttl, drain],
            reports: Mutex::new(Some(rx)),
        })
    }

    /// Actions the host took on its own: `enforce_kill` (a process killed at
    /// exec by an enforce predicate, in the kernel) and TTL undos
    /// (`unisolate_host` / `unblock_destination` with command_id empty).
    /// The receiver is handed out once; later calls return None.
    pub fn enforced(&self) -> Option<Receiver<Action>> {
        lock(&self.reports).take()
    }

    /// Reports dropped because nobody drained `enforced()` fast enough.
    pub fn reports_dropped(&self) -> u64 {
        self.inner.reports_dropped.load(Ordering::Relaxed)
    }

    /// Runs one command; never waits on anything unbounded (a kill_tree
    /// rescans /proc at most a fixed number of times).
    pub fn execute(&self, command: &Command) -> Action {
        let received = Instant::now();
        let inner = &*self.inner;
        let outcome = match command.action.as_str() {
            "kill_process" => kill::kill_process(
                &inner.config.host_id,
                command.target.trim(),
                command.pid_hint,
                command.dry_run,
                &inner.protection,
            ),
            "kill_tree" => kill::kill_tree(
                &inner.config.host_id,
                command.target.trim(),
                command.pid_hint,
                command.dry_run,
                &inner.protection,
            ),
            "isolate_host" => inner.isolate(command.ttl_seconds, command.dry_run),
            "unisolate_host" => inner.unisolate(command.dry_run, false),
            "block_destination" => inner.block(&command.target, command.ttl_seconds, command.dry_run),
            "unblock_destination" => inner.unblock(&command.target, command.dry_run),
            "enforce_set" => inner.enforce_set(&command.payload, command.dry_run),
            other => Outcome::Refused(format!("unknown action {other:?}")),
        };
        Action {
            action: command.action.clone(),
            target: command.target.clone(),
            rule_id: command.rule_id.clone(),
            result: outcome.into_result(),
            latency_us: received.elapsed().as_micros() as u64,
            command_id: command.command_id.clone(),
            host_id: inner.config.host_id.clone(),
            policy_version: command.policy_version.clone(),
            dry_run: command.dry_run,
            alert_id: command.alert_id,
        }
    }

    /// enforce_kill reports the kernel could not queue (its ring was full);
    /// the kills themselves happened.
    pub fn kill_reports_lost_in_kernel(&self) -> u64 {
        lock(&self.inner.state).kernel.kill_report_drops()
    }

    /// Connects/sends refused so far because the host was isolated.
    pub fn denied_while_isolated(&self) -> u64 {
        lock(&self.inner.state).kernel.denied(DENY_ISOLATION)
    }

    /// Lifts isolation and blocks, detaches the BPF programs, stops threads.
    pub fn stop(self) {
        drop(self)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let mut state = lock(&self.inner.state);
        let _ = state.kernel.set_isolated(false);
        let blocks: Vec<Destination> = state.blocks.drain().map(|(d, _)| d).collect();
        for d in blocks {
            let _ = state.kernel.unblock(&d);
        }
        let generation = state.generation.wrapping_add(1);
        let _ = state.kernel.set_enforce(&[], generation);
    }
}

/// An always-allowed socket address as a destination (port 0 = every port).
fn allow_destination(a: &SocketAddr) -> Destination {
    Destination {
        ip: a.ip(),
        port: (a.port() != 0).then_some(a.port()),
    }
}

impl Inner {
    fn ttl_text(&self, ttl_seconds: u64) -> (Duration, String) {
        let (ttl, capped) = self.config.effective_ttl(ttl_seconds);
        let text = if capped {
            format!("{}s (capped from {ttl_seconds}s)", ttl.as_secs())
        } else {
            format!("{}s", ttl.as_secs())
        };
        (ttl, text)
    }

    fn allow_text(&self) -> String {
        let list: Vec<String> = self.allow.iter().map(|d| d.to_string()).collect();
        list.join(", ")
    }

    fn isolate(&self, ttl_seconds: u64, dry_run: bool) -> Outcome {
        if self.allow.is_empty() {
            return Outcome::Refused(
                "no collector address is always allowed; isolation would cut the evidence stream".into(),
            );
        }
        let (ttl, ttl_text) = self.ttl_text(ttl_seconds);
        if dry_run {
            return Outcome::DryRun(format!(
                "isolate the host for {ttl_text}, allowing only {}",
                self.allow_text()
            ));
        }
        let mut state = lock(&self.state);
        let until = Instant::now() + ttl;
        if let Some(iso) = &mut state.isolation {
            iso.until = until;
            return Outcome::Ok(format!("already isolated; isolation now ends in {ttl_text}"));
        }
        let denied_before = state.kernel.denied(DENY_ISOLATION);
        if let Err(e) = state.kernel.set_isolated(true) {
            return Outcome::Error(e.to_string());
        }
        state.isolation = Some(Isolation { until, denied_before });
        Outcome::Ok(format!(
            "isolated for {ttl_text}; new connections allowed only to {} (established connections are not cut)",
            self.allow_text()
        ))
    }

    fn unisolate(&self, dry_run: bool, expired: bool) -> Outcome {
        let mut state = lock(&self.state);
        let Some(iso) = &state.isolation else {
            return Outcome::Ok("the host was not isolated".into());
        };
        if dry_run {
            return Outcome::DryRun("lift the host's isolation".into());
        }
        let denied = state.kernel.denied(DENY_ISOLATION).saturating_sub(iso.denied_before);
        if let Err(e) = state.kernel.set_isolated(false) {
            return Outcome::Error(e.to_string());
        }
        state.isolation = None;
        let why = if expired { "TTL expired; " } else { "" };
        Outcome::Ok(format!(
            "{why}isolation lifted; {denied} connections denied while isolated"
        ))
    }

    fn block(&self, target: &str, ttl_seconds: u64, dry_run: bool) -> Outcome {
        let dest = match parse_destination(target) {
            Ok(d) => d,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        if let Some(a) = self.config.always_allow.iter().find(|a| dest.covers(a)) {
            return Outcome::Refused(format!("{dest} covers the always-allowed {a} (the collector)"));
        }
        let (ttl, ttl_text) = self.ttl_text(ttl_seconds);
        if dry_run {
            return Outcome::DryRun(format!("block {dest} for {ttl_text}"));
        }
        let mut state = lock(&self.state);
        let until = Instant::now() + ttl;
        if let Some(t) = state.blocks.get_mut(&dest) {
            *t = until;
            return Outcome::Ok(format!("{dest} already blocked; block now ends in {ttl_text}"));
        }
        if state.blocks.len() >= MAX_BLOCKS {
            return Outcome::Refused(format!("{MAX_BLOCKS} destinations already blocked"));
        }
        if let Err(e) = state.kernel.block(&dest) {
            return Outcome::Error(e.to_string());
        }
        state.blocks.insert(dest, until);
        Outcome::Ok(format!(
            "blocked {dest} for {ttl_text} (established connections are not cut)"
        ))
    }

    fn unblock(&self, target: &str, dry_run: bool) -> Outcome {
        let dest = match parse_destination(target) {
            Ok(d) => d,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        self.unblock_dest(dest, dry_run, false)
    }

    fn unblock_dest(&self, dest: Destination, dry_run: bool, expired: bool) -> Outcome {
        let mut state = lock(&self.state);
        if !state.blocks.contains_key(&dest) {
            return Outcome::Ok(format!("{dest} was not blocked"));
        }
        if dry_run {
            return Outcome::DryRun(format!("unblock {dest}"));
        }
        match state.kernel.unblock(&dest) {
            Ok(hits) => {
                state.blocks.remove(&dest);
                let why = if expired { "TTL expired; " } else { "" };
                Outcome::Ok(format!("{why}unblocked {dest}; {hits} attempts denied while blocked"))
            }
            Err(e) => Outcome::Error(e.to_string()),
        }
    }

    fn enforce_set(&self, payload: &str, dry_run: bool) -> Outcome {
        let set = match parse_predicates(payload, &self.config.protected_names) {
            Ok(s) => s,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let ids: Vec<String> = set.iter().map(|p| p.rule_id.clone()).collect();
        if dry_run {
            return Outcome::DryRun(format!("enforce {} predicates at exec: {}", set.len(), ids.join(", ")));
        }
        let mut state = lock(&self.state);
        let generation = state.generation.wrapping_add(1);
        {
            let mut known = lock(&self.rule_ids);
            known.push_back((generation, ids.clone()));
            while known.len() > GENERATIONS_KEPT {
                known.pop_front();
            }
        }
        if let Err(e) = state.kernel.set_enforce(&set, generation) {
            state.generation = generation;
            return Outcome::Error(e.to_string());
        }
        state.generation = generation;
        Outcome::Ok(format!(
            "enforcing {} predicates at exec: {}",
            set.len(),
            ids.join(", ")
        ))
    }

    fn report(&self, action: Action) {
        match self.reports.try_send(action) {
            Ok(()) => {}
            Err(TrySendError::Full(a)) | Err(TrySendError::Disconnected(a)) => {
                if self.reports_dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!("response report dropped (nobody drains enforced()): {a:?}");
                }
            }
        }
    }

    fn undo_report(&self, action: &str, target: String, outcome: Outcome) -> Action {
        Action {
            action: action.into(),
            target,
            result: outcome.into_result(),
            host_id: self.config.host_id.clone(),
            ..Default::default()
        }
    }

    fn kill_report(&self, rec: &KillRecord) -> Action {
        let start = weir_sensor::procs::procfs::start_time_ticks_ns(rec.start_boottime_ns);
        let rule_id = lock(&self.rule_ids)
            .iter()
            .find(|(g, _)| *g == rec.generation)
            .and_then(|(_, ids)| ids.get(rec.rule as usize).cloned())
            .unwrap_or_default();
        Action {
            action: "enforce_kill".into(),
            target: weir_event::entity::entity_id(&self.config.host_id, rec.pid, start),
            rule_id,
            result: format!("ok: killed pid {} at exec of {} (in kernel)", rec.pid, rec.filename),
            latency_us: 0,
            host_id: self.config.host_id.clone(),
            ..Default::default()
        }
    }
}

/// Undoes isolation and blocks whose TTL has passed.
fn ttl_loop(inner: &Inner) {
    while !inner.stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        let now = Instant::now();
        let (isolation_due, blocks_due) = {
            let state = lock(&inner.state);
            let iso = state.isolation.as_ref().is_some_and(|i| i.until <= now);
            let blocks: Vec<Destination> = state
                .blocks
                .iter()
                .filter(|(_, until)| **until <= now)
                .map(|(d, _)| *d)
                .collect();
            (iso, blocks)
        };
        if isolation_due {
            let outcome = inner.unisolate(false, true);
            if let Outcome::Error(e) = &outcome {
                tracing::warn!("lifting isolation after its TTL: {e}");
            }
            inner.report(inner.undo_report("unisolate_host", String::new(), outcome));
        }
        for dest in blocks_due {
            let outcome = inner.unblock_dest(dest, false, true);
            if let Outcome::Error(e) = &outcome {
                tracing::warn!("lifting the block of {dest} after its TTL: {e}");
            }
            inner.report(inner.undo_report("unblock_destination", dest.to_string(), outcome));
        }
    }
}

/// Turns the kernel's kill records into enforce_kill Actions.
fn drain_loop(inner: &Inner, mut ring: RingBuf<MapData>) {
    let fd = ring.as_raw_fd();
    while !inner.stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, bounded timeout.
        unsafe { libc::poll(&mut pfd, 1, TICK.as_millis() as i32) };
        while let Some(item) = ring.next() {
            if let Some(rec) = KillRecord::parse(&item) {
                inner.report(inner.kill_report(&rec));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipper calls `execute` from its blocking pool through an
    /// `Arc<dyn Fn + Send + Sync>`.
    #[test]
    fn responder_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Responder>();
    }

    #[test]
    fn ttl_is_defaulted_and_capped() {
        let c = ResponderConfig::new("h");
        assert_eq!(c.effective_ttl(0), (Duration::from_secs(3600), false));
        assert_eq!(c.effective_ttl(5), (Duration::from_secs(5), false));
        assert_eq!(c.effective_ttl(u64::MAX), (Duration::from_secs(24 * 3600), true));
    }

    #[test]
    fn bad_configs_are_refused_before_loading() {
        let e = Responder::start(ResponderConfig::new("")).err().unwrap();
        assert_eq!(e.to_string(), "responder configuration: host_id is empty");
        let mut c = ResponderConfig::new("h");
        c.default_ttl = Duration::from_secs(10);
        c.max_ttl = Duration::from_secs(5);
        let e = Responder::start(c).err().unwrap();
        assert!(e.to_string().contains("at most the max TTL"), "{e}");
    }
}
