//! `weir sensor`: runs the on-host sensor. `--check` prints what the kernel
//! supports; `--stdout` writes every event as one canonical JSON line.

use std::io::Write;

use anyhow::Context;
use weir_sensor::{Sensor, SensorConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Print the kernel feature table and exit.
    #[arg(long)]
    pub check: bool,
    /// Write events to stdout as JSON lines (canonical dotted field names).
    #[arg(long)]
    pub stdout: bool,
    /// Watched path prefix (repeatable; replaces the defaults).
    #[arg(long = "watch", value_name = "PREFIX")]
    pub watch: Vec<String>,
    /// Kernel ring buffer size in KiB.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub ring_kib: usize,
    /// Bound of the userspace event queue, in events.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub queue_events: usize,
    /// Heartbeat period in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub heartbeat_secs: u64,
    /// Ship events to this collector (gRPC over TLS), e.g. https://collector:7443.
    #[arg(long, value_name = "URL", conflicts_with = "stdout")]
    pub collector: Option<String>,
    /// PEM file of the CA that signed the collector's certificate.
    #[arg(long, value_name = "FILE", requires = "collector")]
    pub ca: Option<std::path::PathBuf>,
    /// One-time enrollment token (first start only).
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "collector",
        conflicts_with = "enroll_token_file"
    )]
    pub enroll_token: Option<String>,
    /// File holding the one-time enrollment token.
    #[arg(long, value_name = "FILE", requires = "collector")]
    pub enroll_token_file: Option<std::path::PathBuf>,
    /// Sensor state: host key (0600), enrollment, spool.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/weir-sensor")]
    pub data: std::path::PathBuf,
    /// Host id to report instead of the one derived from /etc/machine-id.
    #[arg(long, value_name = "ID")]
    pub host_id: Option<String>,
}

impl Args {
    /// Sensor settings from the flags.
    fn sensor_config(&self, host_id: String, host_name: String) -> SensorConfig {
        let mut config = SensorConfig::new(host_id);
        config.host_name = host_name;
        config.ring_bytes = self.ring_kib.saturating_mul(1024);
        config.queue_events = self.queue_events;
        config.heartbeat = std::time::Duration::from_secs(self.heartbeat_secs.max(1));
        if !self.watch.is_empty() {
            config.watch_prefixes = self.watch.clone();
        }
        config
    }
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    if args.check {
        print!("{}", weir_sensor::check());
        return Ok(0);
    }
    if args.collector.is_some() {
        return ship(args);
    }
    if !args.stdout {
        anyhow::bail!("nothing to do: pass --collector URL, --stdout or --check");
    }
    let id = weir_sensor::host_identity().context("reading the host identity")?;
    let config = args.sensor_config(args.host_id.clone().unwrap_or(id.host_id), id.host_name);
    let (sensor, mut rx) = Sensor::start(config).context("starting the sensor")?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook_like::SIGINT, signal_hook_like::SIGTERM] {
        signal_hook_like::register(sig, stop.clone())?;
    }
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let out = std::io::stdout();
        let mut out = std::io::BufWriter::new(out.lock());
        while let Some(ev) = rx.blocking_recv() {
            let line = serde_json::Value::Object(weir_event::ecs::to_ecs(&ev));
            writeln!(out, "{line}")?;
            while let Ok(ev) = rx.try_recv() {
                writeln!(out, "{}", serde_json::Value::Object(weir_event::ecs::to_ecs(&ev)))?;
            }
            out.flush()?;
        }
        out.flush()
    });
    while !stop.load(std::sync::atomic::Ordering::SeqCst) && !writer.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sensor.stop().context("stopping the sensor")?;
    match writer.join() {
        Ok(Ok(())) => Ok(0),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Ok(Err(e)) => Err(e).context("writing events to stdout"),
        Err(_) => anyhow::bail!("the writer thread panicked"),
    }
}

/// Runs the sensor shipping to `--collector` until SIGINT/SIGTERM.
fn ship(args: Args) -> anyhow::Result<i32> {
    let url = args.collector.clone().unwrap_or_default();
    let ca = args
        .ca
        .as_ref()
        .context("--ca FILE is required with --collector (the collector's CA certificate)")?;
    let ca_pem = std::fs::read(ca).with_context(|| format!("reading the CA certificate {}", ca.display()))?;
    let enroll_token = match (&args.enroll_token, &args.enroll_token_file) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the enrollment token {}", file.display()))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let id = weir_sensor::host_identity().context("reading the host identity")?;
    let config = args.sensor_config(args.host_id.clone().unwrap_or(id.host_id.clone()), id.host_name.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let collector = super::local_sensor::Collector {
            url,
            ca_pem,
            enroll_token,
        };
        let local = super::local_sensor::LocalSensor::start(collector, &args.data, config, id).await?;
        eprintln!(
            "weir sensor: shipping to {} (state in {})",
            local.collector(),
            args.data.display()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        local.stop().await;
        Ok(0)
    })
}

/// Minimal SIGINT/SIGTERM -> flag, without another dependency.
mod signal_hook_like {
    use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
    use std::sync::Arc;

    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;

    static FLAG: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());

    extern "C" fn on_signal(_: i32) {
        let p = FLAG.load(Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: the pointer comes from an Arc leaked in `register` and is never freed.
            unsafe { (*p).store(true, Ordering::SeqCst) };
        }
    }

    pub fn register(sig: i32, flag: Arc<AtomicBool>) -> anyhow::Result<()> {
        if FLAG.load(Ordering::SeqCst).is_null() {
            FLAG.store(Arc::into_raw(flag) as *mut AtomicBool, Ordering::SeqCst);
        }
        extern "C" {
            fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
        }
        // SAFETY: installing an async-signal-safe handler (one atomic store).
        if unsafe { signal(sig, on_signal) } == usize::MAX {
            anyhow::bail!("installing the handler for signal {sig}");
        }
        Ok(())
    }
}
