//! Sigma correlation rules on the event stream: `event_count`,
//! `value_count`, `temporal` and `temporal_ordered`, grouped by fields
//! within a timespan; and Weir's stateful extensions `new_value` and
//! `absence`. Events may arrive out of order up to a bounded
//! lateness; older ones are counted and dropped. The whole state
//! serializes, so a collector can persist it and restore it after a
//! restart without losing windows in progress.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::fields::{FieldValue, Fields};
use crate::rule::{CorrelationType, Threshold};
use crate::{RuleIdx, RuleSet};

/// A correlation rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationHit {
    /// The correlation rule (index in `RuleSet::rules()`).
    pub rule: RuleIdx,
    /// Group-by field values, in the rule's order.
    pub group: Vec<(String, String)>,
    /// Time span of the events that made the rule fire.
    pub first_ns: u64,
    pub last_ns: u64,
    /// The measured value (event count, distinct value count, or number of
    /// member rules seen).
    pub value: f64,
}

/// Why saved state could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("correlation state is not valid: {0}")]
    Decode(String),
    #[error("correlation state has version {0}, expected {STATE_VERSION}")]
    Version(u32),
}

const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone)]
struct Spec {
    rule: RuleIdx,
    id: String,
    kind: CorrelationType,
    members: Vec<RuleIdx>,
    group_by: Vec<String>,
    span: u64,
    threshold: Threshold,
    fields: Vec<String>,
    learning: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Entry {
    t: u64,
    member: u32,
    value: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    watermark_ns: u64,
    late_dropped: u64,
    /// correlation rule id -> group key -> time-ordered entries.
    windows: BTreeMap<String, BTreeMap<String, Vec<Entry>>>,
    /// new_value: correlation id -> group key -> values seen.
    #[serde(default)]
    seen: BTreeMap<String, BTreeMap<String, std::collections::BTreeSet<String>>>,
    /// new_value: correlation id -> time of its first event (learning start).
    #[serde(default)]
    learning_start: BTreeMap<String, u64>,
    /// absence: correlation id -> group key -> (last seen, already reported).
    #[serde(default)]
    last_seen: BTreeMap<String, BTreeMap<String, (u64, bool)>>,
}

/// Values remembered per new_value group; beyond it new values are not
/// learned (and not reported), bounding memory.
pub const MAX_VALUES_PER_GROUP: usize = 10_000;

/// Streaming evaluator of a rule set's correlation rules.
pub struct Correlator {
    specs: Vec<Spec>,
    by_member: HashMap<RuleIdx, Vec<usize>>,
    lateness_ns: u64,
    state: State,
    problems: Vec<(RuleIdx, String)>,
}

fn render(v: Option<FieldValue<'_>>) -> String {
    match v {
        Some(FieldValue::Str(s)) => s.to_string(),
        Some(FieldValue::Int(i)) => i.to_string(),
        Some(FieldValue::UInt(u)) => u.to_string(),
        Some(FieldValue::Float(f)) => f.to_string(),
        Some(FieldValue::Bool(b)) => b.to_string(),
        Some(FieldValue::List(l)) => serde_json::to_string(l).unwrap_or_default(),
        _ => String::new(),
    }
}

impl Correlator {
    /// Builds the correlator for every correlation rule in `set`.
    /// `lateness_ns` bounds how far behind the newest event an event may be.
    pub fn new(set: &RuleSet, lateness_ns: u64) -> Correlator {
        let mut specs = Vec::new();
        let mut problems = Vec::new();
        for (i, meta) in set.rules().iter().enumerate() {
            let Some(c) = &meta.correlation else { continue };
            let rule = RuleIdx(i as u32);
            let mut members = Vec::new();
            for r in &c.rules {
                match set.find(r) {
                    Some(m) if set.rules()[m.0 as usize].unsupported.is_none() => members.push(m),
                    Some(_) => problems.push((rule, format!("referenced rule `{r}` is unsupported"))),
                    None => problems.push((rule, format!("referenced rule `{r}` is not loaded"))),
                }
            }
            if members.len() != c.rules.len() {
                continue;
            }
            specs.push(Spec {
                rule,
                id: if meta.id.is_empty() {
                    meta.title.clone()
                } else {
                    meta.id.clone()
                },
                kind: c.kind,
                members,
                group_by: c.group_by.clone(),
                span: c.timespan_ns,
                threshold: c.threshold.clone(),
                fields: c.fields.clone(),
                learning: c.learning_ns,
            });
        }
        let mut by_member: HashMap<RuleIdx, Vec<usize>> = HashMap::new();
        for (si, s) in specs.iter().enumerate() {
            for m in &s.members {
                by_member.entry(*m).or_default().push(si);
            }
        }
        Correlator {
            specs,
            by_member,
            lateness_ns,
            state: State {
                version: STATE_VERSION,
                ..Default::default()
            },
            problems,
        }
    }

    /// Correlation rules that cannot run, with the reason.
    pub fn problems(&self) -> &[(RuleIdx, String)] {
        &self.problems
    }

    /// Events dropped for arriving later than the allowed lateness.
    pub fn late_dropped(&self) -> u64 {
        self.state.late_dropped
    }

    /// Feeds one event's detection hits; returns correlations that fired.
    pub fn observe(&mut self, rule_hits: &[RuleIdx], event_time_ns: u64, fields: &impl Fields) -> Vec<CorrelationHit> {
        let mut out = Vec::new();
        if self.specs.is_empty() {
            return out;
        }
        let relevant = rule_hits.iter().any(|r| self.by_member.contains_key(r));
        if event_time_ns.saturating_add(self.lateness_ns) < self.state.watermark_ns {
            if relevant {
                self.state.late_dropped += 1;
            }
            return out;
        }
        self.state.watermark_ns = self.state.watermark_ns.max(event_time_ns);
        let mut touched: Vec<usize> = Vec::new();
        for r in rule_hits {
            if let Some(v) = self.by_member.get(r) {
                touched.extend(v);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for si in touched {
            let spec = &self.specs[si];
            let group: Vec<(String, String)> = spec
                .group_by
                .iter()
                .map(|f| (f.clone(), render(fields.get(f))))
                .collect();
            let key = group.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join("\u{1f}");
            match spec.kind {
                CorrelationType::NewValue => {
                    let start = *self
                        .state
                        .learning_start
                        .entry(spec.id.clone())
                        .or_insert(event_time_ns);
                    let tuple = spec
                        .fields
                        .iter()
                        .map(|f| render(fields.get(f)))
                        .collect::<Vec<_>>()
                        .join("\u{1f}");
                    let values = self
                        .state
                        .seen
                        .entry(spec.id.clone())
                        .or_default()
                        .entry(key)
                        .or_default();
                    if values.len() < MAX_VALUES_PER_GROUP
                        && values.insert(tuple)
                        && event_time_ns >= start.saturating_add(spec.learning)
                    {
                        let mut group = group;
                        for f in &spec.fields {
                            group.push((f.clone(), render(fields.get(f))));
                        }
                        out.push(CorrelationHit {
                            rule: spec.rule,
                            group,
                            first_ns: event_time_ns,
                            last_ns: event_time_ns,
                            value: 1.0,
                        });
                    }
                    continue;
                }
                CorrelationType::Absence => {
                    let e = self
                        .state
                        .last_seen
                        .entry(spec.id.clone())
                        .or_default()
                        .entry(key)
                        .or_insert((0, false));
                    if event_time_ns >= e.0 {
                        *e = (event_time_ns, false);
                    }
                    continue;
                }
                _ => {}
            }
            let value = spec.threshold.field.as_ref().map(|f| render(fields.get(f)));
            let entries = self
                .state
                .windows
                .entry(spec.id.clone())
                .or_default()
                .entry(key)
                .or_default();
            for (pos, m) in spec.members.iter().enumerate() {
                if rule_hits.contains(m) {
                    let at = entries.partition_point(|e| e.t <= event_time_ns);
                    entries.insert(
                        at,
                        Entry {
                            t: event_time_ns,
                            member: pos as u32,
                            value: value.clone(),
                        },
                    );
                }
            }
            if let Some((first, last, v)) = evaluate(spec, entries, event_time_ns) {
                entries.clear();
                out.push(CorrelationHit {
                    rule: spec.rule,
                    group,
                    first_ns: first,
                    last_ns: last,
                    value: v,
                });
            }
        }
        self.evict();
        out.extend(self.advance(self.state.watermark_ns));
        out
    }

    /// Moves stream time to `now_ns` (e.g. wall-clock time when no events
    /// arrive) and reports `absence` groups silent for their timespan, once
    /// per silence.
    pub fn advance(&mut self, now_ns: u64) -> Vec<CorrelationHit> {
        let mut out = Vec::new();
        self.state.watermark_ns = self.state.watermark_ns.max(now_ns);
        let now = self.state.watermark_ns;
        for spec in self.specs.iter().filter(|s| s.kind == CorrelationType::Absence) {
            let Some(groups) = self.state.last_seen.get_mut(&spec.id) else {
                continue;
            };
            for (key, (last, reported)) in groups.iter_mut() {
                if !*reported && now.saturating_sub(*last) >= spec.span {
                    *reported = true;
                    let group = spec
                        .group_by
                        .iter()
                        .cloned()
                        .zip(key.split('\u{1f}').map(str::to_string))
                        .collect();
                    out.push(CorrelationHit {
                        rule: spec.rule,
                        group,
                        first_ns: *last,
                        last_ns: now,
                        value: 0.0,
                    });
                }
            }
        }
        out
    }

    fn evict(&mut self) {
        let wm = self.state.watermark_ns;
        for spec in &self.specs {
            let horizon = wm.saturating_sub(spec.span.saturating_add(self.lateness_ns));
            if let Some(groups) = self.state.windows.get_mut(&spec.id) {
                groups.retain(|_, entries| {
                    let cut = entries.partition_point(|e| e.t < horizon);
                    entries.drain(..cut);
                    !entries.is_empty()
                });
            }
        }
    }

    /// Serialized state (JSON), for persisting across restarts.
    pub fn save(&self) -> Vec<u8> {
        serde_json::to_vec(&self.state).unwrap_or_default()
    }

    /// Restores state saved by `save`. Windows of correlation rules that no
    /// longer exist are dropped.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let mut state: State = serde_json::from_slice(bytes).map_err(|e| StateError::Decode(e.to_string()))?;
        if state.version != STATE_VERSION {
            return Err(StateError::Version(state.version));
        }
        let ids: Vec<&str> = self.specs.iter().map(|s| s.id.as_str()).collect();
        state.windows.retain(|id, _| ids.contains(&id.as_str()));
        state.seen.retain(|id, _| ids.contains(&id.as_str()));
        state.learning_start.retain(|id, _| ids.contains(&id.as_str()));
        state.last_seen.retain(|id, _| ids.contains(&id.as_str()));
        for groups in state.windows.values_mut() {
            for entries in groups.values_mut() {
                entries.sort_by_key(|e| e.t);
            }
        }
        self.state = state;
        Ok(())
    }
}

/// Checks every window of length `span` that contains `t`.
fn evaluate(spec: &Spec, entries: &[Entry], t: u64) -> Option<(u64, u64, f64)> {
    let lo = t.saturating_sub(spec.span);
    let start_min = entries.partition_point(|e| e.t < lo);
    let start_max = entries.partition_point(|e| e.t <= t);
    for s in start_min..start_max {
        let begin = entries[s].t;
        let end_t = begin.saturating_add(spec.span);
        let e = entries.partition_point(|x| x.t <= end_t);
        let win = &entries[s..e];
        if win.is_empty() || win.last().is_some_and(|l| l.t < t) {
            continue;
        }
        let value = match spec.kind {
            CorrelationType::EventCount => win.len() as f64,
            CorrelationType::ValueCount => {
                let mut vals: Vec<&str> = win
                    .iter()
                    .filter_map(|e| e.value.as_deref())
                    .filter(|v| !v.is_empty())
                    .collect();
                vals.sort_unstable();
                vals.dedup();
                vals.len() as f64
            }
            CorrelationType::Temporal => {
                let mut seen: Vec<u32> = win.iter().map(|e| e.member).collect();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() == spec.members.len() {
                    seen.len() as f64
                } else {
                    continue;
                }
            }
            CorrelationType::NewValue | CorrelationType::Absence => continue,
            CorrelationType::TemporalOrdered => {
                let mut next = 0u32;
                for e in win {
                    if e.member == next {
                        next += 1;
                    }
                }
                if next as usize == spec.members.len() {
                    next as f64
                } else {
                    continue;
                }
            }
        };
        let default_holds = matches!(spec.kind, CorrelationType::Temporal | CorrelationType::TemporalOrdered);
        let th = &spec.threshold;
        let empty = th.gt.is_none() && th.gte.is_none() && th.lt.is_none() && th.lte.is_none() && th.eq.is_none();
        if (empty && default_holds) || (!empty && th.holds(value)) {
            let last = win.last().map(|l| l.t).unwrap_or(begin);
            return Some((begin, last, value));
        }
    }
    None
}
