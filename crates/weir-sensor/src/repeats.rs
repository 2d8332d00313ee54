//! Userspace half of the kernel's folding of repeated file operations. The
//! kernel sends the first operation of a key (process, op, path, flags) in
//! each window with the key's running total and only counts the
//! repeats; this turns totals into `File.repeat_count` on the next event of
//! the key, and flushes counts no later event carried once the window is
//! over. Bounded: at most `capacity` keys are tracked.

use std::collections::HashMap;

use weir_event::event::Body;
use weir_event::Event;

use crate::probe::record::{FileRec, Header};

/// The kernel's aggregation key (`struct agg_key` in bpf/sensor.bpf.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggKey {
    pub tgid: u32,
    pub op: u32,
    pub oflags: u32,
    pub hash: u64,
}

impl AggKey {
    /// The key of a file record the kernel aggregated; None when it did not.
    pub fn of(h: &Header, f: &FileRec) -> Option<AggKey> {
        (f.agg_total > 0).then_some(AggKey {
            tgid: h.tgid,
            op: f.op,
            oflags: f.oflags,
            hash: f.agg_hash,
        })
    }

    /// The key's bytes as the kernel map holds them.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[0..4].copy_from_slice(&self.tgid.to_ne_bytes());
        b[4..8].copy_from_slice(&self.op.to_ne_bytes());
        b[8..12].copy_from_slice(&self.oflags.to_ne_bytes());
        // b[12..16]: zero in the kernel's key.
        b[16..24].copy_from_slice(&self.hash.to_ne_bytes());
        b
    }
}

/// The kernel's state of a key: when its current window started (boot
/// clock, ns) and how many operations it has seen in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelCount {
    pub window_start_ns: u64,
    pub total: u64,
}

struct Tracked {
    /// The last event sent for the key; a flush repeats it with the count.
    template: Event,
    /// Operations of the key already accounted for in events.
    reported: u64,
}

pub struct RepeatTracker {
    entries: HashMap<AggKey, Tracked>,
    capacity: usize,
    /// Keys not tracked because the table was full (their later repeats
    /// travel on their next event only); reported in the health detail.
    pub untracked: u64,
}

fn set_repeat(ev: &mut Event, n: u64) {
    if let Some(Body::File(f)) = ev.body.as_mut() {
        f.repeat_count = n;
    }
}

impl RepeatTracker {
    pub fn new(capacity: usize) -> Self {
        RepeatTracker {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            untracked: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An event the kernel sent for `key` with running total `total`: sets
    /// its repeat count (repeats folded since the key's previous event) and
    /// remembers it for later flushes.
    pub fn observe(&mut self, key: AggKey, total: u64, ev: &mut Event) {
        let repeats = match self.entries.get_mut(&key) {
            Some(t) if total > t.reported => {
                let n = total - t.reported - 1;
                t.reported = total;
                n
            }
            Some(t) => {
                // The kernel forgot the key (its map is an LRU) and started
                // again, or two CPUs' events crossed: nothing to add.
                if total == 1 {
                    t.reported = 1;
                }
                0
            }
            None => {
                if self.entries.len() >= self.capacity {
                    self.untracked += 1;
                    set_repeat(ev, 0);
                    return;
                }
                self.entries.insert(
                    key,
                    Tracked {
                        template: ev.clone(),
                        reported: total,
                    },
                );
                set_repeat(ev, 0);
                return;
            }
        };
        set_repeat(ev, repeats);
        if let Some(t) = self.entries.get_mut(&key) {
            t.template = ev.clone();
        }
    }

    /// Events for keys whose kernel window is over with repeats that no
    /// event carried: a copy of the key's last event at time `now_unix_ns`
    /// standing for those repeats (itself and `repeat_count` more, like
    /// every event). Forgets keys the kernel forgot or that stayed
    /// quiet for two windows. `read` looks a key up in the kernel map; call
    /// right after draining the ring, so no record of a closed window is
    /// still in it.
    pub fn flush(
        &mut self,
        now_boot_ns: u64,
        window_ns: u64,
        now_unix_ns: u64,
        read: impl Fn(&AggKey) -> Option<KernelCount>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        self.entries.retain(|key, t| {
            let Some(k) = read(key) else { return false };
            let age = now_boot_ns.saturating_sub(k.window_start_ns);
            if age < window_ns {
                return true;
            }
            if k.total > t.reported {
                let mut ev = t.template.clone();
                ev.time_unix_ns = now_unix_ns;
                set_repeat(&mut ev, k.total - t.reported - 1);
                t.reported = k.total;
                out.push(ev);
                return true;
            }
            age < window_ns.saturating_mul(2)
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::RefCell;
    use weir_event::File;

    fn file_event(path: &str) -> Event {
        Event {
            body: Some(Body::File(File {
                path: path.as_bytes().to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn repeat(ev: &Event) -> u64 {
        match &ev.body {
            Some(Body::File(f)) => f.repeat_count,
            _ => panic!("not a file event"),
        }
    }

    fn key(hash: u64) -> AggKey {
        AggKey {
            tgid: 7,
            op: 1,
            oflags: 1,
            hash,
        }
    }

    #[test]
    fn key_bytes_follow_the_kernel_layout() {
        let b = key(0x1122334455667788).to_bytes();
        assert_eq!(&b[0..4], &7u32.to_ne_bytes());
        assert_eq!(&b[16..24], &0x1122334455667788u64.to_ne_bytes());
    }

    /// Plays the kernel: `ops` operations at the given boot times, folded
    /// with `window`; flushes at `flush_at`. Every operation must be
    /// accounted for exactly once across events and their counts.
    fn simulate(times: &[u64], window: u64, flush_at: &[u64]) -> (usize, u64) {
        let kernel = RefCell::new(KernelCount {
            window_start_ns: 0,
            total: 0,
        });
        let mut tracker = RepeatTracker::new(16);
        let mut events = 0usize;
        let mut accounted = 0u64;
        let mut flushes = flush_at.iter().peekable();
        for &t in times {
            while let Some(&&f) = flushes.peek() {
                if f > t {
                    break;
                }
                for ev in tracker.flush(f, window, 0, |_| Some(*kernel.borrow())) {
                    events += 1;
                    accounted += 1 + repeat(&ev);
                }
                flushes.next();
            }
            let mut k = kernel.borrow_mut();
            k.total += 1;
            let send = k.total == 1 || t - k.window_start_ns >= window;
            if send {
                k.window_start_ns = t;
                let total = k.total;
                drop(k);
                let mut ev = file_event("/etc/x");
                tracker.observe(key(1), total, &mut ev);
                events += 1;
                accounted += 1 + repeat(&ev);
            }
        }
        let last = times.last().copied().unwrap_or(0) + 10 * window;
        for ev in tracker.flush(last, window, 0, |_| Some(*kernel.borrow())) {
            events += 1;
            accounted += 1 + repeat(&ev);
        }
        (events, accounted)
    }

    #[test]
    fn a_burst_becomes_one_event_and_a_flushed_count() {
        let times: Vec<u64> = (0..1000).collect();
        let (events, accounted) = simulate(&times, 1_000_000, &[]);
        assert_eq!(events, 2);
        assert_eq!(accounted, 1000);
    }

    #[test]
    fn a_key_the_kernel_forgot_is_dropped() {
        let mut tracker = RepeatTracker::new(4);
        let mut ev = file_event("/etc/x");
        tracker.observe(key(1), 1, &mut ev);
        assert_eq!(tracker.len(), 1);
        assert!(tracker.flush(10, 1, 0, |_| None).is_empty());
        assert!(tracker.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut tracker = RepeatTracker::new(2);
        for h in 0..5 {
            tracker.observe(key(h), 1, &mut file_event("/etc/x"));
        }
        assert_eq!(tracker.len(), 2);
        assert_eq!(tracker.untracked, 3);
    }

    proptest! {
        #[test]
        fn every_operation_is_accounted_once(
            gaps in proptest::collection::vec(0u64..3_000, 1..300),
            window in 1u64..5_000,
            flush_gaps in proptest::collection::vec(1u64..4_000, 0..50),
        ) {
            let mut t = 0;
            let times: Vec<u64> = gaps.iter().map(|g| { t += g; t }).collect();
            let mut f = 0;
            let flush_at: Vec<u64> = flush_gaps.iter().map(|g| { f += g; f }).collect();
            let (_, accounted) = simulate(&times, window, &flush_at);
            prop_assert_eq!(accounted, times.len() as u64);
        }
    }
}
