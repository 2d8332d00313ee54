//! Shared test fixtures: hosts with real ed25519 keys that seal real
//! hash-chained batches of realistic events, and a log built from them.

#![allow(dead_code)]

use std::path::Path;

use ed25519_dalek::SigningKey;
use weir_event::chain::{hash_batch, seal, BatchHash, GENESIS_HASH};
use weir_event::event::Body;
use weir_event::{Ancestor, Batch, Event, Exec, File, FileOp, NetOp, Network, Process};
use weir_store::evidence::{EvidenceConfig, EvidenceLog, Record};

pub fn collector_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A sensor: its key and where its chain stands.
pub struct Host {
    pub id: String,
    pub key: SigningKey,
    pub index: u64,
    pub seq: u64,
    pub prev: BatchHash,
}

impl Host {
    pub fn new(id: &str, seed: u8) -> Host {
        Host {
            id: id.to_string(),
            key: SigningKey::from_bytes(&[seed; 32]),
            index: 0,
            seq: 0,
            prev: GENESIS_HASH,
        }
    }

    pub fn enrollment(&self) -> Record {
        Record::HostEnrolled {
            host_id: self.id.clone(),
            public_key: self.key.verifying_key().to_bytes(),
            machine_id: format!("machine-{}", self.id),
            host_name: format!("{}.example", self.id),
            time_unix_ns: 1_795_000_000_000_000_000,
        }
    }

    /// The next batch of `n` events, sealed and chained.
    pub fn batch(&mut self, n: u64) -> Record {
        let events = (0..n).map(|i| event(&self.id, self.seq + i)).collect();
        let batch = Batch {
            host_id: self.id.clone(),
            boot_id: "boot-1".into(),
            index: self.index,
            first_seq: self.seq,
            last_seq: self.seq + n - 1,
            prev_hash: self.prev.to_vec(),
            sent_unix_ns: 1_795_000_000_000_000_000 + self.seq,
            events,
        };
        let signed = seal(&self.key, &batch);
        self.prev = hash_batch(&signed.batch);
        self.index += 1;
        self.seq += n;
        Record::HostBatch {
            host_id: self.id.clone(),
            signed,
        }
    }
}

/// A realistic event: exec, file write or connect, by seq.
pub fn event(host: &str, seq: u64) -> Event {
    let process = Process {
        pid: 1000 + (seq % 300) as u32,
        ppid: 900,
        tid: 1000 + (seq % 300) as u32,
        entity_id: format!("{:016x}", seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        parent_entity_id: "00000000000000aa".into(),
        start_time_ns: 5_000_000 + seq,
        executable: ["/usr/bin/curl", "/usr/bin/python3", "/bin/bash"][(seq % 3) as usize].into(),
        args: vec![
            b"curl".to_vec(),
            b"-s".to_vec(),
            format!("https://example.com/{seq}").into_bytes(),
        ],
        cwd: b"/home/alice".to_vec(),
        comm: "curl".into(),
        uid: if seq.is_multiple_of(2) { 0 } else { 1000 },
        loginuid: 1000,
        sessionid: 3,
        user_name: if seq.is_multiple_of(2) {
            "root".into()
        } else {
            "alice".into()
        },
        login_name: "alice".into(),
        container_id: if seq.is_multiple_of(5) {
            "c0ffee".into()
        } else {
            String::new()
        },
        ancestors: vec![Ancestor {
            pid: 900,
            entity_id: "00000000000000aa".into(),
            executable: "/usr/bin/sudo".into(),
            command_line: "sudo -s".into(),
        }],
        ..Default::default()
    };
    let body = match seq % 3 {
        0 => Body::Exec(Exec { memfd: false }),
        1 => Body::File(File {
            op: FileOp::OpenWrite as i32,
            path: format!("/etc/cron.d/job-{seq}").into_bytes(),
            mode: 0o644,
            ..Default::default()
        }),
        _ => Body::Network(Network {
            op: NetOp::Connect as i32,
            transport: "tcp".into(),
            source_ip: "10.0.0.5".into(),
            source_port: 40000,
            destination_ip: "93.184.216.34".into(),
            destination_port: 443,
            result: 0,
        }),
    };
    Event {
        seq,
        time_unix_ns: 1_795_000_000_000_000_000 + seq * 1_000_000,
        host_id: host.to_string(),
        host_name: format!("{host}.example"),
        process: Some(process),
        body: Some(body),
    }
}

/// Small segments so a modest log spans several files; no automatic checkpoints.
pub fn small_config() -> EvidenceConfig {
    EvidenceConfig {
        segment_bytes: 16 * 1024,
        checkpoint_every_records: u64::MAX,
        checkpoint_interval: std::time::Duration::from_secs(3600),
    }
}

/// A log of two hosts, interleaved batches, collector events, and a
/// checkpoint every few appends; returns the hosts.
pub fn build_log(dir: &Path, appends: usize) -> (EvidenceLog, Vec<Host>) {
    let mut log = EvidenceLog::open_with(dir, collector_key(), small_config()).unwrap();
    let mut hosts = vec![Host::new("web-1", 1), Host::new("db-1", 2)];
    log.append(&[hosts[0].enrollment(), hosts[1].enrollment()]).unwrap();
    for i in 0..appends {
        let mut records = vec![hosts[0].batch(5), hosts[1].batch(3)];
        if i % 4 == 0 {
            records.push(Record::CollectorEvent {
                event: Event {
                    seq: log.len() + records.len() as u64,
                    host_id: "collector".into(),
                    time_unix_ns: 1_795_000_000_000_000_000,
                    ..Default::default()
                },
            });
        }
        log.append(&records).unwrap();
        if i % 5 == 4 {
            log.checkpoint().unwrap();
        }
    }
    log.checkpoint().unwrap();
    (log, hosts)
}

pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}
