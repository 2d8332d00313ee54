//! Compiles parsed Sigma detections into the shared matcher structures:
//! rules are grouped by logsource product (category and service are checked
//! per rule from a per-event table); within a group every field gets one
//! slot holding one Aho-Corasick automaton over all rules' literals for
//! that field (case-folded, plus one for `cased`), one multi-pattern regex, and the
//! few tests that are neither (cidr, numeric comparisons, fieldref, null,
//! exists). Each such test is a predicate bit; a rule is a boolean
//! expression over predicate bits.

use std::collections::HashMap;
use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// Largest total pattern size compiled to a full DFA (bigger sets use the
/// automatically chosen, more compact automaton).
const DFA_MAX_PATTERN_BYTES: usize = 16 * 1024;

use crate::condition::{glob, Cond, Quant};
use crate::error::{field_err, RuleErrorKind};
use crate::pattern::{self, Anchor, Encoding, Test};
use crate::rule::{Detection, FieldCond, Logsource, Scalar};

/// Boolean expression over predicate bits.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    True,
    False,
    Pred(u32),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    AtLeast(usize, Vec<Expr>),
}

impl Expr {
    /// The value when every predicate is false (a rule for which this is
    /// false can only match when one of its predicates is set).
    pub(crate) fn eval_all_false(&self) -> bool {
        match self {
            Expr::True => true,
            Expr::False | Expr::Pred(_) => false,
            Expr::Not(e) => !e.eval_all_false(),
            Expr::And(v) => v.iter().all(Expr::eval_all_false),
            Expr::Or(v) => v.iter().any(Expr::eval_all_false),
            Expr::AtLeast(n, v) => v.iter().filter(|e| e.eval_all_false()).count() >= *n,
        }
    }

    #[inline]
    pub(crate) fn eval(&self, bits: &[u64]) -> bool {
        match self {
            Expr::True => true,
            Expr::False => false,
            Expr::Pred(p) => bits[(*p >> 6) as usize] & (1u64 << (p & 63)) != 0,
            Expr::Not(e) => !e.eval(bits),
            Expr::And(v) => v.iter().all(|e| e.eval(bits)),
            Expr::Or(v) => v.iter().any(|e| e.eval(bits)),
            Expr::AtLeast(n, v) => {
                let mut hits = 0;
                for e in v {
                    if e.eval(bits) {
                        hits += 1;
                        if hits >= *n {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// Tests that are neither literal nor regex.
#[derive(Debug, Clone)]
pub(crate) enum Other {
    Cidr(Vec<(IpAddr, u8)>),
    Cmp(CmpOp, f64),
    FieldRef { other: String, anchor: Anchor, cased: bool },
}

/// All tests on one field (or on all values, for keywords) in one group.
#[derive(Default)]
pub(crate) struct Slot {
    /// `None`: keyword slot, evaluated over every value of the event.
    pub field: Option<String>,
    pub ac_ci: Option<AhoCorasick>,
    pub ci_targets: Vec<Vec<(u32, Anchor)>>,
    pub ac_cs: Option<AhoCorasick>,
    pub cs_targets: Vec<Vec<(u32, Anchor)>>,
    pub empty: Vec<u32>,
    /// One multi-pattern regex over all the slot's regexes.
    pub regex: Option<regex_automata::meta::Regex>,
    pub regex_preds: Vec<u32>,
    pub others: Vec<(u32, Other)>,
    pub exists: Vec<u32>,
    pub null: Vec<u32>,
    /// Logsource classes of the rules reading this slot.
    pub classes: Vec<u32>,
}

/// A compiled detection rule inside a group.
pub(crate) struct CompiledRule {
    pub idx: u32,
    pub expr: Expr,
    /// Global slot ids this rule reads (for "has the rule's fields").
    pub slots: Vec<u32>,
    pub keywords: bool,
    /// Predicates owned by this rule.
    pub preds: std::ops::Range<u32>,
    /// The rule matches when none of its predicates is set.
    pub const_true: bool,
    /// Global id of the rule's full logsource (product, category, service).
    pub class: u32,
}

/// Rules sharing one logsource.
pub(crate) struct Group {
    pub logsource: Logsource,
    pub slot_range: std::ops::Range<usize>,
    pub pred_range: std::ops::Range<u32>,
    pub rules: Vec<CompiledRule>,
    /// Local indexes of rules with `const_true`.
    pub const_true: Vec<u32>,
}

/// Why a rule did not compile.
pub(crate) enum CompileFail {
    Error(RuleErrorKind),
    Unsupported(String),
}

impl From<RuleErrorKind> for CompileFail {
    fn from(k: RuleErrorKind) -> Self {
        CompileFail::Error(k)
    }
}

#[derive(Default)]
struct SlotBuilder {
    field: Option<String>,
    ci: Vec<String>,
    ci_index: HashMap<String, usize>,
    ci_targets: Vec<Vec<(u32, Anchor)>>,
    cs: Vec<String>,
    cs_index: HashMap<String, usize>,
    cs_targets: Vec<Vec<(u32, Anchor)>>,
    empty: Vec<u32>,
    regexes: Vec<String>,
    regex_preds: Vec<u32>,
    others: Vec<(u32, Other)>,
    exists: Vec<u32>,
    null: Vec<u32>,
}

fn build_ac(patterns: &[String]) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    // Standard semantics are required for overlapping iteration. A full DFA
    // is the fastest to search; keep it to automata of modest size.
    let bytes: usize = patterns.iter().map(String::len).sum();
    let kind = if bytes <= DFA_MAX_PATTERN_BYTES {
        Some(AhoCorasickKind::DFA)
    } else {
        None
    };
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .kind(kind)
        .build(patterns)
        .ok()
}

impl SlotBuilder {
    fn finish(self) -> Result<Slot, String> {
        let regex = if self.regexes.is_empty() {
            None
        } else {
            let config = regex_automata::meta::Config::new()
                .match_kind(regex_automata::MatchKind::All)
                .nfa_size_limit(Some(1 << 28))
                .hybrid_cache_capacity(1 << 24);
            Some(
                regex_automata::meta::Regex::builder()
                    .configure(config)
                    .build_many(&self.regexes)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Slot {
            field: self.field,
            ac_ci: build_ac(&self.ci),
            ci_targets: self.ci_targets,
            ac_cs: build_ac(&self.cs),
            cs_targets: self.cs_targets,
            empty: self.empty,
            regex,
            regex_preds: self.regex_preds,
            others: self.others,
            exists: self.exists,
            null: self.null,
            classes: Vec::new(),
        })
    }
}

/// Builds one group's slots and rules.
pub(crate) struct GroupBuilder {
    logsource: Logsource,
    slots: Vec<SlotBuilder>,
    slot_index: HashMap<Option<String>, usize>,
    rules: Vec<CompiledRule>,
    first_pred: u32,
    next_pred: u32,
}

/// Modifiers of one field test, decoded.
#[derive(Default)]
struct Mods {
    anchor: Option<Anchor>,
    all: bool,
    re: bool,
    re_flags: String,
    cidr: bool,
    base64: bool,
    base64offset: bool,
    encodings: Vec<Encoding>,
    windash: bool,
    exists: bool,
    cased: bool,
    neq: bool,
    cmp: Option<CmpOp>,
    fieldref: bool,
    expand: bool,
}

fn decode_mods(field: &str, mods: &[String]) -> Result<Mods, RuleErrorKind> {
    let mut m = Mods::default();
    let unknown = |modifier: &str| RuleErrorKind::UnknownModifier {
        field: field.to_string(),
        modifier: modifier.to_string(),
    };
    for raw in mods {
        match raw.as_str() {
            "contains" => m.anchor = Some(Anchor::Contains),
            "startswith" => m.anchor = Some(Anchor::Prefix),
            "endswith" => m.anchor = Some(Anchor::Suffix),
            "all" => m.all = true,
            "re" => m.re = true,
            "i" | "m" | "s" if m.re => m.re_flags.push_str(raw),
            "ignorecase" if m.re => m.re_flags.push('i'),
            "multiline" if m.re => m.re_flags.push('m'),
            "dotall" if m.re => m.re_flags.push('s'),
            "cidr" => m.cidr = true,
            "base64" => m.base64 = true,
            "base64offset" => m.base64offset = true,
            "utf16le" | "wide" => m.encodings.push(Encoding::Utf16Le),
            "utf16be" => m.encodings.push(Encoding::Utf16Be),
            "utf16" => m.encodings.push(Encoding::Utf16Le),
            "windash" => m.windash = true,
            "exists" => m.exists = true,
            "cased" => m.cased = true,
            "neq" => m.neq = true,
            "lt" => m.cmp = Some(CmpOp::Lt),
            "lte" => m.cmp = Some(CmpOp::Lte),
            "gt" => m.cmp = Some(CmpOp::Gt),
            "gte" => m.cmp = Some(CmpOp::Gte),
            "fieldref" => m.fieldref = true,
            "expand" => m.expand = true,
            other => return Err(unknown(other)),
        }
    }
    let exclusive = [m.re, m.cidr, m.exists, m.cmp.is_some(), m.fieldref]
        .iter()
        .filter(|b| **b)
        .count();
    if exclusive > 1 {
        return Err(field_err(
            field,
            "re, cidr, exists, lt/lte/gt/gte and fieldref cannot be combined",
        ));
    }
    if (m.base64 || m.base64offset || !m.encodings.is_empty()) && (m.re || m.cidr || m.cmp.is_some()) {
        return Err(field_err(
            field,
            "encoding modifiers cannot be combined with re, cidr or comparisons",
        ));
    }
    Ok(m)
}

fn parse_cidr(field: &str, text: &str) -> Result<(IpAddr, u8), RuleErrorKind> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| field_err(field, format!("`{text}` is not a CIDR network")))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max),
        None => Some(max),
    }
    .ok_or_else(|| field_err(field, format!("`{text}` has an invalid prefix length")))?;
    Ok((ip, len))
}

/// Does `ip` fall inside `net/len`?
pub(crate) fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

impl GroupBuilder {
    pub(crate) fn new(logsource: Logsource, first_pred: u32) -> Self {
        GroupBuilder {
            logsource,
            slots: Vec::new(),
            slot_index: HashMap::new(),
            rules: Vec::new(),
            first_pred,
            next_pred: first_pred,
        }
    }

    fn slot(&mut self, field: Option<&str>) -> usize {
        let key = field.map(str::to_string);
        if let Some(&i) = self.slot_index.get(&key) {
            return i;
        }
        self.slots.push(SlotBuilder {
            field: key.clone(),
            ..Default::default()
        });
        self.slot_index.insert(key, self.slots.len() - 1);
        self.slots.len() - 1
    }

    fn pred(&mut self) -> u32 {
        let p = self.next_pred;
        self.next_pred += 1;
        p
    }

    fn add_test(&mut self, slot: usize, test: Test, cased: bool) -> u32 {
        let p = self.pred();
        let s = &mut self.slots[slot];
        match test {
            Test::Literal(text, Anchor::Exact) if text.is_empty() => s.empty.push(p),
            Test::Literal(text, anchor) => {
                let (pats, index, targets, text) = if cased {
                    (&mut s.cs, &mut s.cs_index, &mut s.cs_targets, text)
                } else {
                    (&mut s.ci, &mut s.ci_index, &mut s.ci_targets, lower(&text))
                };
                let id = *index.entry(text.clone()).or_insert_with(|| {
                    pats.push(text);
                    targets.push(Vec::new());
                    pats.len() - 1
                });
                targets[id].push((p, anchor));
            }
            Test::Regex(src) => {
                s.regexes.push(if cased { src } else { format!("(?i){src}") });
                s.regex_preds.push(p);
            }
        }
        p
    }

    fn add_regex(&mut self, slot: usize, field: &str, src: &str, flags: &str) -> Result<u32, RuleErrorKind> {
        let full = if flags.is_empty() {
            src.to_string()
        } else {
            format!("(?{flags}){src}")
        };
        regex::RegexBuilder::new(&full)
            .size_limit(1 << 24)
            .build()
            .map_err(|e| RuleErrorKind::Regex {
                field: field.to_string(),
                message: e.to_string(),
            })?;
        let p = self.pred();
        let s = &mut self.slots[slot];
        s.regexes.push(full);
        s.regex_preds.push(p);
        Ok(p)
    }

    /// Expression for one value of one field test.
    fn value_expr(
        &mut self,
        slot: usize,
        name: &str,
        m: &Mods,
        value: &Scalar,
        placeholders: &HashMap<String, Vec<String>>,
    ) -> Result<Expr, CompileFail> {
        let text = match value {
            Scalar::Null => {
                if m.exists || m.re || m.cidr || m.cmp.is_some() || m.fieldref {
                    return Err(field_err(name, "null is not a valid value for this modifier").into());
                }
                let p = self.pred();
                self.slots[slot].null.push(p);
                return Ok(Expr::Pred(p));
            }
            Scalar::Text(t) => t.clone(),
        };
        if m.exists {
            let want = match text.to_ascii_lowercase().as_str() {
                "true" | "yes" => true,
                "false" | "no" => false,
                _ => return Err(field_err(name, "exists takes true or false").into()),
            };
            let p = self.pred();
            self.slots[slot].exists.push(p);
            return Ok(if want {
                Expr::Pred(p)
            } else {
                Expr::Not(Box::new(Expr::Pred(p)))
            });
        }
        if m.re {
            return Ok(Expr::Pred(self.add_regex(slot, name, &text, &m.re_flags)?));
        }
        if m.cidr {
            let net = parse_cidr(name, &text)?;
            let p = self.pred();
            self.slots[slot].others.push((p, Other::Cidr(vec![net])));
            return Ok(Expr::Pred(p));
        }
        if let Some(op) = m.cmp {
            let n: f64 = text
                .trim()
                .parse()
                .map_err(|_| field_err(name, format!("`{text}` is not a number")))?;
            let p = self.pred();
            self.slots[slot].others.push((p, Other::Cmp(op, n)));
            return Ok(Expr::Pred(p));
        }
        let anchor = m.anchor.unwrap_or(if self.slots[slot].field.is_none() {
            Anchor::Contains
        } else {
            Anchor::Exact
        });
        if m.fieldref {
            let p = self.pred();
            self.slots[slot].others.push((
                p,
                Other::FieldRef {
                    other: text,
                    anchor,
                    cased: m.cased,
                },
            ));
            return Ok(Expr::Pred(p));
        }
        // Value expansion: placeholders.
        let mut texts = vec![text];
        if m.expand {
            let mut out = Vec::new();
            for t in texts {
                out.extend(expand(&t, placeholders).map_err(CompileFail::Unsupported)?);
            }
            texts = out;
        }
        if m.windash {
            texts = texts.iter().flat_map(|t| pattern::windash(t)).collect();
        }
        let encoded = m.base64 || m.base64offset || !m.encodings.is_empty();
        let mut alts = Vec::new();
        for t in texts {
            let toks = pattern::parse_wildcards(&t);
            if encoded {
                if toks.iter().any(|t| !matches!(t, pattern::Tok::Lit(_))) {
                    return Err(field_err(name, "wildcards cannot be combined with base64/utf16 modifiers").into());
                }
                let mut bytes: Vec<u8> = toks
                    .iter()
                    .map(|t| match t {
                        pattern::Tok::Lit(s) => s.as_str(),
                        _ => "",
                    })
                    .collect::<String>()
                    .into_bytes();
                for e in &m.encodings {
                    bytes = pattern::encode(&bytes, *e);
                }
                let strings = if m.base64offset {
                    pattern::base64_offsets(&bytes)
                } else if m.base64 {
                    vec![pattern::base64(&bytes)]
                } else {
                    vec![String::from_utf8_lossy(&bytes).into_owned()]
                };
                for s in strings {
                    let p = self.add_test(slot, Test::Literal(s, anchor), m.cased);
                    alts.push(Expr::Pred(p));
                }
            } else {
                let p = self.add_test(slot, pattern::to_test(toks, anchor), m.cased);
                alts.push(Expr::Pred(p));
            }
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Expr::False)
        } else {
            Expr::Or(alts)
        })
    }

    fn field_cond(
        &mut self,
        fc: &FieldCond,
        placeholders: &HashMap<String, Vec<String>>,
        slots_used: &mut Vec<usize>,
    ) -> Result<Expr, CompileFail> {
        let name = fc.field.clone().unwrap_or_else(|| "(keywords)".to_string());
        let m = decode_mods(&name, &fc.modifiers)?;
        let slot = self.slot(fc.field.as_deref());
        slots_used.push(slot);
        if m.fieldref {
            for v in &fc.values {
                if let Scalar::Text(t) = v {
                    let s = self.slot(Some(t));
                    slots_used.push(s);
                }
            }
        }
        if fc.values.is_empty() {
            // An empty list matches nothing.
            return Ok(Expr::False);
        }
        let mut parts = Vec::with_capacity(fc.values.len());
        for v in &fc.values {
            parts.push(self.value_expr(slot, &name, &m, v, placeholders)?);
        }
        let mut e = if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::False)
        } else if m.all {
            Expr::And(parts)
        } else {
            Expr::Or(parts)
        };
        if m.neq {
            let p = self.pred();
            self.slots[slot].exists.push(p);
            e = Expr::And(vec![Expr::Pred(p), Expr::Not(Box::new(e))]);
        }
        Ok(e)
    }

    /// Compiles one rule's detection; on failure the group is unchanged
    /// except for unused predicate numbers and slots.
    pub(crate) fn add_rule(
        &mut self,
        idx: u32,
        class: u32,
        det: &Detection,
        placeholders: &HashMap<String, Vec<String>>,
    ) -> Result<(), CompileFail> {
        let first_pred = self.next_pred;
        let mut sel_exprs: Vec<(String, Expr)> = Vec::new();
        let mut slots_used = Vec::new();
        for (name, sel) in &det.selections {
            let mut alts = Vec::new();
            for alt in &sel.alternatives {
                let mut ands = Vec::new();
                for fc in alt {
                    ands.push(self.field_cond(fc, placeholders, &mut slots_used)?);
                }
                alts.push(if ands.len() == 1 {
                    ands.pop().unwrap_or(Expr::True)
                } else {
                    Expr::And(ands)
                });
            }
            let e = if alts.len() == 1 {
                alts.pop().unwrap_or(Expr::False)
            } else {
                Expr::Or(alts)
            };
            sel_exprs.push((name.clone(), e));
        }
        let expr = cond_expr(&det.condition, &sel_exprs)?;
        let keywords = slots_used.iter().any(|s| self.slots[*s].field.is_none());
        slots_used.sort_unstable();
        slots_used.dedup();
        self.rules.push(CompiledRule {
            idx,
            class,
            const_true: expr.eval_all_false(),
            preds: first_pred..self.next_pred,
            expr,
            slots: slots_used.into_iter().map(|s| s as u32).collect(),
            keywords,
        });
        Ok(())
    }

    pub(crate) fn next_pred(&self) -> u32 {
        self.next_pred
    }

    /// Finalizes the group; `slot_base` is the global id of its first slot.
    pub(crate) fn finish(self, slot_base: usize) -> Result<(Group, Vec<Slot>), String> {
        let n = self.slots.len();
        let slots = self
            .slots
            .into_iter()
            .map(SlotBuilder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let rules = self
            .rules
            .into_iter()
            .map(|mut r| {
                for s in &mut r.slots {
                    *s += slot_base as u32;
                }
                r
            })
            .collect();
        let rules: Vec<CompiledRule> = rules;
        let const_true = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.const_true)
            .map(|(i, _)| i as u32)
            .collect();
        Ok((
            Group {
                logsource: self.logsource,
                slot_range: slot_base..slot_base + n,
                pred_range: self.first_pred..self.next_pred,
                rules,
                const_true,
            },
            slots,
        ))
    }
}

fn cond_expr(c: &Cond, sels: &[(String, Expr)]) -> Result<Expr, RuleErrorKind> {
    let cerr = |m: String| RuleErrorKind::Condition {
        condition: format!("{c:?}"),
        message: m,
    };
    Ok(match c {
        Cond::Sel(name) => sels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| cerr(format!("unknown selection `{name}`")))?,
        Cond::Not(inner) => Expr::Not(Box::new(cond_expr(inner, sels)?)),
        Cond::And(v) => Expr::And(v.iter().map(|c| cond_expr(c, sels)).collect::<Result<_, _>>()?),
        Cond::Or(v) => Expr::Or(v.iter().map(|c| cond_expr(c, sels)).collect::<Result<_, _>>()?),
        Cond::Of(q, pat) => {
            let matched: Vec<Expr> = sels
                .iter()
                .filter(|(n, _)| {
                    if pat == "them" {
                        !n.starts_with('_')
                    } else {
                        glob(pat, n)
                    }
                })
                .map(|(_, e)| e.clone())
                .collect();
            if matched.is_empty() {
                return Err(cerr(format!("`{pat}` matches no selection")));
            }
            match q {
                Quant::All => Expr::And(matched),
                Quant::AtLeast(1) => Expr::Or(matched),
                Quant::AtLeast(n) => Expr::AtLeast(*n, matched),
            }
        }
    })
}

/// Expands `%name%` placeholders from configured values.
fn expand(text: &str, placeholders: &HashMap<String, Vec<String>>) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else { break };
        let name = &rest[start + 1..start + 1 + len];
        let values = placeholders
            .get(name)
            .ok_or_else(|| format!("placeholder %{name}% has no configured value (expand modifier)"))?;
        let prefix = &rest[..start];
        out = out
            .iter()
            .flat_map(|o| values.iter().map(move |v| format!("{o}{prefix}{v}")))
            .collect();
        rest = &rest[start + 2 + len..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}
