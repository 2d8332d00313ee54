//! Weir's detection engine: Sigma rules (v2) parsed, checked against the
//! fields Weir produces, and compiled into one matcher shared by all rules;
//! Sigma correlation rules evaluated on the event stream with persistent
//! state; inline rule tests from the `weir:` block.
//!
//! ```no_run
//! use weir_rules::{RuleSet, weir_fields};
//! let (rules, report) = RuleSet::load_paths(&["rules".into()]);
//! let mut m = rules.matcher();
//! let mut hits = Vec::new();
//! let event = serde_json::Map::new();
//! m.matches(&weir_fields(&event), &mut hits);
//! ```

mod compile;
mod condition;
pub mod correlation;
mod error;
pub mod exec_predicate;
mod fields;
mod matcher;
mod pattern;
mod rule;
mod weir;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use correlation::{CorrelationHit, Correlator};
pub use error::{Location, RuleError, RuleErrorKind};
pub use exec_predicate::ExecPredicate;
pub use fields::{json_lookup, EventSource, FieldValue, Fields, SourcedJson};
pub use matcher::Matcher;
pub use rule::{
    CorrelationSpec, CorrelationType, Logsource, Mode, RuleMeta, RuleTests, SpikeSpec, Threshold, WeirBlock,
    RESPONSE_ACTIONS,
};
pub use weir::{canonical, category_of_kind, is_weir_event, weir_fields, WeirFields};

use compile::{CompileFail, Group, GroupBuilder, Slot};
use rule::RuleDoc;

/// Index of a rule in `RuleSet::rules()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RuleIdx(pub u32);

/// Options for loading rules.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Values for `%name%` placeholders of the `expand` modifier.
    pub placeholders: HashMap<String, Vec<String>>,
    /// Compile rules even when Weir's events cannot satisfy them (they stay
    /// listed as unsupported): for matching events from other sources,
    /// which name fields as Sigma does.
    pub compile_unsupported: bool,
}

/// What happened while loading rules.
#[derive(Debug, Default, serde::Serialize)]
pub struct LoadReport {
    /// Rules that can fire (detections and correlations).
    pub loaded: usize,
    /// Rules loaded but unable to fire on Weir's events, with the reason.
    pub unsupported: Vec<(PathBuf, String)>,
    /// Files or rules that could not be loaded at all.
    pub errors: Vec<RuleError>,
}

/// A compiled rule set.
pub struct RuleSet {
    metas: Vec<RuleMeta>,
    pub(crate) groups: Vec<Group>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) pred_count: u32,
    /// Predicate -> local index of the rule owning it in its group.
    pub(crate) pred_owner: Vec<u32>,
    /// Distinct rule logsources; rules refer to them by index.
    pub(crate) classes: Vec<Logsource>,
}

/// Every `*.yml`/`*.yaml` file under `path` (walked recursively, in sorted
/// order), or `path` itself when it is not a directory. Directories that
/// cannot be listed are returned with their error, and the walk goes on.
pub fn yaml_files(path: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, std::io::Error)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    walk_yaml_files(path, &mut files, &mut errors);
    (files, errors)
}

fn walk_yaml_files(path: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, std::io::Error)>) {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return;
    }
    let listing = match std::fs::read_dir(path) {
        Ok(listing) => listing,
        Err(e) => {
            errors.push((path.to_path_buf(), e));
            return;
        }
    };
    let mut entries = Vec::new();
    for entry in listing {
        match entry {
            Ok(entry) => entries.push(entry.path()),
            Err(e) => errors.push((path.to_path_buf(), e)),
        }
    }
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk_yaml_files(&e, out, errors);
        } else if matches!(e.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
            out.push(e);
        }
    }
}

impl RuleSet {
    /// Loads every `*.yml`/`*.yaml` under the given files or directories.
    pub fn load_paths(paths: &[PathBuf]) -> (RuleSet, LoadReport) {
        Self::load_paths_with(paths, &LoadOptions::default())
    }

    /// `load_paths` with options.
    pub fn load_paths_with(paths: &[PathBuf], opts: &LoadOptions) -> (RuleSet, LoadReport) {
        let mut errors = Vec::new();
        let mut files = Vec::new();
        for p in paths {
            let (found, unlisted) = yaml_files(p);
            files.extend(found);
            errors.extend(
                unlisted
                    .into_iter()
                    .map(|(dir, e)| RuleError::new(&dir.display().to_string(), RuleErrorKind::Io(e.to_string()))),
            );
        }
        let mut docs = Vec::new();
        for f in files {
            let origin = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => match rule::parse_text(&text, &origin) {
                    Ok(d) => docs.extend(d),
                    Err(e) => errors.push(e),
                },
                Err(e) => errors.push(RuleError::new(&origin, RuleErrorKind::Io(e.to_string()))),
            }
        }
        let (set, mut report) = Self::build(docs, opts);
        errors.append(&mut report.errors);
        report.errors = errors;
        (set, report)
    }

    /// Compiles the rules of one YAML text (one or more documents).
    pub fn from_yaml(text: &str, origin: &str) -> Result<RuleSet, RuleError> {
        let docs = rule::parse_text(text, origin)?;
        let (set, mut report) = Self::build(docs, &LoadOptions::default());
        match report.errors.pop() {
            Some(e) => Err(e),
            None => Ok(set),
        }
    }

    fn build(docs: Vec<RuleDoc>, opts: &LoadOptions) -> (RuleSet, LoadReport) {
        let mut report = LoadReport::default();
        let mut metas: Vec<RuleMeta> = Vec::new();
        let mut buckets: BTreeMap<Option<String>, Vec<RuleDoc>> = BTreeMap::new();
        let mut classes: Vec<Logsource> = Vec::new();
        let mut class_ids: HashMap<Logsource, u32> = HashMap::new();
        for mut doc in docs {
            let Some(det) = &doc.detection else {
                metas.push(doc.meta);
                continue;
            };
            let mut fields = Vec::new();
            let mut keywords = false;
            for (_, sel) in &det.selections {
                for alt in &sel.alternatives {
                    for fc in alt {
                        match &fc.field {
                            Some(f) => fields.push(f.clone()),
                            None => keywords = true,
                        }
                    }
                }
            }
            if let Some(reason) = weir::unsupported_reason(&doc.meta.logsource, &fields, keywords) {
                // Still compile it, so errors in unsupported rules are reported too.
                let mut scratch = GroupBuilder::new(doc.meta.logsource.clone(), 0);
                if let Err(CompileFail::Error(kind)) = scratch.add_rule(0, 0, det, &opts.placeholders) {
                    report.errors.push(locate(&doc, kind));
                    continue;
                }
                doc.meta.unsupported = Some(reason);
                if !opts.compile_unsupported {
                    metas.push(doc.meta);
                    continue;
                }
            }
            let ls = &doc.meta.logsource;
            buckets.entry(ls.product.clone()).or_default().push(doc);
        }
        let mut groups = Vec::new();
        let mut slots = Vec::new();
        let mut next_pred = 0u32;
        for (_, bucket) in buckets {
            let ls = Logsource {
                product: bucket[0].meta.logsource.product.clone(),
                category: None,
                service: None,
            };
            let mut gb = GroupBuilder::new(ls, next_pred);
            let mut in_group = Vec::new();
            for doc in bucket {
                let idx = metas.len() as u32;
                let Some(det) = &doc.detection else { continue };
                let class = *class_ids.entry(doc.meta.logsource.clone()).or_insert_with(|| {
                    classes.push(doc.meta.logsource.clone());
                    classes.len() as u32 - 1
                });
                match gb.add_rule(idx, class, det, &opts.placeholders) {
                    Ok(()) => {
                        in_group.push(idx);
                        metas.push(doc.meta);
                    }
                    Err(CompileFail::Unsupported(reason)) => {
                        let mut meta = doc.meta;
                        // `add_rule` failed, so nothing of this rule is in the group.
                        meta.unsupported = Some(reason);
                        metas.push(meta);
                    }
                    Err(CompileFail::Error(kind)) => report.errors.push(locate(&doc, kind)),
                }
            }
            next_pred = gb.next_pred();
            match gb.finish(slots.len()) {
                Ok((g, s)) => {
                    groups.push(g);
                    slots.extend(s);
                }
                Err(reason) => {
                    for idx in in_group {
                        metas[idx as usize].unsupported = Some(format!("rule group failed to compile: {reason}"));
                    }
                }
            }
        }
        for m in &metas {
            match &m.unsupported {
                Some(reason) => report.unsupported.push((PathBuf::from(&m.origin), reason.clone())),
                None => report.loaded += 1,
            }
        }
        for g in &groups {
            for r in &g.rules {
                for s in &r.slots {
                    let c = &mut slots[*s as usize].classes;
                    if !c.contains(&r.class) {
                        c.push(r.class);
                    }
                }
            }
        }
        let mut pred_owner = vec![u32::MAX; next_pred as usize];
        for g in &groups {
            for (li, r) in g.rules.iter().enumerate() {
                for p in r.preds.clone() {
                    pred_owner[p as usize] = li as u32;
                }
            }
        }
        (
            RuleSet {
                metas,
                groups,
                slots,
                pred_count: next_pred,
                pred_owner,
                classes,
            },
            report,
        )
    }

    /// Every loaded rule (including unsupported ones, which never match).
    pub fn rules(&self) -> &[RuleMeta] {
        &self.metas
    }

    /// A fresh matcher (one per thread).
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher::new(self)
    }

    /// Finds a rule by id or name.
    pub fn find(&self, id_or_name: &str) -> Option<RuleIdx> {
        self.metas
            .iter()
            .position(|m| m.id == id_or_name || m.name.as_deref() == Some(id_or_name))
            .map(|i| RuleIdx(i as u32))
    }

    /// Runs every rule's inline `weir.tests`.
    pub fn run_inline_tests(&self) -> Vec<TestOutcome> {
        let mut m = self.matcher();
        let mut hits = Vec::new();
        let mut out = Vec::new();
        for (i, meta) in self.metas.iter().enumerate() {
            let idx = RuleIdx(i as u32);
            let cases = meta
                .weir
                .tests
                .matches
                .iter()
                .map(|e| (true, e))
                .chain(meta.weir.tests.no_match.iter().map(|e| (false, e)));
            let mut counts = [0usize; 2];
            for (expect, event) in cases {
                let n = &mut counts[usize::from(!expect)];
                let case = *n;
                *n += 1;
                if is_weir_event(event) {
                    m.matches(&weir_fields(event), &mut hits);
                } else {
                    m.matches(event, &mut hits);
                }
                let matched = hits.contains(&idx);
                out.push(TestOutcome {
                    rule: idx,
                    expect_match: expect,
                    case,
                    passed: matched == expect,
                });
            }
        }
        out
    }
}

fn locate(doc: &RuleDoc, kind: RuleErrorKind) -> RuleError {
    let needle = match &kind {
        RuleErrorKind::UnknownModifier { modifier, .. } => format!("|{modifier}"),
        RuleErrorKind::Regex { field, .. } | RuleErrorKind::Field { field, .. } => field.clone(),
        RuleErrorKind::Condition { .. } => "condition".to_string(),
        _ => String::new(),
    };
    RuleError::new(&doc.meta.origin, kind).locate(&doc.text, &needle)
}

/// Result of one inline test case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestOutcome {
    pub rule: RuleIdx,
    /// `true` for a `match` case, `false` for `no_match`.
    pub expect_match: bool,
    /// Position of the case within its list.
    pub case: usize,
    pub passed: bool,
}
