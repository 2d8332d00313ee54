//! `weir alerts`: list alerts (and shadow would-be alerts) from the data
//! directory's alert store; a table for people, JSON lines with `--json`.

use std::path::PathBuf;

use weir_detect::{AlertQuery, AlertStore};

#[derive(clap::Args)]
pub struct Args {
    /// Data directory [default: $WEIR_DATA or ./weir-data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Only `alert` or `shadow` (staged rules' would-be alerts).
    #[arg(long)]
    mode: Option<String>,
    /// Only alerts of this rule id.
    #[arg(long)]
    rule: Option<String>,
    /// Only alerts about this host id.
    #[arg(long)]
    host: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    if let Some(mode) = &args.mode {
        anyhow::ensure!(
            mode == "alert" || mode == "shadow",
            "--mode must be `alert` or `shadow`, not {mode:?}"
        );
    }
    let path = super::detection::alerts_path(&super::data_dir(args.data));
    anyhow::ensure!(
        path.exists(),
        "no alert store at {} (has `weir up` or `weir server` run here?)",
        path.display()
    );
    let store = AlertStore::open(&path)?;
    let query = AlertQuery {
        mode: args.mode,
        rule_id: args.rule,
        host: args.host,
        state: None,
        limit: Some(args.limit),
    };
    let alerts = store.list(&query)?;
    if args.json {
        for alert in &alerts {
            println!("{}", serde_json::to_string(alert)?);
        }
        return Ok(0);
    }
    println!(
        "{:<6} {:<24} {:<8} {:<7} {:>6}  {:<12} {:<10} RULE / WHAT",
        "ID", "LAST SEEN (UTC)", "LEVEL", "MODE", "COUNT", "HOST", "ACTOR"
    );
    for a in &alerts {
        let last = weir_event::ecs::rfc3339_nanos(a.last_unix_ns);
        let mode = match a.mode {
            weir_detect::Mode::Alert => "alert",
            weir_detect::Mode::Shadow => "shadow",
        };
        println!(
            "{:<6} {:<24} {:<8} {:<7} {:>6}  {:<12} {:<10} {} / {}",
            a.id,
            &last[..23].replace('T', " "),
            a.level,
            mode,
            a.count,
            a.host_id.chars().take(12).collect::<String>(),
            a.actor,
            a.rule_title,
            a.summary
        );
    }
    Ok(0)
}
