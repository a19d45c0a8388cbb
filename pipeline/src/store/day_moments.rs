//! [`DayMoments`]: when each day of a store was last staged to and last read for computing, on
//! one in-process counter, so that facts computed from a reading older than the last staging
//! leave the day dirty (the embedded store has one writer process; ClickHouse uses time stamps).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::NaiveDate;

/// When each day was last staged to and last read for computing, on one counter: facts
/// computed from a reading older than the last staging leave the day dirty.
#[derive(Default)]
pub(crate) struct DayMoments {
    clock: AtomicU64,
    staged: Mutex<HashMap<NaiveDate, u64>>,
    read: Mutex<HashMap<NaiveDate, u64>>,
}

impl DayMoments {
    /// Notes that hits were just staged to the day (or it was marked dirty).
    pub(crate) fn staged(&self, day: NaiveDate) {
        Self::tick(&self.clock, &self.staged, day);
    }

    /// Notes that the day's hits are being read to compute its facts.
    pub(crate) fn read(&self, day: NaiveDate) {
        Self::tick(&self.clock, &self.read, day);
    }

    fn tick(clock: &AtomicU64, moments: &Mutex<HashMap<NaiveDate, u64>>, day: NaiveDate) {
        let now = clock.fetch_add(1, Ordering::SeqCst) + 1;
        moments.lock().expect("moments lock").insert(day, now);
    }

    /// Whether the day was staged to after the reading its facts came from.
    pub(crate) fn staged_since_read(&self, day: NaiveDate) -> bool {
        let read = self.read.lock().expect("moments lock").remove(&day);
        let staged = self.staged.lock().expect("moments lock").get(&day).copied();
        matches!((read, staged), (Some(read), Some(staged)) if staged > read)
    }
}
