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
    /// Run rules over the events stored in a data directory: what would they have raised?
    Backtest {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Data directory [default: $WEIR_DATA or ./weir-data].
        #[arg(long)]
        data: Option<PathBuf>,
        /// How far back: 30s, 10m, 2h, 7d or an RFC 3339 time.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a staged (shadow) rule raise alerts (or respond, or enforce in the
    /// kernel); prints what it matched and would have done while staged first.
    Promote {
        rule_id: String,
        /// Who promotes it.
        #[arg(long)]
        by: String,
        /// alert, respond (also run its `respond` actions) or enforce (also
        /// kill matching execs in the kernel).
        #[arg(long, default_value = "alert", value_parser = ["alert", "respond", "enforce"])]
        to: String,
        #[arg(long, default_value = "")]
        note: String,
        /// Data directory [default: $WEIR_DATA or ./weir-data].
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Put a rule back in shadow mode (its matches are counted, not raised).
    Demote {
        rule_id: String,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
        /// Data directory [default: $WEIR_DATA or ./weir-data].
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Per-rule alert statistics, live and shadow (staged) rules, before promoting one.
    Stats {
        /// Data directory [default: $WEIR_DATA or ./weir-data].
        #[arg(long)]
        data: Option<PathBuf>,
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
        Cmd::Backtest {
            paths,
            data,
            since,
            json,
        } => backtest(&paths, super::data_dir(data), &since, json),
        Cmd::Stats { data, json } => stats(super::data_dir(data), json),
        Cmd::Promote {
            rule_id,
            by,
            to,
            note,
            data,
        } => {
            let mode = weir_detect::RuleMode::parse(&to).expect("clap checked the value");
            set_mode(super::data_dir(data), &rule_id, mode, &by, &note)
        }
        Cmd::Demote {
            rule_id,
            by,
            note,
            data,
        } => set_mode(
            super::data_dir(data),
            &rule_id,
            weir_detect::RuleMode::Shadow,
            &by,
            &note,
        ),
    }
}

fn backtest(paths: &[PathBuf], data: PathBuf, since: &str, json: bool) -> anyhow::Result<i32> {
    let (set, report) = RuleSet::load_paths(paths);
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    anyhow::ensure!(!set.rules().is_empty(), "no rule loaded from {paths:?}");
    let now = super::now_ns();
    let since_ns = weir_store::index::since::parse_since(since, now).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let index_path = weir_store::layout::index_path(&data);
    anyhow::ensure!(index_path.exists(), "no event index at {}", index_path.display());
    let index = weir_store::index::EventIndex::open_read_only(&index_path)?;
    let total = index.count()?;
    let progress = std::io::stderr().is_terminal();
    let mut bt = weir_detect::Backtest::new(&set);
    index.scan_since(since_ns, |event| {
        bt.observe(event);
        if progress && bt.events() % 20_000 == 0 {
            eprint!("\r{} of at most {total} events", bt.events());
        }
    })?;
    if progress {
        eprintln!();
    }
    let events = bt.events();
    let results = bt.finish();
    if json {
        for r in &results {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        for r in &results {
            println!(
                "{:>7} matches  {:>3} hosts  {:>3} users  {:<8} {} ({})",
                r.matches,
                r.hosts.len(),
                r.actors.len(),
                r.level,
                r.title,
                r.rule_id
            );
            for example in &r.examples {
                println!("          e.g. {example}");
            }
        }
    }
    eprintln!(
        "{} rules over {events} events since {since}: {} would have matched",
        set.rules().len(),
        results.len()
    );
    Ok(0)
}

fn set_mode(data: PathBuf, rule_id: &str, mode: weir_detect::RuleMode, by: &str, note: &str) -> anyhow::Result<i32> {
    let path = super::detection::alerts_path(&data);
    anyhow::ensure!(path.exists(), "no alert store at {}", path.display());
    let mut store = weir_detect::AlertStore::open(&path)?;
    let shadow: Vec<_> = store
        .rule_stats()?
        .into_iter()
        .filter(|s| s.rule_id == rule_id && s.mode == weir_detect::Mode::Shadow)
        .collect();
    match (mode.alerts(), shadow.first()) {
        (true, Some(s)) => println!(
            "while staged: {} would-be alerts from {} matches on {} hosts and {} users; {} would-be actions",
            s.alerts, s.matches, s.hosts, s.actors, s.actions
        ),
        (true, None) => println!("while staged: no would-be alerts recorded"),
        _ => {}
    }
    let now = super::now_ns();
    store.set_rule_mode(rule_id, mode, by, note, now)?;
    let word = match mode {
        weir_detect::RuleMode::Alert => "promoted: its matches now raise alerts",
        weir_detect::RuleMode::Respond => "promoted: its matches now raise alerts and run its response actions",
        weir_detect::RuleMode::Enforce => {
            "promoted: matching execs are now killed in the kernel, and its matches raise alerts and respond"
        }
        weir_detect::RuleMode::Shadow => "demoted to shadow mode",
    };
    println!("rule {rule_id} {word} (a running collector picks this up within seconds)");
    Ok(0)
}

fn stats(data: PathBuf, json: bool) -> anyhow::Result<i32> {
    let path = super::detection::alerts_path(&data);
    anyhow::ensure!(path.exists(), "no alert store at {}", path.display());
    let stats = weir_detect::AlertStore::open(&path)?.rule_stats()?;
    if json {
        for s in &stats {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(0);
    }
    println!(
        "{:<7} {:>7} {:>8} {:>6} {:>6} {:>9} {:>7} {:>9}  RULE",
        "MODE", "ALERTS", "MATCHES", "HOSTS", "USERS", "FP RATE", "ACTIONS", "CONFIRMED"
    );
    for s in &stats {
        let mode = match s.mode {
            weir_detect::Mode::Alert => "alert",
            weir_detect::Mode::Shadow => "shadow",
        };
        let resolved = s.true_positives + s.false_positives + s.benign;
        let fp_rate = if resolved == 0 {
            "-".to_string()
        } else {
            format!(
                "{:.0}% of {resolved}",
                100.0 * s.false_positives as f64 / resolved as f64
            )
        };
        let confirmed = if s.asked == 0 {
            "-".to_string()
        } else {
            format!("{}/{}", s.confirmed, s.asked)
        };
        println!(
            "{mode:<7} {:>7} {:>8} {:>6} {:>6} {fp_rate:>9} {:>7} {confirmed:>9}  {} ({})",
            s.alerts, s.matches, s.hosts, s.actors, s.actions, s.rule_title, s.rule_id
        );
    }
    Ok(0)
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
