//! The hit log: where the collector puts accepted hits and dead letters, and where the pipeline
//! reads them from. [`HitLog`] is the one trait; [`EmbeddedHitLog`] is the local-disk
//! implementation (the default), and the Kafka one will sit beside it. Both run the same
//! [`conformance`] suite.
//!
//! Guarantees every implementation gives: `append` returns only once the records are durable;
//! offsets of a topic are dense and increasing from 0; `read` returns records in offset order and
//! never a record that is not durable; a consumer's committed offset survives restarts.

pub mod conformance;
mod embedded;
mod frame;
mod offsets;

use async_trait::async_trait;
use serde::Serialize;

pub use embedded::{Damage, EmbeddedHitLog, EmbeddedLogConfig, SegmentSpan};

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

/// A record read back, with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Offset in its topic.
    pub offset: u64,
    /// Encoded record.
    pub payload: Vec<u8>,
}

/// Size and extent of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TopicStats {
    /// First offset still stored (after retention).
    pub start_offset: u64,
    /// Offset the next record will get (= records ever appended).
    pub end_offset: u64,
    /// Segment files.
    pub segments: usize,
    /// Bytes on disk.
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
}

impl LogError {
    /// Whether trying again later may succeed (an HTTP client gets 503 + `Retry-After`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, LogError::Io { .. } | LogError::Closed)
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LogError::Io { context: context.into(), source }
    }
}

/// A durable, ordered log of records in two topics, with committed consumer offsets.
#[async_trait]
pub trait HitLog: Send + Sync + 'static {
    /// Appends records durably; returns the offset of the first one. Concurrent appends share
    /// flushes (group commit).
    async fn append(&self, topic: Topic, records: Vec<LogRecord>) -> Result<u64, LogError>;

    /// Reads up to `max` records from offset `from` (records before the topic's start offset
    /// are gone; reading from there starts at the start offset).
    async fn read(&self, topic: Topic, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError>;

    /// Durably records that `consumer` has processed every record before `next_offset`.
    async fn commit(&self, consumer: &str, topic: Topic, next_offset: u64) -> Result<(), LogError>;

    /// The offset `consumer` should read next (0 if it never committed).
    async fn committed(&self, consumer: &str, topic: Topic) -> Result<u64, LogError>;

    /// Extent and size of a topic.
    async fn stats(&self, topic: Topic) -> Result<TopicStats, LogError>;
}
