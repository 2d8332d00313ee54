//! `weir metrics`: the fleet's risk metrics (oldest Internet-exposed vulnerability, reverse uptime) and
//! one host's full exposure chains, read from the data directory while the collector runs.

use std::path::PathBuf;

use weir_risk::{breaches, prometheus_text, FleetRisk, HostRisk, MetricSummary, RiskConfig, RiskStore, VulnStore};
use weir_vuln::VulnDb;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Data directory [default: $WEIR_DATA or ./weir-data].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Risk config (YAML) [default: DATA/risk.yaml when present, else built-in defaults].
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Also store today's point of the daily series.
    #[arg(long)]
    record: bool,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// One host (id or name): every listener -> process -> library -> package -> advisory chain, and the
    /// reverse-uptime signals and flags.
    Host {
        host: String,
        /// Show every chain (default: the 40 oldest).
        #[arg(long)]
        all: bool,
    },
    /// The daily series.
    Series {
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// The risk gauges in Prometheus text format.
    Prometheus,
}

fn day(ns: u64) -> String {
    weir_event::ecs::rfc3339_nanos(ns).chars().take(10).collect()
}

/// The vulnerability database, or an empty one with a warning when none was imported.
fn load_db(data: &std::path::Path, cfg: &RiskConfig) -> anyhow::Result<VulnDb> {
    let path = data.join(weir_risk::vulndb::VULNDB_FILE);
    if !path.is_file() {
        eprintln!(
            "warning: {}: no vulnerability database; exposure is not computed (run `weir vulndb import PATH...`)",
            path.display()
        );
        return Ok(VulnDb::new(cfg.policy));
    }
    let (db, report) = VulnStore::open(&path)?.load(cfg.policy)?;
    for f in &report.failures {
        eprintln!("warning: stored advisory does not load: {f}");
    }
    Ok(db)
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let data = super::data_dir(args.data);
    let (cfg, _) = RiskConfig::find(args.config.as_deref(), &data)?;
    let risk_path = data.join(weir_risk::store::RISK_DB_FILE);
    if !risk_path.is_file() {
        anyhow::bail!(
            "{}: no risk data yet (the collector stores host inventories there as sensors send them)",
            risk_path.display()
        );
    }
    let store = RiskStore::open(&risk_path)?;
    let now = super::now_ns();
    match args.cmd {
        None => {
            let db = load_db(&data, &cfg)?;
            let fleet = store.fleet(&db, &cfg, now)?;
            if args.record {
                store.record_daily(&fleet)?;
            }
            if args.json {
                let out = serde_json::json!({ "fleet": fleet, "breaches": breaches(&fleet, &cfg) });
                println!("{}", serde_json::to_string(&out)?);
            } else {
                print_fleet(&fleet, &cfg);
            }
        }
        Some(Cmd::Host { host, all }) => {
            let db = load_db(&data, &cfg)?;
            let id = store.resolve_host(&host)?;
            let Some(risk) = store.host_risk(&id, &db, &cfg, now)? else {
                anyhow::bail!("host {host} ({id}) is known but has sent no inventory yet");
            };
            if args.json {
                println!("{}", serde_json::to_string(&risk)?);
            } else {
                print_host(&risk, all);
            }
        }
        Some(Cmd::Series { days }) => {
            let series = store.series(days, now)?;
            if args.json {
                println!("{}", serde_json::to_string(&series)?);
            } else {
                println!(
                    "{:<10} {:>5} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7} {:>7}",
                    "day", "hosts", "vuln max", "vuln p95", "in SLO", "up max", "up p95", "in SLO", "review"
                );
                for p in series {
                    println!(
                        "{:<10} {:>5} {:>9} {:>9} {:>6.0}% {:>9} {:>9} {:>6.0}% {:>7}",
                        p.day,
                        p.hosts,
                        p.oldest_exposed_vuln_max,
                        p.oldest_exposed_vuln_p95,
                        p.oldest_exposed_vuln_share_within_slo * 100.0,
                        p.reverse_uptime_max,
                        p.reverse_uptime_p95,
                        p.reverse_uptime_share_within_slo * 100.0,
                        p.hosts_flagged_for_review
                    );
                }
            }
        }
        Some(Cmd::Prometheus) => {
            let db = load_db(&data, &cfg)?;
            print!("{}", prometheus_text(&store.fleet(&db, &cfg, now)?));
        }
    }
    Ok(0)
}

fn headline(name: &str, m: &MetricSummary, hosts: usize) {
    println!(
        "{name:<30} max {:>5} d   p95 {:>5} d   {}/{} hosts within {} d ({:.0}%)",
        m.max,
        m.p95,
        m.within_slo,
        hosts,
        m.slo_days,
        m.share_within_slo * 100.0
    );
}

fn print_fleet(f: &FleetRisk, cfg: &RiskConfig) {
    headline("Oldest exposed vulnerability", &f.oldest_exposed_vuln, f.hosts);
    headline("Reverse uptime", &f.reverse_uptime, f.hosts);
    println!(
        "Hosts: {} with inventory, {} without, {} stale (> 1 day), {} flagged for review",
        f.hosts, f.hosts_without_inventory, f.stale_inventories, f.hosts_flagged_for_review
    );
    println!();
    println!(
        "{:<30} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "histogram (hosts)", "none", "<7", "7-30", "30-90", ">90"
    );
    for (name, m) in [
        ("oldest exposed vulnerability", &f.oldest_exposed_vuln),
        ("reverse uptime", &f.reverse_uptime),
    ] {
        let h = &m.histogram;
        println!(
            "{name:<30} {:>6} {:>6} {:>6} {:>6} {:>6}",
            h.none, h.under_7, h.from_7_to_30, h.from_30_to_90, h.over_90
        );
    }
    for (name, m) in [
        ("oldest exposed vulnerability", &f.oldest_exposed_vuln),
        ("reverse uptime", &f.reverse_uptime),
    ] {
        println!();
        println!("Worst hosts: {name}");
        for w in &m.worst {
            println!("  {:<24} {:>5} d  {}", w.host_name, w.days, w.detail);
        }
    }
    let b = breaches(f, cfg);
    if !b.is_empty() {
        println!();
        println!("Thresholds crossed:");
        for x in b {
            let value = if x.metric == "reverse_uptime_review" {
                "needs review".to_string()
            } else {
                format!("{} d > {} d", x.value_days, x.threshold_days)
            };
            println!(
                "  {:<30} {:<24} {:>14}  {}",
                x.metric,
                x.host_name.as_deref().unwrap_or("(fleet)"),
                value,
                x.detail
            );
        }
    }
}

fn print_host(r: &HostRisk, all: bool) {
    println!("Host {} ({})", r.host_name, r.host_id);
    println!(
        "Inventory: {} packages, received {} ({}){}",
        r.packages,
        weir_event::ecs::rfc3339_nanos(r.inventory_received_unix_ns),
        r.inventory_reason,
        if r.inventory_errors.is_empty() {
            String::new()
        } else {
            format!(", {} source errors", r.inventory_errors.len())
        }
    );
    let l = &r.exposure.listeners;
    println!(
        "Listeners: {} public, {} any-address, {} specific non-public, {} unknown address",
        l.public, l.any_address, l.private, l.unknown
    );
    println!();
    for (name, c) in [
        ("Oldest exposed vulnerability", &r.exposure.oldest),
        ("  with a fix available", &r.exposure.oldest_with_fix),
        ("  with no fix", &r.exposure.oldest_without_fix),
    ] {
        match c {
            Some(c) => println!(
                "{name:<30} {:>5} d  {} ({}) in {} {} {}, {} — {} {}:{} pid {} {}",
                c.age_days,
                c.advisory_id,
                c.aliases.join(", "),
                c.ecosystem,
                c.package,
                c.version,
                if c.has_fix() {
                    format!("fixed in {}", c.fixed_versions.join(", "))
                } else {
                    "no fix".into()
                },
                c.protocol,
                c.address,
                c.port,
                c.pid,
                c.executable
            ),
            None => println!("{name:<30} none"),
        }
    }
    println!();
    let shown = if all {
        r.exposure.chains.len()
    } else {
        r.exposure.chains.len().min(40)
    };
    println!(
        "Chains ({} total, {} shown; listener -> process -> library -> package -> advisory):",
        r.exposure.chains_total, shown
    );
    for c in &r.exposure.chains[..shown] {
        println!(
            "  {:>5} d {:<8} {}:{}:{} -> pid {} {} -> {} -> {} {} {}{} -> {} [{}] disclosed {} ({}) fix: {}",
            c.age_days,
            if c.exposed { "EXPOSED" } else { "internal" },
            c.protocol,
            c.address,
            c.port,
            c.pid,
            c.executable,
            c.library,
            c.ecosystem,
            c.package,
            c.version,
            c.binary_package
                .as_deref()
                .map(|b| format!(" (binary {b})"))
                .unwrap_or_default(),
            c.advisory_id,
            c.aliases.join(", "),
            day_of(&c.disclosed),
            c.disclosure_basis,
            if c.has_fix() {
                c.fixed_versions.join(", ")
            } else {
                "none".into()
            }
        );
    }
    let hidden = r.exposure.chains_total - shown;
    if hidden > 0 {
        println!(
            "  ({hidden} more not shown; --all lists the {} oldest)",
            r.exposure.chains.len()
        );
    }
    let u = &r.reverse_uptime;
    println!();
    println!(
        "Reverse uptime: {} d (effective install {}; host claims {}{}; collector first saw it {})",
        u.days,
        day(u.effective_install_unix_ns),
        u.claimed_install_unix_ns.map(day).unwrap_or_else(|| "nothing".into()),
        u.claim_basis
            .as_deref()
            .map(|b| format!(" from {b}"))
            .unwrap_or_default(),
        day(u.first_seen_unix_ns)
    );
    for s in &u.signals {
        println!("  signal {:<28} {}", s.name, weir_event::ecs::rfc3339_nanos(s.unix_ns));
    }
    if u.flags.is_empty() {
        println!("  no review flags");
    }
    for f in &u.flags {
        println!("  FLAG {}: {}", f.kind, f.detail);
    }
}

fn day_of(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}
