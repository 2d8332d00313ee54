//! `weir rules`: lint rule files, run their inline tests, and match rules
//! against JSON-lines events offline.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use weir_rules::{is_weir_event, weir_fields, LoadOptions, LoadReport, RuleSet};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Load rules and report errors (file:line:column), unsupported rules and counts.
    Lint {
        /// Rule files or directories (searched recursively for *.yml / *.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run the inline tests of every rule (`weir.tests`); nonzero exit on failure.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Match rules against a JSON-lines file of events: RULES... EVENTS.jsonl.
    Match {
        /// Rule files or directories, then the events file last.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    match args.cmd {
        Cmd::Lint { paths, json } => lint(&paths, json),
        Cmd::Test { paths } => test(&paths),
        Cmd::Match { mut paths, json } => {
            let events = paths.pop().context("missing events file")?;
            matches(&paths, &events, json)
        }
    }
}

fn grouped(report: &LoadReport) -> Vec<(String, usize)> {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, reason) in &report.unsupported {
        *by.entry(reason.as_str()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = by.into_iter().map(|(r, n)| (r.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn lint(paths: &[PathBuf], json: bool) -> anyhow::Result<i32> {
    let (set, report) = RuleSet::load_paths(paths);
    let reasons = grouped(&report);
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "rules": set.rules().len(),
            "loaded": report.loaded,
            "unsupported": report.unsupported.iter().map(|(p, r)| serde_json::json!({"file": p, "reason": r})).collect::<Vec<_>>(),
            "unsupported_by_reason": reasons.iter().map(|(r, n)| serde_json::json!({"reason": r, "count": n})).collect::<Vec<_>>(),
            "errors": report.errors.iter().map(|e| serde_json::json!({
                "file": e.location.file, "line": e.location.line, "column": e.location.column,
                "message": e.kind.to_string(),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for e in &report.errors {
            writeln!(out, "error: {e}")?;
        }
        writeln!(
            out,
            "{} rules: {} loaded, {} unsupported, {} errors",
            set.rules().len() + report.errors.len(),
            report.loaded,
            report.unsupported.len(),
            report.errors.len()
        )?;
        for (reason, n) in &reasons {
            writeln!(out, "  unsupported x{n}: {reason}")?;
        }
    }
    Ok(if report.errors.is_empty() { 0 } else { 1 })
}

fn test(paths: &[PathBuf]) -> anyhow::Result<i32> {
    let (set, report) = RuleSet::load_paths(paths);
    for e in &report.errors {
        println!("error: {e}");
    }
    let outcomes = set.run_inline_tests();
    let mut failed = 0;
    for o in &outcomes {
        if !o.passed {
            failed += 1;
            let m = &set.rules()[o.rule.0 as usize];
            let kind = if o.expect_match { "match" } else { "no_match" };
            println!(
                "FAIL {} ({}) {}: weir.tests.{kind}[{}]",
                m.title, m.id, m.origin, o.case
            );
        }
    }
    let with_tests = set
        .rules()
        .iter()
        .filter(|m| !m.weir.tests.matches.is_empty() || !m.weir.tests.no_match.is_empty())
        .count();
    println!(
        "{} rules, {} with tests: {} cases, {} passed, {} failed; {} load errors",
        set.rules().len(),
        with_tests,
        outcomes.len(),
        outcomes.len() - failed,
        failed,
        report.errors.len()
    );
    Ok(if failed == 0 && report.errors.is_empty() { 0 } else { 1 })
}

fn matches(rule_paths: &[PathBuf], events: &PathBuf, json: bool) -> anyhow::Result<i32> {
    // Offline events may come from any source (auditd, evtx, ...): rules that
    // cannot fire on Weir's own events are compiled too.
    let opts = LoadOptions {
        compile_unsupported: true,
        ..Default::default()
    };
    let (set, report) = RuleSet::load_paths_with(rule_paths, &opts);
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    let file = std::fs::File::open(events).with_context(|| format!("opening {}", events.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = std::io::stderr().is_terminal() && total > 8 << 20;
    let reader = std::io::BufReader::new(file);
    let mut m = set.matcher();
    let mut hits = Vec::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut read, mut n_matches, mut bad) = (0u64, 0u64, 0u64);
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", events.display()))?;
        read += line.len() as u64 + 1;
        if progress && index % 50_000 == 0 {
            eprint!(
                "\r{:5.1}% {index} events, {n_matches} matches",
                read as f64 * 100.0 / total.max(1) as f64
            );
        }
        if line.trim().is_empty() {
            continue;
        }
        let event: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(&line) {
            Ok(e) => e,
            Err(e) => {
                bad += 1;
                eprintln!("{}:{}: not a JSON object: {e}", events.display(), index + 1);
                continue;
            }
        };
        if is_weir_event(&event) {
            m.matches(&weir_fields(&event), &mut hits);
        } else {
            m.matches(&event, &mut hits);
        }
        for h in &hits {
            n_matches += 1;
            let r = &set.rules()[h.0 as usize];
            if json {
                let v = serde_json::json!({"event": index, "rule_id": r.id, "title": r.title, "author": r.author, "level": r.level});
                writeln!(out, "{v}")?;
            } else {
                writeln!(out, "{}\t{}\t{}\tevent {index}", r.id, r.title, r.author)?;
            }
        }
    }
    out.flush()?;
    if progress {
        eprintln!();
    }
    eprintln!("{n_matches} matches; {bad} unreadable lines");
    Ok(if bad == 0 { 0 } else { 2 })
}
