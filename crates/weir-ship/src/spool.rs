//! The bounded queue between the host and the collector.
//!
//! Events wait in `unsealed` until the chain head is known (first Welcome of
//! this run), then are numbered, sealed and kept until acknowledged: first in
//! memory, then, once `memory_bytes` is used, as one file per batch in
//! `spool/` (bounded by `disk_bytes`). A sealed batch is never dropped: it is
//! signed and chained, and dropping it would leave a gap the collector must
//! refuse. When both bounds are used, *incoming events* are dropped instead,
//! counted per kind, and a `Loss` event is put at the head of the next batch
//! that fits, so the collector records exactly what was lost. The producer is
//! never blocked.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use prost::Message;
use weir_event::chain::{hash_batch, ChainHead};
use weir_event::event::Body;
use weir_event::{Batch, Event, Loss, SignedBatch};

use crate::error::ShipError;

/// Framing overhead assumed per event and per batch when budgeting bytes.
const EVENT_OVERHEAD: usize = 16;
const BATCH_OVERHEAD: usize = 256;

enum Stored {
    Memory(SignedBatch),
    Disk(PathBuf),
}

struct Entry {
    index: u64,
    bytes: usize,
    events: usize,
    /// Event times, to measure event -> durable ack latency on ack.
    times: Vec<u64>,
    stored: Stored,
}

pub struct Spool {
    host_id: String,
    host_name: String,
    boot_id: String,
    dir: PathBuf,
    memory_limit: usize,
    disk_limit: usize,
    max_events: usize,
    max_batch_bytes: usize,
    unsealed: VecDeque<Vec<Event>>,
    unsealed_bytes: usize,
    chain: Option<ChainHead>,
    sealed: VecDeque<Entry>,
    memory_bytes: usize,
    disk_bytes: usize,
    /// Dropped since the last Loss event was queued: kind -> count.
    lost: BTreeMap<String, u64>,
    lost_from_ns: u64,
    lost_to_ns: u64,
    pub dropped_total: u64,
}

/// What an acknowledgement released.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Released {
    pub batches: u64,
    pub events: u64,
    pub times: Vec<u64>,
}

pub fn estimate(event: &Event) -> usize {
    event.encoded_len() + EVENT_OVERHEAD
}

impl Spool {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host_id: String,
        host_name: String,
        boot_id: String,
        dir: PathBuf,
        memory_limit: usize,
        disk_limit: usize,
        max_events: usize,
        max_batch_bytes: usize,
    ) -> Result<Spool, ShipError> {
        // The disk spool extends memory for this run; it is not a journal
        // across restarts (the chain is re-learned from the Welcome).
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|source| ShipError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        crate::identity::private_dir(&dir)?;
        Ok(Spool {
            host_id,
            host_name,
            boot_id,
            dir,
            memory_limit,
            disk_limit,
            max_events: max_events.max(1),
            max_batch_bytes,
            unsealed: VecDeque::new(),
            unsealed_bytes: 0,
            chain: None,
            sealed: VecDeque::new(),
            memory_bytes: 0,
            disk_bytes: 0,
            lost: BTreeMap::new(),
            lost_from_ns: 0,
            lost_to_ns: 0,
            dropped_total: 0,
        })
    }

    pub fn used_bytes(&self) -> usize {
        self.memory_bytes + self.disk_bytes + self.unsealed_bytes
    }

    pub fn capacity(&self) -> usize {
        self.memory_limit + self.disk_limit
    }

    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.unsealed.is_empty()
    }

    /// Dropped events not yet reported in a queued Loss event.
    pub fn loss_pending(&self) -> bool {
        !self.lost.is_empty()
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.used_bytes() + bytes <= self.capacity()
    }

    /// Takes a batch of events from the host. Never blocks: when the spool is
    /// full they are dropped and counted.
    pub fn offer(&mut self, mut events: Vec<Event>, now_ns: u64) {
        if events.is_empty() && self.lost.is_empty() {
            return;
        }
        for event in &mut events {
            event.host_id.clone_from(&self.host_id);
            if event.host_name.is_empty() {
                event.host_name.clone_from(&self.host_name);
            }
        }
        let bytes: usize = events.iter().map(estimate).sum::<usize>() + BATCH_OVERHEAD;
        if self.lost.is_empty() {
            if self.has_room(bytes) {
                self.push_unsealed(events, bytes);
            } else {
                events.iter().for_each(|e| self.drop_event(e, now_ns));
            }
            return;
        }
        // Earlier events were dropped: the Loss report goes first, with the
        // new events if they fit too, alone otherwise.
        let loss = self.loss_event(now_ns);
        let loss_bytes = estimate(&loss);
        if self.has_room(bytes + loss_bytes) {
            self.lost.clear();
            events.insert(0, loss);
            self.push_unsealed(events, bytes + loss_bytes);
        } else if self.has_room(loss_bytes + BATCH_OVERHEAD) {
            self.lost.clear();
            events.iter().for_each(|e| self.drop_event(e, now_ns));
            // Counted now, reported by the next Loss event.
            self.push_unsealed(vec![loss], loss_bytes + BATCH_OVERHEAD);
        } else {
            events.iter().for_each(|e| self.drop_event(e, now_ns));
        }
    }

    fn push_unsealed(&mut self, events: Vec<Event>, bytes: usize) {
        self.unsealed_bytes += bytes;
        self.unsealed.push_back(events);
    }

    fn drop_event(&mut self, event: &Event, now_ns: u64) {
        if self.lost.is_empty() {
            self.lost_from_ns = now_ns;
        }
        self.lost_to_ns = now_ns;
        *self.lost.entry(weir_event::kind_name(event).to_string()).or_default() += 1;
        self.dropped_total += 1;
    }

    fn loss_event(&self, now_ns: u64) -> Event {
        let spool_events: u64 = self.lost.values().sum();
        Event {
            time_unix_ns: now_ns,
            host_id: self.host_id.clone(),
            host_name: self.host_name.clone(),
            body: Some(Body::Loss(Loss {
                from_unix_ns: self.lost_from_ns,
                to_unix_ns: self.lost_to_ns,
                spool: self.lost.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                spool_events,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    /// Learns (or re-learns) where the collector's copy of the chain ends.
    /// Returns the index to send from. Sealed batches the collector already
    /// has are released; if the collector's head does not fall inside what
    /// this run sealed, unacknowledged events are re-sealed on top of it.
    pub fn welcome(&mut self, head: ChainHead, key: &SigningKey, now_ns: u64) -> Result<(u64, Released), ShipError> {
        let Some(mine) = self.chain.clone() else {
            self.chain = Some(head.clone());
            self.seal_pending(key, now_ns)?;
            return Ok((head.next_index, Released::default()));
        };
        let first = self.sealed.front().map(|e| e.index).unwrap_or(mine.next_index);
        if head.next_index == mine.next_index && head.head_hash == mine.head_hash {
            let released = self.release_below(head.next_index)?;
            return Ok((head.next_index, released));
        }
        if head.next_index >= first && head.next_index < mine.next_index {
            // Does our batch at head.next_index chain onto the collector's head?
            let candidate = self.get(head.next_index)?;
            let prev = candidate
                .as_ref()
                .and_then(|s| Batch::decode(s.batch.as_slice()).ok())
                .map(|b| b.prev_hash);
            if prev.as_deref() == Some(&head.head_hash[..]) {
                let released = self.release_below(head.next_index)?;
                return Ok((head.next_index, released));
            }
        }
        tracing::warn!(
            collector_next_index = head.next_index,
            local_next_index = mine.next_index,
            "collector's chain head is not one this run produced; re-sealing unacknowledged events on top of it"
        );
        let mut events: Vec<Vec<Event>> = Vec::new();
        while let Some(entry) = self.sealed.pop_front() {
            let signed = self.load(&entry)?;
            self.forget(&entry);
            if let Ok(batch) = Batch::decode(signed.batch.as_slice()) {
                events.push(batch.events);
            }
        }
        for batch in events.into_iter().rev() {
            let bytes = batch.iter().map(estimate).sum::<usize>() + BATCH_OVERHEAD;
            self.unsealed_bytes += bytes;
            self.unsealed.push_front(batch);
        }
        self.chain = Some(head.clone());
        self.seal_pending(key, now_ns)?;
        Ok((head.next_index, Released::default()))
    }

    /// Numbers, seals and stores every waiting event (once the chain is known).
    pub fn seal_pending(&mut self, key: &SigningKey, now_ns: u64) -> Result<(), ShipError> {
        let Some(mut head) = self.chain.clone() else {
            return Ok(());
        };
        while let Some(mut events) = self.unsealed.pop_front() {
            let bytes = events.iter().map(estimate).sum::<usize>() + BATCH_OVERHEAD;
            self.unsealed_bytes = self.unsealed_bytes.saturating_sub(bytes);
            // Split by count and size so every batch fits in a message.
            while !events.is_empty() {
                let mut take = 0;
                let mut size = BATCH_OVERHEAD;
                while take < events.len() && take < self.max_events {
                    let s = estimate(&events[take]);
                    if take > 0 && size + s > self.max_batch_bytes {
                        break;
                    }
                    size += s;
                    take += 1;
                }
                let rest = events.split_off(take);
                let chunk = std::mem::replace(&mut events, rest);
                self.seal_one(&mut head, chunk, key, now_ns)?;
            }
        }
        self.unsealed_bytes = 0;
        self.chain = Some(head);
        Ok(())
    }

    fn seal_one(
        &mut self,
        head: &mut ChainHead,
        mut events: Vec<Event>,
        key: &SigningKey,
        now_ns: u64,
    ) -> Result<(), ShipError> {
        let first_seq = head.next_seq;
        for (i, event) in events.iter_mut().enumerate() {
            event.seq = first_seq + i as u64;
        }
        let times = events.iter().map(|e| e.time_unix_ns).collect();
        let count = events.len();
        let batch = Batch {
            host_id: self.host_id.clone(),
            boot_id: self.boot_id.clone(),
            index: head.next_index,
            first_seq,
            last_seq: first_seq + count as u64 - 1,
            prev_hash: head.head_hash.to_vec(),
            sent_unix_ns: now_ns,
            events,
        };
        let signed = weir_event::chain::seal(key, &batch);
        head.next_index += 1;
        head.next_seq += count as u64;
        head.head_hash = hash_batch(&signed.batch);
        let bytes = signed.batch.len() + signed.signature.len() + 16;
        let stored = if self.memory_bytes + bytes <= self.memory_limit || self.disk_limit == 0 {
            self.memory_bytes += bytes;
            Stored::Memory(signed)
        } else {
            let path = self.dir.join(format!("{:020}.batch", batch.index));
            fs::write(&path, signed.encode_to_vec()).map_err(|source| ShipError::Io {
                path: path.clone(),
                source,
            })?;
            self.disk_bytes += bytes;
            Stored::Disk(path)
        };
        self.sealed.push_back(Entry {
            index: batch.index,
            bytes,
            events: count,
            times,
            stored,
        });
        Ok(())
    }

    fn load(&self, entry: &Entry) -> Result<SignedBatch, ShipError> {
        match &entry.stored {
            Stored::Memory(signed) => Ok(signed.clone()),
            Stored::Disk(path) => {
                let bytes = fs::read(path).map_err(|source| ShipError::Io {
                    path: path.clone(),
                    source,
                })?;
                SignedBatch::decode(bytes.as_slice()).map_err(|e| ShipError::Corrupt {
                    path: path.clone(),
                    detail: e.to_string(),
                })
            }
        }
    }

    fn forget(&mut self, entry: &Entry) {
        match &entry.stored {
            Stored::Memory(_) => self.memory_bytes -= entry.bytes,
            Stored::Disk(path) => {
                self.disk_bytes -= entry.bytes;
                let _ = fs::remove_file(path);
            }
        }
    }

    /// The sealed batch at `index`, if still spooled.
    pub fn get(&self, index: u64) -> Result<Option<SignedBatch>, ShipError> {
        let Some(first) = self.sealed.front().map(|e| e.index) else {
            return Ok(None);
        };
        if index < first {
            return Ok(None);
        }
        match self.sealed.get((index - first) as usize) {
            Some(entry) => self.load(entry).map(Some),
            None => Ok(None),
        }
    }

    /// Releases every batch below `index` (the collector has them durably).
    pub fn release_below(&mut self, index: u64) -> Result<Released, ShipError> {
        let mut released = Released::default();
        while self.sealed.front().is_some_and(|e| e.index < index) {
            let entry = self.sealed.pop_front().expect("front checked");
            self.forget(&entry);
            released.batches += 1;
            released.events += entry.events as u64;
            released.times.extend_from_slice(&entry.times);
        }
        Ok(released)
    }

    pub fn next_index(&self) -> Option<u64> {
        self.chain.as_ref().map(|c| c.next_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_event::chain::{open, ChainHead};

    fn exec(t: u64) -> Event {
        Event {
            time_unix_ns: t,
            body: Some(Body::Exec(Default::default())),
            process: Some(weir_event::Process {
                executable: "/usr/bin/true".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn spool(dir: &std::path::Path, memory: usize, disk: usize) -> Spool {
        Spool::new(
            "h1".into(),
            "host".into(),
            "boot".into(),
            dir.join("spool"),
            memory,
            disk,
            4,
            1 << 20,
        )
        .unwrap()
    }

    #[test]
    fn batches_chain_and_overflow_to_disk_then_drop_with_loss() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut s = spool(dir.path(), 600, 600);
        s.welcome(ChainHead::default(), &key, 1).unwrap();
        for round in 0..40 {
            s.offer((0..4).map(|i| exec(round * 10 + i)).collect(), round);
            s.seal_pending(&key, round).unwrap();
        }
        assert!(s.disk_bytes > 0, "overflowed to disk");
        assert!(s.dropped_total > 0, "past both bounds events are dropped");
        assert!(s.used_bytes() <= s.capacity());
        // Everything sealed chains and verifies, across memory and disk.
        let mut head = ChainHead::default();
        let mut i = 0;
        let mut reported = 0;
        while let Some(signed) = s.get(i).unwrap() {
            let batch = open(&signed, &key.verifying_key(), "h1").unwrap();
            head.advance(&batch, &signed.batch).unwrap();
            for event in &batch.events {
                if let Some(Body::Loss(loss)) = &event.body {
                    reported += loss.spool_events;
                }
            }
            i += 1;
        }
        assert_eq!(Some(i), s.next_index());
        // Room again: the next batch starts with a Loss event counting the drops.
        let dropped = s.dropped_total;
        let released = s.release_below(i).unwrap();
        assert_eq!(released.batches, i);
        assert_eq!(s.disk_bytes, 0);
        s.offer(vec![exec(999)], 1000);
        s.seal_pending(&key, 1000).unwrap();
        let signed = s.get(i).unwrap().unwrap();
        let batch = open(&signed, &key.verifying_key(), "h1").unwrap();
        head.advance(&batch, &signed.batch).unwrap();
        match &batch.events[0].body {
            Some(Body::Loss(loss)) => {
                assert_eq!(
                    reported + loss.spool_events,
                    dropped,
                    "every dropped event is reported once"
                );
                assert_eq!(loss.spool.values().sum::<u64>(), loss.spool_events);
                assert!(loss.spool.contains_key("exec"));
            }
            other => panic!("expected a Loss event first, got {other:?}"),
        }
        assert_eq!(batch.events.len(), 2);
    }

    #[test]
    fn welcome_in_the_middle_resumes_and_foreign_head_reseals() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut s = spool(dir.path(), 1 << 20, 0);
        s.welcome(ChainHead::default(), &key, 1).unwrap();
        s.offer((0..12).map(exec).collect(), 2);
        s.seal_pending(&key, 2).unwrap();
        assert_eq!(s.next_index(), Some(3));
        // Collector has batch 0 only.
        let b0 = s.get(0).unwrap().unwrap();
        let b0d = open(&b0, &key.verifying_key(), "h1").unwrap();
        let mut head = ChainHead::default();
        head.advance(&b0d, &b0.batch).unwrap();
        let (from, released) = s.welcome(head.clone(), &key, 3).unwrap();
        assert_eq!((from, released.batches), (1, 1));
        // A head this run never produced: the 8 unacked events are re-sealed on top of it.
        let foreign = ChainHead {
            next_index: 10,
            next_seq: 100,
            head_hash: [5; 32],
        };
        let (from, _) = s.welcome(foreign, &key, 4).unwrap();
        assert_eq!(from, 10);
        let b = open(&s.get(10).unwrap().unwrap(), &key.verifying_key(), "h1").unwrap();
        assert_eq!((b.first_seq, b.prev_hash.as_slice()), (100, &[5u8; 32][..]));
        assert_eq!(s.next_index(), Some(12));
    }
}
