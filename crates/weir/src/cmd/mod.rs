//! One module per subcommand; each has `Args` (clap) and `run(args) -> exit code`.

pub mod query;
pub mod rules;
pub mod sensor;
pub mod server;
pub mod up;
pub mod verify;
