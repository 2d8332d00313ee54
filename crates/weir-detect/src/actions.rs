//! Response actions as the collector decided them, next to the alerts: what
//! was sent to which host for which alert and rule (or only would have been,
//! for shadow rules and dry runs), refused by a guardrail, and what the host
//! answered. The answer itself is in the evidence log (an `action` event);
//! this table links it to the alert and keeps the latency.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::alerts::AlertError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY,
    command_id TEXT NOT NULL UNIQUE,
    alert_id INTEGER,
    rule_id TEXT NOT NULL,
    host_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    -- respond | dry_run | shadow
    mode TEXT NOT NULL,
    -- sent | shadow | refused | error | ok | failed
    status TEXT NOT NULL,
    result TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    event_unix_ns INTEGER NOT NULL,
    decided_unix_ns INTEGER NOT NULL,
    done_unix_ns INTEGER,
    host_latency_us INTEGER
);
CREATE INDEX IF NOT EXISTS actions_by_alert ON actions (alert_id);
CREATE INDEX IF NOT EXISTS actions_by_rule ON actions (rule_id, decided_unix_ns);
";

/// One decided action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    pub command_id: String,
    pub alert_id: Option<i64>,
    pub rule_id: String,
    pub host_id: String,
    pub action: String,
    pub target: String,
    pub mode: String,
    pub status: String,
    pub result: String,
    pub policy_version: String,
    pub event_unix_ns: u64,
    pub decided_unix_ns: u64,
    pub done_unix_ns: Option<u64>,
    pub host_latency_us: Option<u64>,
}

pub(crate) fn insert(conn: &Connection, a: &ActionRecord) -> Result<(), AlertError> {
    conn.execute(
        "INSERT OR IGNORE INTO actions (command_id, alert_id, rule_id, host_id, action, target, mode, status, result,
         policy_version, event_unix_ns, decided_unix_ns, done_unix_ns, host_latency_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            a.command_id,
            a.alert_id,
            a.rule_id,
            a.host_id,
            a.action,
            a.target,
            a.mode,
            a.status,
            a.result,
            a.policy_version,
            a.event_unix_ns as i64,
            a.decided_unix_ns as i64,
            a.done_unix_ns.map(|v| v as i64),
            a.host_latency_us.map(|v| v as i64),
        ],
    )?;
    Ok(())
}

/// Records the host's answer to a command; `false` if no such command.
pub(crate) fn complete(
    conn: &Connection,
    command_id: &str,
    result: &str,
    host_latency_us: u64,
    done_unix_ns: u64,
) -> Result<bool, AlertError> {
    let status = if result.starts_with("ok") {
        "ok"
    } else if result.starts_with("dry-run") {
        "dry_run"
    } else if result.starts_with("refused") {
        "refused"
    } else {
        "failed"
    };
    let n = conn.execute(
        "UPDATE actions SET status = ?2, result = ?3, host_latency_us = ?4, done_unix_ns = ?5
         WHERE command_id = ?1 AND done_unix_ns IS NULL",
        params![command_id, status, result, host_latency_us as i64, done_unix_ns as i64],
    )?;
    Ok(n > 0)
}

/// Actions, newest first; of one alert when `alert_id` is given.
pub(crate) fn list(conn: &Connection, alert_id: Option<i64>, limit: usize) -> Result<Vec<ActionRecord>, AlertError> {
    let mut stmt = conn.prepare(
        "SELECT command_id, alert_id, rule_id, host_id, action, target, mode, status, result, policy_version,
         event_unix_ns, decided_unix_ns, done_unix_ns, host_latency_us FROM actions
         WHERE ?1 IS NULL OR alert_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![alert_id, limit.min(100_000) as i64], |r| {
        Ok(ActionRecord {
            command_id: r.get(0)?,
            alert_id: r.get(1)?,
            rule_id: r.get(2)?,
            host_id: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            mode: r.get(6)?,
            status: r.get(7)?,
            result: r.get(8)?,
            policy_version: r.get(9)?,
            event_unix_ns: r.get::<_, i64>(10)? as u64,
            decided_unix_ns: r.get::<_, i64>(11)? as u64,
            done_unix_ns: r.get::<_, Option<i64>>(12)?.map(|v| v as u64),
            host_latency_us: r.get::<_, Option<i64>>(13)?.map(|v| v as u64),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Per rule: (actions taken or attempted, would-be actions in shadow mode).
pub(crate) fn per_rule(conn: &Connection) -> Result<std::collections::HashMap<String, (u64, u64)>, AlertError> {
    let mut stmt =
        conn.prepare("SELECT rule_id, SUM(mode != 'shadow'), SUM(mode = 'shadow') FROM actions GROUP BY rule_id")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
