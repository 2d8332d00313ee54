//! The collector's own state in DATA/state.db (SQLite): one-time enrollment
//! tokens (stored as sha256, never in clear), enrolled hosts with their keys
//! and counters, and the Hello nonces already used by each host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::ServerError;

/// An enrolled host as remembered by the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub host_id: String,
    pub machine_id: String,
    pub host_name: String,
    pub public_key: [u8; 32],
    pub enrolled_unix_ns: u64,
    pub last_seen_unix_ns: u64,
    pub events: u64,
}

/// Outcome of presenting an enrollment token.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Accepted,
    Unknown,
    AlreadyUsed,
    Expired,
}

pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

/// How long a Hello nonce is remembered: longer than the accepted clock skew
/// on both sides, so a nonce can never be replayed while its Hello is fresh.
pub const NONCE_MEMORY: Duration = Duration::from_secs(15 * 60);

impl StateDb {
    pub fn open(path: &Path) -> Result<StateDb, ServerError> {
        let conn = Connection::open(path).map_err(|source| ServerError::State {
            path: path.to_path_buf(),
            source,
        })?;
        let db = StateDb {
            conn,
            path: path.to_path_buf(),
        };
        // Token hashes and host keys: owner only, like the rest of DATA.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| ServerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        db.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL;
                 PRAGMA synchronous=FULL;
                 CREATE TABLE IF NOT EXISTS enroll_tokens (
                     hash TEXT PRIMARY KEY,
                     created_unix_ns INTEGER NOT NULL,
                     expires_unix_ns INTEGER NOT NULL,
                     used_unix_ns INTEGER,
                     used_by TEXT);
                 CREATE TABLE IF NOT EXISTS hosts (
                     host_id TEXT PRIMARY KEY,
                     machine_id TEXT NOT NULL,
                     host_name TEXT NOT NULL,
                     public_key BLOB NOT NULL,
                     enrolled_unix_ns INTEGER NOT NULL,
                     last_seen_unix_ns INTEGER NOT NULL DEFAULT 0,
                     events INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE IF NOT EXISTS hello_nonces (
                     host_id TEXT NOT NULL,
                     nonce BLOB NOT NULL,
                     seen_unix_ns INTEGER NOT NULL,
                     PRIMARY KEY (host_id, nonce));",
            )
            .map_err(|e| db.err(e))?;
        Ok(db)
    }

    fn err(&self, source: rusqlite::Error) -> ServerError {
        ServerError::State {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores a new token (hashed) valid until `expires_unix_ns`.
    pub fn add_token(&self, token: &str, now_unix_ns: u64, expires_unix_ns: u64) -> Result<(), ServerError> {
        self.conn
            .execute(
                "INSERT INTO enroll_tokens (hash, created_unix_ns, expires_unix_ns) VALUES (?1, ?2, ?3)",
                params![
                    crate::auth::secret_hash(token),
                    now_unix_ns as i64,
                    expires_unix_ns as i64
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Burns `token` for `host_id` if it is known, unused and not expired.
    /// The check and the burn are one statement, so a token works once even
    /// when two enrollments race.
    pub fn consume_token(&self, token: &str, host_id: &str, now_unix_ns: u64) -> Result<TokenCheck, ServerError> {
        let hash = crate::auth::secret_hash(token);
        let burned = self
            .conn
            .execute(
                "UPDATE enroll_tokens SET used_unix_ns = ?2, used_by = ?3
                 WHERE hash = ?1 AND used_unix_ns IS NULL AND expires_unix_ns > ?2",
                params![hash, now_unix_ns as i64, host_id],
            )
            .map_err(|e| self.err(e))?;
        if burned == 1 {
            return Ok(TokenCheck::Accepted);
        }
        let row: Option<(i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT expires_unix_ns, used_unix_ns FROM enroll_tokens WHERE hash = ?1",
                params![hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(match row {
            None => TokenCheck::Unknown,
            Some((_, Some(_))) => TokenCheck::AlreadyUsed,
            Some(_) => TokenCheck::Expired,
        })
    }

    pub fn put_host(&self, host: &HostRecord) -> Result<(), ServerError> {
        self.conn
            .execute(
                "INSERT INTO hosts (host_id, machine_id, host_name, public_key, enrolled_unix_ns, last_seen_unix_ns, events)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(host_id) DO UPDATE SET machine_id = ?2, host_name = ?3",
                params![
                    host.host_id,
                    host.machine_id,
                    host.host_name,
                    host.public_key.to_vec(),
                    host.enrolled_unix_ns as i64,
                    host.last_seen_unix_ns as i64,
                    host.events as i64
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn hosts(&self) -> Result<Vec<HostRecord>, ServerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT host_id, machine_id, host_name, public_key, enrolled_unix_ns, last_seen_unix_ns, events
                 FROM hosts ORDER BY host_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let key: Vec<u8> = r.get(3)?;
                Ok((
                    HostRecord {
                        host_id: r.get(0)?,
                        machine_id: r.get(1)?,
                        host_name: r.get(2)?,
                        public_key: [0; 32],
                        enrolled_unix_ns: r.get::<_, i64>(4)? as u64,
                        last_seen_unix_ns: r.get::<_, i64>(5)? as u64,
                        events: r.get::<_, i64>(6)? as u64,
                    },
                    key,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (mut host, key) = row.map_err(|e| self.err(e))?;
            host.public_key = key.as_slice().try_into().map_err(|_| ServerError::Corrupt {
                path: self.path.clone(),
                detail: format!("hosts.public_key of {} is {} bytes, not 32", host.host_id, key.len()),
            })?;
            out.push(host);
        }
        Ok(out)
    }

    /// Saves traffic counters (called periodically; the index is the truth).
    pub fn update_counters(&mut self, rows: &[(String, u64, u64)]) -> Result<(), ServerError> {
        let tx = self.conn.transaction().map_err(|source| ServerError::State {
            path: self.path.clone(),
            source,
        })?;
        for (host_id, last_seen, events) in rows {
            tx.execute(
                "UPDATE hosts SET last_seen_unix_ns = ?2, events = ?3 WHERE host_id = ?1",
                params![host_id, *last_seen as i64, *events as i64],
            )
            .map_err(|source| ServerError::State {
                path: self.path.clone(),
                source,
            })?;
        }
        tx.commit().map_err(|source| ServerError::State {
            path: self.path.clone(),
            source,
        })
    }

    /// Records a Hello nonce; false when this host already used it.
    pub fn use_nonce(&self, host_id: &str, nonce: &[u8], now_unix_ns: u64) -> Result<bool, ServerError> {
        let cutoff = now_unix_ns.saturating_sub(NONCE_MEMORY.as_nanos() as u64);
        self.conn
            .execute(
                "DELETE FROM hello_nonces WHERE seen_unix_ns < ?1",
                params![cutoff as i64],
            )
            .map_err(|e| self.err(e))?;
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO hello_nonces (host_id, nonce, seen_unix_ns) VALUES (?1, ?2, ?3)",
                params![host_id, nonce, now_unix_ns as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(inserted == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        db.add_token("t1", 10, 100).unwrap();
        db.add_token("t2", 10, 20).unwrap();
        assert_eq!(db.consume_token("t1", "h1", 50).unwrap(), TokenCheck::Accepted);
        assert_eq!(db.consume_token("t1", "h2", 51).unwrap(), TokenCheck::AlreadyUsed);
        assert_eq!(db.consume_token("t2", "h1", 50).unwrap(), TokenCheck::Expired);
        assert_eq!(db.consume_token("nope", "h1", 50).unwrap(), TokenCheck::Unknown);
        let stored: String = db
            .conn
            .query_row("SELECT group_concat(hash) FROM enroll_tokens", [], |r| r.get(0))
            .unwrap();
        assert!(!stored.contains("t1"));
    }

    #[test]
    fn a_nonce_is_accepted_once_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        assert!(db.use_nonce("h1", b"n", 1).unwrap());
        assert!(!db.use_nonce("h1", b"n", 2).unwrap());
        assert!(db.use_nonce("h2", b"n", 2).unwrap());
    }
}
