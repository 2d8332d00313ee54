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
    /// Rule files or directories [default: ./rules when it exists].
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Exception files or directories (known-good activity per rule) [default: ./exceptions when it exists].
    #[arg(long = "exceptions")]
    exceptions: Vec<PathBuf>,
    /// Response guardrails (dry-run, protected processes, budgets, commands) [default: ./response.yaml when it exists].
    #[arg(long)]
    response: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Print a new one-time enrollment token (valid 24 h) for `weir sensor --enroll-token`.
    Token,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let data = super::data_dir(args.data);
    let rules = super::detection::paths_or_default(args.rules, "rules");
    let exceptions = super::detection::paths_or_default(args.exceptions, "exceptions");
    let response = super::detection::response_path(args.response);
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
                let mut config = weir_server::ServerConfig::new(&data);
                config.grpc_addr = args.grpc;
                config.http_addr = args.http;
                super::create_private_dir(&data)?;
                let detection = super::detection::start(&data, &rules, &exceptions, response.as_deref())?;
                config.sink = Some(detection.clone());
                config.http_routes = Some(super::detection::routes(&data, &detection));
                config.metrics_extra = Some(super::detection::metrics_source(&data, &detection));
                let handle = weir_server::Server::start(config)
                    .await
                    .with_context(|| format!("starting the collector on {}", data.display()))?;
                let pusher = detection.attach(&handle);
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
                pusher.abort();
                handle.shutdown().await;
                Ok(0)
            }
        }
    })
}
