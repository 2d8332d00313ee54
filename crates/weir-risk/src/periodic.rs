//! What the collector runs on a timer: reload the vulnerability database when an import changed it,
//! compute the fleet view, store today's point, and report threshold breaches once per episode (a breach
//! is new when it was not open at the previous run; one that is gone is reported cleared).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use weir_vuln::VulnDb;

use crate::config::RiskConfig;
use crate::error::RiskError;
use crate::fleet::{breaches, prometheus_text, Breach, FleetRisk};
use crate::store::RiskStore;
use crate::vulndb::{VulnStore, VULNDB_FILE};

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Tick {
    pub fleet: FleetRisk,
    /// Every breach open now.
    pub breaches: Vec<Breach>,
    /// Breaches not open at the previous run: raise these as alerts.
    pub new_breaches: Vec<Breach>,
    /// (metric, host id) of breaches open at the previous run and gone now.
    pub cleared: Vec<(String, Option<String>)>,
    /// The vulnerability database was (re)loaded for this run.
    pub vulndb_reloaded: bool,
}

/// The collector's periodic risk evaluation over `DATA/risk.db` and `DATA/vulndb`.
pub struct RiskMetrics {
    data_dir: PathBuf,
    cfg: RiskConfig,
    store: RiskStore,
    db: VulnDb,
    /// The vulnerability database kept open to notice imports cheaply, with the (device, inode) of the file
    /// it opened (a replaced file is opened anew); `None` until the file exists.
    vulns: Option<(VulnStore, (u64, u64))>,
    /// The `data_version` of `vulns` when `db` was loaded from it; `None` before the first load from it.
    db_version: Option<i64>,
    last_fleet: Option<FleetRisk>,
}

impl RiskMetrics {
    pub fn open(data_dir: &Path, cfg: RiskConfig) -> Result<RiskMetrics, RiskError> {
        Ok(RiskMetrics {
            data_dir: data_dir.to_path_buf(),
            store: RiskStore::open_in(data_dir)?,
            db: VulnDb::new(cfg.policy),
            cfg,
            vulns: None,
            db_version: None,
            last_fleet: None,
        })
    }

    pub fn config(&self) -> &RiskConfig {
        &self.cfg
    }

    pub fn store(&self) -> &RiskStore {
        &self.store
    }

    pub fn vulndb(&self) -> &VulnDb {
        &self.db
    }

    /// Loads the vulnerability database when it exists and changed since the last load. The check reads no
    /// table: the file's identity and SQLite's `data_version` of a kept-open connection.
    pub fn reload_vulndb_if_changed(&mut self) -> Result<bool, RiskError> {
        let path = self.data_dir.join(VULNDB_FILE);
        let file = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => (m.dev(), m.ino()),
            _ => {
                self.vulns = None;
                return Ok(false);
            }
        };
        if self.vulns.as_ref().is_none_or(|(_, opened)| *opened != file) {
            self.vulns = Some((VulnStore::open(&path)?, file));
            self.db_version = None;
        }
        let (vulns, _) = self.vulns.as_ref().expect("opened above");
        // Read before loading: an import committing during the load changes it again, so the next run reloads.
        let version = vulns.data_version()?;
        if self.db_version == Some(version) {
            return Ok(false);
        }
        let (db, report) = vulns.load(self.cfg.policy)?;
        for f in &report.failures {
            tracing::warn!(error = %f, "risk: stored advisory does not load");
        }
        self.db = db;
        self.db_version = Some(version);
        Ok(true)
    }

    /// One evaluation at `now_unix_ns`.
    pub fn tick(&mut self, now_unix_ns: u64) -> Result<Tick, RiskError> {
        let vulndb_reloaded = self.reload_vulndb_if_changed()?;
        let fleet = self.store.fleet(&self.db, &self.cfg, now_unix_ns)?;
        self.store.record_daily(&fleet)?;
        let all = breaches(&fleet, &self.cfg);
        let keys: Vec<(String, Option<String>)> = all.iter().map(|b| (b.metric.clone(), b.host_id.clone())).collect();
        let previous = self.store.open_breaches()?;
        let was_open: HashSet<(&str, Option<&str>)> =
            previous.iter().map(|(m, h)| (m.as_str(), h.as_deref())).collect();
        let new_breaches = all
            .iter()
            .filter(|b| !was_open.contains(&(b.metric.as_str(), b.host_id.as_deref())))
            .cloned()
            .collect();
        let open_now: HashSet<&(String, Option<String>)> = keys.iter().collect();
        let cleared = previous.iter().filter(|k| !open_now.contains(k)).cloned().collect();
        self.store.set_open_breaches(&keys, now_unix_ns)?;
        self.last_fleet = Some(fleet.clone());
        Ok(Tick {
            fleet,
            breaches: all,
            new_breaches,
            cleared,
            vulndb_reloaded,
        })
    }

    /// Prometheus gauges of the last run (empty before the first).
    pub fn prometheus_text(&self) -> String {
        self.last_fleet.as_ref().map(prometheus_text).unwrap_or_default()
    }
}
