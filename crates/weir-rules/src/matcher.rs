//! Evaluating one event against the compiled rule set. Each field is read
//! and scanned once per logsource group (one automaton pass, one regex-set
//! pass); rules are then decided from the predicate bitset. All buffers
//! live in the `Matcher` and are reused: no allocation per event once warm.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::compile::{in_cidr, CmpOp, Group, Other, Slot};
use crate::fields::{EventSource, FieldValue, Fields};
use crate::pattern::Anchor;
use crate::{RuleIdx, RuleSet};

/// Per-thread evaluation state over a `RuleSet`.
pub struct Matcher<'r> {
    set: &'r RuleSet,
    bits: Vec<u64>,
    present: Vec<bool>,
    lower: String,
    num: String,
    other_buf: String,
    ref_lower: String,
    re_hits: regex_automata::PatternSet,
    /// Cached routing: the last event source and its groups.
    /// Routing tables of recently seen event sources; entry 0 is for
    /// events that do not say (every group, every rule).
    routes: Vec<Route>,
    cur: usize,
    victim: usize,
    /// Rules (local to the group being evaluated) with a predicate set.
    touched: Vec<u32>,
    epoch: Vec<u32>,
    cur_epoch: u32,
}

impl<'r> Matcher<'r> {
    pub(crate) fn new(set: &'r RuleSet) -> Self {
        let max_re = set.slots.iter().map(|s| s.regex_preds.len()).max().unwrap_or(0);
        Matcher {
            set,
            bits: vec![0; (set.pred_count as usize).div_ceil(64) + 1],
            present: vec![false; set.slots.len()],
            lower: String::with_capacity(256),
            num: String::with_capacity(32),
            other_buf: String::with_capacity(256),
            ref_lower: String::with_capacity(256),
            re_hits: regex_automata::PatternSet::new(max_re),
            routes: vec![Route {
                product: None,
                category: None,
                service: None,
                groups: (0..set.groups.len() as u32).collect(),
                class_ok: vec![true; set.classes.len()],
                slot_needed: vec![true; set.slots.len()],
            }],
            cur: 0,
            victim: 0,
            touched: Vec::with_capacity(64),
            epoch: vec![0; set.groups.iter().map(|g| g.rules.len()).max().unwrap_or(0)],
            cur_epoch: 0,
        }
    }

    /// Selects (building on first sight) the routing table for `src`.
    fn route(&mut self, src: &EventSource<'_>) {
        if let Some(i) = self.routes.iter().skip(1).position(|r| {
            r.product.as_deref() == src.product
                && r.category.as_deref() == src.category
                && r.service.as_deref() == src.service
        }) {
            self.cur = i + 1;
            return;
        }
        // A dimension excludes a rule only when both sides set it and differ.
        let agree = |rule: Option<&str>, event: Option<&str>| match (rule, event) {
            (Some(r), Some(e)) => r == e,
            _ => true,
        };
        let set = self.set;
        let groups = (0..set.groups.len() as u32)
            .filter(|i| agree(set.groups[*i as usize].logsource.product.as_deref(), src.product))
            .collect();
        let class_ok: Vec<bool> = set
            .classes
            .iter()
            .map(|ls| {
                agree(ls.product.as_deref(), src.product)
                    && agree(ls.category.as_deref(), src.category)
                    && agree(ls.service.as_deref(), src.service)
            })
            .collect();
        let slot_needed = set
            .slots
            .iter()
            .map(|s| s.classes.iter().any(|c| class_ok[*c as usize]))
            .collect();
        let route = Route {
            product: src.product.map(str::to_string),
            category: src.category.map(str::to_string),
            service: src.service.map(str::to_string),
            groups,
            class_ok,
            slot_needed,
        };
        if self.routes.len() <= MAX_ROUTES {
            self.routes.push(route);
            self.cur = self.routes.len() - 1;
        } else {
            self.cur = 1 + self.victim;
            self.routes[self.cur] = route;
            self.victim = (self.victim + 1) % MAX_ROUTES;
        }
    }

    /// Appends to `out` (after clearing it) the index of every rule the
    /// event matches.
    pub fn matches(&mut self, event: &impl Fields, out: &mut Vec<RuleIdx>) {
        out.clear();
        let routed = match event.source() {
            Some(src) => {
                self.route(&src);
                true
            }
            None => {
                self.cur = 0;
                false
            }
        };
        for k in 0..self.routes[self.cur].groups.len() {
            let gi = self.routes[self.cur].groups[k] as usize;
            self.eval_group(gi, event, routed, out);
        }
        out.sort_unstable();
    }

    fn eval_group(&mut self, gi: usize, event: &dyn Fields, routed: bool, out: &mut Vec<RuleIdx>) {
        let set = self.set;
        let g: &Group = &set.groups[gi];
        clear_bits(&mut self.bits, g.pred_range.start, g.pred_range.end);
        self.touched.clear();
        self.cur_epoch = self.cur_epoch.wrapping_add(1);
        if self.cur_epoch == 0 {
            self.epoch.fill(0);
            self.cur_epoch = 1;
        }
        for si in g.slot_range.clone() {
            if !self.routes[self.cur].slot_needed[si] {
                self.present[si] = false;
                continue;
            }
            let slot = &set.slots[si];
            let mut st = Scratch {
                owner: &set.pred_owner,
                touched: &mut self.touched,
                epoch: &mut self.epoch,
                cur_epoch: self.cur_epoch,
                bits: &mut self.bits,
                lower: &mut self.lower,
                num: &mut self.num,
                other_buf: &mut self.other_buf,
                ref_lower: &mut self.ref_lower,
                re_hits: &mut self.re_hits,
            };
            match &slot.field {
                Some(name) => {
                    let v = event.get(name);
                    let present = !matches!(v, None | Some(FieldValue::Null));
                    self.present[si] = present;
                    if present {
                        for p in &slot.exists {
                            st.set(*p);
                        }
                    } else {
                        for p in &slot.null {
                            st.set(*p);
                        }
                    }
                    if let Some(v) = v {
                        st.value(slot, v, event, 0);
                    }
                }
                None => {
                    self.present[si] = true;
                    event.for_each_value(&mut |v| st.value(slot, v, event, 0));
                }
            }
        }
        // Rules with a predicate set are evaluated; the others have the
        // value they have with every predicate false, known in advance.
        let present = &self.present;
        let class_ok = &self.routes[self.cur].class_ok;
        let has_fields = |r: &crate::compile::CompiledRule| {
            class_ok[r.class as usize] && (routed || r.keywords || r.slots.iter().any(|s| present[*s as usize]))
        };
        for &li in &self.touched {
            let r = &g.rules[li as usize];
            if has_fields(r) && r.expr.eval(&self.bits) {
                out.push(RuleIdx(r.idx));
            }
        }
        for &li in &g.const_true {
            let r = &g.rules[li as usize];
            if self.epoch[li as usize] != self.cur_epoch && has_fields(r) {
                out.push(RuleIdx(r.idx));
            }
        }
    }
}

/// Routing table for one event source.
struct Route {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    /// Groups whose product agrees.
    groups: Vec<u32>,
    /// Per rule logsource class: does it agree with the source?
    class_ok: Vec<bool>,
    /// Per slot: does a rule of an agreeing class read it?
    slot_needed: Vec<bool>,
}

/// Distinct event sources remembered per matcher.
const MAX_ROUTES: usize = 16;

fn clear_bits(bits: &mut [u64], start: u32, end: u32) {
    if start >= end {
        return;
    }
    let (s, e) = (start as usize, end as usize);
    let (sw, ew) = (s >> 6, (e - 1) >> 6);
    for (w, word) in bits.iter_mut().enumerate().take(ew + 1).skip(sw) {
        let lo = if w == sw { s & 63 } else { 0 };
        let hi = if w == ew { ((e - 1) & 63) + 1 } else { 64 };
        let mask = if hi - lo == 64 {
            u64::MAX
        } else {
            ((1u64 << (hi - lo)) - 1) << lo
        };
        *word &= !mask;
    }
}

struct Scratch<'a> {
    owner: &'a [u32],
    touched: &'a mut Vec<u32>,
    epoch: &'a mut [u32],
    cur_epoch: u32,
    bits: &'a mut [u64],
    lower: &'a mut String,
    num: &'a mut String,
    other_buf: &'a mut String,
    ref_lower: &'a mut String,
    re_hits: &'a mut regex_automata::PatternSet,
}

fn anchor_ok(a: Anchor, start: usize, end: usize, len: usize) -> bool {
    match a {
        Anchor::Contains => true,
        Anchor::Prefix => start == 0,
        Anchor::Suffix => end == len,
        Anchor::Exact => start == 0 && end == len,
    }
}

fn fold_into(dst: &mut String, s: &str) {
    dst.clear();
    if s.is_ascii() {
        dst.push_str(s);
        dst.make_ascii_lowercase();
    } else {
        for c in s.chars() {
            dst.extend(c.to_lowercase());
        }
    }
}

impl Scratch<'_> {
    #[inline]
    fn set(&mut self, p: u32) {
        let w = &mut self.bits[(p >> 6) as usize];
        let m = 1u64 << (p & 63);
        if *w & m == 0 {
            *w |= m;
            let o = self.owner[p as usize];
            if o != u32::MAX && self.epoch[o as usize] != self.cur_epoch {
                self.epoch[o as usize] = self.cur_epoch;
                self.touched.push(o);
            }
        }
    }

    fn value(&mut self, slot: &Slot, v: FieldValue<'_>, event: &dyn Fields, depth: u8) {
        // Numbers are only needed by comparisons.
        let number = if slot.others.is_empty() { None } else { v.as_f64() };
        match v {
            FieldValue::Null | FieldValue::Object => {}
            FieldValue::Str(s) => self.scalar(slot, s, number, event),
            FieldValue::Bool(b) => self.scalar(slot, if b { "true" } else { "false" }, None, event),
            FieldValue::Int(i) => {
                let mut num = std::mem::take(self.num);
                num.clear();
                let _ = write!(num, "{i}");
                self.scalar(slot, &num, number, event);
                *self.num = num;
            }
            FieldValue::UInt(u) => {
                let mut num = std::mem::take(self.num);
                num.clear();
                let _ = write!(num, "{u}");
                self.scalar(slot, &num, number, event);
                *self.num = num;
            }
            FieldValue::Float(f) => {
                let mut num = std::mem::take(self.num);
                num.clear();
                let _ = write!(num, "{f}");
                self.scalar(slot, &num, number, event);
                *self.num = num;
            }
            FieldValue::List(items) => {
                if depth < 2 {
                    for item in items {
                        self.value(slot, FieldValue::from_json(item), event, depth + 1);
                    }
                }
            }
        }
    }

    fn scalar(&mut self, slot: &Slot, s: &str, number: Option<f64>, event: &dyn Fields) {
        if s.is_empty() {
            for p in &slot.empty {
                self.set(*p);
            }
        }
        if let Some(ac) = &slot.ac_ci {
            let mut lower = std::mem::take(self.lower);
            fold_into(&mut lower, s);
            let len = lower.len();
            for m in ac.find_overlapping_iter(lower.as_str()) {
                for &(p, a) in &slot.ci_targets[m.pattern().as_usize()] {
                    if anchor_ok(a, m.start(), m.end(), len) {
                        self.set(p);
                    }
                }
            }
            *self.lower = lower;
        }
        if let Some(ac) = &slot.ac_cs {
            for m in ac.find_overlapping_iter(s) {
                for &(p, a) in &slot.cs_targets[m.pattern().as_usize()] {
                    if anchor_ok(a, m.start(), m.end(), s.len()) {
                        self.set(p);
                    }
                }
            }
        }
        if let Some(re) = &slot.regex {
            self.re_hits.clear();
            re.which_overlapping_matches(&regex_automata::Input::new(s), self.re_hits);
            if !self.re_hits.is_empty() {
                for i in 0..slot.regex_preds.len() {
                    if self.re_hits.contains(regex_automata::PatternID::new_unchecked(i)) {
                        let p = slot.regex_preds[i];
                        self.set(p);
                    }
                }
            }
        }
        for (p, other) in &slot.others {
            let hit = match other {
                Other::Cidr(nets) => match s.trim().parse::<IpAddr>() {
                    Ok(ip) => nets.iter().any(|(net, len)| in_cidr(ip, *net, *len)),
                    Err(_) => false,
                },
                Other::Cmp(op, t) => match number {
                    Some(n) => match op {
                        CmpOp::Lt => n < *t,
                        CmpOp::Lte => n <= *t,
                        CmpOp::Gt => n > *t,
                        CmpOp::Gte => n >= *t,
                    },
                    None => false,
                },
                Other::FieldRef { other, anchor, cased } => self.fieldref(s, event, other, *anchor, *cased),
            };
            if hit {
                self.set(*p);
            }
        }
    }

    fn fieldref(&mut self, s: &str, event: &dyn Fields, other: &str, anchor: Anchor, cased: bool) -> bool {
        let mut buf = std::mem::take(self.other_buf);
        buf.clear();
        let ok = match event.get(other) {
            Some(FieldValue::Str(o)) => {
                buf.push_str(o);
                true
            }
            Some(FieldValue::Int(i)) => write!(buf, "{i}").is_ok(),
            Some(FieldValue::UInt(u)) => write!(buf, "{u}").is_ok(),
            Some(FieldValue::Float(f)) => write!(buf, "{f}").is_ok(),
            Some(FieldValue::Bool(b)) => write!(buf, "{b}").is_ok(),
            _ => false,
        };
        let hit = ok && {
            let (hay, needle): (&str, &str) = (s, &buf);
            if cased {
                match anchor {
                    Anchor::Exact => hay == needle,
                    Anchor::Prefix => hay.starts_with(needle),
                    Anchor::Suffix => hay.ends_with(needle),
                    Anchor::Contains => hay.contains(needle),
                }
            } else {
                let mut lh = std::mem::take(self.lower);
                let mut ln = std::mem::take(self.ref_lower);
                fold_into(&mut lh, hay);
                fold_into(&mut ln, needle);
                let r = match anchor {
                    Anchor::Exact => lh == ln,
                    Anchor::Prefix => lh.starts_with(ln.as_str()),
                    Anchor::Suffix => lh.ends_with(ln.as_str()),
                    Anchor::Contains => lh.contains(ln.as_str()),
                };
                *self.lower = lh;
                *self.ref_lower = ln;
                r
            }
        };
        *self.other_buf = buf;
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::clear_bits;

    #[test]
    fn clear_ranges() {
        let mut b = vec![u64::MAX; 3];
        clear_bits(&mut b, 3, 70);
        assert_eq!(b[0], 0b111);
        assert_eq!(b[1], !0b111111u64);
        assert_eq!(b[2], u64::MAX);
        let mut b = vec![u64::MAX; 2];
        clear_bits(&mut b, 0, 128);
        assert_eq!(b, vec![0, 0]);
    }
}
