//! Backtests: a rule set run over stored history, to see what a new or
//! changed rule would have raised before it is promoted — how many matches,
//! on how many hosts and users, and examples.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use weir_event::Event;
use weir_rules::{weir_fields, Correlator, Matcher, RuleIdx, RuleSet};

/// What one rule would have matched.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleBacktest {
    pub rule_id: String,
    pub title: String,
    pub level: String,
    pub matches: u64,
    pub hosts: BTreeSet<String>,
    pub actors: BTreeSet<String>,
    pub first_unix_ns: u64,
    pub last_unix_ns: u64,
    /// Up to [`EXAMPLES`] lines: host, time and what happened.
    pub examples: Vec<String>,
}

/// Examples kept per rule.
pub const EXAMPLES: usize = 3;

/// Runs every rule (and correlation) over events fed in time order.
pub struct Backtest<'r> {
    rules: &'r RuleSet,
    matcher: Matcher<'r>,
    correlator: Correlator,
    hits: Vec<RuleIdx>,
    results: BTreeMap<u32, RuleBacktest>,
    events: u64,
}

impl<'r> Backtest<'r> {
    pub fn new(rules: &'r RuleSet) -> Backtest<'r> {
        Backtest {
            rules,
            matcher: rules.matcher(),
            // History is replayed in order: no lateness needed.
            correlator: Correlator::new(rules, 0),
            hits: Vec::new(),
            results: BTreeMap::new(),
            events: 0,
        }
    }

    pub fn observe(&mut self, event: &Event) {
        self.events += 1;
        let ecs = weir_event::ecs::to_ecs(event);
        let fields = weir_fields(&ecs);
        self.matcher.matches(&fields, &mut self.hits);
        let correlated = self.correlator.observe(&self.hits, event.time_unix_ns, &fields);
        let hits = self.hits.iter().copied().chain(correlated.iter().map(|c| c.rule));
        for hit in hits.collect::<Vec<_>>() {
            self.record(hit, event, &ecs);
        }
    }

    fn record(&mut self, hit: RuleIdx, event: &Event, ecs: &serde_json::Map<String, Value>) {
        let meta = &self.rules.rules()[hit.0 as usize];
        let entry = self.results.entry(hit.0).or_insert_with(|| RuleBacktest {
            rule_id: meta.id.clone(),
            title: meta.title.clone(),
            level: meta.level.clone(),
            first_unix_ns: event.time_unix_ns,
            ..Default::default()
        });
        entry.matches += 1;
        entry.first_unix_ns = entry.first_unix_ns.min(event.time_unix_ns);
        entry.last_unix_ns = entry.last_unix_ns.max(event.time_unix_ns);
        entry.hosts.insert(event.host_id.clone());
        let text = |key: &str| ecs.get(key).and_then(Value::as_str).map(str::to_string);
        if let Some(actor) = text("user.login").or_else(|| text("user.name")) {
            entry.actors.insert(actor);
        }
        if entry.examples.len() < EXAMPLES {
            let what = text("process.command_line")
                .or_else(|| text("file.path"))
                .unwrap_or_default();
            let when = weir_event::ecs::rfc3339_nanos(event.time_unix_ns);
            entry
                .examples
                .push(format!("{} {} seq {}: {what}", &when[..19], event.host_id, event.seq));
        }
    }

    /// Events seen so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Per-rule results, most matches first; rules that matched nothing are absent.
    pub fn finish(self) -> Vec<RuleBacktest> {
        let mut out: Vec<RuleBacktest> = self.results.into_values().collect();
        out.sort_by(|a, b| b.matches.cmp(&a.matches).then(a.title.cmp(&b.title)));
        out
    }
}
