//! Recognizing retried SDK bodies. When the SDK posts with `fetch` and gets no 2xx, it sends the
//! same body again; each body carries `pageview_id`s and `device_timestamp_utc`s, so an identical
//! (site, visitor cookie, body) seen within the window is a retry, stored once. Only bodies that
//! were stored are remembered, so a retry after a failure is stored.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most bodies remembered; past it the oldest half is forgotten.
const CAPACITY: usize = 200_000;

/// Recently stored bodies.
pub struct RecentBodies {
    window: Duration,
    hasher: RandomState,
    seen: Mutex<HashMap<u64, Instant>>,
}

impl RecentBodies {
    /// Remembers bodies for `window`.
    pub fn new(window: Duration) -> Self {
        RecentBodies { window, hasher: RandomState::new(), seen: Mutex::new(HashMap::new()) }
    }

    /// The fingerprint of a request.
    pub fn fingerprint(&self, query: &str, body: &[u8]) -> u64 {
        self.hasher.hash_one((query, body))
    }

    /// Whether the fingerprint was stored within the window.
    pub fn is_retry(&self, fingerprint: u64) -> bool {
        let seen = self.seen.lock().expect("dedupe lock");
        seen.get(&fingerprint).is_some_and(|at| at.elapsed() < self.window)
    }

    /// Remembers a stored body.
    pub fn stored(&self, fingerprint: u64) {
        let mut seen = self.seen.lock().expect("dedupe lock");
        if seen.len() >= CAPACITY {
            let window = self.window;
            seen.retain(|_, at| at.elapsed() < window / 2);
        }
        seen.insert(fingerprint, Instant::now());
    }
}
