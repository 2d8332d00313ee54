//! Backtests: a rule set run over stored history, to see what a new or
//! changed rule would have raised before it is promoted — how many matches,
//! on how many hosts and users, and examples.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use weir_event::Event;
use weir_rules::{weir_fields, Correlator, Matcher, RuleIdx, RuleSet};

use crate::alerts::RuleMatch;
use crate::pipeline::{correlation_summary, rule_match};

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
        // Host, actor and summary read as live detection reads them (no
        // evidence leaf: nothing is recorded).
        let rules = self.rules.rules();
        let mut found: Vec<(RuleIdx, RuleMatch)> = self
            .hits
            .iter()
            .map(|&hit| {
                (
                    hit,
                    rule_match(&rules[hit.0 as usize], &event.host_id, 0, event, &ecs, &fields),
                )
            })
            .collect();
        for hit in &correlated {
            let meta = &rules[hit.rule.0 as usize];
            let mut m = rule_match(meta, &event.host_id, 0, event, &ecs, &fields);
            m.summary = correlation_summary(meta, hit);
            found.push((hit.rule, m));
        }
        for (hit, m) in found {
            self.record(hit, event, m);
        }
    }

    fn record(&mut self, hit: RuleIdx, event: &Event, found: RuleMatch) {
        let entry = self.results.entry(hit.0).or_insert_with(|| RuleBacktest {
            rule_id: found.rule_id,
            title: found.rule_title,
            level: found.level,
            first_unix_ns: event.time_unix_ns,
            ..Default::default()
        });
        entry.matches += 1;
        entry.first_unix_ns = entry.first_unix_ns.min(event.time_unix_ns);
        entry.last_unix_ns = entry.last_unix_ns.max(event.time_unix_ns);
        if entry.examples.len() < EXAMPLES {
            let when = weir_event::ecs::rfc3339_nanos(event.time_unix_ns);
            entry.examples.push(format!(
                "{} {} seq {}: {}",
                &when[..19],
                found.host_id,
                event.seq,
                found.summary
            ));
        }
        entry.hosts.insert(found.host_id);
        if !found.actor.is_empty() {
            entry.actors.insert(found.actor);
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
