//! Recognizing retried SDK bodies. When the SDK posts with `fetch` and gets no 2xx, it sends the
//! same body again; each body carries `pageview_id`s and `device_timestamp_utc`s, so an identical
//! (site, visitor cookie, body) seen recently is a retry, stored once. Only bodies that were
//! stored are remembered, so a retry after a failure is stored.
//!
//! Memory and time are bounded: fingerprints live in two generations; the current one becomes
//! the previous one when it is half the window old or holds half the capacity, and the old
//! previous one is dropped. A fingerprint is therefore remembered for at least half the window,
//! or for the last `capacity / 2` bodies when traffic is heavier than that; every operation is
//! O(1).

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most fingerprints held (two generations together).
const CAPACITY: usize = 1 << 20;

struct Generations {
    current: HashSet<u64>,
    previous: HashSet<u64>,
    started: Instant,
}

/// Recently stored bodies.
pub struct RecentBodies {
    window: Duration,
    capacity: usize,
    hasher: RandomState,
    generations: Mutex<Generations>,
}

impl RecentBodies {
    /// Remembers bodies for about `window`.
    pub fn new(window: Duration) -> Self {
        RecentBodies::with_capacity(window, CAPACITY)
    }

    fn with_capacity(window: Duration, capacity: usize) -> Self {
        let generations = Generations { current: HashSet::new(), previous: HashSet::new(), started: Instant::now() };
        RecentBodies { window, capacity, hasher: RandomState::new(), generations: Mutex::new(generations) }
    }

    /// The fingerprint of a request.
    pub fn fingerprint(&self, query: &str, body: &[u8]) -> u64 {
        self.hasher.hash_one((query, body))
    }

    /// Whether the fingerprint was stored recently.
    pub fn is_retry(&self, fingerprint: u64) -> bool {
        let mut g = self.generations.lock().expect("dedupe lock");
        self.rotate(&mut g);
        g.current.contains(&fingerprint) || g.previous.contains(&fingerprint)
    }

    /// Remembers a stored body.
    pub fn stored(&self, fingerprint: u64) {
        let mut g = self.generations.lock().expect("dedupe lock");
        self.rotate(&mut g);
        g.current.insert(fingerprint);
    }

    fn rotate(&self, g: &mut Generations) {
        let age = g.started.elapsed();
        if age >= self.window {
            // Idle for a whole window: everything held is older than the window.
            g.previous.clear();
            g.current.clear();
            g.started = Instant::now();
        } else if age >= self.window / 2 || g.current.len() >= self.capacity / 2 {
            g.previous = std::mem::take(&mut g.current);
            g.started = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_recent_bodies_and_stays_bounded() {
        let recent = RecentBodies::with_capacity(Duration::from_secs(600), 100);
        let fingerprints: Vec<u64> = (0..1000u32).map(|i| recent.fingerprint("s=1", &i.to_le_bytes())).collect();
        for f in &fingerprints {
            assert!(!recent.is_retry(*f));
            recent.stored(*f);
            assert!(recent.is_retry(*f));
        }
        // The last capacity/2 bodies are always remembered; memory never exceeds the capacity.
        assert!(fingerprints[950..].iter().all(|f| recent.is_retry(*f)));
        assert!(!recent.is_retry(fingerprints[0]));
        let g = recent.generations.lock().unwrap();
        assert!(g.current.len() + g.previous.len() <= 100);
    }

    #[test]
    fn forgets_after_the_window() {
        // A window long enough that a loaded machine's scheduling delay stays well within it.
        let recent = RecentBodies::with_capacity(Duration::from_millis(800), 100);
        let f = recent.fingerprint("s=1", b"body");
        recent.stored(f);
        std::thread::sleep(Duration::from_millis(100));
        assert!(recent.is_retry(f), "still within the window");
        std::thread::sleep(Duration::from_millis(1_700));
        assert!(!recent.is_retry(f), "two rotations later it is gone");
    }
}
