//! `weir vulndb`: import OSV advisories (directories of JSON, osv-scanner `all.zip` files) into the
//! collector's vulnerability database, and show what it holds.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use weir_risk::{ImportProgress, VulnStore};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    /// Data directory [default: $WEIR_DATA or ./weir-data].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Import OSV records: directories (recursively: *.json and *.zip), JSON files, osv-scanner all.zip files.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Advisories stored, per ecosystem.
    Stats {
        #[arg(long)]
        json: bool,
    },
}

/// A progress bar on stderr when it is a terminal, redrawn at most ten times a second.
struct ProgressBar {
    enabled: bool,
    last: Option<Instant>,
}

impl ProgressBar {
    fn update(&mut self, p: ImportProgress) {
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(Instant::now());
        let total = p.total.max(p.done).max(1);
        let filled = p.done * 30 / total;
        eprint!(
            "\r[{}{}] {}/{} records",
            "#".repeat(filled),
            " ".repeat(30 - filled),
            p.done,
            total
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        if self.enabled && self.last.is_some() {
            eprintln!();
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let data = super::data_dir(args.data);
    match args.cmd {
        Cmd::Import { paths } => {
            super::create_private_dir(&data)?;
            let mut store = VulnStore::open_in(&data)?;
            let mut bar = ProgressBar {
                enabled: std::io::stderr().is_terminal(),
                last: None,
            };
            let report = store.import(&paths, &mut |p| bar.update(p))?;
            bar.finish();
            println!("{report}");
            println!("database: {}", store.path().display());
            Ok(if report.stored == 0 && !report.failures.is_empty() {
                1
            } else {
                0
            })
        }
        Cmd::Stats { json } => {
            let path = data.join(weir_risk::vulndb::VULNDB_FILE);
            if !path.is_file() {
                anyhow::bail!(
                    "{}: no vulnerability database (run `weir vulndb import PATH...`)",
                    path.display()
                );
            }
            let stats = VulnStore::open(&path)?.stats()?;
            if json {
                println!("{}", serde_json::to_string(&stats)?);
                return Ok(0);
            }
            println!("{} advisories in {}", stats.advisories, path.display());
            if let Some(ns) = stats.last_import_unix_ns {
                println!("last import: {}", weir_event::ecs::rfc3339_nanos(ns));
            }
            for (eco, n) in &stats.by_ecosystem {
                println!("  {eco:<24} {n}");
            }
            Ok(0)
        }
    }
}
