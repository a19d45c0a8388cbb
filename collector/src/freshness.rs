//! [`Freshness`]: how far the figures are behind the hits, from three receive times (ms since
//! the epoch, UTC): the newest hit the collector acknowledged, the newest hit the pipeline
//! staged, and the newest hit the pipeline's committed facts count. The collector sets the
//! first, the pipeline the other two; `GET /metrics` shows them and the lag between the first
//! and the last. Each only moves forward; 0 means "none seen by this process yet".

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The three receive times (see the module header), shared by the collector and the pipeline
/// of one process.
#[derive(Debug, Default)]
pub struct Freshness {
    /// Receive times, ms since the epoch.
    acknowledged: AtomicI64,
    staged: AtomicI64,
    counted: AtomicI64,
}

impl Freshness {
    /// A hit received at `received_ms` was acknowledged (durable in the log).
    pub fn acknowledged(&self, received_ms: i64) {
        self.acknowledged.fetch_max(received_ms, Ordering::Relaxed);
    }

    /// A hit received at `received_ms` was staged by the pipeline.
    pub fn staged(&self, received_ms: i64) {
        self.staged.fetch_max(received_ms, Ordering::Relaxed);
    }

    /// The facts now count every hit staged up to `staged_ms` (the newest staged when the
    /// computation that just committed began: [`Freshness::newest_staged`]).
    pub fn counted_through(&self, staged_ms: Option<i64>) {
        if let Some(ms) = staged_ms {
            self.counted.fetch_max(ms, Ordering::Relaxed);
        }
    }

    /// The receive time of the newest acknowledged hit.
    pub fn newest_acknowledged(&self) -> Option<i64> {
        Some(self.acknowledged.load(Ordering::Relaxed)).filter(|ms| *ms > 0)
    }

    /// The receive time of the newest staged hit.
    pub fn newest_staged(&self) -> Option<i64> {
        Some(self.staged.load(Ordering::Relaxed)).filter(|ms| *ms > 0)
    }

    /// The receive time of the newest hit the committed facts count.
    pub fn newest_counted(&self) -> Option<i64> {
        Some(self.counted.load(Ordering::Relaxed)).filter(|ms| *ms > 0)
    }

    /// How far the counted hits are behind the acknowledged ones: zero once every
    /// acknowledged hit is counted; `None` while this process has not seen both.
    pub fn lag(&self) -> Option<Duration> {
        let (acknowledged, counted) = (self.newest_acknowledged()?, self.newest_counted()?);
        Some(Duration::from_millis(u64::try_from(acknowledged - counted).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_what_is_acknowledged_but_not_counted_yet() {
        let freshness = Freshness::default();
        assert_eq!(freshness.lag(), None, "nothing seen");
        freshness.acknowledged(10_000);
        freshness.acknowledged(25_000);
        freshness.acknowledged(20_000);
        assert_eq!(freshness.newest_acknowledged(), Some(25_000), "only moves forward");
        freshness.staged(12_000);
        assert_eq!(freshness.lag(), None, "nothing counted yet");
        let through = freshness.newest_staged();
        freshness.staged(25_000); // staged while the computation ran: not counted by it
        freshness.counted_through(through);
        assert_eq!(freshness.lag(), Some(Duration::from_secs(13)));
        freshness.counted_through(freshness.newest_staged());
        assert_eq!(freshness.lag(), Some(Duration::ZERO));
        freshness.counted_through(Some(1_000));
        assert_eq!(freshness.newest_counted(), Some(25_000));
    }
}
