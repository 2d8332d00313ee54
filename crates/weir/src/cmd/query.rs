//! `weir query`: searches the event index (DATA/index.db, read-only, safe
//! while the collector runs) and prints a table for people or JSON lines.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use weir_store::index::{since::parse_since, table, EventIndex, EventQuery};
use weir_store::layout;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory [default: $WEIR_DATA, else ./weir-data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Only events at or after: a duration before now (30s, 10m, 2h, 7d) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events at or before: same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Host id or host name.
    #[arg(long)]
    pub host: Option<String>,
    /// Event kind: exec, fork, exit, file, network, privilege, ptrace, memfd, bpf, module, loss, health, integrity, action.
    #[arg(long)]
    pub kind: Option<String>,
    /// User name, login user (behind sudo) or numeric uid.
    #[arg(long)]
    pub user: Option<String>,
    /// Executable path, or a bare name matching its last component.
    #[arg(long)]
    pub exe: Option<String>,
    /// Case-insensitive text in the command line, executable, file path or any field.
    #[arg(long)]
    pub contains: Option<String>,
    /// Only the event with this per-host sequence number (with --host).
    #[arg(long)]
    pub seq: Option<u64>,
    /// At most this many events, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One JSON object per line (the ECS fields plus "evidence.leaf").
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let now = super::now_ns();
    let bound = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<u64>> {
        value
            .as_deref()
            .map(|v| parse_since(v, now).with_context(|| format!("--{flag}")))
            .transpose()
    };
    let query = EventQuery {
        since_unix_ns: bound("since", &args.since)?,
        until_unix_ns: bound("until", &args.until)?,
        host: args.host,
        kind: args.kind,
        user: args.user,
        exe: args.exe,
        contains: args.contains,
        seq: args.seq,
        limit: Some(args.limit),
    };
    let data = layout::data_dir(args.data.as_deref());
    let index = EventIndex::open_read_only(&layout::index_path(&data))?;
    let events = index.query(&query)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if args.json {
        events.iter().try_for_each(|e| writeln!(out, "{}", table::json_line(e)))
    } else {
        let width = terminal_width(stdout.is_terminal());
        write!(out, "{}", table::render(&events, width))
    };
    match written.and_then(|_| out.flush()) {
        // `weir query | head` closing the pipe early is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => other.map(|_| 0).context("writing results"),
    }
}

/// Width to cut table lines to: $COLUMNS, else the terminal's, else none (pipes keep whole lines).
fn terminal_width(is_terminal: bool) -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    if !is_terminal {
        return None;
    }
    let tty = std::fs::File::open("/dev/tty").ok()?;
    let output = std::process::Command::new("stty")
        .arg("size")
        .stdin(tty)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .or(Some(120))
}
