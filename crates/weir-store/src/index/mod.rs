//! The event index: SQLite (WAL, one transaction per batch of rows) with
//! the columns search filters on and each event's raw protobuf. It is a
//! cache of the evidence log: rebuilt from the log after a crash (from
//! `high_water()`), so `synchronous=NORMAL` is enough.
//!
//! Indexes are kept lean for ingest speed: (host_id, seq) unique (dedup on
//! replay), time, and (kind, time). Other filters scan newest-first along
//! the time index and stop at the limit. A 64 MiB page cache keeps the
//! index pages hot during inserts.
//!
//! The ECS JSON is rendered when a row is read, not stored: storing its
//! text (about 1.2 KB per event) made inserts 2.4 times slower in
//! bench/src/bin/store_throughput.rs. `contains` checks the indexed text
//! columns first and then the event's rendered ECS values through the SQL
//! function `weir_contains`.

mod row;
pub mod since;
pub mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, ToSql};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use weir_event::Event;

pub use row::{time_key, Row};

const SCHEMA_VERSION: i64 = 1;
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    host_id TEXT NOT NULL,
    host_name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    leaf INTEGER NOT NULL,
    user_name TEXT,
    uid INTEGER,
    login TEXT,
    pid INTEGER,
    exe TEXT,
    cmdline TEXT,
    parent_exe TEXT,
    file_path TEXT,
    dst_ip TEXT,
    dst_port INTEGER,
    container_id TEXT,
    raw BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_host_seq ON events(host_id, seq);
CREATE INDEX IF NOT EXISTS events_time ON events(time_ns);
CREATE INDEX IF NOT EXISTS events_kind_time ON events(kind, time_ns);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

const INSERT: &str =
    "INSERT OR IGNORE INTO events (host_id, host_name, seq, time_ns, kind, leaf, user_name, uid, login, pid, \
     exe, cmdline, parent_exe, file_path, dst_ip, dst_port, container_id, raw) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("event index {}: {source}", path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("no event index at {} (has a collector run with this data directory?)", .0.display())]
    Missing(PathBuf),
    #[error("event index {}: schema version {found}, this build reads {SCHEMA_VERSION}", path.display())]
    Schema { path: PathBuf, found: i64 },
    #[error("event index {}: stored row for host {host} seq {seq} is unreadable: {detail}", path.display())]
    BadRow {
        path: PathBuf,
        host: String,
        seq: u64,
        detail: String,
    },
}

/// A search. Every field is optional; deserializable from a URL query string.
#[derive(Default, Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct EventQuery {
    pub since_unix_ns: Option<u64>,
    pub until_unix_ns: Option<u64>,
    /// Host id or host name.
    pub host: Option<String>,
    /// Event kind ("exec", "file", "network", ...).
    pub kind: Option<String>,
    /// user.name, user.login, or a numeric uid.
    pub user: Option<String>,
    /// Full executable path, or a bare name matching its last component.
    pub exe: Option<String>,
    /// Case-insensitive substring of command line, executable, file
    /// path or any value of the event's JSON (not its key names).
    pub contains: Option<String>,
    /// Only the event with this per-host sequence number (with `host`, at
    /// most one: how an alert's evidence is looked up).
    pub seq: Option<u64>,
    /// At most this many events (default 100), newest first.
    pub limit: Option<usize>,
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub host_id: String,
    pub seq: u64,
    pub time_unix_ns: u64,
    pub kind: String,
    /// Evidence leaf of the batch (or collector record) the event came in.
    pub leaf: u64,
    pub ecs: Map<String, Value>,
}

/// What the collector and the query side need from an event store;
/// `EventIndex` is the embedded engine.
pub trait EventStore: Send {
    fn insert(&mut self, rows: &[(u64, &Event)]) -> Result<(), IndexError>;
    /// Rows and high-water mark in one transaction.
    fn insert_through(&mut self, rows: &[(u64, &Event)], leaf: u64) -> Result<(), IndexError>;
    fn high_water(&self) -> Result<Option<u64>, IndexError>;
    fn set_high_water(&mut self, leaf: u64) -> Result<(), IndexError>;
    fn query(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, IndexError>;
    fn count(&self) -> Result<u64, IndexError>;
}

/// The SQLite event index.
pub struct EventIndex {
    conn: Connection,
    path: PathBuf,
}

impl EventIndex {
    /// Opens read-write, creating the file and schema.
    pub fn open(path: &Path) -> Result<EventIndex, IndexError> {
        let conn = Connection::open(path).map_err(sql(path))?;
        let index = EventIndex {
            conn,
            path: path.to_path_buf(),
        };
        index
            .conn
            .busy_timeout(Duration::from_secs(5))
            .and_then(|_| {
                index
                    .conn
                    .pragma_update(None, "journal_mode", "WAL")
                    .and_then(|_| index.conn.pragma_update(None, "synchronous", "NORMAL"))
                    .and_then(|_| index.conn.pragma_update(None, "cache_size", -65536))
            })
            .and_then(|_| index.conn.execute_batch(SCHEMA))
            .and_then(|_| register_functions(&index.conn))
            .map_err(sql(path))?;
        let found: Option<i64> = index
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| r.get(0))
            .optional()
            .map_err(sql(path))?;
        match found {
            None => {
                index
                    .conn
                    .execute("INSERT INTO meta (key, value) VALUES ('schema', ?1)", [SCHEMA_VERSION])
                    .map_err(sql(path))?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => {
                return Err(IndexError::Schema {
                    path: path.to_path_buf(),
                    found,
                })
            }
        }
        Ok(index)
    }

    /// Opens an existing index read-only (works while the collector writes: WAL).
    pub fn open_read_only(path: &Path) -> Result<EventIndex, IndexError> {
        if !path.exists() {
            return Err(IndexError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(sql(path))?;
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|_| register_functions(&conn))
            .map_err(sql(path))?;
        let found: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| r.get(0))
            .optional()
            .map_err(sql(path))?;
        if found != Some(SCHEMA_VERSION) {
            return Err(IndexError::Schema {
                path: path.to_path_buf(),
                found: found.unwrap_or(0),
            });
        }
        Ok(EventIndex {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inserts rows in one transaction; `leaf` is the evidence leaf of the
    /// batch each event came in. An event already stored (same host and
    /// seq) is ignored, so replaying the log after a crash never stores twice.
    pub fn insert(&mut self, rows: &[(u64, &Event)]) -> Result<(), IndexError> {
        self.write(rows, None)
    }

    /// `insert` plus `set_high_water(leaf)` in the same transaction: use this
    /// when `rows` complete every leaf up to `leaf`.
    pub fn insert_through(&mut self, rows: &[(u64, &Event)], leaf: u64) -> Result<(), IndexError> {
        self.write(rows, Some(leaf))
    }

    fn write(&mut self, rows: &[(u64, &Event)], high_water: Option<u64>) -> Result<(), IndexError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        {
            let mut stmt = tx.prepare_cached(INSERT).map_err(sql(&path))?;
            for (leaf, event) in rows {
                let row = Row::of(event);
                stmt.execute(params![
                    row.host_id,
                    row.host_name,
                    row.seq,
                    row.time_ns,
                    row.kind,
                    *leaf as i64,
                    row.user_name,
                    row.uid,
                    row.login,
                    row.pid,
                    row.exe,
                    row.cmdline,
                    row.parent_exe,
                    row.file_path,
                    row.dst_ip,
                    row.dst_port,
                    row.container_id,
                    event.encode_to_vec(),
                ])
                .map_err(sql(&path))?;
            }
        }
        if let Some(leaf) = high_water {
            set_high_water_in(&tx, leaf).map_err(sql(&path))?;
        }
        tx.commit().map_err(sql(&path))
    }

    /// Highest evidence leaf fully indexed.
    pub fn high_water(&self) -> Result<Option<u64>, IndexError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'high_water'", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|v| v.map(|v| v as u64))
            .map_err(sql(&self.path))
    }

    /// Records that every leaf up to `leaf` is indexed (never moves back).
    pub fn set_high_water(&mut self, leaf: u64) -> Result<(), IndexError> {
        set_high_water_in(&self.conn, leaf).map_err(sql(&self.path))
    }

    /// Events matching `q`, newest first.
    pub fn query(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, IndexError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(since) = q.since_unix_ns {
            clauses.push("time_ns >= ?");
            args.push(Box::new(time_key(since)));
        }
        if let Some(until) = q.until_unix_ns {
            clauses.push("time_ns <= ?");
            args.push(Box::new(time_key(until)));
        }
        if let Some(seq) = q.seq {
            clauses.push("seq = ?");
            args.push(Box::new(seq as i64));
        }
        if let Some(host) = q.host.as_deref().filter(|s| !s.is_empty()) {
            clauses.push("(host_id = ? OR host_name = ?)");
            args.push(Box::new(host.to_string()));
            args.push(Box::new(host.to_string()));
        }
        if let Some(kind) = q.kind.as_deref().filter(|s| !s.is_empty()) {
            clauses.push("kind = ?");
            args.push(Box::new(kind.to_string()));
        }
        if let Some(user) = q.user.as_deref().filter(|s| !s.is_empty()) {
            match user.parse::<u32>() {
                Ok(uid) => {
                    clauses.push("(uid = ? OR user_name = ? OR login = ?)");
                    args.push(Box::new(i64::from(uid)));
                }
                Err(_) => clauses.push("(user_name = ? OR login = ?)"),
            }
            args.push(Box::new(user.to_string()));
            args.push(Box::new(user.to_string()));
        }
        if let Some(exe) = q.exe.as_deref().filter(|s| !s.is_empty()) {
            if exe.contains('/') {
                clauses.push("exe = ?");
                args.push(Box::new(exe.to_string()));
            } else {
                clauses.push("(exe = ? OR exe LIKE ? ESCAPE '\\')");
                args.push(Box::new(exe.to_string()));
                args.push(Box::new(format!("%/{}", like_escape(exe))));
            }
        }
        if let Some(text) = q.contains.as_deref().filter(|s| !s.is_empty()) {
            // Cheap indexed text first (SQLite stops at the first true
            // term), then every value of the rendered event (not key names).
            clauses.push(
                "(cmdline LIKE ? ESCAPE '\\' OR exe LIKE ? ESCAPE '\\' OR file_path LIKE ? ESCAPE '\\' \
                 OR weir_contains(raw, ?))",
            );
            let pattern = format!("%{}%", like_escape(text));
            for _ in 0..3 {
                args.push(Box::new(pattern.clone()));
            }
            args.push(Box::new(text.to_lowercase()));
        }
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        let mut sql_text = String::from("SELECT host_id, seq, time_ns, kind, leaf, raw FROM events");
        if !clauses.is_empty() {
            sql_text.push_str(" WHERE ");
            sql_text.push_str(&clauses.join(" AND "));
        }
        sql_text.push_str(" ORDER BY time_ns DESC, id DESC LIMIT ?");
        args.push(Box::new(limit as i64));
        let mut stmt = self.conn.prepare_cached(&sql_text).map_err(sql(&self.path))?;
        let params: Vec<&dyn ToSql> = args.iter().map(|a| a.as_ref()).collect();
        let rows = stmt
            .query_map(params.as_slice(), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .map_err(sql(&self.path))?;
        let mut out = Vec::new();
        for row in rows {
            let (host_id, seq, time_ns, kind, leaf, raw) = row.map_err(sql(&self.path))?;
            let ecs = match Event::decode(raw.as_slice()) {
                Ok(event) => weir_event::ecs::to_ecs(&event),
                Err(e) => {
                    return Err(IndexError::BadRow {
                        path: self.path.clone(),
                        host: host_id,
                        seq: seq as u64,
                        detail: format!("raw event does not decode: {e}"),
                    })
                }
            };
            out.push(StoredEvent {
                host_id,
                seq: seq as u64,
                time_unix_ns: time_ns.max(0) as u64,
                kind,
                leaf: leaf as u64,
                ecs,
            });
        }
        Ok(out)
    }

    /// Calls `f` with every event stored at or after `since_unix_ns`, oldest
    /// first, one row in memory at a time (backtests over stored history).
    /// Returns how many events were visited.
    pub fn scan_since(&self, since_unix_ns: u64, mut f: impl FnMut(&Event)) -> Result<u64, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT host_id, seq, raw FROM events WHERE time_ns >= ? ORDER BY time_ns, id")
            .map_err(sql(&self.path))?;
        let mut rows = stmt.query([time_key(since_unix_ns)]).map_err(sql(&self.path))?;
        let mut visited = 0;
        while let Some(row) = rows.next().map_err(sql(&self.path))? {
            let raw: Vec<u8> = row.get(2).map_err(sql(&self.path))?;
            let event = Event::decode(raw.as_slice()).map_err(|e| IndexError::BadRow {
                path: self.path.clone(),
                host: row.get(0).unwrap_or_default(),
                seq: row.get::<_, i64>(1).unwrap_or_default() as u64,
                detail: format!("raw event does not decode: {e}"),
            })?;
            f(&event);
            visited += 1;
        }
        Ok(visited)
    }

    /// Number of events stored.
    pub fn count(&self) -> Result<u64, IndexError> {
        self.conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(sql(&self.path))
    }
}

impl EventStore for EventIndex {
    fn insert(&mut self, rows: &[(u64, &Event)]) -> Result<(), IndexError> {
        EventIndex::insert(self, rows)
    }
    fn insert_through(&mut self, rows: &[(u64, &Event)], leaf: u64) -> Result<(), IndexError> {
        EventIndex::insert_through(self, rows, leaf)
    }
    fn high_water(&self) -> Result<Option<u64>, IndexError> {
        EventIndex::high_water(self)
    }
    fn set_high_water(&mut self, leaf: u64) -> Result<(), IndexError> {
        EventIndex::set_high_water(self, leaf)
    }
    fn query(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, IndexError> {
        EventIndex::query(self, q)
    }
    fn count(&self) -> Result<u64, IndexError> {
        EventIndex::count(self)
    }
}

/// `weir_contains(raw, needle)`: whether any value of the event's ECS
/// rendering contains `needle` (already lowercased), ignoring case. A raw
/// event that does not decode matches nothing.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "weir_contains",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let raw = ctx.get_raw(0).as_blob().unwrap_or_default();
            let needle: String = ctx.get(1)?;
            Ok(match Event::decode(raw) {
                Ok(event) => weir_event::ecs::to_ecs(&event)
                    .values()
                    .any(|v| value_contains(v, &needle)),
                Err(_) => false,
            })
        },
    )
}

/// Case-insensitive substring search through a JSON value's scalars.
pub fn value_contains(value: &Value, needle_lower: &str) -> bool {
    match value {
        Value::String(s) => s.to_lowercase().contains(needle_lower),
        Value::Number(n) => n.to_string().contains(needle_lower),
        Value::Bool(b) => b.to_string() == needle_lower,
        Value::Null => false,
        Value::Array(items) => items.iter().any(|v| value_contains(v, needle_lower)),
        Value::Object(map) => map.values().any(|v| value_contains(v, needle_lower)),
    }
}

fn set_high_water_in(conn: &Connection, leaf: u64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('high_water', ?1) \
         ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
        [leaf as i64],
    )
    .map(|_| ())
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> IndexError + '_ {
    move |source| IndexError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// Escapes `%`, `_` and the escape character itself for `LIKE ... ESCAPE '\'`.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
