//! Login rate limiting: failed attempts are counted per username and per
//! source address in a sliding window; past the limit, logins for that key
//! are refused (429) until the oldest failure leaves the window. Bounded: at
//! most `MAX_KEYS` keys are tracked, the stalest evicted first.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Most usernames + addresses remembered at once.
pub const MAX_KEYS: usize = 10_000;

pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: HashMap<String, VecDeque<Instant>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            max_failures: max_failures.max(1) as usize,
            window,
            failures: HashMap::new(),
        }
    }

    fn prune(&mut self, key: &str, now: Instant) {
        if let Some(times) = self.failures.get_mut(key) {
            while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                times.pop_front();
            }
            if times.is_empty() {
                self.failures.remove(key);
            }
        }
    }

    /// How long until a login for any of `keys` may be tried again; `None`
    /// when none of them is over the limit.
    pub fn blocked_for(&mut self, keys: &[&str], now: Instant) -> Option<Duration> {
        let mut longest: Option<Duration> = None;
        for key in keys {
            self.prune(key, now);
            let Some(times) = self.failures.get(*key) else { continue };
            if times.len() >= self.max_failures {
                // Free again once enough failures have left the window.
                let oldest_blocking = times[times.len() - self.max_failures];
                let wait = self.window.saturating_sub(now.duration_since(oldest_blocking));
                longest = Some(longest.map_or(wait, |l| l.max(wait)));
            }
        }
        longest
    }

    /// Counts one failure against each of `keys`.
    pub fn record_failure(&mut self, keys: &[&str], now: Instant) {
        for key in keys {
            self.prune(key, now);
            if !self.failures.contains_key(*key) && self.failures.len() >= MAX_KEYS {
                self.evict_stalest();
            }
            let times = self.failures.entry((*key).to_string()).or_default();
            times.push_back(now);
            // Older failures than the limit needs are never consulted.
            while times.len() > self.max_failures {
                times.pop_front();
            }
        }
    }

    /// Forgets failures for `key` (a username after a successful login).
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }

    fn evict_stalest(&mut self) {
        let stalest = self
            .failures
            .iter()
            .min_by_key(|(_, times)| times.back().copied())
            .map(|(key, _)| key.clone());
        if let Some(key) = stalest {
            self.failures.remove(&key);
        }
    }

    #[cfg(test)]
    pub fn tracked_keys(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_frees_after_window() {
        let mut limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.blocked_for(&["user:a", "ip:1"], t0), None, "attempt {i}");
            limiter.record_failure(&["user:a", "ip:1"], t0 + Duration::from_secs(i));
        }
        let wait = limiter.blocked_for(&["user:a"], t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        // Another user from the same address is blocked too; another address for another user is not.
        assert!(limiter.blocked_for(&["user:b", "ip:1"], t0).is_some());
        assert!(limiter.blocked_for(&["user:b", "ip:2"], t0).is_none());
        assert!(limiter.blocked_for(&["user:a"], t0 + Duration::from_secs(61)).is_none());
        limiter.clear("ip:1");
        assert!(limiter.blocked_for(&["ip:1"], t0).is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let mut limiter = LoginLimiter::new(5, Duration::from_secs(300));
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 500) {
            limiter.record_failure(&[&format!("user:{i}")], now);
        }
        assert_eq!(limiter.tracked_keys(), MAX_KEYS);
    }
}
