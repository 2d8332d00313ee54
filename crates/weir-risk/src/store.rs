//! `DATA/risk.db`: the latest inventory per host, the collector's first sighting of each identity, the
//! identity's earliest install claim and sticky review flags, and the daily fleet series.

use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use weir_event::Inventory;
use weir_vuln::VulnDb;

use crate::config::RiskConfig;
use crate::error::{RiskError, SqliteContext};
use crate::exposure::{exposure_up_to, Exposure, MAX_CHAINS_PER_HOST};
use crate::uptime::{claim, reset_flags, reverse_uptime, snapshot_flags, ReverseUptime, UptimeFlag};

/// The file name of the risk store inside the collector's data directory.
pub const RISK_DB_FILE: &str = "risk.db";

/// Sticky review flags kept per host (oldest dropped first).
pub const MAX_STICKY_FLAGS: usize = 32;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hosts (
    host_id TEXT PRIMARY KEY,
    host_name TEXT NOT NULL,
    enrolled_unix_ns INTEGER,
    first_seen_unix_ns INTEGER NOT NULL,
    inventory BLOB,
    received_unix_ns INTEGER,
    machine_id_hash TEXT,
    cloud_instance_id TEXT,
    claimed_install_unix_ns INTEGER,
    earliest_claim_unix_ns INTEGER,
    review_flags TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS hosts_by_name ON hosts(host_name);
CREATE TABLE IF NOT EXISTS open_breaches (
    metric TEXT NOT NULL,
    host_id TEXT NOT NULL,
    since_unix_ns INTEGER NOT NULL,
    PRIMARY KEY (metric, host_id)
);
CREATE TABLE IF NOT EXISTS daily (
    day TEXT PRIMARY KEY,
    point TEXT NOT NULL,
    updated_unix_ns INTEGER NOT NULL
);
";

/// One host's risk: the exposure chains and the reverse uptime.
#[derive(Debug, Clone, Serialize)]
pub struct HostRisk {
    pub host_id: String,
    pub host_name: String,
    pub inventory_received_unix_ns: u64,
    /// Why the sensor ran the scan ("periodic", "start", "package_manager").
    pub inventory_reason: String,
    /// Sources the sensor could not parse.
    pub inventory_errors: Vec<String>,
    pub packages: usize,
    /// Days of the oldest exposed (counted) advisory; 0 when none.
    pub oldest_exposed_vuln_days: i64,
    pub exposure: Exposure,
    pub reverse_uptime: ReverseUptime,
}

/// A host as stored.
#[derive(Debug, Clone, Serialize)]
pub struct HostRecord {
    pub host_id: String,
    pub host_name: String,
    pub enrolled_unix_ns: Option<u64>,
    /// When risk.db first heard of the host.
    pub first_seen_unix_ns: u64,
    pub received_unix_ns: Option<u64>,
    pub has_inventory: bool,
}

/// What `ingest` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    Stored {
        new_flags: Vec<UptimeFlag>,
    },
    /// An inventory received earlier than the stored one is ignored.
    Older,
}

pub struct RiskStore {
    conn: Connection,
    path: PathBuf,
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.map(|n| n as u64)
}

impl RiskStore {
    pub fn open(path: &Path) -> Result<RiskStore, RiskError> {
        let conn = Connection::open(path).db(path)?;
        conn.busy_timeout(Duration::from_secs(10)).db(path)?;
        conn.pragma_update(None, "journal_mode", "WAL").db(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL").db(path)?;
        conn.execute_batch(SCHEMA).db(path)?;
        Ok(RiskStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens `DATA/risk.db`.
    pub fn open_in(data_dir: &Path) -> Result<RiskStore, RiskError> {
        RiskStore::open(&data_dir.join(RISK_DB_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a host the collector knows (e.g. at enrolment) before any inventory arrives, so the fleet
    /// view can count hosts without inventory. `first_seen_unix_ns` is the enrolment time (0 = unknown).
    pub fn note_host(
        &self,
        host_id: &str,
        host_name: &str,
        first_seen_unix_ns: u64,
        now_unix_ns: u64,
    ) -> Result<(), RiskError> {
        self.upsert_host(host_id, host_name, first_seen_unix_ns, now_unix_ns)
    }

    fn upsert_host(&self, host_id: &str, host_name: &str, enrolled: u64, now: u64) -> Result<(), RiskError> {
        let enrolled = (enrolled != 0).then_some(enrolled as i64);
        self.conn
            .execute(
                "INSERT INTO hosts (host_id, host_name, enrolled_unix_ns, first_seen_unix_ns) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(host_id) DO UPDATE SET
                   host_name = CASE WHEN excluded.host_name = '' THEN host_name ELSE excluded.host_name END,
                   enrolled_unix_ns = CASE
                     WHEN excluded.enrolled_unix_ns IS NULL THEN enrolled_unix_ns
                     WHEN enrolled_unix_ns IS NULL THEN excluded.enrolled_unix_ns
                     ELSE MIN(enrolled_unix_ns, excluded.enrolled_unix_ns) END,
                   first_seen_unix_ns = MIN(first_seen_unix_ns, excluded.first_seen_unix_ns)",
                params![host_id, host_name, enrolled, now as i64],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// Keeps the latest inventory of a host. `first_seen_unix_ns` is when the collector enrolled the
    /// identity (0 = unknown; the store's own first sighting is kept as well and the earlier one wins).
    /// Compares the host-age signals with what the identity reported before and keeps reset flags.
    pub fn ingest(
        &self,
        host_id: &str,
        host_name: &str,
        first_seen_unix_ns: u64,
        inv: &Inventory,
        received_unix_ns: u64,
        cfg: &RiskConfig,
    ) -> Result<IngestOutcome, RiskError> {
        self.upsert_host(host_id, host_name, first_seen_unix_ns, received_unix_ns)?;
        type Prev = (
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            String,
        );
        let prev: Prev = self
            .conn
            .query_row(
                "SELECT received_unix_ns, machine_id_hash, cloud_instance_id, claimed_install_unix_ns,
                        earliest_claim_unix_ns, review_flags FROM hosts WHERE host_id = ?1",
                [host_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .db(&self.path)?;
        let (prev_received, prev_mid, prev_cloud, prev_claim, earliest, flags_json) = prev;
        if prev_received.is_some_and(|p| p as u64 > received_unix_ns) {
            return Ok(IngestOutcome::Older);
        }
        let age = inv.age.clone().unwrap_or_default();
        let new_flags = reset_flags(
            prev_mid.as_deref(),
            prev_cloud.as_deref(),
            opt_u64(prev_claim),
            &age,
            received_unix_ns,
            cfg,
        );
        let mut flags: Vec<UptimeFlag> = serde_json::from_str(&flags_json).map_err(|e| RiskError::Corrupt {
            path: self.path.clone(),
            what: format!("review flags of host {host_id}"),
            reason: e.to_string(),
        })?;
        flags.extend(new_flags.iter().cloned());
        if flags.len() > MAX_STICKY_FLAGS {
            flags.drain(..flags.len() - MAX_STICKY_FLAGS);
        }
        let current_claim = claim(&age).map(|c| c.unix_ns);
        let earliest = match (opt_u64(earliest), current_claim) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let keep_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        self.conn
            .execute(
                "UPDATE hosts SET inventory = ?2, received_unix_ns = ?3,
                   machine_id_hash = COALESCE(?4, machine_id_hash),
                   cloud_instance_id = COALESCE(?5, cloud_instance_id),
                   claimed_install_unix_ns = COALESCE(?6, claimed_install_unix_ns),
                   earliest_claim_unix_ns = ?7, review_flags = ?8
                 WHERE host_id = ?1",
                params![
                    host_id,
                    inv.encode_to_vec(),
                    received_unix_ns as i64,
                    keep_if_empty(&age.machine_id_hash),
                    keep_if_empty(&age.cloud_instance_id),
                    current_claim.map(|c| c as i64),
                    earliest.map(|c| c as i64),
                    serde_json::to_string(&flags).unwrap_or_else(|_| "[]".into()),
                ],
            )
            .db(&self.path)?;
        Ok(IngestOutcome::Stored { new_flags })
    }

    pub fn hosts(&self) -> Result<Vec<HostRecord>, RiskError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT host_id, host_name, enrolled_unix_ns, first_seen_unix_ns, received_unix_ns,
                        inventory IS NOT NULL FROM hosts ORDER BY host_name, host_id",
            )
            .db(&self.path)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(HostRecord {
                    host_id: r.get(0)?,
                    host_name: r.get(1)?,
                    enrolled_unix_ns: opt_u64(r.get(2)?),
                    first_seen_unix_ns: r.get::<_, i64>(3)? as u64,
                    received_unix_ns: opt_u64(r.get(4)?),
                    has_inventory: r.get(5)?,
                })
            })
            .db(&self.path)?;
        rows.collect::<Result<Vec<_>, _>>().db(&self.path)
    }

    /// The host id for an id or a host name (an exact id wins; a name must be unique).
    pub fn resolve_host(&self, id_or_name: &str) -> Result<String, RiskError> {
        let by_id: Option<String> = self
            .conn
            .query_row("SELECT host_id FROM hosts WHERE host_id = ?1", [id_or_name], |r| {
                r.get(0)
            })
            .optional()
            .db(&self.path)?;
        if let Some(id) = by_id {
            return Ok(id);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT host_id FROM hosts WHERE host_name = ?1 ORDER BY host_id")
            .db(&self.path)?;
        let ids = stmt
            .query_map([id_or_name], |r| r.get::<_, String>(0))
            .db(&self.path)?
            .collect::<Result<Vec<_>, _>>()
            .db(&self.path)?;
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(RiskError::UnknownHost(id_or_name.to_string())),
            many => Err(RiskError::UnknownHost(format!(
                "{id_or_name} (ambiguous: {} hosts have that name: {})",
                many.len(),
                many.join(", ")
            ))),
        }
    }

    /// The interface addresses ("<ifname> <ip>/<prefix>") of a host's latest
    /// inventory; empty when none has arrived.
    pub fn host_addresses(&self, host_id: &str) -> Result<Vec<String>, RiskError> {
        let blob: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT inventory FROM hosts WHERE host_id = ?1", [host_id], |r| {
                r.get(0)
            })
            .optional()
            .db(&self.path)?;
        let Some(Some(blob)) = blob else { return Ok(Vec::new()) };
        Ok(Inventory::decode(blob.as_slice())
            .map(|inv| inv.addresses)
            .unwrap_or_default())
    }

    /// The full risk of one host from its latest inventory, at `now_unix_ns`. `None` when the host is known
    /// but no inventory has arrived yet.
    pub fn host_risk(
        &self,
        host_id: &str,
        db: &VulnDb,
        cfg: &RiskConfig,
        now_unix_ns: u64,
    ) -> Result<Option<HostRisk>, RiskError> {
        self.host_risk_up_to(host_id, db, cfg, now_unix_ns, MAX_CHAINS_PER_HOST)
    }

    /// [`RiskStore::host_risk`] writing out at most `max_chains` exposure chains (0: only the oldest ones,
    /// which is all the fleet view reads).
    pub(crate) fn host_risk_up_to(
        &self,
        host_id: &str,
        db: &VulnDb,
        cfg: &RiskConfig,
        now_unix_ns: u64,
        max_chains: usize,
    ) -> Result<Option<HostRisk>, RiskError> {
        type Row = (
            String,
            u64,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<i64>,
            String,
        );
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT host_name, first_seen_unix_ns, enrolled_unix_ns, inventory, received_unix_ns,
                        earliest_claim_unix_ns, review_flags FROM hosts WHERE host_id = ?1",
                [host_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()
            .db(&self.path)?;
        let Some((host_name, first_seen, enrolled, blob, received, earliest, flags_json)) = row else {
            return Err(RiskError::UnknownHost(host_id.to_string()));
        };
        let Some(blob) = blob else {
            return Ok(None);
        };
        let corrupt = |what: &str, reason: String| RiskError::Corrupt {
            path: self.path.clone(),
            what: format!("{what} of host {host_id}"),
            reason,
        };
        let inv = Inventory::decode(blob.as_slice()).map_err(|e| corrupt("inventory", e.to_string()))?;
        let sticky: Vec<UptimeFlag> =
            serde_json::from_str(&flags_json).map_err(|e| corrupt("review flags", e.to_string()))?;
        let received = received.unwrap_or(0) as u64;
        let now = time::OffsetDateTime::from_unix_timestamp_nanos(now_unix_ns as i128)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let exposure = exposure_up_to(&inv, db, cfg, host_id, &host_name, now, max_chains);
        let age = inv.age.clone().unwrap_or_default();
        let first_seen = opt_u64(enrolled).map_or(first_seen, |e| e.min(first_seen));
        let mut flags = sticky;
        flags.extend(snapshot_flags(&age, received, cfg));
        let reverse_uptime = reverse_uptime(&age, first_seen, opt_u64(earliest), flags, now_unix_ns, cfg);
        Ok(Some(HostRisk {
            host_id: host_id.to_string(),
            host_name,
            inventory_received_unix_ns: received,
            inventory_reason: inv.reason.clone(),
            inventory_errors: inv.errors.clone(),
            packages: inv.packages.len(),
            oldest_exposed_vuln_days: exposure.oldest.as_ref().map_or(0, |c| c.age_days),
            exposure,
            reverse_uptime,
        }))
    }

    /// Breaches open at the last periodic run: (metric, host id; `None` for the fleet).
    pub fn open_breaches(&self) -> Result<Vec<(String, Option<String>)>, RiskError> {
        let mut stmt = self
            .conn
            .prepare("SELECT metric, host_id FROM open_breaches ORDER BY metric, host_id")
            .db(&self.path)?;
        let rows = stmt
            .query_map([], |r| {
                let host: String = r.get(1)?;
                Ok((r.get::<_, String>(0)?, (!host.is_empty()).then_some(host)))
            })
            .db(&self.path)?;
        rows.collect::<Result<Vec<_>, _>>().db(&self.path)
    }

    /// Replaces the open breaches, keeping the start time of those still open.
    pub fn set_open_breaches(&self, open: &[(String, Option<String>)], now_unix_ns: u64) -> Result<(), RiskError> {
        let tx = self.conn.unchecked_transaction().db(&self.path)?;
        tx.execute(
            "CREATE TEMP TABLE IF NOT EXISTS still_open (metric TEXT, host_id TEXT)",
            [],
        )
        .db(&self.path)?;
        tx.execute("DELETE FROM still_open", []).db(&self.path)?;
        for (metric, host) in open {
            let host = host.as_deref().unwrap_or("");
            tx.execute("INSERT INTO still_open VALUES (?1, ?2)", params![metric, host])
                .db(&self.path)?;
            tx.execute(
                "INSERT OR IGNORE INTO open_breaches (metric, host_id, since_unix_ns) VALUES (?1, ?2, ?3)",
                params![metric, host, now_unix_ns as i64],
            )
            .db(&self.path)?;
        }
        tx.execute(
            "DELETE FROM open_breaches WHERE (metric, host_id) NOT IN (SELECT metric, host_id FROM still_open)",
            [],
        )
        .db(&self.path)?;
        tx.commit().db(&self.path)?;
        Ok(())
    }

    /// Appends or replaces the point for `day` (`YYYY-MM-DD`).
    pub(crate) fn put_daily(&self, day: &str, point_json: &str, now_unix_ns: u64) -> Result<(), RiskError> {
        self.conn
            .execute(
                "INSERT INTO daily (day, point, updated_unix_ns) VALUES (?1, ?2, ?3)
                 ON CONFLICT(day) DO UPDATE SET point = excluded.point, updated_unix_ns = excluded.updated_unix_ns",
                params![day, point_json, now_unix_ns as i64],
            )
            .db(&self.path)?;
        Ok(())
    }

    /// The daily points, oldest first, from the last `days` days (by day label).
    pub(crate) fn daily_since(&self, first_day: &str) -> Result<Vec<String>, RiskError> {
        let mut stmt = self
            .conn
            .prepare("SELECT point FROM daily WHERE day >= ?1 ORDER BY day")
            .db(&self.path)?;
        let rows = stmt.query_map([first_day], |r| r.get::<_, String>(0)).db(&self.path)?;
        rows.collect::<Result<Vec<_>, _>>().db(&self.path)
    }
}
