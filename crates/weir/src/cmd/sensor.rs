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
    // ---- shipping to a collector (filled in by the pipeline) ----
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    if args.check {
        print!("{}", weir_sensor::check());
        return Ok(0);
    }
    if !args.stdout {
        anyhow::bail!("nothing to do: pass --stdout (or --check)");
    }
    let id = weir_sensor::host_identity().context("reading the host identity")?;
    let mut config = SensorConfig::new(id.host_id);
    config.host_name = id.host_name;
    config.ring_bytes = args.ring_kib.saturating_mul(1024);
    config.queue_events = args.queue_events;
    config.heartbeat = std::time::Duration::from_secs(args.heartbeat_secs.max(1));
    if !args.watch.is_empty() {
        config.watch_prefixes = args.watch;
    }
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
