//! Sigma correlation rules on the event stream: `event_count`,
//! `value_count`, `temporal`, `temporal_ordered`, `value_sum`, `value_avg`
//! and `value_percentile`, grouped by fields within a timespan; and Weir's
//! stateful extensions `new_value`, `absence` and `spike`. Events may
//! arrive out of order up to a bounded lateness; older ones are counted
//! and dropped. The whole state
//! serializes, so a collector can persist it and restore it after a
//! restart without losing windows in progress.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::fields::{FieldValue, Fields};
use crate::rule::{CorrelationType, SpikeSpec, Threshold};
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
    /// The measured value (event count, distinct value count, number of
    /// member rules seen, sum/mean/percentile of the field, or for `spike`
    /// the window's count).
    pub value: f64,
}

/// Why saved state could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("correlation state is not valid: {0}")]
    Decode(String),
    #[error("correlation state has version {0}, expected {STATE_VERSION} or earlier")]
    Version(u32),
}

/// Version 2 added numeric entry values, the non-numeric counter and spike
/// windows; version 1 state (which has none of them) is still restored.
const STATE_VERSION: u32 = 2;

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
    spike: Option<SpikeSpec>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Entry {
    t: u64,
    member: u32,
    value: Option<String>,
    /// value_sum/value_avg/value_percentile: the field's numeric value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    num: Option<f64>,
}

/// One group of a spike correlation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SpikeGroup {
    /// Index (time / timespan) of the group's first window.
    first: u64,
    /// Window index -> (match count, already reported).
    counts: BTreeMap<u64, (u64, bool)>,
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
    /// value_sum/value_avg/value_percentile: events whose field was missing
    /// or not a finite number, left out of the aggregate.
    #[serde(default)]
    non_numeric: u64,
    /// spike: correlation id -> group key -> recent window counts.
    #[serde(default)]
    spikes: BTreeMap<String, BTreeMap<String, SpikeGroup>>,
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
                spike: c.spike.clone(),
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

    /// Events of value_sum/value_avg/value_percentile correlations whose
    /// field was missing or not a finite number; they are left out.
    pub fn non_numeric(&self) -> u64 {
        self.state.non_numeric
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
                CorrelationType::Spike => {
                    if let Some(sp) = &spec.spike {
                        let groups = self.state.spikes.entry(spec.id.clone()).or_default();
                        if let Some(count) = spike_observe(sp, spec.span, groups, key, event_time_ns) {
                            let w = event_time_ns / spec.span.max(1);
                            out.push(CorrelationHit {
                                rule: spec.rule,
                                group,
                                first_ns: w.saturating_mul(spec.span),
                                last_ns: event_time_ns,
                                value: count as f64,
                            });
                        }
                    }
                    continue;
                }
                _ => {}
            }
            let mut num = None;
            if spec.kind.is_numeric() {
                num = spec
                    .threshold
                    .field
                    .as_ref()
                    .and_then(|f| fields.get(f))
                    .and_then(|v| v.as_f64())
                    .filter(|n| n.is_finite());
                if num.is_none() {
                    self.state.non_numeric += 1;
                    continue;
                }
            }
            let value = match spec.kind {
                CorrelationType::ValueCount => spec.threshold.field.as_ref().map(|f| render(fields.get(f))),
                _ => None,
            };
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
                            num,
                        },
                    );
                    if num.is_some() {
                        // A numeric value counts once per event, whichever members matched it.
                        break;
                    }
                }
            }
            let fired = if spec.kind.is_numeric() {
                evaluate_numeric(spec, entries, event_time_ns)
            } else {
                evaluate(spec, entries, event_time_ns)
            };
            if let Some((first, last, v)) = fired {
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
            if let (Some(sp), Some(groups)) = (&spec.spike, self.state.spikes.get_mut(&spec.id)) {
                // The oldest window a still-accepted event can fall in, less its baseline.
                let oldest = wm.saturating_sub(self.lateness_ns) / spec.span.max(1);
                let keep_from = oldest.saturating_sub(sp.baseline_windows as u64);
                for g in groups.values_mut() {
                    g.counts.retain(|w, _| *w >= keep_from);
                }
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
        if state.version == 0 || state.version > STATE_VERSION {
            return Err(StateError::Version(state.version));
        }
        // Version 1 lacks only fields that default to empty.
        state.version = STATE_VERSION;
        let ids: Vec<&str> = self.specs.iter().map(|s| s.id.as_str()).collect();
        state.windows.retain(|id, _| ids.contains(&id.as_str()));
        state.seen.retain(|id, _| ids.contains(&id.as_str()));
        state.learning_start.retain(|id, _| ids.contains(&id.as_str()));
        state.last_seen.retain(|id, _| ids.contains(&id.as_str()));
        state.spikes.retain(|id, _| ids.contains(&id.as_str()));
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
            CorrelationType::NewValue | CorrelationType::Absence | CorrelationType::Spike => continue,
            CorrelationType::ValueSum | CorrelationType::ValueAvg | CorrelationType::ValuePercentile => continue,
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

/// value_sum/value_avg/value_percentile: checks every window of length
/// `span` that ends at an event and contains `t`, i.e. the aggregate over
/// the group's events of the last `span` as of each event (in order: only
/// the window ending at `t`).
fn evaluate_numeric(spec: &Spec, entries: &[Entry], t: u64) -> Option<(u64, u64, f64)> {
    let end_min = entries.partition_point(|e| e.t < t);
    let end_max = entries.partition_point(|e| e.t <= t.saturating_add(spec.span));
    let mut vals: Vec<f64> = Vec::new();
    for i in end_min..end_max {
        let end = entries[i].t;
        if i + 1 < end_max && entries[i + 1].t == end {
            continue;
        }
        let lo = entries.partition_point(|e| e.t < end.saturating_sub(spec.span));
        let win = &entries[lo..=i];
        vals.clear();
        vals.extend(win.iter().filter_map(|e| e.num));
        if vals.is_empty() {
            continue;
        }
        let value = match spec.kind {
            CorrelationType::ValueSum => vals.iter().sum(),
            CorrelationType::ValueAvg => vals.iter().sum::<f64>() / vals.len() as f64,
            CorrelationType::ValuePercentile => {
                match percentile(&mut vals, spec.threshold.percentile.unwrap_or(50.0)) {
                    Some(v) => v,
                    None => continue,
                }
            }
            _ => return None,
        };
        if spec.threshold.holds(value) {
            return Some((win[0].t, end, value));
        }
    }
    None
}

/// The `p`-th percentile (0 to 100) of `vals` by linear interpolation
/// between the closest ranks: rank `p/100 * (n-1)` of the sorted values.
/// `None` when there are no values.
fn percentile(vals: &mut [f64], p: f64) -> Option<f64> {
    if vals.is_empty() {
        return None;
    }
    vals.sort_unstable_by(f64::total_cmp);
    let p = if p.is_nan() { 50.0 } else { p.clamp(0.0, 100.0) };
    let rank = p / 100.0 * (vals.len() - 1) as f64;
    let lo = (rank.floor() as usize).min(vals.len() - 1);
    let hi = (rank.ceil() as usize).min(vals.len() - 1);
    let frac = rank - lo as f64;
    if lo == hi || frac == 0.0 {
        return Some(vals[lo]);
    }
    // Weighted form: never overflows for finite values.
    Some(vals[lo] * (1.0 - frac) + vals[hi] * frac)
}

/// Counts one match of a spike group in the window of `t`; returns the
/// window's count when it is a spike reported now (at most once per window).
fn spike_observe(
    sp: &SpikeSpec,
    span: u64,
    groups: &mut BTreeMap<String, SpikeGroup>,
    key: String,
    t: u64,
) -> Option<u64> {
    let w = t / span.max(1);
    let g = groups.entry(key).or_insert_with(|| SpikeGroup {
        first: w,
        counts: BTreeMap::new(),
    });
    g.first = g.first.min(w);
    let n = sp.baseline_windows.max(1) as u64;
    let (count, reported) = {
        let e = g.counts.entry(w).or_insert((0, false));
        e.0 = e.0.saturating_add(1);
        *e
    };
    // A full baseline of previous windows since the group was first seen.
    if reported || w.saturating_sub(g.first) < n || count < sp.min_count {
        return None;
    }
    let total: u64 = g.counts.range(w - n..w).map(|(_, (c, _))| *c).sum();
    let mean = total as f64 / n as f64;
    if count as f64 > sp.factor * mean {
        if let Some(e) = g.counts.get_mut(&w) {
            e.1 = true;
        }
        return Some(count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_interpolates_and_stays_finite() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v.clone(), 0.0), Some(1.0));
        assert_eq!(percentile(&mut v.clone(), 100.0), Some(4.0));
        assert_eq!(percentile(&mut v.clone(), 50.0), Some(2.5));
        let p90 = percentile(&mut v.clone(), 90.0).unwrap();
        assert!((p90 - 3.7).abs() < 1e-9, "{p90}");
        assert_eq!(percentile(&mut [7.0], 33.0), Some(7.0));
        assert_eq!(percentile(&mut [], 50.0), None);
        let wide = percentile(&mut [f64::MAX, -f64::MAX], 50.0).unwrap();
        assert!(wide.is_finite());
        assert!(percentile(&mut [f64::MAX, f64::MAX], 10.0).unwrap().is_finite());
    }
}
