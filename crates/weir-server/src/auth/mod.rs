//! Who may use the collector's HTTP API and console, and what they did.
//!
//! - Users (viewer < analyst < admin) with Argon2id password hashes, API
//!   tokens for scripts (`weir_at_…`, stored hashed, shown once), sessions
//!   (`weir_session` cookie) and the audit log live in DATA/auth.db.
//! - `admin.token` stays valid as an admin API token; `metrics.token`, when
//!   present at start, opens `GET /metrics` and nothing else. Nothing a sensor
//!   holds (enrollment token, host key, host id) is accepted here.
//! - One middleware ([`guard`]) authenticates every non-public route
//!   (including the routes the `weir` binary merges), checks the role
//!   ([`required_role`]), requires a CSRF token on session-authenticated
//!   writes and writes an audit row for every write.
//!
//! The functions below work on a data directory whether or not a collector
//! is running on it (SQLite WAL), for the CLI.
//!
//! The listener is plain HTTP on loopback by default, so the session cookie
//! is not `Secure` unless `AuthConfig::secure_cookies` is set (do so behind a
//! TLS proxy). Source addresses (audit, per-address login limits) are the TCP
//! peer's; `X-Forwarded-For` is not trusted.

mod admin_api;
mod counters;
mod guard;
mod headers;
mod limiter;
mod login;
mod parse;
mod password;
mod role;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub(crate) use admin_api::routes as admin_routes;
pub use guard::{guard, AuditTarget, Credential, Principal};
pub use headers::security_headers;
pub(crate) use login::{html_escape, routes as login_routes};
pub use parse::SESSION_COOKIE;
pub use password::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
pub use role::{is_state_changing, required_role, Role, RouteRole};
pub use store::{ApiTokenInfo, AuditRecord, UserInfo};

pub(crate) use store::secret_hash;
use store::AuthDb;

/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "weir_at_";
/// Prefix of the metrics scrape token.
pub const METRICS_TOKEN_PREFIX: &str = "weir_mt_";
/// File name of the auth database in the data directory.
pub const AUTH_DB: &str = "auth.db";
/// File name of the metrics scrape token in the data directory.
pub const METRICS_TOKEN_FILE: &str = "metrics.token";

/// Errors of user, token, session and audit management.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("auth database {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("auth database {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("username {0:?}: use 1-64 characters from a-z A-Z 0-9 . _ @ -")]
    BadUsername(String),
    #[error("token name {0:?}: use 1-64 characters from a-z A-Z 0-9 . _ @ -")]
    BadTokenName(String),
    #[error("{0}")]
    BadPassword(String),
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("an API token named {0:?} already exists")]
    TokenExists(String),
    #[error("no live API token named {0:?}")]
    UnknownToken(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the collector is shutting down")]
    Stopped,
    /// A data-directory file (directory, token file) could not be made or read.
    #[error(transparent)]
    Files(#[from] crate::ServerError),
}

impl From<AuthError> for crate::ServerError {
    fn from(error: AuthError) -> crate::ServerError {
        match error {
            AuthError::Db { path, source } => crate::ServerError::State { path, source },
            AuthError::Io { path, source } => crate::ServerError::Io { path, source },
            AuthError::Files(error) => error,
            other => crate::ServerError::Corrupt {
                path: PathBuf::from(AUTH_DB),
                detail: other.to_string(),
            },
        }
    }
}

/// Session, login-limit and route-role settings (part of `ServerConfig`).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A session unused for this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login whatever its use.
    pub session_lifetime: Duration,
    /// Failed logins per username, and per source address, within
    /// `login_window` before further logins are refused with 429.
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// Marks the session cookie `Secure`. Off by default because the HTTP
    /// listener is plain HTTP on loopback (a `Secure` cookie would never be
    /// sent back); turn it on when a TLS proxy fronts the console.
    pub secure_cookies: bool,
    /// Per-prefix role overrides for routes whose default (reads: viewer,
    /// writes: analyst, `/api/admin/`: admin) does not fit; see [`RouteRole`].
    pub route_roles: Vec<RouteRole>,
    /// Password hashes computed at once (each takes ~19 MiB); logins past
    /// this get 503 rather than queueing.
    pub max_concurrent_logins: usize,
    /// Audit rows a minute for callers who are not authenticated (refused
    /// requests, failed or rate-limited logins); past it they are counted
    /// and summarised in one row, so anonymous traffic cannot fill the disk.
    pub max_unauthenticated_audit_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            login_max_failures: 5,
            login_window: Duration::from_secs(5 * 60),
            secure_cookies: false,
            route_roles: Vec::new(),
            max_concurrent_logins: 4,
            max_unauthenticated_audit_per_minute: 120,
        }
    }
}

/// The running collector's authentication state.
pub struct AuthState {
    pub(crate) config: AuthConfig,
    pub(crate) db: Arc<Mutex<AuthDb>>,
    pub(crate) limiter: Mutex<limiter::LoginLimiter>,
    pub(crate) admin_token_hash: [u8; 32],
    pub(crate) metrics_token_hash: Option<[u8; 32]>,
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
    pub(crate) counters: counters::AuthCounters,
    pub(crate) unauthenticated_audit: counters::AuditBudget,
}

impl AuthState {
    /// Opens DATA/auth.db and reads DATA/metrics.token if present.
    pub(crate) fn open(data_dir: &Path, admin_token: &str, config: AuthConfig) -> Result<AuthState, AuthError> {
        let db = AuthDb::open(&data_dir.join(AUTH_DB))?;
        let metrics_path = data_dir.join(METRICS_TOKEN_FILE);
        let metrics_token_hash = match crate::pki::read_token(&metrics_path, "metrics token") {
            Ok(token) => Some(Sha256::digest(token.as_bytes()).into()),
            Err(crate::ServerError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        // Warm the dummy hash now rather than on the first unknown-user login.
        let _ = password::dummy_hash();
        Ok(AuthState {
            limiter: Mutex::new(limiter::LoginLimiter::new(
                config.login_max_failures,
                config.login_window,
            )),
            hashing: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_logins.max(1))),
            counters: counters::AuthCounters::default(),
            unauthenticated_audit: counters::AuditBudget::new(config.max_unauthenticated_audit_per_minute),
            config,
            db: Arc::new(Mutex::new(db)),
            admin_token_hash: Sha256::digest(admin_token.trim().as_bytes()).into(),
            metrics_token_hash,
        })
    }

    /// Runs `f` on the database off the async threads.
    pub(crate) async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&AuthDb) -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db.lock().unwrap_or_else(|p| p.into_inner())))
            .await
            .map_err(|_| AuthError::Stopped)?
    }

    /// The authentication counters in Prometheus text format.
    pub(crate) fn render_metrics(&self) -> String {
        self.counters.render()
    }

    /// Deletes expired sessions (called periodically by the collector).
    pub(crate) async fn purge_sessions(&self) -> Result<usize, AuthError> {
        let idle = self.config.session_idle.as_nanos() as u64;
        let lifetime = self.config.session_lifetime.as_nanos() as u64;
        self.with_db(move |db| db.purge_sessions(crate::now_unix_ns(), idle, lifetime))
            .await
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

pub(crate) fn check_username(name: &str) -> Result<(), AuthError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(AuthError::BadUsername(name.to_string()))
    }
}

fn open(data_dir: &Path) -> Result<AuthDb, AuthError> {
    crate::pki::private_dir(data_dir)?;
    AuthDb::open(&data_dir.join(AUTH_DB))
}

/// Adds a user. Fails if the name is taken or the password is shorter than
/// [`MIN_PASSWORD_LEN`].
pub fn add_user(data_dir: &Path, username: &str, role: Role, password: &str) -> Result<(), AuthError> {
    check_username(username)?;
    password::check_password_policy(password)?;
    let hash = password::hash_password(password)?;
    open(data_dir)?.insert_user(username, role, &hash, crate::now_unix_ns())
}

/// Sets a user's password; their sessions end.
pub fn set_password(data_dir: &Path, username: &str, password: &str) -> Result<(), AuthError> {
    password::check_password_policy(password)?;
    let hash = password::hash_password(password)?;
    open(data_dir)?.set_password_hash(username, &hash)
}

/// Changes a user's role (live sessions take it at their next request).
pub fn set_role(data_dir: &Path, username: &str, role: Role) -> Result<(), AuthError> {
    open(data_dir)?.set_role(username, role)
}

/// Disables a user: logins are refused and their sessions end.
pub fn disable_user(data_dir: &Path, username: &str) -> Result<(), AuthError> {
    open(data_dir)?.set_disabled(username, true)
}

/// Re-enables a disabled user.
pub fn enable_user(data_dir: &Path, username: &str) -> Result<(), AuthError> {
    open(data_dir)?.set_disabled(username, false)
}

pub fn list_users(data_dir: &Path) -> Result<Vec<UserInfo>, AuthError> {
    open(data_dir)?.users()
}

/// File in the data directory holding the first console admin's password.
pub const FIRST_ADMIN_PASSWORD_FILE: &str = "console-admin.password";

/// On a data directory with no console user yet, creates the user `admin`
/// with a random password written to DATA/console-admin.password (0600,
/// written before the user is made, so the password is never lost) and
/// returns that file's path; returns `None` when users exist already.
pub fn ensure_first_admin(data_dir: &Path) -> Result<Option<PathBuf>, AuthError> {
    if !list_users(data_dir)?.is_empty() {
        return Ok(None);
    }
    // 24 hex characters: 96 random bits, short enough to type.
    let password = crate::pki::random_token("")[..24].to_string();
    let path = data_dir.join(FIRST_ADMIN_PASSWORD_FILE);
    crate::pki::write_private(&path, format!("{password}\n").as_bytes())?;
    add_user(data_dir, "admin", Role::Admin, &password)?;
    Ok(Some(path))
}

/// Creates an API token named `name` with `role`, valid for `ttl` (`None`:
/// until revoked). Returns the token (`weir_at_` + 64 hex): it is stored
/// only as a hash, so this is the one time it is shown.
pub fn create_api_token(data_dir: &Path, name: &str, role: Role, ttl: Option<Duration>) -> Result<String, AuthError> {
    create_api_token_in(&open(data_dir)?, name, role, ttl)
}

pub(crate) fn create_api_token_in(
    db: &AuthDb,
    name: &str,
    role: Role,
    ttl: Option<Duration>,
) -> Result<String, AuthError> {
    if !valid_name(name) {
        return Err(AuthError::BadTokenName(name.to_string()));
    }
    let token = crate::pki::random_token(API_TOKEN_PREFIX);
    let now = crate::now_unix_ns();
    let expires = ttl.map(|ttl| now.saturating_add(ttl.as_nanos().min(u64::MAX as u128) as u64));
    db.insert_token(name, &secret_hash(&token), role, now, expires)?;
    Ok(token)
}

/// Revokes an API token by name; it is refused from the next request on.
pub fn revoke_api_token(data_dir: &Path, name: &str) -> Result<(), AuthError> {
    open(data_dir)?.revoke_token(name, crate::now_unix_ns())
}

pub fn list_api_tokens(data_dir: &Path) -> Result<Vec<ApiTokenInfo>, AuthError> {
    open(data_dir)?.tokens()
}

/// The newest `limit` audit rows, newest first.
pub fn read_audit(data_dir: &Path, limit: usize) -> Result<Vec<AuditRecord>, AuthError> {
    open(data_dir)?.audit(limit, None)
}

/// Writes a new DATA/metrics.token (replacing any) and returns it. It opens
/// `GET /metrics` only; a running collector picks it up at its next start.
pub fn create_metrics_token(data_dir: &Path) -> Result<String, AuthError> {
    let path = data_dir.join(METRICS_TOKEN_FILE);
    let token = crate::pki::random_token(METRICS_TOKEN_PREFIX);
    crate::pki::write_private(&path, format!("{token}\n").as_bytes())?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_tokens_in_a_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        add_user(data, "alice", Role::Analyst, "alice password 1").unwrap();
        assert!(matches!(
            add_user(data, "alice", Role::Viewer, "another password"),
            Err(AuthError::UserExists(_))
        ));
        assert!(matches!(
            add_user(data, "bad name", Role::Viewer, "another password"),
            Err(AuthError::BadUsername(_))
        ));
        assert!(matches!(
            add_user(data, "bob", Role::Viewer, "short"),
            Err(AuthError::BadPassword(_))
        ));
        // What is stored is an Argon2id PHC string that verifies, never the password.
        let (_, stored, _) = open(data).unwrap().user_secret("alice").unwrap().unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(password::verify_password("alice password 1", &stored));
        assert!(!stored.contains("alice password 1"));
        set_password(data, "alice", "alice password 2").unwrap();
        let (_, stored, _) = open(data).unwrap().user_secret("alice").unwrap().unwrap();
        assert!(!password::verify_password("alice password 1", &stored));
        assert!(password::verify_password("alice password 2", &stored));
        set_role(data, "alice", Role::Admin).unwrap();
        disable_user(data, "alice").unwrap();
        let (_, _, disabled) = open(data).unwrap().user_secret("alice").unwrap().unwrap();
        assert!(disabled);
        let users = list_users(data).unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!((users[0].role, users[0].disabled), (Role::Admin, true));
        enable_user(data, "alice").unwrap();
        assert!(matches!(
            set_role(data, "zed", Role::Admin),
            Err(AuthError::UnknownUser(_))
        ));

        let token = create_api_token(data, "ci", Role::Viewer, None).unwrap();
        assert!(token.starts_with(API_TOKEN_PREFIX) && token.len() == API_TOKEN_PREFIX.len() + 64);
        assert!(matches!(
            create_api_token(data, "ci", Role::Viewer, None),
            Err(AuthError::TokenExists(_))
        ));
        let listed = list_api_tokens(data).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "ci");
        // The database holds only the hash.
        let raw = std::fs::read(data.join(AUTH_DB)).unwrap();
        assert!(!raw.windows(token.len()).any(|w| w == token.as_bytes()));
        revoke_api_token(data, "ci").unwrap();
        assert!(matches!(revoke_api_token(data, "ci"), Err(AuthError::UnknownToken(_))));
    }

    #[test]
    fn metrics_token_is_replaced_in_place_and_a_short_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let path = data.join(METRICS_TOKEN_FILE);
        let first = create_metrics_token(data).unwrap();
        let second = create_metrics_token(data).unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{second}\n"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let admin = crate::pki::random_token("weir-admin-");
        let state = AuthState::open(data, &admin, AuthConfig::default()).unwrap();
        assert_eq!(state.metrics_token_hash, Some(Sha256::digest(second.as_bytes()).into()));

        std::fs::write(&path, "weir_mt_short\n").unwrap();
        let e = AuthState::open(data, &admin, AuthConfig::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("metrics token shorter than 32 characters"),
            "{e}"
        );
        std::fs::remove_file(&path).unwrap();
        let state = AuthState::open(data, &admin, AuthConfig::default()).unwrap();
        assert_eq!(state.metrics_token_hash, None);
    }

    #[test]
    fn first_admin_is_made_once_with_a_private_password_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let path = ensure_first_admin(&data)
            .unwrap()
            .expect("made on an empty data directory");
        assert_eq!(path, data.join(FIRST_ADMIN_PASSWORD_FILE));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let password = std::fs::read_to_string(&path).unwrap().trim().to_string();
        assert!(password.len() >= MIN_PASSWORD_LEN, "{password}");
        let (role, stored, disabled) = open(&data).unwrap().user_secret("admin").unwrap().unwrap();
        assert_eq!((role, disabled), (Role::Admin, false));
        assert!(password::verify_password(&password, &stored));
        // Later starts leave the user and the file alone.
        assert_eq!(ensure_first_admin(&data).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), password);
        assert_eq!(list_users(&data).unwrap().len(), 1);
    }
}
