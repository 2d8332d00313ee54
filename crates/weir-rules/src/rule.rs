//! Reading one Sigma rule document (YAML) into typed metadata, detection
//! selections, conditions, correlation spec and the `weir:` block. No
//! compilation happens here; see `compile.rs`.

use serde::Serialize;
use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;

use crate::condition::{self, Cond};
use crate::error::{field_err, RuleError, RuleErrorKind};

/// A rule's `logsource`, lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Logsource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

/// What a rule's matches do: only recorded (shadow), raise alerts, also run
/// the rule's `respond` actions, or also kill matching execs in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Shadow,
    Alert,
    Respond,
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Alert => "alert",
            Mode::Respond => "respond",
            Mode::Enforce => "enforce",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "shadow" => Mode::Shadow,
            "alert" => Mode::Alert,
            "respond" => Mode::Respond,
            "enforce" => Mode::Enforce,
            _ => return None,
        })
    }

    /// Whether matches page people (everything but shadow).
    pub fn alerts(self) -> bool {
        self != Mode::Shadow
    }
}

/// Inline rule tests from `weir.tests`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleTests {
    /// Events that must make the rule match.
    pub matches: Vec<Map<String, Json>>,
    /// Events that must not.
    pub no_match: Vec<Map<String, Json>>,
}

/// Host response actions a rule may name in `weir.respond`.
pub const RESPONSE_ACTIONS: &[&str] = &["kill_process", "kill_tree", "isolate_host", "block_destination"];

/// The `weir:` block of a rule.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WeirBlock {
    /// Fields whose values form the suppression (deduplication) key.
    pub suppress: Vec<String>,
    /// Response actions to take on a match (e.g. `kill_process`).
    pub respond: Vec<String>,
    /// Who must confirm the alert (e.g. `actor`).
    pub confirm: Option<String>,
    /// Explicit mode, overriding the status-based default.
    pub mode: Option<Mode>,
    pub tests: RuleTests,
}

/// Kinds of Sigma correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    /// Weir extension: the first time a value (or tuple of `fields`) is seen
    /// in a group, after the learning period.
    NewValue,
    /// Weir extension: a group seen before has been silent for `timespan`.
    Absence,
    /// Sum of the numeric values of `condition.field` in the window.
    ValueSum,
    /// Mean of the numeric values of `condition.field` in the window.
    ValueAvg,
    /// The `condition.percentile`-th percentile of the numeric values of
    /// `condition.field` in the window (linear interpolation).
    ValuePercentile,
    /// Weir extension: a group's match count in the current window exceeds
    /// `factor` times the mean of its previous `baseline` windows.
    Spike,
}

impl CorrelationType {
    /// The numeric aggregations over `condition.field`.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            CorrelationType::ValueSum | CorrelationType::ValueAvg | CorrelationType::ValuePercentile
        )
    }
}

/// Threshold of a correlation (`condition:` of a correlation rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Threshold {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub eq: Option<f64>,
    /// value_count: the field whose distinct values are counted;
    /// value_sum/value_avg/value_percentile: the numeric field aggregated.
    pub field: Option<String>,
    /// value_percentile: which percentile (0 to 100) is compared.
    pub percentile: Option<f64>,
}

impl Threshold {
    pub fn holds(&self, n: f64) -> bool {
        self.gt.is_none_or(|t| n > t)
            && self.gte.is_none_or(|t| n >= t)
            && self.lt.is_none_or(|t| n < t)
            && self.lte.is_none_or(|t| n <= t)
            && self.eq.is_none_or(|t| n == t)
    }
}

/// A parsed correlation rule.
#[derive(Debug, Clone, Serialize)]
pub struct CorrelationSpec {
    pub kind: CorrelationType,
    /// Referenced rules, by id or name.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ns: u64,
    pub threshold: Threshold,
    /// new_value: the fields whose value (tuple) must be new.
    pub fields: Vec<String>,
    /// new_value: time after the first event during which values are only learned.
    pub learning_ns: u64,
    /// spike: parameters (`None` for other types).
    pub spike: Option<SpikeSpec>,
}

/// Parameters of a `spike` correlation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpikeSpec {
    /// The window's count must exceed `factor` times the baseline mean.
    pub factor: f64,
    /// Number of previous windows whose mean count is the baseline.
    pub baseline_windows: u32,
    /// The window's count must also be at least this.
    pub min_count: u64,
}

/// Default `baseline` of a spike correlation, in windows.
pub const SPIKE_DEFAULT_BASELINE: u32 = 12;
/// Default `min_count` of a spike correlation.
pub const SPIKE_DEFAULT_MIN_COUNT: u64 = 10;

/// Metadata of a loaded rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleMeta {
    pub id: String,
    pub name: Option<String>,
    pub title: String,
    pub description: String,
    pub level: String,
    pub status: String,
    pub author: String,
    pub tags: Vec<String>,
    pub logsource: Logsource,
    pub mode: Mode,
    pub weir: WeirBlock,
    /// File (or origin) the rule came from.
    pub origin: String,
    /// Why the rule can never fire on Weir's events, if so.
    pub unsupported: Option<String>,
    pub correlation: Option<CorrelationSpec>,
    /// The rule as an in-kernel exec predicate, when it is that simple
    /// (`enforce` mode needs it); else why not.
    pub exec_predicate: Result<crate::exec_predicate::ExecPredicate, String>,
}

/// One field test of a selection: `Field|mod|mod: values`.
#[derive(Debug, Clone)]
pub(crate) struct FieldCond {
    /// `None` for keyword (full-text) selections.
    pub field: Option<String>,
    pub modifiers: Vec<String>,
    pub values: Vec<Scalar>,
}

/// A scalar rule value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Text(String),
}

/// A named selection: OR over alternatives, each an AND of field tests.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub alternatives: Vec<Vec<FieldCond>>,
}

/// Parsed detection section.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    pub selections: Vec<(String, Selection)>,
    pub condition: Cond,
}

/// A rule document: metadata plus detection (absent for correlations).
#[derive(Debug, Clone)]
pub(crate) struct RuleDoc {
    pub meta: RuleMeta,
    pub detection: Option<Detection>,
    /// The file text, for locating compile errors.
    pub text: std::sync::Arc<str>,
}

fn s(v: Option<&Yaml>) -> Option<String> {
    match v? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn str_list(v: Option<&Yaml>, field: &str) -> Result<Vec<String>, RuleErrorKind> {
    match v {
        None | Some(Yaml::Null) => Ok(vec![]),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(|i| s(Some(i)).ok_or_else(|| field_err(field, "expected a list of strings")))
            .collect(),
        Some(other) => s(Some(other))
            .map(|x| vec![x])
            .ok_or_else(|| field_err(field, "expected a string or a list")),
    }
}

pub(crate) fn scalar(v: &Yaml, field: &str) -> Result<Scalar, RuleErrorKind> {
    Ok(match v {
        Yaml::Null => Scalar::Null,
        Yaml::String(s) => Scalar::Text(s.clone()),
        Yaml::Number(n) => Scalar::Text(n.to_string()),
        Yaml::Bool(b) => Scalar::Text(b.to_string()),
        Yaml::Tagged(t) => return scalar(&t.value, field),
        _ => return Err(field_err(field, "expected a string, number, boolean or null value")),
    })
}

fn key_str(k: &Yaml) -> Option<String> {
    s(Some(k))
}

fn field_cond(key: &str, v: &Yaml) -> Result<FieldCond, RuleErrorKind> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default().to_string();
    let modifiers: Vec<String> = parts.map(str::to_string).collect();
    let values = match v {
        Yaml::Sequence(items) => items.iter().map(|i| scalar(i, key)).collect::<Result<Vec<_>, _>>()?,
        other => vec![scalar(other, key)?],
    };
    Ok(FieldCond {
        field: if field.is_empty() { None } else { Some(field) },
        modifiers,
        values,
    })
}

fn selection(name: &str, v: &Yaml) -> Result<Selection, RuleErrorKind> {
    let map_alt = |m: &serde_yaml::Mapping| -> Result<Vec<FieldCond>, RuleErrorKind> {
        m.iter()
            .map(|(k, v)| {
                let key = key_str(k).ok_or_else(|| field_err(name, "selection keys must be strings"))?;
                field_cond(&key, v)
            })
            .collect()
    };
    match v {
        Yaml::Mapping(m) => Ok(Selection {
            alternatives: vec![map_alt(m)?],
        }),
        Yaml::Sequence(items) if items.iter().all(|i| matches!(i, Yaml::Mapping(_))) && !items.is_empty() => {
            let mut alternatives = Vec::new();
            for i in items {
                if let Yaml::Mapping(m) = i {
                    alternatives.push(map_alt(m)?);
                }
            }
            Ok(Selection { alternatives })
        }
        Yaml::Sequence(items) => {
            let values = items.iter().map(|i| scalar(i, name)).collect::<Result<Vec<_>, _>>()?;
            Ok(Selection {
                alternatives: vec![vec![FieldCond {
                    field: None,
                    modifiers: vec![],
                    values,
                }]],
            })
        }
        Yaml::String(_) | Yaml::Number(_) => Ok(Selection {
            alternatives: vec![vec![FieldCond {
                field: None,
                modifiers: vec![],
                values: vec![scalar(v, name)?],
            }]],
        }),
        _ => Err(field_err(
            name,
            "a selection must be a map, a list of maps or a list of keywords",
        )),
    }
}

fn detection(v: &Yaml) -> Result<Detection, RuleErrorKind> {
    let m = v.as_mapping().ok_or_else(|| field_err("detection", "expected a map"))?;
    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    for (k, v) in m {
        let key = key_str(k).ok_or_else(|| field_err("detection", "keys must be strings"))?;
        if key == "condition" {
            let list = match v {
                Yaml::Sequence(items) => items.iter().filter_map(|i| s(Some(i))).collect(),
                other => s(Some(other)).into_iter().collect::<Vec<_>>(),
            };
            if list.is_empty() {
                return Err(field_err("detection.condition", "expected a condition string"));
            }
            for c in list {
                let parsed = condition::parse(&c).map_err(|message| RuleErrorKind::Condition {
                    condition: c.clone(),
                    message,
                })?;
                conditions.push(parsed);
            }
        } else if key == "timeframe" {
            // Sigma v1 aggregation timeframe; meaningless without an aggregation.
        } else {
            selections.push((key.clone(), selection(&key, v)?));
        }
    }
    if conditions.is_empty() {
        return Err(field_err("detection.condition", "missing"));
    }
    let condition = if conditions.len() == 1 {
        conditions.remove(0)
    } else {
        Cond::Or(conditions)
    };
    Ok(Detection { selections, condition })
}

/// Parses a duration like `30s`, `5m`, `1h`, `2d`.
pub(crate) fn duration_ns(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return None,
    };
    n.checked_mul(mult)?.checked_mul(1_000_000_000)
}

fn correlation(v: &Yaml) -> Result<CorrelationSpec, RuleErrorKind> {
    let m = v
        .as_mapping()
        .ok_or_else(|| field_err("correlation", "expected a map"))?;
    let get = |k: &str| m.get(Yaml::String(k.into()));
    let kind: CorrelationType = serde_yaml::from_value(get("type").cloned().unwrap_or(Yaml::Null))
        .map_err(|e| field_err("correlation.type", e.to_string()))?;
    let rules = str_list(get("rules"), "correlation.rules")?;
    if rules.is_empty() {
        return Err(field_err("correlation.rules", "at least one rule is required"));
    }
    let group_by = str_list(get("group-by"), "correlation.group-by")?;
    let parse_duration = |key: &str, required: bool| -> Result<u64, RuleErrorKind> {
        let field = format!("correlation.{key}");
        match s(get(key)) {
            Some(ts) => duration_ns(&ts)
                .ok_or_else(|| field_err(&field, format!("`{ts}` is not a duration like 30s, 5m, 1h, 2d"))),
            None if required => Err(field_err(&field, "missing")),
            None => Ok(0),
        }
    };
    let timespan_ns = parse_duration("timespan", kind != CorrelationType::NewValue)?;
    let learning_ns = parse_duration("learning", false)?;
    let fields = str_list(get("fields"), "correlation.fields")?;
    if kind == CorrelationType::NewValue && fields.is_empty() {
        return Err(field_err(
            "correlation.fields",
            "new_value needs the fields whose value must be new",
        ));
    }
    let threshold: Threshold = match get("condition") {
        None | Some(Yaml::Null) => match kind {
            CorrelationType::Temporal
            | CorrelationType::TemporalOrdered
            | CorrelationType::NewValue
            | CorrelationType::Absence
            | CorrelationType::Spike => Threshold::default(),
            _ => return Err(field_err("correlation.condition", "missing")),
        },
        Some(c) => serde_yaml::from_value(c.clone()).map_err(|e| field_err("correlation.condition", e.to_string()))?,
    };
    if kind == CorrelationType::ValueCount && threshold.field.is_none() {
        return Err(field_err(
            "correlation.condition.field",
            "value_count needs the field to count",
        ));
    }
    if kind.is_numeric() && threshold.field.is_none() {
        return Err(field_err(
            "correlation.condition.field",
            "value_sum, value_avg and value_percentile need the numeric field to aggregate",
        ));
    }
    if kind == CorrelationType::ValuePercentile {
        match threshold.percentile {
            Some(p) if (0.0..=100.0).contains(&p) => {}
            Some(p) => {
                return Err(field_err(
                    "correlation.condition.percentile",
                    format!("{p} is not a percentile between 0 and 100"),
                ))
            }
            None => {
                return Err(field_err(
                    "correlation.condition.percentile",
                    "value_percentile needs the percentile (0 to 100) to compare",
                ))
            }
        }
    }
    if kind.is_numeric() && !threshold_has_comparison(&threshold) {
        return Err(field_err(
            "correlation.condition",
            "needs a comparison (gt, gte, lt, lte or eq)",
        ));
    }
    let spike = if kind == CorrelationType::Spike {
        let num = |key: &str| -> Result<Option<f64>, RuleErrorKind> {
            match get(key) {
                None | Some(Yaml::Null) => Ok(None),
                Some(Yaml::Number(n)) => n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .map(Some)
                    .ok_or_else(|| field_err(&format!("correlation.{key}"), "expected a number")),
                Some(_) => Err(field_err(&format!("correlation.{key}"), "expected a number")),
            }
        };
        let factor = num("factor")?.ok_or_else(|| field_err("correlation.factor", "spike needs the factor"))?;
        if factor <= 0.0 {
            return Err(field_err("correlation.factor", "must be greater than 0"));
        }
        if timespan_ns == 0 {
            return Err(field_err("correlation.timespan", "spike needs a window longer than 0"));
        }
        let whole = |key: &str, default: u64, min: u64| -> Result<u64, RuleErrorKind> {
            match num(key)? {
                None => Ok(default),
                Some(f) if f.fract() == 0.0 && f >= min as f64 && f <= u32::MAX as f64 => Ok(f as u64),
                Some(_) => Err(field_err(
                    &format!("correlation.{key}"),
                    format!("expected a whole number of at least {min}"),
                )),
            }
        };
        Some(SpikeSpec {
            factor,
            baseline_windows: whole("baseline", SPIKE_DEFAULT_BASELINE as u64, 1)? as u32,
            min_count: whole("min_count", SPIKE_DEFAULT_MIN_COUNT, 1)?,
        })
    } else {
        None
    };
    Ok(CorrelationSpec {
        kind,
        rules,
        group_by,
        timespan_ns,
        threshold,
        fields,
        learning_ns,
        spike,
    })
}

fn threshold_has_comparison(t: &Threshold) -> bool {
    t.gt.is_some() || t.gte.is_some() || t.lt.is_some() || t.lte.is_some() || t.eq.is_some()
}

fn events(v: Option<&Yaml>, field: &str) -> Result<Vec<Map<String, Json>>, RuleErrorKind> {
    let Some(v) = v else { return Ok(vec![]) };
    let list: Vec<Json> = serde_yaml::from_value(v.clone()).map_err(|e| field_err(field, e.to_string()))?;
    list.into_iter()
        .map(|e| match e {
            Json::Object(m) => Ok(m),
            _ => Err(field_err(field, "each test event must be a map")),
        })
        .collect()
}

fn weir_block(v: Option<&Yaml>) -> Result<WeirBlock, RuleErrorKind> {
    let Some(v) = v else { return Ok(WeirBlock::default()) };
    let m = v.as_mapping().ok_or_else(|| field_err("weir", "expected a map"))?;
    let get = |k: &str| m.get(Yaml::String(k.into()));
    for (k, _) in m {
        let k = key_str(k).unwrap_or_default();
        if !matches!(k.as_str(), "suppress" | "respond" | "confirm" | "mode" | "tests") {
            return Err(field_err(
                &format!("weir.{k}"),
                "unknown key (expected suppress, respond, confirm, mode, tests)",
            ));
        }
    }
    let mode = match get("mode") {
        None => None,
        Some(v) => Some(serde_yaml::from_value(v.clone()).map_err(|e| field_err("weir.mode", e.to_string()))?),
    };
    let tests = match get("tests") {
        None => RuleTests::default(),
        Some(t) => {
            let tm = t
                .as_mapping()
                .ok_or_else(|| field_err("weir.tests", "expected a map with match/no_match"))?;
            RuleTests {
                matches: events(tm.get(Yaml::String("match".into())), "weir.tests.match")?,
                no_match: events(tm.get(Yaml::String("no_match".into())), "weir.tests.no_match")?,
            }
        }
    };
    let respond = str_list(get("respond"), "weir.respond")?;
    for action in &respond {
        if !RESPONSE_ACTIONS.contains(&action.as_str()) && !action.starts_with("command:") {
            return Err(field_err(
                "weir.respond",
                format!(
                    "unknown action {action:?} (expected {}, or command:NAME for a configured collector command)",
                    RESPONSE_ACTIONS.join(", ")
                ),
            ));
        }
    }
    Ok(WeirBlock {
        suppress: str_list(get("suppress"), "weir.suppress")?,
        respond,
        confirm: s(get("confirm")),
        mode,
        tests,
    })
}

/// Parses one YAML document into a rule.
pub(crate) fn parse_doc(doc: &Yaml, origin: &str, text: &str) -> Result<RuleDoc, RuleError> {
    let at = |kind: RuleErrorKind| {
        let needle = match &kind {
            RuleErrorKind::Field { field, .. } => field.rsplit('.').next().unwrap_or(field).to_string(),
            RuleErrorKind::UnknownModifier { modifier, .. } => modifier.clone(),
            RuleErrorKind::Regex { field, .. } => field.clone(),
            RuleErrorKind::Condition { condition, .. } => condition.clone(),
            _ => String::new(),
        };
        RuleError::new(origin, kind).locate(text, &needle)
    };
    let m = doc
        .as_mapping()
        .ok_or_else(|| at(field_err("(document)", "a rule must be a YAML map")))?;
    let get = |k: &str| m.get(Yaml::String(k.into()));
    let title = s(get("title")).ok_or_else(|| at(field_err("title", "missing")))?;
    let status = s(get("status")).unwrap_or_default();
    let weir = weir_block(get("weir")).map_err(at)?;
    let mode = weir.mode.unwrap_or(if status == "experimental" {
        Mode::Shadow
    } else {
        Mode::Alert
    });
    let logsource = match get("logsource") {
        Some(Yaml::Mapping(ls)) => {
            let g = |k: &str| s(ls.get(Yaml::String(k.into()))).map(|v| v.to_ascii_lowercase());
            Logsource {
                product: g("product"),
                category: g("category"),
                service: g("service"),
            }
        }
        None => Logsource::default(),
        Some(_) => return Err(at(field_err("logsource", "expected a map"))),
    };
    let author = match get("author") {
        Some(Yaml::Sequence(_)) => str_list(get("author"), "author").map_err(at)?.join(", "),
        other => s(other).unwrap_or_default(),
    };
    let correlation = match get("correlation") {
        Some(c) => Some(correlation(c).map_err(at)?),
        None => None,
    };
    let detection = match (get("detection"), &correlation) {
        (Some(d), _) => Some(detection(d).map_err(at)?),
        (None, Some(_)) => None,
        (None, None) => return Err(at(field_err("detection", "missing"))),
    };
    let exec_predicate = match &detection {
        Some(d) => crate::exec_predicate::derive(&logsource, d),
        None => Err("a correlation rule is not a single exec".to_string()),
    };
    let meta = RuleMeta {
        id: s(get("id")).unwrap_or_default(),
        name: s(get("name")),
        title,
        description: s(get("description")).unwrap_or_default(),
        level: s(get("level")).unwrap_or_default(),
        status,
        author,
        tags: str_list(get("tags"), "tags").map_err(at)?,
        logsource,
        mode,
        weir,
        origin: origin.to_string(),
        unsupported: None,
        correlation,
        exec_predicate,
    };
    Ok(RuleDoc {
        meta,
        detection,
        text: std::sync::Arc::from(""),
    })
}

/// Parses every YAML document of a file.
pub(crate) fn parse_text(text: &str, origin: &str) -> Result<Vec<RuleDoc>, RuleError> {
    let mut out = Vec::new();
    let shared: std::sync::Arc<str> = std::sync::Arc::from(text);
    for de in serde_yaml::Deserializer::from_str(text) {
        let doc = match Yaml::deserialize(de) {
            Ok(d) => d,
            Err(e) => {
                let mut err = RuleError::new(origin, RuleErrorKind::Yaml(e.to_string()));
                if let Some(loc) = e.location() {
                    err.location.line = loc.line();
                    err.location.column = loc.column();
                }
                return Err(err);
            }
        };
        if matches!(doc, Yaml::Null) {
            continue;
        }
        let mut d = parse_doc(&doc, origin, text)?;
        d.text = shared.clone();
        out.push(d);
    }
    if out.is_empty() {
        return Err(RuleError::new(origin, field_err("(document)", "no rule in file")));
    }
    Ok(out)
}

use serde::Deserialize;
