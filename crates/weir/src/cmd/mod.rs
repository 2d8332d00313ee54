//! One module per subcommand; each has `Args` (clap) and `run(args) -> exit code`.

pub mod alerts;
pub mod detection;
pub mod local_sensor;
pub mod query;
pub mod rules;
pub mod sensor;
pub mod server;
pub mod up;
pub mod verify;

use std::path::PathBuf;

/// The data directory: the flag, else `$WEIR_DATA`, else `./weir-data`.
pub fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("WEIR_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("weir-data"))
}
