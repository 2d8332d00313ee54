//! `weir verify`: rechecks the whole evidence log (framing, host batch
//! signatures and chains, Merkle checkpoints and their collector signature)
//! and names every problem. Exit 0 when intact, 1 otherwise.

use std::path::PathBuf;

use anyhow::Context;
use weir_store::evidence::{verify, VerifyReport};
use weir_store::layout;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory [default: $WEIR_DATA, else ./weir-data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Collector public key, 32 raw bytes [default: DATA/keys/collector.pub].
    #[arg(long)]
    pub collector_key: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let data = layout::data_dir(args.data.as_deref());
    let evidence = layout::evidence_dir(&data);
    let key_path = args
        .collector_key
        .clone()
        .unwrap_or_else(|| layout::collector_key_path(&data));
    let key = layout::read_collector_key(&key_path).context("reading the collector public key")?;
    if key.is_none() && args.collector_key.is_some() {
        anyhow::bail!("collector public key {} does not exist", key_path.display());
    }
    let report = verify(&evidence, key.as_ref());
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["intact"] = serde_json::Value::Bool(report.is_intact());
        value["evidence_dir"] = serde_json::Value::String(evidence.display().to_string());
        println!("{value}");
    } else {
        print!("{}", human(&report, &evidence.display().to_string()));
    }
    Ok(if report.is_intact() { 0 } else { 1 })
}

fn human(report: &VerifyReport, dir: &str) -> String {
    let mut out = format!(
        "evidence log {dir}: {} segments, {} records, {} checkpoints ({} records under a valid signed checkpoint), {} hosts\n",
        report.segments,
        report.leaves,
        report.checkpoints,
        report.checkpointed_leaves,
        report.hosts.len()
    );
    for (host, h) in &report.hosts {
        let range = match (h.first_seq, h.last_seq) {
            (Some(a), Some(b)) => format!(", events {a}..={b}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  host {host}: {} batches, {} events{range}\n",
            h.batches, h.events
        ));
    }
    if report.is_intact() {
        out.push_str("intact: every signature, chain and checkpoint verifies\n");
    } else {
        out.push_str(&format!("NOT INTACT: {} problems\n", report.problems.len()));
        for p in &report.problems {
            out.push_str(&format!("  {p}\n"));
        }
    }
    out
}
