//! One module per subcommand; each has `Args` (clap) and `run(args) -> exit code`.

pub mod accounts;
pub mod alert_flow;
pub mod alerts;
pub mod alerts_api;
pub mod collector;
pub mod collector_metrics;
pub mod detection;
pub mod local_sensor;
pub mod metrics;
pub mod query;
pub mod response;
pub mod risk_flow;
pub mod rules;
pub mod sensor;
pub mod server;
pub mod slack_interactions;
pub mod up;
pub mod users;
pub mod verify;
pub mod vulndb;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The data directory: the flag, else `$WEIR_DATA`, else `./weir-data`.
pub fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    weir_store::layout::data_dir(flag.as_deref())
}

/// Now, in nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Now, in whole seconds since the Unix epoch.
pub fn now_s() -> u64 {
    now_ns() / 1_000_000_000
}

/// Creates `dir` (and parents) and makes it readable by its owner only.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (0700)", dir.display()))?;
    Ok(())
}
