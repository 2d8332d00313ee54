//! Automated response on the collector: turns a match of a rule in `respond`
//! or `enforce` mode into host commands (kill the process, kill its tree,
//! isolate the host, block the destination) or configured collector
//! commands, behind guardrails: protected executables are never targeted, a
//! per-rule fleet budget trips a circuit breaker that demotes the rule to
//! shadow and raises an alert, dry-run sends commands the host only
//! validates, and shadow rules record what they would have done.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use weir_event::{Action, Command};
use weir_rules::{exec_predicate, Mode as RuleMode, RuleMeta};

/// What the collector needs from the transport to act and to keep records.
pub trait ResponseHooks: Send + Sync + std::fmt::Debug {
    /// Sends a command down a host's stream; `Err` when it is not connected.
    fn send_command(&self, host_id: &str, command: Command) -> Result<(), String>;
    /// Appends a collector-side action record to the evidence log.
    fn record_action(&self, action: Action);
    /// An alert was opened (not folded, not shadow): notify, ask the actor.
    fn alert_opened(&self, _alert_id: i64, _m: &crate::RuleMatch, _ecs: &Map<String, Value>) {}
}

/// Guardrails and settings of automated response (`response.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// Commands are sent with dry_run set: hosts validate and report, change nothing.
    pub dry_run: bool,
    /// Executable base names no action ever targets (added to the defaults).
    pub protected: Vec<String>,
    /// Default fleet-wide budget of every rule.
    pub budget: Budget,
    /// Budgets of named rules (by id).
    pub budgets: HashMap<String, Budget>,
    /// How long an isolation or a block lasts before the host undoes it.
    #[serde(with = "seconds")]
    pub isolate_ttl: Duration,
    #[serde(with = "seconds")]
    pub block_ttl: Duration,
    /// Collector commands a rule may name as `command:NAME` (argv; run with
    /// WEIR_ALERT_ID, WEIR_RULE_ID, WEIR_HOST_ID, WEIR_ACTOR, WEIR_TARGET set).
    pub commands: HashMap<String, Vec<String>>,
}

/// At most `max_actions` actions per `window` across the whole fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub max_actions: u32,
    #[serde(with = "seconds")]
    pub window: Duration,
}

/// Never targeted by any action, whatever the configuration says (the same
/// names the hosts refuse to enforce on).
pub use weir_rules::exec_predicate::DEFAULT_PROTECTED_NAMES as ALWAYS_PROTECTED;

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            dry_run: false,
            protected: Vec::new(),
            budget: Budget {
                max_actions: 20,
                window: Duration::from_secs(600),
            },
            budgets: HashMap::new(),
            isolate_ttl: Duration::from_secs(3600),
            block_ttl: Duration::from_secs(3600),
            commands: HashMap::new(),
        }
    }
}

mod seconds {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// Why a response configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResponseConfigError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ResponseConfig {
    /// Reads `response.yaml`; errors name the file, line and field.
    pub fn load(path: &Path) -> Result<(ResponseConfig, String), ResponseConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResponseConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let config = Self::parse(&text).map_err(|message| ResponseConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })?;
        Ok((config, text))
    }

    /// Parses the YAML text of a response configuration.
    pub fn parse(text: &str) -> Result<ResponseConfig, String> {
        let de = serde_yaml::Deserializer::from_str(text);
        let config: ResponseConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .location()
                .map(|l| format!("line {}: ", l.line()))
                .unwrap_or_default();
            format!("{line}{at}: {inner}")
        })?;
        for (name, b) in std::iter::once((&"budget".to_string(), &config.budget)).chain(config.budgets.iter()) {
            if b.max_actions == 0 || b.window.is_zero() {
                return Err(format!("{name}: max_actions and window must be positive"));
            }
        }
        for (name, argv) in &config.commands {
            if argv.is_empty() {
                return Err(format!("commands.{name}: empty command"));
            }
        }
        Ok(config)
    }

    fn is_protected(&self, executable: &str) -> bool {
        let name = executable.rsplit('/').next().unwrap_or(executable);
        ALWAYS_PROTECTED.contains(&name) || self.protected.iter().any(|p| p == name || p == executable)
    }
}

/// Hash of everything that decides actions: the configuration and every
/// rule's mode and actions. Recorded with each action.
pub fn policy_version<'a>(config_text: &str, rules: impl Iterator<Item = (&'a RuleMeta, RuleMode)>) -> String {
    let mut h = Sha256::new();
    h.update(config_text.as_bytes());
    let mut lines: Vec<String> = rules
        .filter(|(m, _)| !m.weir.respond.is_empty())
        .map(|(m, mode)| format!("{}\0{}\0{}", m.id, mode.as_str(), m.weir.respond.join(",")))
        .collect();
    lines.sort();
    for l in lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..8])
}

/// The in-kernel predicates of the rules in enforce mode, as the
/// `enforce_set` payload hosts load, with rules that cannot be enforced and
/// why. The set stays within the hosts' set caps (predicates, distinct
/// command-line words): taken in rule-id order, a rule that would overflow
/// them is listed as not enforceable instead of breaking the whole set.
pub fn enforce_payload<'a>(rules: impl Iterator<Item = (&'a RuleMeta, RuleMode)>) -> (String, Vec<(String, String)>) {
    let mut enforced: Vec<&RuleMeta> = rules
        .filter(|(_, mode)| *mode == RuleMode::Enforce)
        .map(|(meta, _)| meta)
        .collect();
    enforced.sort_by(|a, b| a.id.cmp(&b.id));
    let mut caps = exec_predicate::SetCaps::default();
    let mut items = Vec::new();
    let mut not_enforceable = Vec::new();
    for meta in enforced {
        let fits = meta.exec_predicate.clone().and_then(|p| {
            exec_predicate::check_rule_id(&meta.id).map_err(|why| format!("rule id {why}"))?;
            caps.admit(&p.argv_contains)?;
            Ok(p)
        });
        match fits {
            Ok(p) => {
                let mut v = serde_json::to_value(&p).unwrap_or_default();
                v["rule_id"] = Value::String(meta.id.clone());
                items.push(v);
            }
            Err(why) => not_enforceable.push((meta.id.clone(), why)),
        }
    }
    (Value::Array(items).to_string(), not_enforceable)
}

/// What one match asks for, after the guardrails.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this command to the host.
    Send(Command),
    /// Run a configured collector command (`command` records it).
    Run { command: Command, argv: Vec<String> },
    /// Only recorded (shadow mode).
    WouldDo(Command),
    /// A guardrail refused it.
    Refused { command: Command, why: String },
    /// The budget ran out: the rule must go back to shadow mode.
    Tripped { command: Command, budget: Budget },
}

/// Sliding-window budgets and the decision of each action.
pub struct ResponseGate {
    config: ResponseConfig,
    policy: String,
    spent: HashMap<String, VecDeque<u64>>,
    next_id: u64,
    run_id: String,
}

impl ResponseGate {
    pub fn new(config: ResponseConfig, policy: String) -> ResponseGate {
        // Command ids are unique across collector restarts: a random run id.
        let run_id = format!("{:08x}", rand::random::<u32>());
        ResponseGate {
            config,
            policy,
            spent: HashMap::new(),
            next_id: 0,
            run_id,
        }
    }

    pub fn policy_version(&self) -> &str {
        &self.policy
    }

    pub fn set_policy_version(&mut self, policy: String) {
        self.policy = policy;
    }

    /// Decides each of the rule's actions for one matching event.
    pub fn decide(
        &mut self,
        meta: &RuleMeta,
        mode: RuleMode,
        host_id: &str,
        alert_id: Option<i64>,
        ecs: &Map<String, Value>,
        now_ns: u64,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        for action in &meta.weir.respond {
            if let Some(name) = action.strip_prefix("command:") {
                match self.config.commands.get(name).cloned() {
                    Some(argv) if mode == RuleMode::Respond || mode == RuleMode::Enforce => {
                        let command = self.command(meta, action, name, alert_id);
                        out.push(match self.spend(meta, now_ns) {
                            Some(budget) => Decision::Tripped { command, budget },
                            None => Decision::Run { command, argv },
                        });
                    }
                    Some(_) => out.push(Decision::WouldDo(self.command(meta, action, name, alert_id))),
                    None => out.push(Decision::Refused {
                        command: self.command(meta, action, name, alert_id),
                        why: format!("no collector command named {name:?} in the response configuration"),
                    }),
                }
                continue;
            }
            let (target, pid, ttl, problem) = self.target(action, host_id, ecs);
            let mut command = self.command(meta, action, &target, alert_id);
            command.pid_hint = pid;
            command.ttl_seconds = ttl;
            command.dry_run = self.config.dry_run;
            if let Some(why) = problem {
                out.push(Decision::Refused { command, why });
                continue;
            }
            match mode {
                RuleMode::Shadow | RuleMode::Alert => out.push(Decision::WouldDo(command)),
                RuleMode::Respond | RuleMode::Enforce => out.push(match self.spend(meta, now_ns) {
                    Some(budget) => Decision::Tripped { command, budget },
                    None => Decision::Send(command),
                }),
            }
        }
        out
    }

    /// Counts one action against the rule's budget; the budget when it is spent.
    fn spend(&mut self, meta: &RuleMeta, now_ns: u64) -> Option<Budget> {
        let budget = self.config.budgets.get(&meta.id).copied().unwrap_or(self.config.budget);
        let window = budget.window.as_nanos() as u64;
        let spent = self.spent.entry(meta.id.clone()).or_default();
        while spent.front().is_some_and(|t| now_ns.saturating_sub(*t) >= window) {
            spent.pop_front();
        }
        if spent.len() >= budget.max_actions as usize {
            spent.clear();
            return Some(budget);
        }
        spent.push_back(now_ns);
        None
    }

    fn command(&mut self, meta: &RuleMeta, action: &str, target: &str, alert_id: Option<i64>) -> Command {
        self.next_id += 1;
        Command {
            command_id: format!("{}-{}", self.run_id, self.next_id),
            action: action.to_string(),
            target: target.to_string(),
            rule_id: meta.id.clone(),
            policy_version: self.policy.clone(),
            alert_id: alert_id.unwrap_or(0),
            ..Default::default()
        }
    }

    /// The action's target from the event, or why there is none.
    fn target(&self, action: &str, host_id: &str, ecs: &Map<String, Value>) -> (String, u32, u64, Option<String>) {
        let text = |k: &str| ecs.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match action {
            "kill_process" | "kill_tree" => {
                let entity = text("process.entity_id");
                let pid = ecs.get("process.pid").and_then(Value::as_u64).unwrap_or(0) as u32;
                let exe = text("process.executable");
                let problem = if entity.is_empty() || pid == 0 {
                    Some("the event names no process".to_string())
                } else if pid == 1 {
                    Some("pid 1 is protected".to_string())
                } else if self.config.is_protected(&exe) {
                    Some(format!("{exe} is protected"))
                } else {
                    None
                };
                (entity, pid, 0, problem)
            }
            "isolate_host" => (host_id.to_string(), 0, self.config.isolate_ttl.as_secs(), None),
            "block_destination" => {
                let ip = text("destination.ip");
                let port = ecs.get("destination.port").and_then(Value::as_u64).unwrap_or(0);
                let target = match (ip.contains(':'), port) {
                    (_, 0) => ip.clone(),
                    (true, p) => format!("[{ip}]:{p}"),
                    (false, p) => format!("{ip}:{p}"),
                };
                let problem = ip.is_empty().then(|| "the event names no destination".to_string());
                (target, 0, self.config.block_ttl.as_secs(), problem)
            }
            other => (String::new(), 0, 0, Some(format!("unknown action {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_rules::RuleSet;

    fn rule(respond: &str) -> RuleSet {
        let text = format!(
            "title: t\nid: r1\nlevel: high\nlogsource: {{product: linux, category: process_creation}}\n\
             detection:\n  sel:\n    Image|endswith: /nc\n  condition: sel\nweir:\n  respond: [{respond}]\n"
        );
        RuleSet::from_yaml(&text, "t.yml").unwrap()
    }

    fn exec_event(exe: &str) -> Map<String, Value> {
        serde_json::json!({
            "process.entity_id": "e1", "process.pid": 4242, "process.executable": exe,
            "destination.ip": "10.0.0.9", "destination.port": 4444
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn budget_trips_on_the_action_past_it() {
        let set = rule("kill_process");
        let meta = &set.rules()[0];
        let config = ResponseConfig::parse("budget: {max_actions: 3, window: 60}").unwrap();
        let mut gate = ResponseGate::new(config, "v1".into());
        let ecs = exec_event("/usr/bin/nc");
        for i in 0..3 {
            let d = gate.decide(meta, RuleMode::Respond, "h", None, &ecs, i);
            assert!(
                matches!(&d[..], [Decision::Send(c)] if c.pid_hint == 4242 && c.target == "e1"),
                "{d:?}"
            );
        }
        let d = gate.decide(meta, RuleMode::Respond, "h", None, &ecs, 4);
        assert!(matches!(&d[..], [Decision::Tripped { .. }]), "{d:?}");
        // A new window starts fresh.
        let d = gate.decide(meta, RuleMode::Respond, "h", None, &ecs, 61_000_000_000);
        assert!(matches!(&d[..], [Decision::Send(_)]), "{d:?}");
    }

    #[test]
    fn guardrails() {
        let set = rule("kill_process, block_destination");
        let meta = &set.rules()[0];
        let config = ResponseConfig::parse("dry_run: true\nprotected: [postgres]").unwrap();
        let mut gate = ResponseGate::new(config, "v1".into());
        let d = gate.decide(meta, RuleMode::Respond, "h", Some(7), &exec_event("/usr/sbin/sshd"), 1);
        assert!(
            matches!(&d[0], Decision::Refused { why, .. } if why.contains("protected")),
            "{d:?}"
        );
        assert!(matches!(&d[1], Decision::Send(c) if c.dry_run && c.target == "10.0.0.9:4444" && c.alert_id == 7));
        let d = gate.decide(meta, RuleMode::Respond, "h", None, &exec_event("/usr/lib/postgres"), 1);
        assert!(matches!(&d[0], Decision::Refused { .. }));
        let d = gate.decide(meta, RuleMode::Shadow, "h", None, &exec_event("/usr/bin/nc"), 1);
        assert!(d.iter().all(|d| matches!(d, Decision::WouldDo(_))), "{d:?}");
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = ResponseConfig::parse("budget: {max_actions: 3, windo: 60}").unwrap_err();
        assert!(e.contains("budget") && e.contains("windo"), "{e}");
        let e = ResponseConfig::parse("budgets: {r1: {max_actions: 0, window: 5}}").unwrap_err();
        assert!(e.contains("r1"), "{e}");
        let e = ResponseConfig::parse("dry_run: maybe").unwrap_err();
        assert!(e.contains("line 1") && e.contains("dry_run"), "{e}");
    }

    #[test]
    fn enforce_payload_lists_enforceable_rules() {
        let set = rule("kill_process");
        let (payload, skipped) = enforce_payload(set.rules().iter().map(|m| (m, RuleMode::Enforce)));
        assert_eq!(payload, r#"[{"name":"nc","rule_id":"r1"}]"#);
        assert!(skipped.is_empty());
        let (payload, _) = enforce_payload(set.rules().iter().map(|m| (m, RuleMode::Respond)));
        assert_eq!(payload, "[]");
    }

    proptest::proptest! {
        #[test]
        fn config_parser_never_panics(text in ".{0,200}") {
            let _ = ResponseConfig::parse(&text);
        }
    }
}
