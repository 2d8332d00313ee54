//! Alert store (SQLite): every rule match is recorded once (rule, host,
//! event sequence, evidence leaf), and matches of one rule with one group key
//! inside the realert window fold into a single alert with a count, so a
//! noisy rule pages once, not a thousand times.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Why the alert store failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert store {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("alert store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Whether a rule's hits page people or are only counted (staged rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Alert,
    Shadow,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Alert => "alert",
            Mode::Shadow => "shadow",
        }
    }
}

/// One event matched by one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    pub rule_id: String,
    pub rule_title: String,
    pub level: String,
    pub mode: Mode,
    pub host_id: String,
    /// Values of the rule's suppression fields (or the host) joined: what dedup groups on.
    pub group_key: String,
    /// The human behind the event (login user, else user), when known.
    pub actor: String,
    /// A short line for people: command line, file path or destination.
    pub summary: String,
    pub event_seq: u64,
    pub evidence_leaf: u64,
    pub time_unix_ns: u64,
}

/// What recording a match did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new alert was opened.
    Opened(i64),
    /// Folded into an alert still inside its realert window.
    Folded(i64),
    /// This (rule, host, event) was already recorded (replay after restart).
    Duplicate,
    /// Silenced by this suppression (remembered, not raised).
    Suppressed(i64),
}

/// An alert as listed by the API and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    pub rule_id: String,
    pub rule_title: String,
    pub level: String,
    pub mode: Mode,
    pub host_id: String,
    pub group_key: String,
    pub actor: String,
    pub summary: String,
    pub first_unix_ns: u64,
    pub last_unix_ns: u64,
    pub count: u64,
    pub state: String,
}

/// Statistics of one rule in one mode, from [`AlertStore::rule_stats`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStats {
    pub rule_id: String,
    pub rule_title: String,
    pub mode: Mode,
    pub alerts: u64,
    pub matches: u64,
    pub hosts: u64,
    pub actors: u64,
    pub first_unix_ns: u64,
    pub last_unix_ns: u64,
    /// Alerts resolved as each kind; the false-positive rate is
    /// false_positives / (true_positives + false_positives + benign).
    pub true_positives: u64,
    pub false_positives: u64,
    pub benign: u64,
    /// Response actions sent (or refused) for this rule; in shadow mode,
    /// the actions it would have taken.
    pub actions: u64,
    /// Alerts whose actor was asked to confirm, and how many confirmed with
    /// a second factor (the actor confirmation rate is confirmed / asked).
    pub asked: u64,
    pub confirmed: u64,
}

/// Filters for [`AlertStore::list`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AlertQuery {
    pub mode: Option<String>,
    pub rule_id: Option<String>,
    pub host: Option<String>,
    pub state: Option<String>,
    pub limit: Option<usize>,
}

/// Evidence events kept per alert; later matches only raise the count.
const MAX_EVENTS_PER_ALERT: i64 = 100;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    level TEXT NOT NULL,
    mode TEXT NOT NULL,
    host_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    actor TEXT NOT NULL,
    summary TEXT NOT NULL,
    first_unix_ns INTEGER NOT NULL,
    last_unix_ns INTEGER NOT NULL,
    count INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX IF NOT EXISTS alerts_by_group ON alerts (rule_id, group_key, mode, last_unix_ns);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (last_unix_ns);
CREATE TABLE IF NOT EXISTS matches (
    rule_id TEXT NOT NULL,
    host_id TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    -- NULL: remembered (so a replay is a duplicate) but not evidence of an
    -- alert: suppressed, or past the evidence kept per alert.
    alert_id INTEGER,
    evidence_leaf INTEGER NOT NULL,
    time_unix_ns INTEGER NOT NULL,
    PRIMARY KEY (rule_id, host_id, event_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS matches_by_alert ON matches (alert_id);
CREATE TABLE IF NOT EXISTS rule_modes (
    rule_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_mode_changes (
    rule_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    who TEXT NOT NULL,
    at_unix_ns INTEGER NOT NULL,
    note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transitions (
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    at_unix_ns INTEGER NOT NULL,
    state TEXT NOT NULL,
    who TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_by_alert ON transitions (alert_id);
";

/// SQLite-backed alerts and matches.
pub struct AlertStore {
    conn: Connection,
}

impl AlertStore {
    pub fn open(path: &Path) -> Result<AlertStore, AlertError> {
        let open_err = |source| AlertError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        // The detection worker, the API and the CLI write concurrently.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        conn.execute_batch(crate::suppress::SCHEMA).map_err(open_err)?;
        conn.execute_batch(crate::actions::SCHEMA).map_err(open_err)?;
        Ok(AlertStore { conn })
    }

    /// Records matches in one transaction, folding each into an open alert of
    /// the same rule, group key and mode last seen within `realert_ns`.
    pub fn record(&mut self, matches: &[RuleMatch], realert_ns: u64) -> Result<Vec<Recorded>, AlertError> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(matches.len());
        for m in matches {
            let seen: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM matches WHERE rule_id = ?1 AND host_id = ?2 AND event_seq = ?3",
                    params![m.rule_id, m.host_id, m.event_seq as i64],
                    |row| row.get(0),
                )
                .optional()?;
            if seen.is_some() {
                out.push(Recorded::Duplicate);
                continue;
            }
            if let Some(id) = crate::suppress::matching(&tx, &m.rule_id, &m.group_key, &m.host_id, m.time_unix_ns)? {
                // Remembered, so a replay stays a duplicate.
                tx.execute(
                    "INSERT INTO matches (rule_id, host_id, event_seq, alert_id, evidence_leaf, time_unix_ns)
                     VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                    params![
                        m.rule_id,
                        m.host_id,
                        m.event_seq as i64,
                        m.evidence_leaf as i64,
                        m.time_unix_ns as i64
                    ],
                )?;
                out.push(Recorded::Suppressed(id));
                continue;
            }
            let window_start = m.time_unix_ns.saturating_sub(realert_ns) as i64;
            let open: Option<i64> = tx
                .query_row(
                    "SELECT id FROM alerts WHERE rule_id = ?1 AND group_key = ?2 AND mode = ?3
                     AND state NOT IN ('true_positive', 'false_positive', 'benign') AND last_unix_ns >= ?4 ORDER BY last_unix_ns DESC LIMIT 1",
                    params![m.rule_id, m.group_key, m.mode.as_str(), window_start],
                    |row| row.get(0),
                )
                .optional()?;
            let recorded = match open {
                Some(id) => {
                    tx.execute(
                        "UPDATE alerts SET count = count + 1, last_unix_ns = MAX(last_unix_ns, ?2),
                         first_unix_ns = MIN(first_unix_ns, ?2) WHERE id = ?1",
                        params![id, m.time_unix_ns as i64],
                    )?;
                    Recorded::Folded(id)
                }
                None => {
                    tx.execute(
                        "INSERT INTO alerts (rule_id, rule_title, level, mode, host_id, group_key, actor, summary,
                         first_unix_ns, last_unix_ns, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 1)",
                        params![
                            m.rule_id,
                            m.rule_title,
                            m.level,
                            m.mode.as_str(),
                            m.host_id,
                            m.group_key,
                            m.actor,
                            m.summary,
                            m.time_unix_ns as i64
                        ],
                    )?;
                    Recorded::Opened(tx.last_insert_rowid())
                }
            };
            let alert_id = match recorded {
                Recorded::Opened(id) | Recorded::Folded(id) => id,
                Recorded::Duplicate | Recorded::Suppressed(_) => unreachable!("skipped above"),
            };
            let kept: i64 = tx.query_row(
                "SELECT COUNT(*) FROM matches WHERE alert_id = ?1",
                params![alert_id],
                |row| row.get(0),
            )?;
            // Past the cap the match is still remembered (so a replay is a
            // duplicate) but outside the alert's evidence list.
            let owner = (kept < MAX_EVENTS_PER_ALERT).then_some(alert_id);
            tx.execute(
                "INSERT INTO matches (rule_id, host_id, event_seq, alert_id, evidence_leaf, time_unix_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    m.rule_id,
                    m.host_id,
                    m.event_seq as i64,
                    owner,
                    m.evidence_leaf as i64,
                    m.time_unix_ns as i64
                ],
            )?;
            out.push(recorded);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Alerts, newest first.
    pub fn list(&self, q: &AlertQuery) -> Result<Vec<Alert>, AlertError> {
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        for (column, value) in [
            ("mode", &q.mode),
            ("rule_id", &q.rule_id),
            ("host_id", &q.host),
            ("state", &q.state),
        ] {
            if let Some(value) = value {
                args.push(value.clone());
                sql.push_str(&format!(" AND {column} = ?{}", args.len()));
            }
        }
        sql.push_str(&format!(
            " ORDER BY last_unix_ns DESC LIMIT {}",
            q.limit.unwrap_or(100).min(10_000)
        ));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), alert_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One alert by id, however old.
    pub fn get(&self, id: i64) -> Result<Option<Alert>, AlertError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
                [id],
                alert_row,
            )
            .optional()?)
    }

    /// Per rule and mode: alerts, matches folded into them, distinct hosts
    /// and actors, first and last time — what a staged rule would have raised.
    pub fn rule_stats(&self) -> Result<Vec<RuleStats>, AlertError> {
        let mut stmt = self.conn.prepare(
            "SELECT rule_id, MAX(rule_title), mode, COUNT(*), SUM(count), COUNT(DISTINCT host_id),
             COUNT(DISTINCT actor), MIN(first_unix_ns), MAX(last_unix_ns),
             SUM(state = 'true_positive'), SUM(state = 'false_positive'), SUM(state = 'benign')
             FROM alerts GROUP BY rule_id, mode ORDER BY SUM(count) DESC",
        )?;
        let actions = crate::actions::per_rule(&self.conn)?;
        let mut triage = self.conn.prepare(
            "SELECT a.rule_id, a.mode, COUNT(DISTINCT CASE WHEN t.state = 'pending_confirmation' THEN a.id END),
             COUNT(DISTINCT CASE WHEN t.state = 'confirmed' THEN a.id END)
             FROM alerts a JOIN transitions t ON t.alert_id = a.id GROUP BY a.rule_id, a.mode",
        )?;
        let triage: std::collections::HashMap<(String, String), (u64, u64)> = triage
            .query_map([], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    (r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64),
                ))
            })?
            .collect::<Result<_, _>>()?;
        let rows = stmt.query_map([], |row| {
            let mode: String = row.get(2)?;
            let rule_id: String = row.get(0)?;
            let (taken, would_be) = actions.get(&rule_id).copied().unwrap_or_default();
            let (asked, confirmed) = triage
                .get(&(rule_id.clone(), mode.clone()))
                .copied()
                .unwrap_or_default();
            Ok(RuleStats {
                asked,
                confirmed,
                actions: if mode == "shadow" { would_be } else { taken },
                rule_id,
                rule_title: row.get(1)?,
                mode: if mode == "shadow" { Mode::Shadow } else { Mode::Alert },
                alerts: row.get::<_, i64>(3)? as u64,
                matches: row.get::<_, i64>(4)? as u64,
                hosts: row.get::<_, i64>(5)? as u64,
                actors: row.get::<_, i64>(6)? as u64,
                first_unix_ns: row.get::<_, i64>(7)? as u64,
                last_unix_ns: row.get::<_, i64>(8)? as u64,
                true_positives: row.get::<_, i64>(9)? as u64,
                false_positives: row.get::<_, i64>(10)? as u64,
                benign: row.get::<_, i64>(11)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Closes an open alert as `true_positive`, `false_positive` or `benign`,
    /// recording who and when; the rule's false-positive rate comes from these.
    pub fn resolve(
        &mut self,
        alert_id: i64,
        resolution: &str,
        who: &str,
        note: &str,
        at_unix_ns: u64,
    ) -> Result<(), AlertError> {
        if !RESOLUTIONS.contains(&resolution) {
            return Err(AlertError::Invalid(format!(
                "resolution must be true_positive, false_positive or benign, not {resolution:?}"
            )));
        }
        if who.trim().is_empty() {
            return Err(AlertError::Invalid("say who resolves the alert".into()));
        }
        let tx = self.conn.transaction()?;
        let state: Option<String> = tx
            .query_row("SELECT state FROM alerts WHERE id = ?1", params![alert_id], |r| {
                r.get(0)
            })
            .optional()?;
        match state.as_deref() {
            None => return Err(AlertError::Invalid(format!("no alert {alert_id}"))),
            Some(resolved) if RESOLUTIONS.contains(&resolved) => {
                return Err(AlertError::Invalid(format!("alert {alert_id} is already {resolved}")))
            }
            Some(_) => {}
        }
        set_state(&tx, alert_id, resolution, who, note, at_unix_ns)?;
        tx.commit()?;
        Ok(())
    }

    /// The state changes of an alert: (time, state, who, note), oldest first.
    pub fn transitions(&self, alert_id: i64) -> Result<Vec<(u64, String, String, String)>, AlertError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at_unix_ns, state, who, note FROM transitions WHERE alert_id = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map(params![alert_id], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets a rule's mode (shadow, alert, respond, enforce), overriding what
    /// its file says; every change is kept with who, when and why.
    pub fn set_rule_mode(
        &mut self,
        rule_id: &str,
        mode: weir_rules::Mode,
        who: &str,
        note: &str,
        at_unix_ns: u64,
    ) -> Result<(), AlertError> {
        if who.trim().is_empty() {
            return Err(AlertError::Invalid("say who changes the rule's mode".into()));
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO rule_modes (rule_id, mode) VALUES (?1, ?2) ON CONFLICT(rule_id) DO UPDATE SET mode = ?2",
            params![rule_id, mode.as_str()],
        )?;
        tx.execute(
            "INSERT INTO rule_mode_changes (rule_id, mode, who, at_unix_ns, note) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![rule_id, mode.as_str(), who, at_unix_ns as i64, note],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Mode overrides set by promote/demote, by rule id.
    pub fn rule_modes(&self) -> Result<std::collections::HashMap<String, weir_rules::Mode>, AlertError> {
        let mut stmt = self.conn.prepare("SELECT rule_id, mode FROM rule_modes")?;
        let rows = stmt.query_map([], |r| {
            let mode: String = r.get(1)?;
            Ok((
                r.get(0)?,
                weir_rules::Mode::parse(&mode).unwrap_or(weir_rules::Mode::Shadow),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Mode changes of a rule (mode, who, when, note), oldest first.
    pub fn rule_mode_changes(&self, rule_id: &str) -> Result<Vec<(String, String, u64, String)>, AlertError> {
        let mut stmt = self
            .conn
            .prepare("SELECT mode, who, at_unix_ns, note FROM rule_mode_changes WHERE rule_id = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map(params![rule_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts for metrics: alerts by (rule, mode, state) and actions by
    /// (action, status) with their summed host latency (µs).
    #[allow(clippy::type_complexity)]
    pub fn metric_counts(
        &self,
    ) -> Result<(Vec<(String, String, String, u64)>, Vec<(String, String, u64, u64)>), AlertError> {
        let mut stmt = self
            .conn
            .prepare("SELECT rule_id, mode, state, COUNT(*) FROM alerts GROUP BY rule_id, mode, state")?;
        let alerts = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT action, status, COUNT(*), COALESCE(SUM(host_latency_us), 0) FROM actions GROUP BY action, status",
        )?;
        let actions = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok((alerts, actions))
    }

    /// Records a response action the collector decided.
    pub fn record_action(&mut self, action: &crate::actions::ActionRecord) -> Result<(), AlertError> {
        crate::actions::insert(&self.conn, action)
    }

    /// Records a host's answer to a command; `false` if the command is unknown.
    pub fn complete_action(
        &mut self,
        command_id: &str,
        result: &str,
        host_latency_us: u64,
        done_unix_ns: u64,
    ) -> Result<bool, AlertError> {
        crate::actions::complete(&self.conn, command_id, result, host_latency_us, done_unix_ns)
    }

    /// Response actions, newest first (of one alert when given).
    pub fn actions(
        &self,
        alert_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<crate::actions::ActionRecord>, AlertError> {
        crate::actions::list(&self.conn, alert_id, limit)
    }

    /// Records a state change of an alert (triage, escalation) with who and why.
    pub fn transition(
        &mut self,
        alert_id: i64,
        state: &str,
        who: &str,
        note: &str,
        at_unix_ns: u64,
    ) -> Result<(), AlertError> {
        let tx = self.conn.transaction()?;
        if !set_state(&tx, alert_id, state, who, note, at_unix_ns)? {
            return Err(AlertError::Invalid(format!("no unresolved alert {alert_id}")));
        }
        tx.commit()?;
        Ok(())
    }

    /// Silences a rule for a scope until an expiry; returns its id.
    pub fn suppress(&mut self, s: &crate::suppress::NewSuppression) -> Result<i64, AlertError> {
        crate::suppress::insert(&self.conn, s)
    }

    /// Lifts a suppression early (kept, with who lifted it).
    pub fn lift_suppression(&mut self, id: i64, by: &str, at_unix_ns: u64) -> Result<(), AlertError> {
        crate::suppress::lift(&self.conn, id, by, at_unix_ns)
    }

    /// Every suppression, active or not, newest first.
    pub fn suppressions(&self) -> Result<Vec<crate::suppress::Suppression>, AlertError> {
        crate::suppress::list(&self.conn)
    }

    /// Evidence of an alert: (host, sequence, evidence leaf) of its kept events.
    pub fn evidence(&self, alert_id: i64) -> Result<Vec<(String, u64, u64)>, AlertError> {
        let mut stmt = self.conn.prepare(
            "SELECT host_id, event_seq, evidence_leaf FROM matches WHERE alert_id = ?1 ORDER BY time_unix_ns",
        )?;
        let rows = stmt.query_map(params![alert_id], |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The final states: an alert in one of them is resolved.
const RESOLUTIONS: [&str; 3] = ["true_positive", "false_positive", "benign"];

/// Moves an unresolved alert to `state` and records the transition; false
/// when there is no unresolved alert `alert_id`.
fn set_state(
    tx: &rusqlite::Transaction<'_>,
    alert_id: i64,
    state: &str,
    who: &str,
    note: &str,
    at_unix_ns: u64,
) -> Result<bool, AlertError> {
    let changed = tx.execute(
        "UPDATE alerts SET state = ?2 WHERE id = ?1 AND state NOT IN (?3, ?4, ?5)",
        params![alert_id, state, RESOLUTIONS[0], RESOLUTIONS[1], RESOLUTIONS[2]],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO transitions (alert_id, at_unix_ns, state, who, note) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![alert_id, at_unix_ns as i64, state, who, note],
    )?;
    Ok(true)
}

const ALERT_COLUMNS: &str = "id, rule_id, rule_title, level, mode, host_id, group_key, actor, summary, \
     first_unix_ns, last_unix_ns, count, state";

/// An `alerts` row selected as `ALERT_COLUMNS`.
fn alert_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let mode: String = row.get(4)?;
    Ok(Alert {
        id: row.get(0)?,
        rule_id: row.get(1)?,
        rule_title: row.get(2)?,
        level: row.get(3)?,
        mode: if mode == "shadow" { Mode::Shadow } else { Mode::Alert },
        host_id: row.get(5)?,
        group_key: row.get(6)?,
        actor: row.get(7)?,
        summary: row.get(8)?,
        first_unix_ns: row.get::<_, i64>(9)? as u64,
        last_unix_ns: row.get::<_, i64>(10)? as u64,
        count: row.get::<_, i64>(11)? as u64,
        state: row.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(seq: u64, time_s: u64, group: &str) -> RuleMatch {
        RuleMatch {
            rule_id: "r1".into(),
            rule_title: "Rule one".into(),
            level: "high".into(),
            mode: Mode::Alert,
            host_id: "h1".into(),
            group_key: group.into(),
            actor: "alice".into(),
            summary: "curl x | sh".into(),
            event_seq: seq,
            evidence_leaf: seq / 10,
            time_unix_ns: time_s * 1_000_000_000,
        }
    }

    #[test]
    fn folds_inside_window_and_reopens_after() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AlertStore::open(&dir.path().join("alerts.db")).unwrap();
        let hour = 3600 * 1_000_000_000;
        let r = store
            .record(&[hit(1, 100, "g"), hit(2, 200, "g"), hit(3, 200, "other")], hour)
            .unwrap();
        assert!(matches!(r[0], Recorded::Opened(_)));
        assert!(matches!(r[1], Recorded::Folded(_)));
        assert!(matches!(r[2], Recorded::Opened(_)));
        // Replay of an already-recorded event changes nothing.
        assert_eq!(
            store.record(&[hit(2, 200, "g")], hour).unwrap(),
            vec![Recorded::Duplicate]
        );
        // Past the window a new alert opens.
        assert!(matches!(
            store.record(&[hit(4, 100 + 7200, "g")], hour).unwrap()[0],
            Recorded::Opened(_)
        ));
        let alerts = store.list(&AlertQuery::default()).unwrap();
        assert_eq!(alerts.len(), 3);
        let first = alerts.iter().find(|a| a.group_key == "g" && a.count == 2).unwrap();
        assert_eq!(
            store.evidence(first.id).unwrap(),
            vec![("h1".into(), 1, 0), ("h1".into(), 2, 0)]
        );
        let shadow = store
            .list(&AlertQuery {
                mode: Some("shadow".into()),
                ..Default::default()
            })
            .unwrap();
        assert!(shadow.is_empty());
        let stats = store.rule_stats().unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!(
            (stats[0].alerts, stats[0].matches, stats[0].hosts, stats[0].actors),
            (3, 4, 1, 1)
        );
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.db");
        AlertStore::open(&path).unwrap().record(&[hit(1, 1, "g")], 10).unwrap();
        let mut store = AlertStore::open(&path).unwrap();
        assert_eq!(store.record(&[hit(1, 1, "g")], 10).unwrap(), vec![Recorded::Duplicate]);
        assert_eq!(store.list(&AlertQuery::default()).unwrap().len(), 1);
    }
}
