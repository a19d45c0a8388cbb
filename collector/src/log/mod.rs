//! The hit log: where the collector puts accepted hits and dead letters, and where the pipeline
//! reads them from. [`HitLog`] is the one trait; [`EmbeddedHitLog`] is the local-disk
//! implementation (the default, one partition per topic) and [`KafkaHitLog`] the distributed
//! one (a Kafka topic per stream, partitioned by visitor). Both run the same [`conformance`]
//! suite. Readers come in two kinds: a [`LogConsumer`] is a member of a consumer group that
//! commits what it processed (the pipeline); a [`LogTail`] follows a topic's end for a watcher
//! (the live inspector), in no group and committing nothing.
//!
//! Guarantees every implementation gives: `append` returns only once the records are durable;
//! records with the same key go to the same partition, in order; offsets of a partition are
//! dense and increasing from 0; `read` returns records in offset order and never a record that
//! is not durable; a consumer's committed offsets survive restarts.

pub mod conformance;
mod consumer;
mod embedded;
mod frame;
mod kafka;
mod offsets;
mod tail;

use std::ops::Range;

use async_trait::async_trait;
use serde::Serialize;

pub use consumer::{LogConsumer, SoleConsumer};
pub use embedded::{Damage, EmbeddedHitLog, EmbeddedLogConfig, RecordFilter, SegmentSpan};
pub use kafka::{KafkaHitLog, KafkaLogConfig, TAIL_GROUP};
pub use tail::{LogTail, ReadTail};

/// A partition of a topic (the embedded log has one, numbered 0).
pub type Partition = u32;

/// Bits of a [`position`] that hold the offset; the partition sits above them.
pub const OFFSET_BITS: u32 = 48;

/// One number for a record's place in its topic, unique across partitions: the partition in
/// the high bits, the offset in the low [`OFFSET_BITS`]. In a one-partition log it is the
/// offset itself. Stores use it to recognise a record they already staged.
pub fn position(partition: Partition, offset: u64) -> u64 {
    (u64::from(partition) << OFFSET_BITS) | (offset & ((1 << OFFSET_BITS) - 1))
}

/// The positions of one partition's records.
pub fn partition_positions(partition: Partition) -> Range<u64> {
    position(partition, 0)..(u64::from(partition) + 1) << OFFSET_BITS
}

/// The partition a [`position`] lies in.
pub fn partition_of(position: u64) -> Partition {
    Partition::try_from(position >> OFFSET_BITS).unwrap_or(Partition::MAX)
}

/// The two streams of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Hits the plan accepted (pseudonymized).
    Hits,
    /// Refused hits with their reasons.
    DeadLetters,
}

impl Topic {
    /// Both topics.
    pub const ALL: [Topic; 2] = [Topic::Hits, Topic::DeadLetters];

    /// Directory / topic name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Hits => "hits",
            Topic::DeadLetters => "dead-letters",
        }
    }
}

/// A record to append: a key (the pseudonymous visitor, so that a partitioned log keeps a
/// visitor's hits in order) and an opaque payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Partitioning key.
    pub key: Vec<u8>,
    /// Encoded record.
    pub payload: Vec<u8>,
}

/// A record read back, with its partition and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Partition it was appended to.
    pub partition: Partition,
    /// Offset in its partition.
    pub offset: u64,
    /// Encoded record.
    pub payload: Vec<u8>,
}

/// Size and extent of a topic, summed over its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TopicStats {
    /// Records deleted by retention (in a one-partition log: the first offset still stored).
    pub start_offset: u64,
    /// Records ever appended (in a one-partition log: the offset the next record gets).
    pub end_offset: u64,
    /// Partitions.
    pub partitions: u32,
    /// Segment files (embedded log; 0 where the broker does not say).
    pub segments: usize,
    /// Bytes on disk (embedded log; 0 where the broker does not say).
    pub bytes: u64,
}

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The disk said no (full, permissions, gone). Retrying later may help.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A record failed its length or checksum check in a sealed segment.
    #[error("corrupt record in {segment} at byte {position}: {reason}")]
    Corrupt {
        /// The segment file.
        segment: String,
        /// Byte position of the bad record.
        position: u64,
        /// What check failed.
        reason: String,
    },
    /// The log is shutting down.
    #[error("the log is closed")]
    Closed,
    /// A consumer name that cannot be a file name.
    #[error("invalid consumer name {0:?}: use letters, digits, '-' and '_'")]
    InvalidConsumer(String),
    /// The broker did not acknowledge in time or could not be reached. Retrying later may help.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the request for good (unknown topic, bad configuration).
    #[error("broker refused: {0}")]
    Broker(String),
}

impl LogError {
    /// Whether trying again later may succeed (an HTTP client gets 503 + `Retry-After`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, LogError::Io { .. } | LogError::Closed | LogError::Unavailable(_))
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LogError::Io { context: context.into(), source }
    }
}

/// A durable, ordered log of records in two topics of one or more partitions, with committed
/// consumer offsets.
#[async_trait]
pub trait HitLog: Send + Sync + 'static {
    /// Appends records durably, each to the partition of its key; returns the offset of the
    /// first one in its partition. Concurrent appends share flushes (group commit).
    async fn append(&self, topic: Topic, records: Vec<LogRecord>) -> Result<u64, LogError>;

    /// How many partitions a topic has.
    async fn partitions(&self, topic: Topic) -> Result<u32, LogError>;

    /// Reads up to `max` records of a partition from offset `from` (records before the
    /// partition's start offset are gone; reading from there starts at the start offset).
    async fn read(&self, topic: Topic, partition: Partition, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError>;

    /// Durably records that `consumer` has processed every record of a partition before
    /// `next_offset`.
    async fn commit(&self, consumer: &str, topic: Topic, partition: Partition, next_offset: u64) -> Result<(), LogError>;

    /// The offset of a partition `consumer` should read next (0 if it never committed).
    async fn committed(&self, consumer: &str, topic: Topic, partition: Partition) -> Result<u64, LogError>;

    /// Extent and size of a topic.
    async fn stats(&self, topic: Topic) -> Result<TopicStats, LogError>;

    /// The offset the next record of each partition of a topic gets, partition by partition.
    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError>;

    /// Joins the consumer group `group` on `topic`: the returned consumer reads the partitions
    /// the group gives it (all of them when it is alone) from their committed offsets.
    async fn subscribe(self: std::sync::Arc<Self>, group: &str, topic: Topic) -> Result<Box<dyn LogConsumer>, LogError>;

    /// Opens a [`LogTail`] on every partition `topic` has now: one long-lived reader that starts
    /// `back` records before each partition's end (at its start where it holds fewer; 0: at the
    /// end) and follows what is appended. It joins no consumer group and commits nothing: the
    /// groups reading the topic (the pipelines) never see it.
    async fn tail(self: std::sync::Arc<Self>, topic: Topic, back: u64) -> Result<Box<dyn LogTail>, LogError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_keep_partitions_apart_and_offsets_in_order() {
        assert_eq!(position(0, 42), 42, "one partition: the position is the offset");
        assert!(position(1, 0) > position(0, (1 << OFFSET_BITS) - 1));
        assert_eq!(partition_of(position(7, 1234)), 7);
        assert!(partition_positions(3).contains(&position(3, 99)) && !partition_positions(3).contains(&position(4, 0)));
        assert!(position(2, 5) < position(2, 6));
    }
}
