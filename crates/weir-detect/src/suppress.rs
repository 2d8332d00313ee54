//! Suppressions: a rule silenced for a scope (a group key and/or a host) for
//! a bounded time, with who asked and why. They live in the alert store next
//! to the alerts, keep their hit count, and are never deleted: lifting one
//! records who lifted it and when (the audit trail).

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::alerts::AlertError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS suppressions (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    group_key TEXT,
    host_id TEXT,
    reason TEXT NOT NULL,
    author TEXT NOT NULL,
    created_unix_ns INTEGER NOT NULL,
    expires_unix_ns INTEGER NOT NULL,
    lifted_unix_ns INTEGER,
    lifted_by TEXT,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS suppressions_by_rule ON suppressions (rule_id);
";

/// A request to silence a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSuppression {
    pub rule_id: String,
    /// Only matches with this group key (`None`: any).
    pub group_key: Option<String>,
    /// Only matches on this host (`None`: any).
    pub host_id: Option<String>,
    pub reason: String,
    pub author: String,
    pub created_unix_ns: u64,
    pub expires_unix_ns: u64,
}

/// A suppression as stored, with its audit fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppression {
    pub id: i64,
    pub rule_id: String,
    pub group_key: Option<String>,
    pub host_id: Option<String>,
    pub reason: String,
    pub author: String,
    pub created_unix_ns: u64,
    pub expires_unix_ns: u64,
    pub lifted_unix_ns: Option<u64>,
    pub lifted_by: Option<String>,
    /// Matches it silenced.
    pub hits: u64,
}

/// Longest a suppression may last: silence must come back up for review.
pub const MAX_SUPPRESSION_NS: u64 = 90 * 86_400 * 1_000_000_000;

pub(crate) fn insert(conn: &Connection, s: &NewSuppression) -> Result<i64, AlertError> {
    if s.reason.trim().is_empty() || s.author.trim().is_empty() {
        return Err(AlertError::Invalid("a suppression needs a reason and an author".into()));
    }
    if s.expires_unix_ns <= s.created_unix_ns || s.expires_unix_ns - s.created_unix_ns > MAX_SUPPRESSION_NS {
        return Err(AlertError::Invalid("a suppression must expire, within 90 days".into()));
    }
    conn.execute(
        "INSERT INTO suppressions (rule_id, group_key, host_id, reason, author, created_unix_ns, expires_unix_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            s.rule_id,
            s.group_key,
            s.host_id,
            s.reason,
            s.author,
            s.created_unix_ns as i64,
            s.expires_unix_ns as i64
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The suppression (if any) in force for this match at its time; counts the hit.
pub(crate) fn matching(
    conn: &Connection,
    rule_id: &str,
    group_key: &str,
    host_id: &str,
    at_unix_ns: u64,
) -> Result<Option<i64>, AlertError> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM suppressions WHERE rule_id = ?1
             AND (group_key IS NULL OR group_key = ?2) AND (host_id IS NULL OR host_id = ?3)
             AND created_unix_ns <= ?4 AND expires_unix_ns > ?4
             AND (lifted_unix_ns IS NULL OR lifted_unix_ns > ?4)
             ORDER BY id LIMIT 1",
            params![rule_id, group_key, host_id, at_unix_ns as i64],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = id {
        conn.execute("UPDATE suppressions SET hits = hits + 1 WHERE id = ?1", params![id])?;
    }
    Ok(id)
}

pub(crate) fn lift(conn: &Connection, id: i64, by: &str, at_unix_ns: u64) -> Result<(), AlertError> {
    let changed = conn.execute(
        "UPDATE suppressions SET lifted_unix_ns = ?2, lifted_by = ?3 WHERE id = ?1 AND lifted_unix_ns IS NULL",
        params![id, at_unix_ns as i64, by],
    )?;
    if changed == 0 {
        return Err(AlertError::Invalid(format!("no active suppression {id}")));
    }
    Ok(())
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<Suppression>, AlertError> {
    let mut stmt = conn.prepare(
        "SELECT id, rule_id, group_key, host_id, reason, author, created_unix_ns, expires_unix_ns,
         lifted_unix_ns, lifted_by, hits FROM suppressions ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(Suppression {
            id: row.get(0)?,
            rule_id: row.get(1)?,
            group_key: row.get(2)?,
            host_id: row.get(3)?,
            reason: row.get(4)?,
            author: row.get(5)?,
            created_unix_ns: row.get::<_, i64>(6)? as u64,
            expires_unix_ns: row.get::<_, i64>(7)? as u64,
            lifted_unix_ns: row.get::<_, Option<i64>>(8)?.map(|t| t as u64),
            lifted_by: row.get(9)?,
            hits: row.get::<_, i64>(10)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
