//! [`DayMoments`]: when each day of a store was last staged to, on one in-process counter, so
//! that facts computed from a reading older than the last staging leave the day dirty (the
//! embedded store has one writer process; ClickHouse uses time stamps).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::NaiveDate;

/// When each day was last staged to, on one counter that also stamps the start of each
/// computation: facts whose computation started before the last staging leave the day dirty.
#[derive(Default)]
pub(crate) struct DayMoments {
    clock: AtomicU64,
    staged: Mutex<HashMap<NaiveDate, u64>>,
}

impl DayMoments {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Notes that hits were just staged to the day (or it was marked dirty).
    pub(crate) fn staged(&self, day: NaiveDate) {
        let now = self.tick();
        self.staged.lock().expect("moments lock").insert(day, now);
    }

    /// The moment a computation starts (before it reads any hit).
    pub(crate) fn begin(&self) -> u64 {
        self.tick()
    }

    /// Whether the day was staged to after the computation that began at `begun`.
    pub(crate) fn staged_since(&self, day: NaiveDate, begun: u64) -> bool {
        self.staged.lock().expect("moments lock").get(&day).is_some_and(|&staged| staged > begun)
    }
}
