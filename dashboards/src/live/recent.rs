//! What a stream shows first: [`Recent`], each served platform's latest [`RECENT_EVENTS`]
//! events, by receive time, as the running tail read them (its backlog window at start, then
//! everything it follows). Memory is bounded by the configuration: one ring per platform the
//! feed serves (the editors' platforms), never one per platform a client names, and it is
//! dropped when the tail stops.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::LiveEvent;

/// Events of a platform a new stream gets before the live ones.
pub const RECENT_EVENTS: usize = 50;

/// The latest events of each served platform (see the module header).
pub struct Recent {
    served: Arc<HashSet<String>>,
    rings: HashMap<String, VecDeque<Arc<LiveEvent>>>,
}

impl Recent {
    /// Nothing yet, for these platforms.
    pub fn new(served: Arc<HashSet<String>>) -> Self {
        Recent { served, rings: HashMap::new() }
    }

    /// Keeps `event` among its platform's latest, by receive time, if the platform is served
    /// (an event older than the [`RECENT_EVENTS`] kept is not kept).
    pub fn push(&mut self, event: Arc<LiveEvent>) {
        if !self.served.contains(&event.plateforme) {
            return;
        }
        let ring = self.rings.entry(event.plateforme.clone()).or_default();
        // Events come mostly in order: the place is near the back.
        let at = ring.partition_point(|kept| kept.received_ms <= event.received_ms);
        ring.insert(at, event);
        if ring.len() > RECENT_EVENTS {
            ring.pop_front();
        }
    }

    /// A platform's latest events, oldest first.
    pub fn of(&self, plateforme: &str) -> Vec<Arc<LiveEvent>> {
        self.rings.get(plateforme).map(|ring| ring.iter().cloned().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::tests::hit;
    use super::*;

    fn event(plateforme: &str, received_ms: i64) -> Arc<LiveEvent> {
        let mut hit = hit(plateforme);
        hit.received_ms = received_ms;
        Arc::new(LiveEvent::accepted(hit, false))
    }

    #[test]
    fn a_served_platform_keeps_its_latest_events_by_receive_time_and_others_keep_nothing() {
        let mut recent = Recent::new(Arc::new(["ONE".to_owned(), "MBN".to_owned()].into()));
        for ms in 0..70 {
            recent.push(event("ONE", 1000 + ms));
        }
        // Read out of order (another partition or topic): placed by time.
        recent.push(event("ONE", 1065));
        recent.push(event("ONE", 5));
        recent.push(event("MBN", 1));
        recent.push(event("NOT_SERVED", 1));
        let one: Vec<i64> = recent.of("ONE").iter().map(|e| e.received_ms).collect();
        assert_eq!(one.len(), RECENT_EVENTS);
        assert_eq!(one.last(), Some(&1069));
        assert!(one.windows(2).all(|w| w[0] <= w[1]), "oldest first: {one:?}");
        assert_eq!(one.iter().filter(|ms| **ms == 1065).count(), 2, "the late one is kept in its place");
        assert!(!one.contains(&5), "older than every kept event: not kept");
        assert!(recent.of("ONE").iter().all(|e| e.plateforme == "ONE"));
        assert_eq!(recent.of("MBN").len(), 1);
        assert!(recent.of("NOT_SERVED").is_empty(), "a platform no editor has is not kept");
        assert_eq!(recent.rings.len(), 2);
    }
}
