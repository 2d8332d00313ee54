//! The triage store (`triage.db`, SQLite): requests and their state machine
//! (pending -> confirmed | denied | failed_codes | unanswered), answers with
//! where they came from, escalations handed out exactly once, suppression
//! grants, TOTP secrets with the last accepted step (replay refusal) and an
//! enrollment audit trail, and the per-alert timeline.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::config::{Severity, TriageConfig};
use crate::error::TriageError;
use crate::token::{token_id, tokens_equal};
use crate::totp::{self, CodeMatch};
use crate::types::*;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    alert_id INTEGER NOT NULL UNIQUE,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    severity TEXT NOT NULL,
    host_id TEXT NOT NULL,
    host_name TEXT NOT NULL,
    host_addresses TEXT NOT NULL,
    summary TEXT NOT NULL,
    person_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    state TEXT NOT NULL,
    failed_codes INTEGER NOT NULL DEFAULT 0,
    confirmed_step INTEGER,
    suppressed_until INTEGER
);
CREATE INDEX IF NOT EXISTS requests_by_deadline ON requests (state, deadline);
CREATE TABLE IF NOT EXISTS escalations (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    source TEXT,
    user_agent TEXT,
    from_flagged_host INTEGER NOT NULL DEFAULT 0,
    emitted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS escalations_unsent ON escalations (emitted);
CREATE TABLE IF NOT EXISTS timeline (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    source TEXT,
    user_agent TEXT,
    from_flagged_host INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS timeline_by_alert ON timeline (alert_id, at);
CREATE TABLE IF NOT EXISTS totp_secrets (
    person_id TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    enrolled INTEGER NOT NULL,
    last_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS totp_audit (
    id INTEGER PRIMARY KEY,
    person_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    action TEXT NOT NULL
);
";

/// `requests` columns of earlier versions, dropped on open.
const RETIRED_COLUMNS: &[&str] = &["link_expires", "rate_limited"];

/// Escalations handed out per [`Triage::due`] call (the rest wait for the next call).
const DUE_BATCH: usize = 1000;
/// Longest user agent kept.
const MAX_USER_AGENT: usize = 512;

/// One stored request.
struct Row {
    id: String,
    alert_id: i64,
    rule_id: String,
    rule_title: String,
    severity: String,
    host_id: String,
    host_name: String,
    host_addresses: Vec<IpAddr>,
    summary: String,
    person_id: String,
    created: u64,
    deadline: u64,
    state: String,
    failed_codes: u32,
    confirmed_step: Option<u64>,
    suppressed_until: Option<u64>,
}

const ROW_COLUMNS: &str = "id, alert_id, rule_id, rule_title, severity, host_id, host_name, host_addresses, summary,
    person_id, created, deadline, state, failed_codes, confirmed_step, suppressed_until";

fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let addresses: String = r.get(7)?;
    Ok(Row {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        rule_id: r.get(2)?,
        rule_title: r.get(3)?,
        severity: r.get(4)?,
        host_id: r.get(5)?,
        host_name: r.get(6)?,
        host_addresses: addresses.split(',').filter_map(|a| a.parse().ok()).collect(),
        summary: r.get(8)?,
        person_id: r.get(9)?,
        created: r.get::<_, i64>(10)? as u64,
        deadline: r.get::<_, i64>(11)? as u64,
        state: r.get(12)?,
        failed_codes: r.get(13)?,
        confirmed_step: r.get::<_, Option<i64>>(14)?.map(|s| s as u64),
        suppressed_until: r.get::<_, Option<i64>>(15)?.map(|s| s as u64),
    })
}

impl Row {
    fn into_view(self) -> RequestView {
        RequestView {
            alert_id: self.alert_id,
            rule_id: self.rule_id,
            rule_title: self.rule_title,
            severity: self.severity,
            host_id: self.host_id,
            host_name: self.host_name,
            summary: self.summary,
            person_id: self.person_id,
            created: self.created,
            deadline: self.deadline,
            state: self.state,
            failed_codes: self.failed_codes,
            suppressed_until: self.suppressed_until,
        }
    }

    fn answer_source(&self, answer: &Answer) -> AnswerSource {
        let source = answer.source.to_canonical();
        AnswerSource {
            source,
            user_agent: truncate(&answer.user_agent, MAX_USER_AGENT),
            from_flagged_host: self.host_addresses.iter().any(|a| a.to_canonical() == source),
        }
    }

    fn escalation(&self, reason: EscalationReason, at: u64, answer: Option<AnswerSource>) -> Escalation {
        Escalation {
            alert_id: self.alert_id,
            rule_id: self.rule_id.clone(),
            rule_title: self.rule_title.clone(),
            severity: self.severity.clone(),
            host_id: self.host_id.clone(),
            host_name: self.host_name.clone(),
            person_id: self.person_id.clone(),
            summary: self.summary.clone(),
            reason,
            at,
            answer,
        }
    }
}

/// An escalation stored but not handed out yet.
struct UnsentEscalation {
    id: i64,
    alert_id: i64,
    reason: EscalationReason,
    at: u64,
    answer: Option<AnswerSource>,
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// Triage requests and answers, backed by `triage.db`.
pub struct Triage {
    conn: Connection,
    config: TriageConfig,
}

impl Triage {
    /// Opens (or creates, readable by its owner only) the triage database.
    /// Where confirm links point (known only once the HTTP listener is bound).
    pub fn set_public_base_url(&mut self, url: &str) {
        self.config.public_base_url = url.to_string();
    }

    pub fn open(path: &Path, config: TriageConfig) -> Result<Triage, TriageError> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| TriageError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        drop_retired_columns(&conn)?;
        Ok(Triage { conn, config })
    }

    pub fn config(&self) -> &TriageConfig {
        &self.config
    }

    /// For an alert whose actor cannot be asked (not in the people directory,
    /// or no login uid): records it and returns the escalation to send now,
    /// so a `confirm: actor` alert is never dropped for want of a person.
    /// `alert.person_id` may be empty; `why` goes to the timeline.
    pub fn escalate_without_actor(
        &mut self,
        alert: &TriageAlert,
        why: &str,
        now: u64,
    ) -> Result<Escalation, TriageError> {
        let tx = self.conn.transaction()?;
        let exists = tx
            .query_row("SELECT 1 FROM requests WHERE alert_id = ?1", [alert.alert_id], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if exists {
            return Err(TriageError::AlreadyRequested(alert.alert_id));
        }
        // A row without a usable link: no token is ever issued for it.
        let (id, _) = self.config.link_key.new_link(alert.alert_id, &alert.person_id);
        insert_request(&tx, &id, alert, now, now, "no_actor")?;
        add_timeline(
            &tx,
            alert.alert_id,
            now,
            "requested",
            &format!("nobody to ask: {why}"),
            None,
        )?;
        let row = find_by_alert(&tx, alert.alert_id)?;
        let escalation = row.escalation(EscalationReason::NoActor, now, None);
        record_escalation(&tx, &escalation, true)?;
        tx.commit()?;
        tracing::warn!(alert = alert.alert_id, why, "triage: no actor to ask, escalating");
        Ok(escalation)
    }

    /// Creates the confirmation request for an alert and returns the link to send.
    pub fn request(&mut self, alert: &TriageAlert, now: u64) -> Result<TriageRequest, TriageError> {
        if alert.person_id.trim().is_empty() {
            return Err(TriageError::Invalid("a triage request needs a person".into()));
        }
        let tx = self.conn.transaction()?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM requests WHERE alert_id = ?1", [alert.alert_id], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if exists {
            return Err(TriageError::AlreadyRequested(alert.alert_id));
        }
        let answer_within = self
            .config
            .deadlines
            .for_severity(Severity::from_level(&alert.severity));
        let deadline = now.saturating_add(secs(answer_within));
        let (id, token) = self.config.link_key.new_link(alert.alert_id, &alert.person_id);
        insert_request(&tx, &id, alert, now, deadline, "pending")?;
        let enrolled = enrolled_at(&tx, &alert.person_id)?.is_some();
        let mut detail = format!(
            "asked {}; answer due within {} s",
            alert.person_id,
            answer_within.as_secs()
        );
        if !enrolled {
            detail.push_str("; no second factor enrolled, so a yes cannot confirm");
        }
        add_timeline(&tx, alert.alert_id, now, "requested", &detail, None)?;
        tx.commit()?;
        let url = format!("{}/triage/{token}", self.config.public_base_url.trim_end_matches('/'));
        Ok(TriageRequest {
            alert_id: alert.alert_id,
            person_id: alert.person_id.clone(),
            token,
            url,
            deadline,
        })
    }

    /// Records that the link went out (on which channel) in the timeline.
    pub fn mark_notified(&mut self, alert_id: i64, channel: &str, now: u64) -> Result<(), TriageError> {
        add_timeline(
            &self.conn,
            alert_id,
            now,
            "notified",
            &format!("sent via {channel}"),
            None,
        )
    }

    /// The request behind a link, for the confirm page (no state change).
    pub fn view(&self, token: &str) -> Result<RequestView, TriageError> {
        Ok(find_by_token(&self.conn, &self.config, token)?.into_view())
    }

    /// A fresh anti-forgery nonce for one rendering of the confirm form.
    pub fn form_nonce(&self, token: &str, now: u64) -> String {
        self.config.link_key.form_nonce(token, now)
    }

    /// Checks a nonce echoed by a form post.
    pub fn check_form_nonce(&self, token: &str, nonce: &str, now: u64) -> Result<(), TriageError> {
        if self.config.link_key.check_form_nonce(token, nonce, now) {
            Ok(())
        } else {
            Err(TriageError::BadFormNonce)
        }
    }

    /// Records an answer and moves the request on. Refused (with nothing
    /// recorded) for a bad or used link or past the attempt rate limit; past
    /// the deadline the alert escalates instead.
    pub fn answer(&mut self, token: &str, answer: &Answer, now: u64) -> Result<Outcome, TriageError> {
        let max_failed = self.config.max_failed_codes.max(1);
        let max_per_minute = i64::from(self.config.max_attempts_per_minute.max(1));
        let suppression_max = secs(self.config.suppression_max_ttl);
        let tx = self.conn.transaction()?;
        let row = find_by_token(&tx, &self.config, token)?;
        if row.state != "pending" {
            return Err(TriageError::TokenUsed { state: row.state });
        }
        if now > row.deadline {
            escalate_unanswered(&tx, &row, now)?;
            tx.commit()?;
            return Err(TriageError::DeadlinePassed);
        }
        let recent: i64 = tx.query_row(
            "SELECT count(*) FROM timeline WHERE alert_id = ?1 AND at > ?2
                 AND kind IN ('answered_yes', 'answered_no', 'code_failed')",
            params![row.alert_id, now.saturating_sub(60) as i64],
            |r| r.get(0),
        )?;
        if recent >= max_per_minute {
            return Err(TriageError::RateLimited);
        }
        let source = row.answer_source(answer);

        if !answer.yes {
            tx.execute("UPDATE requests SET state = 'denied' WHERE id = ?1", [&row.id])?;
            add_timeline(
                &tx,
                row.alert_id,
                now,
                "answered_no",
                "the person said it was not them",
                Some(&source),
            )?;
            let escalation = row.escalation(EscalationReason::Denied, now, Some(source));
            record_escalation(&tx, &escalation, true)?;
            tx.commit()?;
            tracing::warn!(alert = row.alert_id, person = %row.person_id, "triage: denied, escalating");
            return Ok(Outcome::Escalated(escalation));
        }

        match check_code(&tx, &row.person_id, answer.code.as_deref(), now)? {
            Ok(step) => {
                tx.execute(
                    "UPDATE totp_secrets SET last_step = ?2 WHERE person_id = ?1",
                    params![row.person_id, step as i64],
                )?;
                tx.execute(
                    "UPDATE requests SET state = 'confirmed', confirmed_step = ?2 WHERE id = ?1",
                    params![row.id, step as i64],
                )?;
                add_timeline(
                    &tx,
                    row.alert_id,
                    now,
                    "answered_yes",
                    "confirmed with a valid code",
                    Some(&source),
                )?;
                let suppression = match answer.suppress_for {
                    Some(ttl) if !ttl.is_zero() => Some(grant_suppression(&tx, &row, ttl, suppression_max, now)?),
                    _ => None,
                };
                tx.commit()?;
                Ok(Outcome::Confirmed(Confirmation {
                    alert_id: row.alert_id,
                    rule_id: row.rule_id,
                    host_id: row.host_id,
                    person_id: row.person_id,
                    at: now,
                    answer: source,
                    suppression,
                }))
            }
            Err(reason) => {
                let failures = row.failed_codes + 1;
                tx.execute(
                    "UPDATE requests SET failed_codes = ?2 WHERE id = ?1",
                    params![row.id, failures],
                )?;
                let detail = format!("yes refused: {} ({failures} of {max_failed})", reason.as_str());
                add_timeline(&tx, row.alert_id, now, "code_failed", &detail, Some(&source))?;
                if failures >= max_failed {
                    tx.execute("UPDATE requests SET state = 'failed_codes' WHERE id = ?1", [&row.id])?;
                    let escalation = row.escalation(EscalationReason::FailedCodes, now, Some(source));
                    record_escalation(&tx, &escalation, true)?;
                    tx.commit()?;
                    tracing::warn!(alert = row.alert_id, person = %row.person_id, "triage: failed codes, escalating");
                    return Ok(Outcome::Escalated(escalation));
                }
                tx.commit()?;
                Ok(Outcome::CodeRejected(CodeRejected {
                    alert_id: row.alert_id,
                    reason,
                    failures,
                    remaining: max_failed - failures,
                    answer: source,
                }))
            }
        }
    }

    /// Requests past their deadline without an answer become `unanswered` and
    /// escalate. Returns every escalation not handed out yet (these and any
    /// left by [`Triage::answer`] refusing a late answer), each exactly once.
    pub fn due(&mut self, now: u64) -> Result<Vec<Escalation>, TriageError> {
        let tx = self.conn.transaction()?;
        let overdue: Vec<Row> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM requests WHERE state = 'pending' AND deadline < ?1 ORDER BY deadline LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![now as i64, DUE_BATCH as i64], row_from)?;
            rows.collect::<Result<_, _>>()?
        };
        for row in &overdue {
            escalate_unanswered(&tx, row, now)?;
        }
        let unsent: Vec<UnsentEscalation> = {
            let mut stmt = tx.prepare(
                "SELECT id, alert_id, reason, at, source, user_agent, from_flagged_host
                 FROM escalations WHERE emitted = 0 ORDER BY id LIMIT ?1",
            )?;
            let rows = stmt.query_map([DUE_BATCH as i64], |r| {
                let source: Option<String> = r.get(4)?;
                let user_agent: Option<String> = r.get(5)?;
                let from_flagged_host: bool = r.get(6)?;
                Ok(UnsentEscalation {
                    id: r.get(0)?,
                    alert_id: r.get(1)?,
                    reason: EscalationReason::parse(&r.get::<_, String>(2)?),
                    at: r.get::<_, i64>(3)? as u64,
                    answer: source.and_then(|s| s.parse().ok()).map(|source| AnswerSource {
                        source,
                        user_agent: user_agent.unwrap_or_default(),
                        from_flagged_host,
                    }),
                })
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let mut escalations = Vec::with_capacity(unsent.len());
        for unsent in unsent {
            let row = find_by_alert(&tx, unsent.alert_id)?;
            escalations.push(row.escalation(unsent.reason, unsent.at, unsent.answer));
            tx.execute("UPDATE escalations SET emitted = 1 WHERE id = ?1", [unsent.id])?;
        }
        tx.commit()?;
        for e in &escalations {
            tracing::warn!(alert = e.alert_id, person = %e.person_id, reason = e.reason.as_str(), "triage: escalating");
        }
        Ok(escalations)
    }

    /// What happened to an alert's triage, oldest first.
    pub fn timeline(&self, alert_id: i64) -> Result<Vec<TimelineEntry>, TriageError> {
        let mut stmt = self.conn.prepare(
            "SELECT at, kind, detail, source, user_agent, from_flagged_host FROM timeline
             WHERE alert_id = ?1 ORDER BY id LIMIT 1000",
        )?;
        let rows = stmt.query_map([alert_id], |r| {
            Ok(TimelineEntry {
                at: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                detail: r.get(2)?,
                source: r.get(3)?,
                user_agent: r.get(4)?,
                from_flagged_host: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The most recent requests, newest first, for the console's triage view.
    pub fn recent(&self, limit: usize) -> Result<Vec<RequestView>, TriageError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ROW_COLUMNS} FROM requests ORDER BY created DESC, alert_id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit.min(10_000) as i64], row_from)?;
        let rows: Vec<Row> = rows.collect::<Result<_, _>>()?;
        Ok(rows.into_iter().map(Row::into_view).collect())
    }

    /// The state of an alert's request (`pending`, `confirmed`, ...).
    pub fn state(&self, alert_id: i64) -> Result<String, TriageError> {
        Ok(find_by_alert(&self.conn, alert_id)?.state)
    }

    /// Gives a person a new TOTP secret (replacing any previous one; recorded
    /// in the enrollment audit table) and returns what their app needs.
    pub fn enroll_totp(&mut self, person_id: &str, account_label: &str, now: u64) -> Result<Enrollment, TriageError> {
        if person_id.trim().is_empty() {
            return Err(TriageError::Invalid("enrollment needs a person id".into()));
        }
        let secret = totp::new_secret();
        let tx = self.conn.transaction()?;
        let replaced = enrolled_at(&tx, person_id)?.is_some();
        tx.execute(
            "INSERT INTO totp_secrets (person_id, secret, enrolled) VALUES (?1, ?2, ?3)
             ON CONFLICT (person_id) DO UPDATE SET secret = excluded.secret, enrolled = excluded.enrolled",
            params![person_id, secret, now as i64],
        )?;
        let action = if replaced {
            "re-enrolled (previous secret replaced)"
        } else {
            "enrolled"
        };
        tx.execute(
            "INSERT INTO totp_audit (person_id, at, action) VALUES (?1, ?2, ?3)",
            params![person_id, now as i64, action],
        )?;
        tx.commit()?;
        let label = if account_label.is_empty() {
            person_id
        } else {
            account_label
        };
        let otpauth_uri = totp::otpauth_uri(&self.config.totp_issuer, label, &secret);
        Ok(Enrollment {
            person_id: person_id.to_string(),
            terminal_qr: crate::qr::terminal_qr(&otpauth_uri),
            otpauth_uri,
            secret_base32: totp::secret_base32(&secret),
            replaced,
        })
    }

    /// When a person enrolled their current secret (unix seconds), if they did.
    pub fn totp_enrolled(&self, person_id: &str) -> Result<Option<u64>, TriageError> {
        enrolled_at(&self.conn, person_id)
    }

    /// The enrollment audit trail of a person: `(unix seconds, action)`, oldest first.
    pub fn totp_audit(&self, person_id: &str) -> Result<Vec<(u64, String)>, TriageError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, action FROM totp_audit WHERE person_id = ?1 ORDER BY id LIMIT 1000")?;
        let rows = stmt.query_map([person_id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn insert_request(
    tx: &Transaction<'_>,
    id: &str,
    alert: &TriageAlert,
    now: u64,
    deadline: u64,
    state: &str,
) -> Result<(), TriageError> {
    let addresses: Vec<String> = alert
        .host_addresses
        .iter()
        .map(|a| a.to_canonical().to_string())
        .collect();
    tx.execute(
        "INSERT INTO requests (id, alert_id, rule_id, rule_title, severity, host_id, host_name, host_addresses,
             summary, person_id, created, deadline, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            id,
            alert.alert_id,
            alert.rule_id,
            alert.rule_title,
            alert.severity,
            alert.host_id,
            alert.host_name,
            addresses.join(","),
            alert.summary,
            alert.person_id,
            now as i64,
            deadline as i64,
            state
        ],
    )?;
    Ok(())
}

/// Drops `requests` columns that databases made by earlier versions carry and
/// nothing uses any more (`link_expires` is NOT NULL without a default, so
/// inserts would fail while it is there; `rate_limited` was never read).
fn drop_retired_columns(conn: &Connection) -> Result<(), TriageError> {
    for column in RETIRED_COLUMNS {
        let present: i64 = conn.query_row(
            "SELECT count(*) FROM pragma_table_info('requests') WHERE name = ?1",
            [column],
            |r| r.get(0),
        )?;
        if present > 0 {
            conn.execute_batch(&format!("ALTER TABLE requests DROP COLUMN {column}"))?;
        }
    }
    Ok(())
}

fn find_by_token(conn: &Connection, config: &TriageConfig, token: &str) -> Result<Row, TriageError> {
    let id = token_id(token)?;
    let row = conn
        .query_row(
            &format!("SELECT {ROW_COLUMNS} FROM requests WHERE id = ?1"),
            [id],
            row_from,
        )
        .optional()?
        .ok_or(TriageError::BadToken)?;
    let expected = config.link_key.link_token(&row.id, row.alert_id, &row.person_id);
    if !tokens_equal(token, &expected) {
        return Err(TriageError::BadToken);
    }
    Ok(row)
}

fn find_by_alert(conn: &Connection, alert_id: i64) -> Result<Row, TriageError> {
    conn.query_row(
        &format!("SELECT {ROW_COLUMNS} FROM requests WHERE alert_id = ?1"),
        [alert_id],
        row_from,
    )
    .optional()?
    .ok_or(TriageError::UnknownAlert(alert_id))
}

fn enrolled_at(conn: &Connection, person_id: &str) -> Result<Option<u64>, TriageError> {
    Ok(conn
        .query_row(
            "SELECT enrolled FROM totp_secrets WHERE person_id = ?1",
            [person_id],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map(|t| t as u64))
}

/// The step a code authenticates, or why it does not. Does not record anything.
fn check_code(
    tx: &Transaction<'_>,
    person_id: &str,
    code: Option<&str>,
    now: u64,
) -> Result<Result<u64, CodeRejection>, TriageError> {
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(Err(CodeRejection::Missing));
    };
    let stored: Option<(Vec<u8>, i64)> = tx
        .query_row(
            "SELECT secret, last_step FROM totp_secrets WHERE person_id = ?1",
            [person_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((secret, last_step)) = stored else {
        return Ok(Err(CodeRejection::NotEnrolled));
    };
    Ok(match totp::match_code(&secret, code, now) {
        CodeMatch::Step(step) if step as i64 <= last_step => Err(CodeRejection::Replayed),
        CodeMatch::Step(step) => Ok(step),
        CodeMatch::Expired => Err(CodeRejection::Expired),
        CodeMatch::Wrong => Err(CodeRejection::Wrong),
        CodeMatch::Malformed => Err(CodeRejection::Malformed),
    })
}

fn grant_suppression(
    tx: &Transaction<'_>,
    row: &Row,
    ttl: Duration,
    max_secs: u64,
    now: u64,
) -> Result<SuppressionGrant, TriageError> {
    // Re-read: the row may have been confirmed earlier in this transaction.
    let row_now = find_by_alert(tx, row.alert_id)?;
    if row_now.state != "confirmed" || row_now.confirmed_step.is_none() {
        return Err(TriageError::NotConfirmed {
            alert_id: row.alert_id,
            state: row_now.state,
        });
    }
    if row_now.suppressed_until.is_some() {
        return Err(TriageError::AlreadySuppressed(row.alert_id));
    }
    if ttl.is_zero() {
        return Err(TriageError::Invalid("a suppression needs a duration".into()));
    }
    let until = now.saturating_add(secs(ttl).clamp(1, max_secs.max(1)));
    tx.execute(
        "UPDATE requests SET suppressed_until = ?2 WHERE id = ?1",
        params![row.id, until as i64],
    )?;
    let detail = format!("rule {} silenced for {} until {until}", row.rule_id, row.person_id);
    add_timeline(tx, row.alert_id, now, "suppressed", &detail, None)?;
    Ok(SuppressionGrant {
        alert_id: row.alert_id,
        person_id: row.person_id.clone(),
        rule_id: row.rule_id.clone(),
        host_id: row.host_id.clone(),
        until,
    })
}

fn escalate_unanswered(tx: &Transaction<'_>, row: &Row, now: u64) -> Result<(), TriageError> {
    tx.execute("UPDATE requests SET state = 'unanswered' WHERE id = ?1", [&row.id])?;
    let escalation = row.escalation(EscalationReason::Unanswered, now, None);
    record_escalation(tx, &escalation, false)
}

/// Stores an escalation (`emitted`: already handed to the caller) and its timeline entry.
fn record_escalation(tx: &Transaction<'_>, e: &Escalation, emitted: bool) -> Result<(), TriageError> {
    let (source, user_agent, flagged) = match &e.answer {
        Some(a) => (
            Some(a.source.to_string()),
            Some(a.user_agent.clone()),
            a.from_flagged_host,
        ),
        None => (None, None, false),
    };
    tx.execute(
        "INSERT INTO escalations (alert_id, reason, at, source, user_agent, from_flagged_host, emitted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            e.alert_id,
            e.reason.as_str(),
            e.at as i64,
            source,
            user_agent,
            flagged,
            emitted
        ],
    )?;
    let detail = format!("to the security on-call at high priority: {}", e.reason.as_str());
    add_timeline(tx, e.alert_id, e.at, "escalated", &detail, None)
}

fn add_timeline(
    conn: &Connection,
    alert_id: i64,
    at: u64,
    kind: &str,
    detail: &str,
    source: Option<&AnswerSource>,
) -> Result<(), TriageError> {
    conn.execute(
        "INSERT INTO timeline (alert_id, at, kind, detail, source, user_agent, from_flagged_host)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            alert_id,
            at as i64,
            kind,
            detail,
            source.map(|s| s.source.to_string()),
            source.map(|s| s.user_agent.clone()),
            source.is_some_and(|s| s.from_flagged_host)
        ],
    )?;
    Ok(())
}
