//! In-memory rate state that is deliberately not in the log: failed-login
//! throttling per user and per IP, and device-flow polling intervals. It
//! guards work, not facts; a restart forgets it.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use authlog_events::Timestamp;
use lru::LruCache;
use uuid::Uuid;

/// Most keys remembered; beyond it the least recently touched is dropped.
const MAX_KEYS: usize = 100_000;

/// Allows at most `max` failures per key within `window_seconds`. Memory
/// is bounded (`MAX_KEYS` keys of at most `max` times each) and every call
/// costs O(1) however many keys arrive: a new key past the bound evicts the
/// least recently used one.
#[derive(Debug)]
pub struct FailureThrottle {
    max: usize,
    window_seconds: i64,
    failures: Mutex<LruCache<String, VecDeque<Timestamp>>>,
}

impl FailureThrottle {
    /// A throttle of `max` failures per `window_seconds`.
    pub fn new(max: usize, window_seconds: i64) -> Self {
        Self::with_capacity(max, window_seconds, MAX_KEYS)
    }

    fn with_capacity(max: usize, window_seconds: i64, keys: usize) -> Self {
        FailureThrottle {
            max,
            window_seconds,
            failures: Mutex::new(LruCache::new(bound(keys))),
        }
    }

    /// `Err(seconds to wait)` when `key` is over its budget at `now`.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), i64> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = map.get_mut(key) else {
            return Ok(());
        };
        let horizon = now.plus_seconds(-self.window_seconds);
        while times.front().is_some_and(|t| *t <= horizon) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = oldest.plus_seconds(self.window_seconds).unix_seconds() - now.unix_seconds();
            return Err(wait.max(1));
        }
        Ok(())
    }

    /// Records a failure of `key` at `now`.
    pub fn fail(&self, key: &str, now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let times = map.get_or_insert_mut(key.to_owned(), VecDeque::new);
        times.push_back(now);
        while times.len() > self.max {
            times.pop_front();
        }
    }

    /// Takes back the latest attempt of `key` (it succeeded).
    pub fn forgive_one(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(times) = map.get_mut(key) {
            times.pop_back();
        }
    }

    /// Forgets `key`'s failures (after a success).
    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop(key);
    }
}

/// RFC 8628 §3.5 polling: a client polling faster than the interval gets
/// `slow_down`, and its interval grows by 5 seconds from then on.
/// Bounded like `FailureThrottle`: at most `MAX_KEYS` device codes, the
/// least recently polled dropped first, O(1) per poll.
#[derive(Debug)]
pub struct DevicePolls {
    polls: Mutex<LruCache<Uuid, (Timestamp, u32)>>,
}

impl Default for DevicePolls {
    fn default() -> Self {
        DevicePolls {
            polls: Mutex::new(LruCache::new(bound(MAX_KEYS))),
        }
    }
}

/// A cache capacity of at least one.
fn bound(keys: usize) -> NonZeroUsize {
    NonZeroUsize::new(keys).unwrap_or(NonZeroUsize::MIN)
}

impl DevicePolls {
    /// Records a poll; `false` means "too fast, slow down".
    pub fn poll(&self, device: Uuid, now: Timestamp, interval: u32) -> bool {
        let mut map = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&device) {
            None => {
                map.put(device, (now, interval));
                true
            }
            Some((last, current)) => {
                let due = last.plus_seconds(i64::from(*current));
                *last = now;
                if now < due {
                    *current += 5;
                    false
                } else {
                    true
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_bounded_however_many_keys_arrive() {
        let t = FailureThrottle::with_capacity(2, 60, 3);
        let now = Timestamp::from_unix_seconds(1000);
        for key in ["a", "b", "c", "d"] {
            t.fail(key, now);
            t.fail(key, now);
        }
        let map = t.failures.lock().unwrap();
        assert_eq!(map.len(), 3);
        assert!(!map.contains("a"), "the least recently used key went");
        drop(map);
        assert!(t.check("d", now).is_err());
    }

    #[test]
    fn failures_over_budget_wait_for_the_window() {
        let t = FailureThrottle::new(3, 60);
        let now = Timestamp::from_unix_seconds(1000);
        for _ in 0..3 {
            assert!(t.check("u", now).is_ok());
            t.fail("u", now);
        }
        assert_eq!(t.check("u", now), Err(60));
        assert!(t.check("u", now.plus_seconds(61)).is_ok());
        assert!(t.check("other", now).is_ok());
        t.clear("u");
        assert!(t.check("u", now).is_ok());
    }

    #[test]
    fn polling_faster_than_the_interval_slows_down() {
        let p = DevicePolls::default();
        let id = Uuid::from_u128(7);
        let t0 = Timestamp::from_unix_seconds(1000);
        assert!(p.poll(id, t0, 5));
        assert!(!p.poll(id, t0.plus_seconds(2), 5));
        // The interval is now 10 s from the last poll.
        assert!(!p.poll(id, t0.plus_seconds(9), 5));
        assert!(p.poll(id, t0.plus_seconds(24), 5));
    }
}
