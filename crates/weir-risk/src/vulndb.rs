//! The vulnerability database on disk (`DATA/vulndb`, SQLite): OSV records imported from directories of
//! JSON and osv-scanner's per-ecosystem `all.zip` files, indexed by (ecosystem, package), loaded into a
//! [`weir_vuln::VulnDb`] for matching.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use weir_vuln::osv::parse_record;
use weir_vuln::{Advisory, LoadReport, Policy, VulnDb};

use crate::error::{RiskError, SqliteContext};

/// The file name of the vulnerability database inside the collector's data directory.
pub const VULNDB_FILE: &str = "vulndb";

/// A single OSV record larger than this is refused (a zip member cannot inflate without bound).
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    modified TEXT,
    source TEXT NOT NULL,
    record BLOB NOT NULL,
    imported_unix_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
    ecosystem TEXT NOT NULL,
    package TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_by_package ON affected(ecosystem, package);
CREATE INDEX IF NOT EXISTS affected_by_id ON affected(id);
";

/// A record that could not be imported: where it came from (file, or `archive.zip!member`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFailure {
    pub source: String,
    pub reason: String,
}

impl std::fmt::Display for ImportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // LoadError messages already start with the source; do not repeat it.
        if self.reason.starts_with(&self.source) {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.source, self.reason)
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    /// OSV documents read (files and zip members).
    pub records: usize,
    /// Stored: new ids, or replacing an older (or equally old) `modified`.
    pub stored: usize,
    /// Skipped because the stored record with that id has a later `modified`.
    pub kept_newer: usize,
    pub failures: Vec<ImportFailure>,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records read, {} stored, {} kept (stored copy is newer), {} failed",
            self.records,
            self.stored,
            self.kept_newer,
            self.failures.len()
        )?;
        for e in &self.failures {
            write!(f, "\n  failed: {e}")?;
        }
        Ok(())
    }
}

/// Progress of an import, for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct ImportProgress {
    pub done: usize,
    /// Records known so far (grows as zip archives are opened).
    pub total: usize,
}

/// Counts for `weir vulndb stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VulnDbStats {
    pub advisories: u64,
    /// (ecosystem, advisories naming a package of it), most first.
    pub by_ecosystem: Vec<(String, u64)>,
    pub last_import_unix_ns: Option<u64>,
}

/// One source of OSV documents found under the import paths.
enum Input {
    Json(PathBuf),
    Zip(PathBuf),
}

fn collect_inputs(path: &Path, out: &mut Vec<Input>, failures: &mut Vec<ImportFailure>) {
    let is_zip = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if path.is_file() {
        out.push(if is_zip(path) {
            Input::Zip(path.to_path_buf())
        } else {
            Input::Json(path.to_path_buf())
        });
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => {
            failures.push(ImportFailure {
                source: path.display().to_string(),
                reason: format!("cannot read: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect_inputs(&p, out, failures);
        } else if is_zip(&p) {
            out.push(Input::Zip(p));
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(Input::Json(p));
        }
    }
}

/// The vulnerability database file.
pub struct VulnStore {
    conn: Connection,
    path: PathBuf,
}

impl VulnStore {
    /// Opens (creating when missing) the database at `path`.
    pub fn open(path: &Path) -> Result<VulnStore, RiskError> {
        let conn = Connection::open(path).db(path)?;
        conn.busy_timeout(Duration::from_secs(10)).db(path)?;
        conn.pragma_update(None, "journal_mode", "WAL").db(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL").db(path)?;
        conn.execute_batch(SCHEMA).db(path)?;
        Ok(VulnStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens `DATA/vulndb`.
    pub fn open_in(data_dir: &Path) -> Result<VulnStore, RiskError> {
        VulnStore::open(&data_dir.join(VULNDB_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's `data_version` of this connection: it changes when another connection (an import, in this
    /// process or another) commits to the database, and costs no table read. Compare values from one kept-open
    /// store; writes through this same connection do not change it.
    pub fn data_version(&self) -> Result<i64, RiskError> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .db(&self.path)
    }

    /// Imports every OSV document under `paths`: directories (recursively: `*.json`, and `*.zip` archives
    /// in osv-scanner's layout, one JSON per advisory), single JSON files and zip files. A bad record is
    /// reported (file, or `archive.zip!member`, and reason) and does not stop the import. A record replaces
    /// the stored one with the same id unless the stored one was modified later.
    pub fn import<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportReport, RiskError> {
        let mut report = ImportReport::default();
        let mut inputs = Vec::new();
        for p in paths {
            collect_inputs(p.as_ref(), &mut inputs, &mut report.failures);
        }
        let mut total = inputs.iter().filter(|i| matches!(i, Input::Json(_))).count();
        let now = now_unix_ns();
        let db_path = self.path.clone();
        let tx = self.conn.transaction().db(&db_path)?;
        let mut done = 0usize;
        for input in inputs {
            match input {
                Input::Json(path) => {
                    let label = path.display().to_string();
                    match read_bounded(std::fs::File::open(&path)) {
                        Ok(bytes) => store_record(&tx, &db_path, &label, &bytes, now, &mut report)?,
                        Err(e) => report.failures.push(ImportFailure {
                            source: label,
                            reason: format!("cannot read: {e}"),
                        }),
                    }
                    report.records += 1;
                    done += 1;
                    progress(ImportProgress { done, total });
                }
                Input::Zip(path) => {
                    let archive = std::fs::File::open(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()));
                    let mut archive = match archive {
                        Ok(a) => a,
                        Err(reason) => {
                            report.failures.push(ImportFailure {
                                source: path.display().to_string(),
                                reason: format!("not a readable zip archive: {reason}"),
                            });
                            continue;
                        }
                    };
                    total += archive.len();
                    for i in 0..archive.len() {
                        done += 1;
                        let mut member = match archive.by_index(i) {
                            Ok(m) => m,
                            Err(e) => {
                                report.records += 1;
                                report.failures.push(ImportFailure {
                                    source: format!("{}!#{i}", path.display()),
                                    reason: format!("unreadable zip member: {e}"),
                                });
                                continue;
                            }
                        };
                        let name = match member.name() {
                            Ok(n) => n.to_string(),
                            Err(e) => {
                                report.records += 1;
                                report.failures.push(ImportFailure {
                                    source: format!("{}!#{i}", path.display()),
                                    reason: format!("unreadable member name: {e}"),
                                });
                                continue;
                            }
                        };
                        if member.is_dir() || !name.ends_with(".json") {
                            continue;
                        }
                        report.records += 1;
                        let label = format!("{}!{name}", path.display());
                        let bytes = if member.size() > MAX_RECORD_BYTES {
                            Err(format!(
                                "{} bytes, over the {MAX_RECORD_BYTES}-byte limit",
                                member.size()
                            ))
                        } else {
                            let mut buf = Vec::with_capacity(member.size() as usize);
                            (&mut member)
                                .take(MAX_RECORD_BYTES + 1)
                                .read_to_end(&mut buf)
                                .map_err(|e| format!("cannot inflate: {e}"))
                                .map(|_| buf)
                        };
                        match bytes {
                            Ok(b) => store_record(&tx, &db_path, &label, &b, now, &mut report)?,
                            Err(reason) => report.failures.push(ImportFailure { source: label, reason }),
                        }
                        progress(ImportProgress { done, total });
                    }
                }
            }
        }
        tx.commit().db(&db_path)?;
        Ok(report)
    }

    /// Advisory ids naming this package, through the (ecosystem, package) index.
    pub fn ids_for(&self, ecosystem: &str, package: &str) -> Result<Vec<String>, RiskError> {
        let name = weir_vuln::normalize_name(ecosystem, package);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT id FROM affected WHERE ecosystem = ?1 AND package = ?2 ORDER BY id")
            .db(&self.path)?;
        let rows = stmt
            .query_map(params![ecosystem, name], |r| r.get::<_, String>(0))
            .db(&self.path)?;
        rows.collect::<Result<Vec<_>, _>>().db(&self.path)
    }

    /// Loads every stored record into a matcher with this policy. Records that no longer load (e.g. after
    /// a stricter parser) are listed in the report under their original source.
    pub fn load(&self, policy: Policy) -> Result<(VulnDb, LoadReport), RiskError> {
        let mut db = VulnDb::new(policy);
        let mut report = LoadReport::default();
        let mut stmt = self
            .conn
            .prepare("SELECT source, record FROM advisories ORDER BY id")
            .db(&self.path)?;
        let mut rows = stmt.query([]).db(&self.path)?;
        while let Some(row) = rows.next().db(&self.path)? {
            let source: String = row.get(0).db(&self.path)?;
            let record: Vec<u8> = row.get(1).db(&self.path)?;
            report.files += 1;
            match db.add_json(Path::new(&source), &record) {
                Ok(_) => report.loaded += 1,
                Err(e) => report.failures.push(e),
            }
        }
        Ok((db, report))
    }

    pub fn stats(&self) -> Result<VulnDbStats, RiskError> {
        let advisories: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM advisories", [], |r| r.get(0))
            .db(&self.path)?;
        let last: Option<i64> = self
            .conn
            .query_row("SELECT MAX(imported_unix_ns) FROM advisories", [], |r| r.get(0))
            .optional()
            .db(&self.path)?
            .flatten();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT ecosystem, COUNT(DISTINCT id) AS n FROM affected GROUP BY ecosystem ORDER BY n DESC, ecosystem",
            )
            .db(&self.path)?;
        let by_ecosystem = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
            .db(&self.path)?
            .collect::<Result<Vec<_>, _>>()
            .db(&self.path)?;
        Ok(VulnDbStats {
            advisories: advisories as u64,
            by_ecosystem,
            last_import_unix_ns: last.map(|n| n as u64),
        })
    }
}

fn read_bounded(file: std::io::Result<std::fs::File>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    file?.take(MAX_RECORD_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_RECORD_BYTES {
        return Err(std::io::Error::other(format!("over the {MAX_RECORD_BYTES}-byte limit")));
    }
    Ok(buf)
}

pub(crate) fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Validates one document and stores it unless a later-modified copy is already stored.
fn store_record(
    tx: &rusqlite::Transaction<'_>,
    db_path: &Path,
    label: &str,
    bytes: &[u8],
    now: u64,
    report: &mut ImportReport,
) -> Result<(), RiskError> {
    let compiled = parse_record(Path::new(label), bytes).and_then(|rec| Advisory::compile(Path::new(label), rec));
    let advisory = match compiled {
        Ok((adv, _notes)) => adv,
        Err(e) => {
            report.failures.push(ImportFailure {
                source: label.to_string(),
                reason: e.to_string(),
            });
            return Ok(());
        }
    };
    let stored_modified: Option<Option<String>> = tx
        .query_row("SELECT modified FROM advisories WHERE id = ?1", [&advisory.id], |r| {
            r.get(0)
        })
        .optional()
        .db(db_path)?;
    if let Some(stored) = stored_modified {
        let stored =
            stored.and_then(|s| time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok());
        if let (Some(stored), Some(new)) = (stored, advisory.modified) {
            if stored > new {
                report.kept_newer += 1;
                return Ok(());
            }
        }
        tx.execute("DELETE FROM affected WHERE id = ?1", [&advisory.id])
            .db(db_path)?;
    }
    let modified = advisory
        .modified
        .and_then(|m| m.format(&time::format_description::well_known::Rfc3339).ok());
    tx.execute(
        "INSERT OR REPLACE INTO advisories (id, modified, source, record, imported_unix_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![advisory.id, modified, label, bytes, now as i64],
    )
    .db(db_path)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO affected (ecosystem, package, id) VALUES (?1, ?2, ?3)")
        .db(db_path)?;
    let mut seen = std::collections::HashSet::new();
    for a in &advisory.affected {
        let name = weir_vuln::normalize_name(&a.ecosystem, &a.name);
        if seen.insert((a.ecosystem.clone(), name.clone())) {
            insert.execute(params![a.ecosystem, name, advisory.id]).db(db_path)?;
        }
    }
    report.stored += 1;
    Ok(())
}
