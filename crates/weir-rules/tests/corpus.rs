//! The SigmaHQ corpus: every rule under the three rule folders loads (or is
//! a documented gap), and every regression event fires its named rule.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use weir_rules::RuleSet;

fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/sigma");
    assert!(
        p.join("rules").is_dir(),
        "Sigma corpus not found at {}: these tests need the SigmaHQ corpus checked out there",
        p.display()
    );
    p
}

fn rule_dirs() -> Vec<PathBuf> {
    let c = corpus();
    ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| c.join(d))
        .collect()
}

/// Documented gaps: `file-name-suffix<TAB>reason` lines.
fn gaps() -> Vec<(String, String)> {
    let text = include_str!("fixtures/corpus_gaps.tsv");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect()
}

#[test]
fn every_corpus_rule_loads_or_is_a_documented_gap() {
    let (set, report) = RuleSet::load_paths(&rule_dirs());
    let linux = set
        .rules()
        .iter()
        .filter(|r| r.logsource.product.as_deref() == Some("linux"))
        .count();
    let linux_ok = set
        .rules()
        .iter()
        .filter(|r| r.logsource.product.as_deref() == Some("linux") && r.unsupported.is_none())
        .count();
    println!(
        "corpus: {} rules, {} loaded, {} unsupported on Weir events, {} errors; linux: {} ({} runnable on Weir events)",
        set.rules().len(),
        report.loaded,
        report.unsupported.len(),
        report.errors.len(),
        linux,
        linux_ok
    );
    let gaps = gaps();
    let mut undocumented = Vec::new();
    for e in &report.errors {
        if !gaps.iter().any(|(f, _)| e.location.file.ends_with(f.as_str())) {
            undocumented.push(e.to_string());
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented load errors:\n{}",
        undocumented.join("\n")
    );
    // Unsupported rules must all be Linux rules (others load and are routed away).
    for (path, reason) in &report.unsupported {
        let m = set.rules().iter().find(|m| Path::new(&m.origin) == path).expect("meta");
        assert!(
            m.logsource.product.as_deref() == Some("linux") || reason.contains("placeholder"),
            "{}: unexpectedly unsupported: {reason}",
            path.display()
        );
    }
    assert!(report.loaded > 3000, "too few rules loaded: {}", report.loaded);
}

#[test]
fn every_regression_event_fires_its_rule() {
    let (set, _) = RuleSet::load_paths(&rule_dirs());
    let mut m = set.matcher();
    let mut hits = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut infos = Vec::new();
    walk(&corpus().join("regression_data"), &mut infos);
    let expected_misses: BTreeSet<String> = include_str!("fixtures/regression_misses.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    for info in infos {
        let text = std::fs::read_to_string(&info).unwrap();
        let y: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let id = y["rule_metadata"][0]["id"].as_str().unwrap().to_string();
        let Some(idx) = set.find(&id) else {
            failures.push(format!("{}: rule {id} not loaded", info.display()));
            continue;
        };
        for entry in std::fs::read_dir(info.parent().unwrap()).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            // A file holds one event or several concatenated; the rule must
            // fire on at least one of them.
            let text = std::fs::read_to_string(&p).unwrap();
            let mut fired = false;
            for ev in
                serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Map<String, serde_json::Value>>()
            {
                m.matches(&ev.unwrap(), &mut hits);
                fired |= hits.contains(&idx);
            }
            checked += 1;
            if !fired && !expected_misses.contains(&id) {
                failures.push(format!("{}: rule {id} did not fire", p.display()));
            }
            if fired && expected_misses.contains(&id) {
                failures.push(format!(
                    "{}: rule {id} fires; remove it from regression_misses.tsv",
                    p.display()
                ));
            }
        }
    }
    println!(
        "regression events checked: {checked}; documented misses: {}",
        expected_misses.len()
    );
    assert!(checked >= 200, "only {checked} regression events found");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.file_name().and_then(|n| n.to_str()) == Some("info.yml") {
            out.push(p);
        }
    }
}
