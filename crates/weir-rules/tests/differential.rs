//! Differential test against rsigma-eval (an independent Sigma evaluator):
//! the whole SigmaHQ corpus over the regression events and over generated
//! Linux events must give identical match sets, except for the documented
//! disagreements in `fixtures/differential_disagreements.tsv`, each decided
//! from the Sigma specification.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rsigma_eval::{Engine, JsonEvent};
use rsigma_parser::LogSource;
use serde_json::{Map, Value};
use weir_rules::{EventSource, LoadOptions, RuleSet, SourcedJson};

fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/sigma");
    assert!(p.join("rules").is_dir(), "Sigma corpus not found at {}", p.display());
    p
}

fn dirs() -> Vec<PathBuf> {
    ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| corpus().join(d))
        .collect()
}

struct Both {
    weir: RuleSet,
    rsigma: Engine,
    /// Rule ids whose disagreement is documented.
    allowed: BTreeSet<String>,
}

fn load() -> Both {
    let opts = LoadOptions {
        compile_unsupported: true,
        ..Default::default()
    };
    let (weir, report) = RuleSet::load_paths_with(&dirs(), &opts);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut rsigma = Engine::new();
    for d in dirs() {
        let c = rsigma_parser::parse_sigma_directory(&d).expect("rsigma parses the corpus");
        for rule in &c.rules {
            // Rules rsigma cannot compile are reported by the comparison below.
            let _ = rsigma.add_rule(rule);
        }
    }
    let allowed = include_str!("fixtures/differential_disagreements.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    Both { weir, rsigma, allowed }
}

impl Both {
    /// Returns (only weir, only rsigma) rule ids for one event.
    fn compare(&self, flat: &Map<String, Value>, src: EventSource<'_>) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut m = self.weir.matcher();
        let mut hits = Vec::new();
        m.matches(&SourcedJson { map: flat, source: src }, &mut hits);
        let w: BTreeSet<String> = hits
            .iter()
            .map(|h| self.weir.rules()[h.0 as usize].id.clone())
            .collect();
        let ls = LogSource {
            product: src.product.map(str::to_string),
            category: src.category.map(str::to_string),
            service: src.service.map(str::to_string),
            ..Default::default()
        };
        let v = Value::Object(flat.clone());
        let r: BTreeSet<String> = self
            .rsigma
            .evaluate_pruned(&JsonEvent::borrow(&v), &ls)
            .into_iter()
            .filter(|r| r.is_detection())
            .filter_map(|r| r.header.rule_id)
            .collect();
        let only_w = w
            .difference(&r)
            .filter(|id| !self.allowed.contains(*id))
            .cloned()
            .collect();
        let only_r = r
            .difference(&w)
            .filter(|id| !self.allowed.contains(*id))
            .cloned()
            .collect();
        (only_w, only_r)
    }
}

/// Flattens an evtx-style event: Event.System.* , Event.EventData.* and
/// Event.UserData.<element>.* become top-level keys.
fn flatten(ev: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(Value::Object(e)) = ev.get("Event") else {
        return ev.clone();
    };
    for section in ["System", "EventData"] {
        if let Some(Value::Object(s)) = e.get(section) {
            for (k, v) in s {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(Value::Object(u)) = e.get("UserData") {
        for v in u.values() {
            if let Value::Object(inner) = v {
                for (k, v) in inner {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some("json") {
            out.push(p);
        }
    }
}

#[test]
fn regression_events_give_identical_match_sets() {
    let both = load();
    let mut files = Vec::new();
    walk(&corpus().join("regression_data"), &mut files);
    let mut diffs = Vec::new();
    let mut events = 0;
    let mut matches = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for ev in serde_json::Deserializer::from_str(&text).into_iter::<Map<String, Value>>() {
            let flat = flatten(&ev.unwrap());
            let src = EventSource {
                product: Some("windows"),
                category: None,
                service: None,
            };
            let (w, r) = both.compare(&flat, src);
            events += 1;
            let mut m = both.weir.matcher();
            let mut hits = Vec::new();
            m.matches(
                &SourcedJson {
                    map: &flat,
                    source: src,
                },
                &mut hits,
            );
            matches += hits.len();
            if !w.is_empty() || !r.is_empty() {
                diffs.push(format!("{}: only weir {w:?}, only rsigma {r:?}", f.display()));
            }
        }
    }
    println!(
        "regression differential: {events} events, {matches} weir matches, {} differing events",
        diffs.len()
    );
    assert!(
        matches >= 202,
        "too few matches ({matches}) for the comparison to mean anything"
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// String values from the Linux rules' detections, as event fragments.
fn linux_fragments() -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut files = Vec::new();
    fn yml(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                yml(&p, out);
            } else if p.extension().and_then(|x| x.to_str()) == Some("yml") {
                out.push(p);
            }
        }
    }
    for d in dirs() {
        yml(&d, &mut files);
    }
    fn strings(v: &serde_yaml::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_yaml::Value::String(s) => {
                let s = s.replace(['*', '?'], "").replace("\\\\", "\\");
                if !s.is_empty() && s.len() < 80 {
                    out.insert(s);
                }
            }
            serde_yaml::Value::Number(n) => {
                out.insert(n.to_string());
            }
            serde_yaml::Value::Sequence(s) => s.iter().for_each(|v| strings(v, out)),
            serde_yaml::Value::Mapping(m) => m.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let Ok(y) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
            continue;
        };
        if y["logsource"]["product"].as_str() != Some("linux") {
            continue;
        }
        if let Some(d) = y.get("detection") {
            strings(d, &mut out);
        }
    }
    out.remove("condition");
    out.into_iter().collect()
}

const FIELDS: &[&str] = &[
    "Image",
    "CommandLine",
    "ParentImage",
    "ParentCommandLine",
    "User",
    "CurrentDirectory",
    "TargetFilename",
    "DestinationIp",
    "DestinationPort",
    "DestinationHostname",
    "Initiated",
    "LogonId",
];
const CATEGORIES: &[&str] = &["process_creation", "file_event", "network_connection"];

#[test]
fn generated_linux_events_give_identical_match_sets() {
    let both = load();
    let frags = linux_fragments();
    assert!(frags.len() > 500, "{} fragments", frags.len());
    let frag = proptest::sample::select(frags);
    let value = proptest::collection::vec((frag, "[ /._-]{0,2}", any::<bool>()), 1..4).prop_map(|parts| {
        let mut s = String::new();
        for (f, sep, upper) in parts {
            s.push_str(&if upper { f.to_uppercase() } else { f });
            s.push_str(&sep);
        }
        s
    });
    let event = (
        proptest::sample::select(CATEGORIES.to_vec()),
        proptest::collection::btree_map(proptest::sample::select(FIELDS.to_vec()), value, 1..7),
    );
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    });
    let stats: std::cell::RefCell<BTreeMap<&str, usize>> = Default::default();
    let result = runner.run(&event, |(category, fields)| {
        let mut map = Map::new();
        for (k, v) in fields {
            map.insert(k.to_string(), Value::String(v));
        }
        let src = EventSource {
            product: Some("linux"),
            category: Some(category),
            service: None,
        };
        let (w, r) = both.compare(&map, src);
        let mut m = both.weir.matcher();
        let mut hits = Vec::new();
        m.matches(&SourcedJson { map: &map, source: src }, &mut hits);
        *stats
            .borrow_mut()
            .entry(if hits.is_empty() {
                "events without match"
            } else {
                "events with a match"
            })
            .or_default() += 1;
        prop_assert!(
            w.is_empty() && r.is_empty(),
            "event {:?} ({category}): only weir {:?}, only rsigma {:?}",
            map,
            w,
            r
        );
        Ok(())
    });
    println!("generated differential: {:?}", stats.borrow());
    if let Err(e) = result {
        panic!("{e}");
    }
    let with = stats.borrow().get("events with a match").copied().unwrap_or(0);
    assert!(
        with > 300,
        "only {with} generated events matched a rule: the generator is too weak"
    );
}
