//! DATA/auth.db (SQLite): users (Argon2id hashes), API tokens and sessions
//! (both stored as SHA-256 of the secret, never in clear), and the audit log.
//! Opened by the running collector and by the CLI alike (WAL: both at once).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AuthError, Role};

/// A user as listed (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub username: String,
    pub role: Role,
    pub created_unix_ns: u64,
    pub disabled: bool,
}

/// An API token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenInfo {
    pub name: String,
    pub role: Role,
    pub created_unix_ns: u64,
    /// `None`: never expires.
    pub expires_unix_ns: Option<u64>,
    pub revoked_unix_ns: Option<u64>,
    pub last_used_unix_ns: Option<u64>,
}

/// One audit row: who did what, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub id: u64,
    pub time_unix_ns: u64,
    /// User name, `token:NAME`, `admin-token`, or `anonymous`.
    pub actor: String,
    /// Role the actor held (empty when not authenticated).
    pub role: String,
    /// `login`, `logout`, or `METHOD /path` for API writes.
    pub action: String,
    /// What was acted on (a user name, a path).
    pub target: String,
    pub source_ip: String,
    pub user_agent: String,
    /// HTTP status, or `ok` / a short reason for logins.
    pub outcome: String,
}

/// What a live session resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub username: String,
    pub role: Role,
}

/// Live sessions one user may hold; signing in again ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 32;

/// Hex SHA-256 of a secret: the form in which tokens and session ids are kept.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The open auth database.
pub struct AuthDb {
    conn: Connection,
    path: PathBuf,
}

fn role_from_db(path: &Path, value: String) -> Result<Role, AuthError> {
    value.parse().map_err(|why| AuthError::Corrupt {
        path: path.to_path_buf(),
        detail: why,
    })
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.map(|v| v as u64)
}

impl AuthDb {
    /// Opens (creating) `path`, mode 0600.
    pub fn open(path: &Path) -> Result<AuthDb, AuthError> {
        let conn = Connection::open(path).map_err(|source| AuthError::Db {
            path: path.to_path_buf(),
            source,
        })?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| AuthError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let db = AuthDb {
            conn,
            path: path.to_path_buf(),
        };
        db.conn
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| db.err(e))?;
        db.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL;
                 PRAGMA synchronous=FULL;
                 CREATE TABLE IF NOT EXISTS users (
                     username TEXT PRIMARY KEY,
                     role TEXT NOT NULL,
                     password_hash TEXT NOT NULL,
                     created_unix_ns INTEGER NOT NULL,
                     disabled INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE IF NOT EXISTS api_tokens (
                     name TEXT PRIMARY KEY,
                     hash TEXT NOT NULL UNIQUE,
                     role TEXT NOT NULL,
                     created_unix_ns INTEGER NOT NULL,
                     expires_unix_ns INTEGER,
                     revoked_unix_ns INTEGER,
                     last_used_unix_ns INTEGER);
                 CREATE TABLE IF NOT EXISTS sessions (
                     hash TEXT PRIMARY KEY,
                     username TEXT NOT NULL,
                     created_unix_ns INTEGER NOT NULL,
                     last_seen_unix_ns INTEGER NOT NULL);
                 CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(username);
                 CREATE TABLE IF NOT EXISTS audit (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     time_unix_ns INTEGER NOT NULL,
                     actor TEXT NOT NULL,
                     role TEXT NOT NULL,
                     action TEXT NOT NULL,
                     target TEXT NOT NULL,
                     source_ip TEXT NOT NULL,
                     user_agent TEXT NOT NULL,
                     outcome TEXT NOT NULL);",
            )
            .map_err(|e| db.err(e))?;
        Ok(db)
    }

    fn err(&self, source: rusqlite::Error) -> AuthError {
        AuthError::Db {
            path: self.path.clone(),
            source,
        }
    }

    // ---- users ----

    pub fn insert_user(&self, username: &str, role: Role, password_hash: &str, now: u64) -> Result<(), AuthError> {
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO users (username, role, password_hash, created_unix_ns) VALUES (?1, ?2, ?3, ?4)",
                params![username, role.as_str(), password_hash, now as i64],
            )
            .map_err(|e| self.err(e))?;
        if inserted == 0 {
            return Err(AuthError::UserExists(username.to_string()));
        }
        Ok(())
    }

    /// (role, PHC hash, disabled) of a user.
    pub fn user_secret(&self, username: &str) -> Result<Option<(Role, String, bool)>, AuthError> {
        let row = self
            .conn
            .query_row(
                "SELECT role, password_hash, disabled FROM users WHERE username = ?1",
                params![username],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)? != 0)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match row {
            Some((role, hash, disabled)) => Ok(Some((role_from_db(&self.path, role)?, hash, disabled))),
            None => Ok(None),
        }
    }

    fn update_user(&self, username: &str, sql: &str, value: &dyn rusqlite::ToSql) -> Result<(), AuthError> {
        let changed = self
            .conn
            .execute(sql, params![value, username])
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(AuthError::UnknownUser(username.to_string()));
        }
        Ok(())
    }

    /// Sets a new hash and ends the user's sessions.
    pub fn set_password_hash(&self, username: &str, password_hash: &str) -> Result<(), AuthError> {
        self.update_user(
            username,
            "UPDATE users SET password_hash = ?1 WHERE username = ?2",
            &password_hash,
        )?;
        self.delete_user_sessions(username)
    }

    /// Changes the role; live sessions take the new role at their next request.
    pub fn set_role(&self, username: &str, role: Role) -> Result<(), AuthError> {
        self.update_user(
            username,
            "UPDATE users SET role = ?1 WHERE username = ?2",
            &role.as_str(),
        )
    }

    /// Disables (ending the user's sessions) or re-enables a user.
    pub fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), AuthError> {
        self.update_user(
            username,
            "UPDATE users SET disabled = ?1 WHERE username = ?2",
            &(disabled as i64),
        )?;
        if disabled {
            self.delete_user_sessions(username)?;
        }
        Ok(())
    }

    pub fn users(&self) -> Result<Vec<UserInfo>, AuthError> {
        let mut stmt = self
            .conn
            .prepare("SELECT username, role, created_unix_ns, disabled FROM users ORDER BY username")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(username, role, created, disabled)| {
                Ok(UserInfo {
                    username,
                    role: role_from_db(&self.path, role)?,
                    created_unix_ns: created as u64,
                    disabled: disabled != 0,
                })
            })
            .collect()
    }

    // ---- API tokens ----

    pub fn insert_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        now: u64,
        expires: Option<u64>,
    ) -> Result<(), AuthError> {
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO api_tokens (name, hash, role, created_unix_ns, expires_unix_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, token_hash, role.as_str(), now as i64, expires.map(|e| e as i64)],
            )
            .map_err(|e| self.err(e))?;
        if inserted == 0 {
            return Err(AuthError::TokenExists(name.to_string()));
        }
        Ok(())
    }

    /// The (name, role) of a live token with this hash; records its use.
    pub fn token_by_hash(&self, token_hash: &str, now: u64) -> Result<Option<(String, Role)>, AuthError> {
        let row = self
            .conn
            .query_row(
                "SELECT name, role FROM api_tokens WHERE hash = ?1 AND revoked_unix_ns IS NULL
                 AND (expires_unix_ns IS NULL OR expires_unix_ns > ?2)",
                params![token_hash, now as i64],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((name, role)) = row else { return Ok(None) };
        // At most one write a minute per token.
        self.conn
            .execute(
                "UPDATE api_tokens SET last_used_unix_ns = ?1 WHERE name = ?2
                 AND (last_used_unix_ns IS NULL OR last_used_unix_ns < ?3)",
                params![now as i64, name, now.saturating_sub(60_000_000_000) as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(Some((name, role_from_db(&self.path, role)?)))
    }

    pub fn revoke_token(&self, name: &str, now: u64) -> Result<(), AuthError> {
        let changed = self
            .conn
            .execute(
                "UPDATE api_tokens SET revoked_unix_ns = ?1 WHERE name = ?2 AND revoked_unix_ns IS NULL",
                params![now as i64, name],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(AuthError::UnknownToken(name.to_string()));
        }
        Ok(())
    }

    pub fn tokens(&self) -> Result<Vec<ApiTokenInfo>, AuthError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, role, created_unix_ns, expires_unix_ns, revoked_unix_ns, last_used_unix_ns
                 FROM api_tokens ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(name, role, created, expires, revoked, used)| {
                Ok(ApiTokenInfo {
                    name,
                    role: role_from_db(&self.path, role)?,
                    created_unix_ns: created as u64,
                    expires_unix_ns: opt_u64(expires),
                    revoked_unix_ns: opt_u64(revoked),
                    last_used_unix_ns: opt_u64(used),
                })
            })
            .collect()
    }

    // ---- sessions ----

    /// Stores a new session; a user's oldest sessions beyond
    /// [`MAX_SESSIONS_PER_USER`] end.
    pub fn insert_session(&self, session_hash: &str, username: &str, now: u64) -> Result<(), AuthError> {
        self.conn
            .execute(
                "INSERT INTO sessions (hash, username, created_unix_ns, last_seen_unix_ns) VALUES (?1, ?2, ?3, ?3)",
                params![session_hash, username, now as i64],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "DELETE FROM sessions WHERE username = ?1 AND hash NOT IN
                 (SELECT hash FROM sessions WHERE username = ?1 ORDER BY created_unix_ns DESC, rowid DESC LIMIT ?2)",
                params![username, MAX_SESSIONS_PER_USER as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The user behind a live session, refreshing its idle clock; a session
    /// past its idle timeout or absolute lifetime, or whose user is gone or
    /// disabled, is deleted and yields `None`.
    pub fn touch_session(
        &self,
        session_hash: &str,
        now: u64,
        idle_ns: u64,
        lifetime_ns: u64,
    ) -> Result<Option<SessionUser>, AuthError> {
        let row = self
            .conn
            .query_row(
                "SELECT s.created_unix_ns, s.last_seen_unix_ns, u.username, u.role, u.disabled
                 FROM sessions s LEFT JOIN users u ON u.username = s.username WHERE s.hash = ?1",
                params![session_hash],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((created, last_seen, username, role, disabled)) = row else {
            return Ok(None);
        };
        let expired = now.saturating_sub(created) >= lifetime_ns || now.saturating_sub(last_seen) >= idle_ns;
        let (Some(username), Some(role), Some(0)) = (username, role, disabled) else {
            self.delete_session(session_hash)?;
            return Ok(None);
        };
        if expired {
            self.delete_session(session_hash)?;
            return Ok(None);
        }
        // Refresh the idle clock at most a few times per idle period.
        if now.saturating_sub(last_seen) >= (idle_ns / 20).max(1) {
            self.conn
                .execute(
                    "UPDATE sessions SET last_seen_unix_ns = ?1 WHERE hash = ?2",
                    params![now as i64, session_hash],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(Some(SessionUser {
            username,
            role: role_from_db(&self.path, role)?,
        }))
    }

    pub fn delete_session(&self, session_hash: &str) -> Result<(), AuthError> {
        self.conn
            .execute("DELETE FROM sessions WHERE hash = ?1", params![session_hash])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn delete_user_sessions(&self, username: &str) -> Result<(), AuthError> {
        self.conn
            .execute("DELETE FROM sessions WHERE username = ?1", params![username])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes every session past either limit; returns how many.
    pub fn purge_sessions(&self, now: u64, idle_ns: u64, lifetime_ns: u64) -> Result<usize, AuthError> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE created_unix_ns <= ?1 OR last_seen_unix_ns <= ?2",
                params![
                    now.saturating_sub(lifetime_ns) as i64,
                    now.saturating_sub(idle_ns) as i64
                ],
            )
            .map_err(|e| self.err(e))
    }

    // ---- audit ----

    pub fn append_audit(&self, record: &AuditRecord) -> Result<(), AuthError> {
        self.conn
            .execute(
                "INSERT INTO audit (time_unix_ns, actor, role, action, target, source_ip, user_agent, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.time_unix_ns as i64,
                    record.actor,
                    record.role,
                    record.action,
                    record.target,
                    record.source_ip,
                    record.user_agent,
                    record.outcome
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest `limit` rows, newest first, optionally only those with id
    /// below `before_id` (paging).
    pub fn audit(&self, limit: usize, before_id: Option<u64>) -> Result<Vec<AuditRecord>, AuthError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, time_unix_ns, actor, role, action, target, source_ip, user_agent, outcome
                 FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let before = before_id.map(|b| b.min(i64::MAX as u64) as i64).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![before, limit.min(i64::MAX as usize) as i64], |r| {
                Ok(AuditRecord {
                    id: r.get::<_, i64>(0)? as u64,
                    time_unix_ns: r.get::<_, i64>(1)? as u64,
                    actor: r.get(2)?,
                    role: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    source_ip: r.get(6)?,
                    user_agent: r.get(7)?,
                    outcome: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_are_capped_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let db = AuthDb::open(&dir.path().join("auth.db")).unwrap();
        db.insert_user("u", Role::Viewer, "$argon2id$x", 0).unwrap();
        let (idle, lifetime) = (10, 100);
        db.insert_session("s0", "u", 1000).unwrap();
        assert!(db.touch_session("s0", 1005, idle, lifetime).unwrap().is_some());
        // Idle past the limit: gone, and stays gone.
        assert!(db.touch_session("s0", 1016, idle, lifetime).unwrap().is_none());
        assert!(db.touch_session("s0", 1017, idle, lifetime).unwrap().is_none());
        // Kept busy, it still ends at its lifetime.
        db.insert_session("s1", "u", 2000).unwrap();
        for t in (2005..2100).step_by(5) {
            assert!(db.touch_session("s1", t, idle, lifetime).unwrap().is_some(), "at {t}");
        }
        assert!(db.touch_session("s1", 2100, idle, lifetime).unwrap().is_none());

        for i in 0..(MAX_SESSIONS_PER_USER + 3) {
            db.insert_session(&format!("c{i}"), "u", 3000 + i as u64).unwrap();
        }
        let now = 3000 + MAX_SESSIONS_PER_USER as u64;
        let live = (0..(MAX_SESSIONS_PER_USER + 3))
            .filter(|i| db.touch_session(&format!("c{i}"), now, 1000, 1000).unwrap().is_some())
            .count();
        assert_eq!(live, MAX_SESSIONS_PER_USER);
        assert!(
            db.touch_session("c0", now, 1000, 1000).unwrap().is_none(),
            "oldest ended"
        );
        assert_eq!(
            db.purge_sessions(now + 5000, 1000, 1000).unwrap(),
            MAX_SESSIONS_PER_USER
        );
    }
}
