//! Store throughput: (1) the evidence log appending realistic signed
//! batches of 200 events with group commit, against raw buffered writes of
//! the same bytes with one fsync per group; (2) the SQLite event index with
//! Weir's schema, against the same rows in a table without indexes (and two
//! other layouts for context). Everything runs side by side, alternating,
//! in the same process; medians and ratios.
//!
//! `cargo run --release -p weir-bench --bin store_throughput [-- ROUNDS]`

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use prost::Message;
use weir_event::chain::{hash_batch, seal, GENESIS_HASH};
use weir_event::event::Body;
use weir_event::{Ancestor, Batch, Event, Exec, File, FileOp, NetOp, Network, Process};
use weir_store::evidence::{EvidenceConfig, EvidenceLog, Record};
use weir_store::index::{EventIndex, Row};

const EVENTS_PER_BATCH: u64 = 200;
const HOSTS: usize = 4;
const BATCHES_PER_HOST: usize = 100; // 4 x 100 x 200 = 80,000 events per round
const INDEX_TX_EVENTS: usize = 2000;

/// Deterministic pseudo-random numbers (64-bit LCG).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const EXES: [&str; 8] = [
    "/usr/bin/bash",
    "/usr/bin/python3.11",
    "/usr/bin/curl",
    "/usr/sbin/sshd",
    "/usr/bin/git",
    "/usr/lib/postgresql/15/bin/postgres",
    "/usr/bin/node",
    "/usr/local/bin/app-server",
];
const ARGS: [&str; 8] = [
    "--verbose",
    "-c",
    "import sys; print(sys.argv)",
    "https://api.internal.example.com/v2/items?page=3",
    "/var/lib/app/data/segment-000123.db",
    "--config=/etc/app/config.yaml",
    "status --porcelain",
    "-o StrictHostKeyChecking=no",
];
const PATHS: [&str; 6] = [
    "/etc/cron.d/backup",
    "/var/log/app/access.log",
    "/home/alice/.ssh/authorized_keys",
    "/tmp/build-8f3a/out.o",
    "/var/lib/postgresql/15/main/base/16384/2619",
    "/etc/systemd/system/app.service",
];

fn event(rng: &mut Rng, host: &str, seq: u64, time: u64) -> Event {
    let exe = rng.pick(&EXES).to_string();
    let nargs = 1 + rng.next() % 4;
    let mut args = vec![exe.rsplit('/').next().unwrap_or("x").as_bytes().to_vec()];
    for _ in 0..nargs {
        args.push(rng.pick(&ARGS).as_bytes().to_vec());
    }
    let uid = if rng.next().is_multiple_of(3) {
        0
    } else {
        1000 + (rng.next() % 5) as u32
    };
    let pid = 1000 + (rng.next() % 60000) as u32;
    let process = Process {
        pid,
        ppid: pid - 1,
        tid: pid,
        entity_id: format!("{:016x}", rng.next() << 20 | rng.next()),
        parent_entity_id: format!("{:016x}", rng.next() << 20 | rng.next()),
        start_time_ns: rng.next() * 1000,
        executable: exe,
        args,
        cwd: b"/srv/app".to_vec(),
        comm: "worker".into(),
        uid,
        gid: uid,
        euid: uid,
        egid: uid,
        loginuid: 1000,
        sessionid: 4,
        user_name: if uid == 0 { "root".into() } else { format!("user{uid}") },
        login_name: "alice".into(),
        cgroup_id: 4242,
        cgroup_path: "/system.slice/app.service".into(),
        ancestors: vec![
            Ancestor {
                pid: pid - 1,
                entity_id: format!("{:016x}", rng.next()),
                executable: "/usr/bin/bash".into(),
                command_line: "bash -c ./run.sh".into(),
            },
            Ancestor {
                pid: 1,
                entity_id: "0000000000000001".into(),
                executable: "/usr/lib/systemd/systemd".into(),
                command_line: "/sbin/init".into(),
            },
        ],
        ..Default::default()
    };
    let body = match rng.next() % 10 {
        0..=3 => Body::Exec(Exec { memfd: false }),
        4..=6 => Body::File(File {
            op: FileOp::OpenWrite as i32,
            path: rng.pick(&PATHS).as_bytes().to_vec(),
            mode: 0o644,
            ..Default::default()
        }),
        _ => Body::Network(Network {
            op: NetOp::Connect as i32,
            transport: "tcp".into(),
            source_ip: "10.1.2.3".into(),
            source_port: 30000 + (rng.next() % 30000) as u32,
            destination_ip: format!("10.20.{}.{}", rng.next() % 256, rng.next() % 256),
            destination_port: [443, 5432, 22, 8080][(rng.next() % 4) as usize],
            result: 0,
        }),
    };
    Event {
        seq,
        time_unix_ns: time,
        host_id: host.into(),
        host_name: format!("{host}.prod.example"),
        process: Some(process),
        body: Some(body),
    }
}

struct Workload {
    enrollments: Vec<Record>,
    /// Batches in arrival order (hosts interleaved).
    batches: Vec<Record>,
    events: Vec<(u64, Event)>,
}

fn workload() -> Workload {
    let mut rng = Rng(7);
    let keys: Vec<SigningKey> = (0..HOSTS).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect();
    let names: Vec<String> = (0..HOSTS).map(|i| format!("host-{i}")).collect();
    let enrollments = (0..HOSTS)
        .map(|i| Record::HostEnrolled {
            host_id: names[i].clone(),
            public_key: keys[i].verifying_key().to_bytes(),
            machine_id: format!("{:032x}", i),
            host_name: names[i].clone(),
            time_unix_ns: 1,
        })
        .collect();
    let mut prev = [GENESIS_HASH; HOSTS];
    let mut batches = Vec::new();
    let mut events = Vec::new();
    let mut time = 1_795_000_000_000_000_000u64;
    for b in 0..BATCHES_PER_HOST as u64 {
        for h in 0..HOSTS {
            let first = b * EVENTS_PER_BATCH;
            let evs: Vec<Event> = (0..EVENTS_PER_BATCH)
                .map(|i| {
                    time += 10_000;
                    event(&mut rng, &names[h], first + i, time)
                })
                .collect();
            let leaf = (HOSTS + batches.len()) as u64;
            events.extend(evs.iter().cloned().map(|e| (leaf, e)));
            let batch = Batch {
                host_id: names[h].clone(),
                boot_id: "boot".into(),
                index: b,
                first_seq: first,
                last_seq: first + EVENTS_PER_BATCH - 1,
                prev_hash: prev[h].to_vec(),
                sent_unix_ns: time,
                events: evs,
            };
            let signed = seal(&keys[h], &batch);
            prev[h] = hash_batch(&signed.batch);
            batches.push(Record::HostBatch {
                host_id: names[h].clone(),
                signed,
            });
        }
    }
    Workload {
        enrollments,
        batches,
        events,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Evidence log: events/s appending `group` batches per append (one fsync each).
fn evidence_round(w: &Workload, group: usize) -> f64 {
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut log =
        EvidenceLog::open_with(dir.path(), SigningKey::from_bytes(&[9; 32]), EvidenceConfig::default()).unwrap();
    log.append(&w.enrollments).unwrap();
    let start = Instant::now();
    for chunk in w.batches.chunks(group) {
        log.append(chunk).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    (w.batches.len() as u64 * EVENTS_PER_BATCH) as f64 / secs
}

/// `verify` over a log of the whole workload (events/s), and reading the
/// same segment files alone (the I/O floor), in the same round.
fn verify_round(w: &Workload) -> (f64, f64) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let key = SigningKey::from_bytes(&[9; 32]);
    let mut log = EvidenceLog::open_with(dir.path(), key.clone(), EvidenceConfig::default()).unwrap();
    log.append(&w.enrollments).unwrap();
    for chunk in w.batches.chunks(32) {
        log.append(chunk).unwrap();
    }
    log.checkpoint().unwrap();
    drop(log);
    let events = (w.batches.len() as u64 * EVENTS_PER_BATCH) as f64;
    let start = Instant::now();
    let report = weir_store::evidence::verify(dir.path(), Some(&key.verifying_key()));
    let verify_rate = events / start.elapsed().as_secs_f64();
    assert!(report.is_intact(), "{:?}", report.problems);
    let start = Instant::now();
    let mut bytes = 0usize;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes += std::fs::read(entry.unwrap().path()).unwrap().len();
    }
    std::hint::black_box(bytes);
    (verify_rate, events / start.elapsed().as_secs_f64())
}

/// Baseline: the same batch bytes through a buffered file, one fsync per group.
fn raw_round(w: &Workload, group: usize) -> f64 {
    let dir = tempfile::tempdir_in(".").unwrap();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("raw"))
        .unwrap();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let start = Instant::now();
    for chunk in w.batches.chunks(group) {
        for r in chunk {
            if let Record::HostBatch { signed, .. } = r {
                let bytes = signed.encode_to_vec();
                out.write_all(&(bytes.len() as u32).to_be_bytes()).unwrap();
                out.write_all(&bytes).unwrap();
            }
        }
        out.flush().unwrap();
        out.get_ref().sync_data().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    (w.batches.len() as u64 * EVENTS_PER_BATCH) as f64 / secs
}

/// Weir's index: rows/s, one transaction per INDEX_TX_EVENTS events.
fn index_round(w: &Workload) -> f64 {
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut index = EventIndex::open(&dir.path().join("index.db")).unwrap();
    let start = Instant::now();
    for chunk in w.events.chunks(INDEX_TX_EVENTS) {
        let rows: Vec<(u64, &Event)> = chunk.iter().map(|(l, e)| (*l, e)).collect();
        index.insert(&rows).unwrap();
    }
    w.events.len() as f64 / start.elapsed().as_secs_f64()
}

/// What a comparison table stores.
#[derive(Clone, Copy)]
struct Variant {
    indexes: bool,
    json: bool,
    raw: bool,
}

/// The same columns into a plain table (same pragmas and transactions),
/// with or without Weir's indexes, ECS JSON text and raw protobuf.
fn table_round(w: &Workload, v: Variant) -> f64 {
    let dir = tempfile::tempdir_in(".").unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("bare.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.pragma_update(None, "cache_size", -65536).unwrap();
    conn.execute_batch(
        "CREATE TABLE events (host_id TEXT, host_name TEXT, seq INTEGER, time_ns INTEGER, kind TEXT, leaf INTEGER, \
         user_name TEXT, uid INTEGER, login TEXT, pid INTEGER, exe TEXT, cmdline TEXT, parent_exe TEXT, file_path TEXT, \
         dst_ip TEXT, dst_port INTEGER, container_id TEXT, ecs TEXT, raw BLOB)",
    )
    .unwrap();
    if v.indexes {
        conn.execute_batch(
            "CREATE UNIQUE INDEX events_host_seq ON events(host_id, seq); \
             CREATE INDEX events_time ON events(time_ns); CREATE INDEX events_kind_time ON events(kind, time_ns);",
        )
        .unwrap();
    }
    let mut conn = conn;
    let start = Instant::now();
    for chunk in w.events.chunks(INDEX_TX_EVENTS) {
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                     ?17, ?18, ?19)",
                )
                .unwrap();
            for (leaf, e) in chunk {
                let row = Row::of(e);
                let ecs = if v.json {
                    serde_json::to_string(&weir_event::ecs::to_ecs(e)).unwrap()
                } else {
                    String::new()
                };
                let raw = if v.raw { e.encode_to_vec() } else { Vec::new() };
                stmt.execute(rusqlite::params![
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
                    ecs,
                    raw,
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    w.events.len() as f64 / start.elapsed().as_secs_f64()
}

/// The per-event CPU of rendering ECS JSON and encoding the raw event, alone.
fn render_only_round(w: &Workload) -> f64 {
    let start = Instant::now();
    let mut bytes = 0usize;
    for (_, e) in &w.events {
        bytes += serde_json::to_string(&weir_event::ecs::to_ecs(e)).unwrap().len();
        bytes += e.encode_to_vec().len();
        bytes += Row::of(e).host_id.len();
    }
    std::hint::black_box(bytes);
    w.events.len() as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let w = workload();
    let batch_bytes: usize = w
        .batches
        .iter()
        .map(|r| match r {
            Record::HostBatch { signed, .. } => signed.batch.len() + signed.signature.len(),
            _ => 0,
        })
        .sum();
    println!(
        "workload: {} hosts, {} signed batches of {} events ({} events, {:.1} MiB of batches, {:.0} bytes/event), {} rounds",
        HOSTS,
        w.batches.len(),
        EVENTS_PER_BATCH,
        w.events.len(),
        batch_bytes as f64 / (1 << 20) as f64,
        batch_bytes as f64 / w.events.len() as f64,
        rounds
    );
    println!("\nevidence log append (events/s, median) vs raw buffered writes + fsync per group (same bytes)");
    for group in [1usize, 8, 32] {
        let (mut weir, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            weir.push(evidence_round(&w, group));
            raw.push(raw_round(&w, group));
        }
        let (weir, raw) = (median(weir), median(raw));
        println!(
            "  group of {group:>2} batches ({:>5} events/fsync): evidence log {:>10.0}/s   raw {:>10.0}/s   ratio {:.2}",
            group as u64 * EVENTS_PER_BATCH,
            weir,
            raw,
            weir / raw
        );
    }
    let (mut verified, mut read) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (v, r) = verify_round(&w);
        verified.push(v);
        read.push(r);
    }
    let (verified, read) = (median(verified), median(read));
    println!(
        "\nweir verify (signatures, chains, checkpoints) {verified:>10.0} events/s   reading the files alone {read:>10.0}/s   ratio {:.3}",
        verified / read
    );
    println!("\nevent index insert (rows/s, median, {INDEX_TX_EVENTS} rows per transaction, WAL, synchronous=NORMAL, 64 MiB cache)");
    let variants: [(&str, Variant); 3] = [
        (
            "same rows, table without indexes",
            Variant {
                indexes: false,
                json: false,
                raw: true,
            },
        ),
        (
            "with an ECS JSON text column (rejected)",
            Variant {
                indexes: true,
                json: true,
                raw: true,
            },
        ),
        (
            "columns only: no indexes, no raw event",
            Variant {
                indexes: false,
                json: false,
                raw: false,
            },
        ),
    ];
    let mut weir = Vec::new();
    let mut others: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut render = Vec::new();
    for _ in 0..rounds {
        weir.push(index_round(&w));
        for (i, (_, v)) in variants.iter().enumerate() {
            others[i].push(table_round(&w, *v));
        }
        render.push(render_only_round(&w));
    }
    let (weir, render) = (median(weir), median(render));
    println!("  weir EventIndex::insert                    {weir:>10.0}/s");
    for ((name, _), rates) in variants.iter().zip(others) {
        let rate = median(rates);
        println!("  {name:<42} {rate:>10.0}/s   weir/this {:.2}", weir / rate);
    }
    println!("  ECS JSON render + protobuf encode alone    {render:>10.0}/s");
}
