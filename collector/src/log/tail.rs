//! [`LogTail`]: a long-lived reader that follows the end of every partition of a topic, for
//! watchers such as the dashboards' live inspector. It belongs to no consumer group and commits
//! nothing, so it never moves or rebalances the pipelines' partitions; it may start a bounded
//! number of records before each partition's end (a backlog), and skip ahead when it falls too
//! far behind.
//!
//! [`ReadTail`] is the tail over any [`HitLog`]'s `end_offsets` and `read` (the embedded log's:
//! both are local, cheap calls, and `end_offsets` is what makes a read-only embedded log catch up
//! with its writer). The Kafka log has its own, one assigned consumer for the tail's lifetime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{HitLog, LogError, Partition, StoredRecord, Topic};

/// A reader of a topic's new records, for as long as it is kept (see the module header).
#[async_trait]
pub trait LogTail: Send {
    /// Up to `max` records past the reader's position, each partition's in offset order,
    /// waiting at most `wait` for the first (zero: what is there now). Empty: nothing new yet.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<StoredRecord>, LogError>;

    /// Whether the reader has read (or passed) every record the topic held when it was opened:
    /// its backlog is read.
    fn caught_up(&self) -> bool;

    /// Where a partition holds more than `max_behind` records past the reader's position, moves
    /// that position to `max_behind` records before the partition's end; returns how many
    /// records were skipped, over every partition.
    async fn skip_ahead(&mut self, max_behind: u64) -> Result<u64, LogError>;
}

/// Where a tail opened `back` records before `end` starts, in a partition starting at `start`.
pub(crate) fn start_of_backlog(start: u64, end: u64, back: u64) -> u64 {
    end.saturating_sub(back).max(start).min(end)
}

/// The tail over a log's `end_offsets` and `read` (see the module header).
pub struct ReadTail {
    log: Arc<dyn HitLog>,
    topic: Topic,
    /// Next offset to read, per partition.
    next: Vec<u64>,
    /// Each partition's end when the tail was opened.
    opened_at: Vec<u64>,
}

/// How often a waiting [`ReadTail::poll`] looks at the log's ends again.
const READ_TAIL_RECHECK: Duration = Duration::from_millis(20);

impl ReadTail {
    /// Opens a tail of `topic` of `log`, `back` records before each partition's end (0: at the
    /// end).
    pub async fn open(log: Arc<dyn HitLog>, topic: Topic, back: u64) -> Result<Self, LogError> {
        let ends = log.end_offsets(topic).await?;
        // A read from before a partition's start begins at its start.
        let next = ends.iter().map(|end| start_of_backlog(0, *end, back)).collect();
        Ok(ReadTail { log, topic, next, opened_at: ends })
    }

    /// One pass over the partitions, up to `max` records.
    async fn read_once(&mut self, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let ends = self.log.end_offsets(self.topic).await?;
        let mut out = Vec::new();
        for ((partition, next), end) in (0..Partition::MAX).zip(self.next.iter_mut()).zip(ends) {
            if out.len() >= max {
                break;
            }
            if end < *next {
                // The log was recreated: go on from its end.
                *next = end;
            }
            while *next < end && out.len() < max {
                let records = self.log.read(self.topic, partition, *next, max - out.len()).await?;
                let Some(last) = records.last() else {
                    // Nothing readable up to the end (erased or lost records).
                    *next = end;
                    break;
                };
                *next = last.offset + 1;
                out.extend(records);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl LogTail for ReadTail {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<StoredRecord>, LogError> {
        let deadline = Instant::now() + wait;
        loop {
            let records = self.read_once(max).await?;
            let left = deadline.saturating_duration_since(Instant::now());
            if !records.is_empty() || left.is_zero() {
                return Ok(records);
            }
            tokio::time::sleep(left.min(READ_TAIL_RECHECK)).await;
        }
    }

    fn caught_up(&self) -> bool {
        self.next.iter().zip(&self.opened_at).all(|(next, end)| next >= end)
    }

    async fn skip_ahead(&mut self, max_behind: u64) -> Result<u64, LogError> {
        let ends = self.log.end_offsets(self.topic).await?;
        let mut skipped = 0;
        for (next, end) in self.next.iter_mut().zip(ends) {
            if end > *next && end - *next > max_behind {
                skipped += end - max_behind - *next;
                *next = end - max_behind;
            }
        }
        Ok(skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::start_of_backlog;

    #[test]
    fn a_backlog_starts_within_the_partition() {
        assert_eq!(start_of_backlog(0, 100, 10), 90);
        assert_eq!(start_of_backlog(95, 100, 10), 95, "not before the partition's start");
        assert_eq!(start_of_backlog(0, 5, 10), 0);
        assert_eq!(start_of_backlog(0, 100, 0), 100, "no backlog: at the end");
    }
}
