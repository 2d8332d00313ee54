//! `weir alerts`: list alerts (and shadow would-be alerts) from the data
//! directory's alert store (a table for people, JSON lines with `--json`),
//! resolve them, and manage suppressions.

use std::path::PathBuf;

use weir_detect::{AlertQuery, AlertStore};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Data directory [default: $WEIR_DATA or ./weir-data].
    #[arg(long, global = true)]
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

#[derive(clap::Subcommand)]
enum Cmd {
    /// Close an open alert as true-positive, false-positive or benign.
    Resolve {
        id: i64,
        /// true-positive, false-positive or benign.
        #[arg(long = "as")]
        resolution: String,
        /// Who resolves it.
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Silence a rule for a scope, for a bounded time (at most 90 days).
    Suppress {
        /// Rule id.
        #[arg(long)]
        rule: String,
        /// Only this group key (as `weir alerts` shows it).
        #[arg(long)]
        group_key: Option<String>,
        /// Only this host id.
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
        /// How long: 30m, 12h, 7d.
        #[arg(long = "for")]
        duration: String,
    },
    /// List suppressions, active and past, with their hit counts.
    Suppressions,
    /// Lift a suppression before it expires.
    Lift {
        id: i64,
        #[arg(long)]
        by: String,
    },
}

fn manage(cmd: Cmd, store: &mut AlertStore) -> anyhow::Result<i32> {
    let now = super::now_ns();
    match cmd {
        Cmd::Resolve {
            id,
            resolution,
            by,
            note,
        } => {
            store.resolve(id, &resolution.replace('-', "_"), &by, &note, now)?;
            println!("alert {id} resolved as {resolution} by {by}");
        }
        Cmd::Suppress {
            rule,
            group_key,
            host,
            reason,
            by,
            duration,
        } => {
            let window = weir_store::index::since::parse_since(&duration, now)
                .map_err(|e| anyhow::anyhow!("--for: {e}"))
                .map(|start| now - start)?;
            let s = weir_detect::NewSuppression {
                rule_id: rule,
                group_key,
                host_id: host,
                reason,
                author: by,
                created_unix_ns: now,
                expires_unix_ns: now + window,
            };
            let id = store.suppress(&s)?;
            println!(
                "suppression {id} until {}",
                weir_event::ecs::rfc3339_nanos(s.expires_unix_ns)
            );
        }
        Cmd::Suppressions => {
            for s in store.suppressions()? {
                let state = match (&s.lifted_by, s.expires_unix_ns > now) {
                    (Some(by), _) => format!("lifted by {by}"),
                    (None, true) => "active".into(),
                    (None, false) => "expired".into(),
                };
                println!(
                    "{:<4} {:<16} rule {} group {} host {} — {} hits — by {}: {} (until {})",
                    s.id,
                    state,
                    s.rule_id,
                    s.group_key.as_deref().unwrap_or("*"),
                    s.host_id.as_deref().unwrap_or("*"),
                    s.hits,
                    s.author,
                    s.reason,
                    &weir_event::ecs::rfc3339_nanos(s.expires_unix_ns)[..19]
                );
            }
        }
        Cmd::Lift { id, by } => {
            store.lift_suppression(id, &by, now)?;
            println!("suppression {id} lifted by {by}");
        }
    }
    Ok(0)
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
    let mut store = AlertStore::open(&path)?;
    if let Some(cmd) = args.cmd {
        return manage(cmd, &mut store);
    }
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
        "{:<6} {:<24} {:<8} {:<7} {:<15} {:>6}  {:<12} {:<10} RULE / WHAT",
        "ID", "LAST SEEN (UTC)", "LEVEL", "MODE", "STATE", "COUNT", "HOST", "ACTOR"
    );
    for a in &alerts {
        let last = weir_event::ecs::rfc3339_nanos(a.last_unix_ns);
        let mode = match a.mode {
            weir_detect::Mode::Alert => "alert",
            weir_detect::Mode::Shadow => "shadow",
        };
        println!(
            "{:<6} {:<24} {:<8} {:<7} {:<15} {:>6}  {:<12} {:<10} {} / {}",
            a.id,
            &last[..23].replace('T', " "),
            a.level,
            mode,
            a.state,
            a.count,
            a.host_id.chars().take(12).collect::<String>(),
            a.actor,
            a.rule_title,
            a.summary
        );
    }
    Ok(0)
}
