//! The `weir` command: one binary for every part of Weir.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "weir", version, about = "Continuous security for Linux fleets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything on this machine: collector, embedded storage, a local sensor, the console.
    Up(cmd::up::Args),
    /// Run the on-host sensor.
    Sensor(cmd::sensor::Args),
    /// Run the collector (ingest, evidence log, index, detection, API).
    Server(cmd::server::Args),
    /// Lint, test and run detection rules.
    Rules(cmd::rules::Args),
    /// Search stored events.
    Query(cmd::query::Args),
    /// List alerts and shadow (staged) rule matches.
    Alerts(cmd::alerts::Args),
    /// Verify the evidence log: signatures, hash chains, Merkle checkpoints.
    Verify(cmd::verify::Args),
    /// The people directory and their second factor (TOTP enrollment).
    Users(cmd::users::Args),
    /// Console users, roles, API tokens and the audit log.
    Accounts(cmd::accounts::Args),
    /// Import OSV advisories into the collector's vulnerability database; show what it holds.
    Vulndb(cmd::vulndb::Args),
    /// Fleet risk metrics (oldest exposed vulnerability, reverse uptime), or one host's full chains.
    Metrics(cmd::metrics::Args),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let code = match Cli::parse().command {
        Command::Up(args) => cmd::up::run(args)?,
        Command::Sensor(args) => cmd::sensor::run(args)?,
        Command::Server(args) => cmd::server::run(args)?,
        Command::Rules(args) => cmd::rules::run(args)?,
        Command::Query(args) => cmd::query::run(args)?,
        Command::Verify(args) => cmd::verify::run(args)?,
        Command::Alerts(args) => cmd::alerts::run(args)?,
        Command::Users(args) => cmd::users::run(args)?,
        Command::Accounts(args) => cmd::accounts::run(args)?,
        Command::Vulndb(args) => cmd::vulndb::run(args)?,
        Command::Metrics(args) => cmd::metrics::run(args)?,
    };
    std::process::exit(code);
}
