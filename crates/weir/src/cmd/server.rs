//! `weir server`: runs the collector (gRPC ingest for sensors, evidence log,
//! index, HTTP API) until Ctrl-C; `weir server token` prints a new one-time
//! enrollment token for a sensor.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Data directory (default: $WEIR_DATA or ./weir-data).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// gRPC listener for sensors (TLS).
    #[arg(long, default_value = "127.0.0.1:7443")]
    grpc: SocketAddr,
    /// HTTP API listener (admin token required).
    #[arg(long, default_value = "127.0.0.1:7480")]
    http: SocketAddr,
    #[command(flatten)]
    pipeline: super::collector::PipelineArgs,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Print a new one-time enrollment token (valid 24 h) for `weir sensor --enroll-token`.
    Token,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let data = super::data_dir(args.data);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            Some(Sub::Token) => {
                // Tokens live in DATA/state.db; a running collector sees them at once.
                let token = weir_server::create_enroll_token(&data, std::time::Duration::from_secs(24 * 3600))
                    .with_context(|| format!("creating an enrollment token in {}", data.display()))?;
                println!("{token}");
                Ok(0)
            }
            None => {
                let collector = super::collector::start(&data, args.http, args.grpc, args.pipeline).await?;
                let handle = &collector.server;
                let ca_path = data.join("tls").join("ca.pem");
                eprintln!("weir collector running");
                eprintln!("  sensors:   {} (CA: {})", handle.grpc_url(), ca_path.display());
                eprintln!(
                    "  API:       http://{}/api/events (token: {})",
                    handle.http_addr(),
                    handle.admin_token_path().display()
                );
                eprintln!("  enroll:    weir server token --data {}", data.display());
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .context("installing the SIGTERM handler")?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
                    _ = term.recv() => {}
                }
                eprintln!("stopping...");
                collector.shutdown().await;
                Ok(0)
            }
        }
    })
}
