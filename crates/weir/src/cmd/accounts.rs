//! `weir accounts`: who may sign in to the console and API. Console users
//! have a role (viewer, analyst, admin) and an Argon2id-hashed password; API
//! tokens (`weir_at_...`) are for scripts and shown once; a metrics token
//! opens `GET /metrics` only. Works on a data directory whether or not a
//! collector is running on it. Passwords are read from the terminal or
//! stdin, never from the command line.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use weir_server::auth::{self, Role};

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
    /// Add a console user (password read from stdin).
    Add {
        name: String,
        /// viewer, analyst or admin.
        #[arg(long)]
        role: Role,
    },
    /// Set a user's password (read from stdin); ends their sessions.
    Passwd { name: String },
    /// Change a user's role.
    Role { name: String, role: Role },
    /// Disable a user (their sessions end at once).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// List users.
    List,
    /// Create an API token for scripts (printed once).
    Token {
        name: String,
        #[arg(long)]
        role: Role,
        /// Lifetime in days (default: no expiry).
        #[arg(long)]
        days: Option<u64>,
    },
    /// Revoke an API token.
    Revoke { name: String },
    /// List API tokens (names, roles, expiry; never the secrets).
    Tokens,
    /// Create the token that opens GET /metrics only (for Prometheus).
    MetricsToken,
    /// Show the audit log (newest first).
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password: ");
    }
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let data = super::data_dir(args.data);
    super::create_private_dir(&data)?;
    match args.cmd {
        Cmd::Add { name, role } => {
            auth::add_user(&data, &name, role, &read_password()?)?;
            println!("user {name} added as {role}");
        }
        Cmd::Passwd { name } => {
            auth::set_password(&data, &name, &read_password()?)?;
            println!("password of {name} changed; their sessions ended");
        }
        Cmd::Role { name, role } => {
            auth::set_role(&data, &name, role)?;
            println!("{name} is now {role}");
        }
        Cmd::Disable { name } => {
            auth::disable_user(&data, &name)?;
            println!("{name} disabled");
        }
        Cmd::Enable { name } => {
            auth::enable_user(&data, &name)?;
            println!("{name} enabled");
        }
        Cmd::List => {
            for u in auth::list_users(&data)? {
                println!("{}", serde_json::to_string(&u)?);
            }
        }
        Cmd::Token { name, role, days } => {
            let ttl = days.map(|d| Duration::from_secs(d * 86_400));
            println!("{}", auth::create_api_token(&data, &name, role, ttl)?);
            eprintln!("shown once: keep it now (send as Authorization: Bearer <token>)");
        }
        Cmd::Revoke { name } => {
            auth::revoke_api_token(&data, &name)?;
            println!("token {name} revoked");
        }
        Cmd::Tokens => {
            for t in auth::list_api_tokens(&data)? {
                println!("{}", serde_json::to_string(&t)?);
            }
        }
        Cmd::MetricsToken => {
            println!("{}", auth::create_metrics_token(&data)?);
            eprintln!("opens GET /metrics only; a running collector reads it at its next start");
        }
        Cmd::Audit { limit } => {
            for r in auth::read_audit(&data, limit)? {
                println!("{}", serde_json::to_string(&r)?);
            }
        }
    }
    Ok(0)
}
