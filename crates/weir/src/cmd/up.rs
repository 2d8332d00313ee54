//! `weir up`: all of Weir on this machine in one command — the collector with
//! embedded storage, a sensor on this host enrolled into it, detection, and
//! the HTTP API/console — with a live one-line status until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::atomic::Ordering::Relaxed;

use super::data_dir;

#[derive(clap::Args)]
pub struct Args {
    /// Data directory (evidence log, index, keys, tokens), created 0700 [default: $WEIR_DATA or ./weir-data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// HTTP API and console address.
    #[arg(long, default_value = "127.0.0.1:7480")]
    http: SocketAddr,
    /// gRPC address sensors connect to (TLS).
    #[arg(long, default_value = "127.0.0.1:7443")]
    grpc: SocketAddr,
    #[command(flatten)]
    pipeline: super::collector::PipelineArgs,
    /// Do not start a sensor on this host (collector only).
    #[arg(long)]
    no_sensor: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(up(args))
}

async fn up(args: Args) -> anyhow::Result<i32> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed first, so Ctrl-C or SIGTERM during start-up stops cleanly too.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let data = data_dir(args.data);
    let with_sensor = !args.no_sensor;
    let collector = super::collector::start(&data, args.http, args.grpc, args.pipeline).await?;
    let server = &collector.server;
    let detection = collector.detection.clone();
    let rules = collector.rules.clone();

    let mut local = None;
    if with_sensor {
        local = Some(super::local_sensor::start_for(server, &data.join("sensor")).await?);
    }

    let token_path = server.admin_token_path().display().to_string();
    let login = first_console_user(&data)?;
    println!("Weir is up.");
    println!("  console and API  http://{}/", server.http_addr());
    println!("  console sign-in  {login}");
    println!("  admin token      {token_path}  (send as: Authorization: Bearer <token>)");
    println!("  sensors connect  {}", server.grpc_url());
    println!("  data             {}", data.display());
    println!(
        "  rules            {} loaded from {}",
        detection.0.rule_count(),
        display_paths(&rules)
    );
    if local.is_none() {
        println!("  no local sensor (--no-sensor); enroll one with `weir server token`");
    }
    println!("Ctrl-C to stop.");
    std::io::stdout().flush()?;

    let live = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let started = Instant::now();
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = ticker.tick() => {
                let s = server.stats();
                let d = detection.0.stats();
                let line = format!(
                    "hosts {} ({} connected) | {} events/s | {} stored | {} dropped by sensors | {} refused | {} alerts, {} shadow",
                    s.hosts, s.connected, s.events_per_second, s.events_ingested, s.sensor_dropped, s.refused,
                    d.alerts_opened.load(Relaxed), d.shadow_opened.load(Relaxed)
                );
                if live {
                    eprint!("\r\x1b[2K{line}");
                } else if started.elapsed().as_secs().is_multiple_of(60) {
                    eprintln!("{line}");
                }
            }
        }
    }
    if live {
        eprintln!();
    }
    eprintln!("stopping...");
    if let Some(local) = local {
        local.stop().await;
    }
    collector.shutdown().await;
    eprintln!("stopped.");
    Ok(0)
}

/// How to sign in to the console: on a data directory with no console user
/// yet, `admin` is made with a password in DATA/console-admin.password.
fn first_console_user(data: &std::path::Path) -> anyhow::Result<String> {
    Ok(match weir_server::auth::ensure_first_admin(data)? {
        Some(path) => format!(
            "user admin, password in {} (change it: weir accounts passwd admin)",
            path.display()
        ),
        None => "with your console account (`weir accounts list`)".into(),
    })
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(no rule paths)".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
