//! [`KafkaTail`]: the Kafka log's [`LogTail`]. One consumer for the tail's whole life, given
//! every partition of the topic by `assign` at explicit offsets (each partition's end, or a
//! backlog before it), never by `subscribe`: it joins no consumer group, so no group rebalances
//! for it, and with auto-commit and offset storing off it commits nothing. librdkafka insists on
//! a `group.id` even for an assigned consumer; it gets [`TAIL_GROUP`], which no member ever
//! joins. Its prefetch queue is bounded (`queued.max.messages.kbytes`) so that a watcher costs
//! a few megabytes at most.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, TopicPartitionList};

use super::{broker, numbered, offset_of_record, partition_id, unavailable, KafkaLogConfig};
use crate::log::tail::start_of_backlog;
use crate::log::{LogError, LogTail, Partition, StoredRecord, Topic};

/// The `group.id` of every tail: never joined, never committed to (see the module header).
pub const TAIL_GROUP: &str = "dnma-tail";

/// What a tail may hold fetched ahead of its reads, in kilobytes.
const PREFETCH_KBYTES: &str = "8192";

/// How long a metadata request (watermarks) may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A tail of one Kafka topic (see the module header).
pub(super) struct KafkaTail {
    /// `None` only while being dropped.
    consumer: Option<Arc<StreamConsumer>>,
    topic: String,
    /// Next offset to read, per partition.
    next: Vec<u64>,
    /// Each partition's end when the tail was opened.
    opened_at: Vec<u64>,
}

fn record_number(offset: i64) -> u64 {
    u64::try_from(offset).unwrap_or(0)
}

/// Assigns every partition of `topic` to `consumer` at the offsets of `next`. Blocks.
fn assign(consumer: &StreamConsumer, topic: &str, next: &[u64]) -> Result<(), LogError> {
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in (0..Partition::MAX).zip(next) {
        assignment.add_partition_offset(topic, partition_id(partition)?, offset_of_record(*offset)).map_err(broker)?;
    }
    consumer.assign(&assignment).map_err(broker)
}

/// Each partition's (start, end). Blocks.
fn watermarks(consumer: &StreamConsumer, topic: &str, partitions: usize) -> Result<Vec<(u64, u64)>, LogError> {
    (0..Partition::MAX)
        .take(partitions)
        .map(|partition| {
            let (low, high) = consumer.fetch_watermarks(topic, partition_id(partition)?, METADATA_TIMEOUT).map_err(|e| unavailable(&e))?;
            Ok((record_number(low), record_number(high)))
        })
        .collect()
}

/// Drops a consumer off the async runtime's threads: closing one waits for librdkafka.
fn close(consumer: Arc<StreamConsumer>) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => drop(handle.spawn_blocking(move || drop(consumer))),
        Err(_) => drop(consumer),
    }
}

impl KafkaTail {
    /// Opens a tail of `topic`'s `partitions`, `back` records before each one's end.
    pub(super) async fn open(config: &KafkaLogConfig, topic: Topic, partitions: u32, back: u64) -> Result<Self, LogError> {
        let name = config.topic(topic);
        let consumer: StreamConsumer = config
            .client()
            .set("group.id", TAIL_GROUP)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // A position gone by retention: go on from the end.
            .set("auto.offset.reset", "latest")
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES)
            .create()
            .map_err(broker)?;
        let consumer = Arc::new(consumer);
        let (reader, wanted) = (Arc::clone(&consumer), name.clone());
        let count = usize::try_from(partitions).unwrap_or(usize::MAX);
        let opened = tokio::task::spawn_blocking(move || {
            let marks = watermarks(&reader, &wanted, count)?;
            let next: Vec<u64> = marks.iter().map(|(start, end)| start_of_backlog(*start, *end, back)).collect();
            assign(&reader, &wanted, &next)?;
            Ok::<_, LogError>((next, marks.into_iter().map(|(_, end)| end).collect::<Vec<_>>()))
        })
        .await
        .map_err(|_| LogError::Closed)?;
        match opened {
            Ok((next, opened_at)) => Ok(KafkaTail { consumer: Some(consumer), topic: name, next, opened_at }),
            Err(e) => {
                close(consumer);
                Err(e)
            }
        }
    }

    fn consumer(&self) -> &StreamConsumer {
        self.consumer.as_deref().expect("the consumer is kept until drop")
    }

    /// Takes the consumer's own positions where they are past what was read (records the
    /// broker skips, such as transaction markers, never come as messages).
    fn refresh_positions(&mut self) {
        let Ok(positions) = self.consumer().position() else { return };
        for element in positions.elements_for_topic(&self.topic) {
            let (Ok(partition), Some(at)) = (usize::try_from(element.partition()), numbered(element.offset())) else { continue };
            if let Some(next) = self.next.get_mut(partition) {
                *next = (*next).max(record_number(at));
            }
        }
    }
}

#[async_trait]
impl LogTail for KafkaTail {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<StoredRecord>, LogError> {
        let mut out = Vec::new();
        while out.len() < max {
            let consumer = self.consumer();
            let received = if out.is_empty() && !wait.is_zero() {
                tokio::time::timeout(wait, consumer.recv()).await.ok()
            } else {
                consumer.recv().now_or_never()
            };
            let message = match received {
                None => break,
                Some(Ok(message)) => message,
                Some(Err(e)) if out.is_empty() => return Err(unavailable(&e)),
                Some(Err(e)) => {
                    tracing::warn!(topic = %self.topic, error = %e, "tail: a read failed after some records; they are kept");
                    break;
                }
            };
            let Ok(partition) = Partition::try_from(message.partition()) else { continue };
            let offset = record_number(message.offset());
            out.push(StoredRecord { partition, offset, payload: message.payload().unwrap_or_default().to_vec() });
            if let Some(next) = usize::try_from(partition).ok().and_then(|p| self.next.get_mut(p)) {
                *next = (*next).max(offset + 1);
            }
        }
        if out.is_empty() {
            self.refresh_positions();
        }
        Ok(out)
    }

    fn caught_up(&self) -> bool {
        self.next.iter().zip(&self.opened_at).all(|(next, end)| next >= end)
    }

    async fn skip_ahead(&mut self, max_behind: u64) -> Result<u64, LogError> {
        let consumer = Arc::clone(self.consumer.as_ref().expect("the consumer is kept until drop"));
        let (topic, mut next) = (self.topic.clone(), self.next.clone());
        let (skipped, next) = tokio::task::spawn_blocking(move || {
            let marks = watermarks(&consumer, &topic, next.len())?;
            let mut skipped = 0;
            for (position, (_, end)) in next.iter_mut().zip(marks) {
                if end > *position && end - *position > max_behind {
                    skipped += end - max_behind - *position;
                    *position = end - max_behind;
                }
            }
            if skipped > 0 {
                // Assigning again drops what was fetched for the old positions.
                assign(&consumer, &topic, &next)?;
            }
            Ok::<_, LogError>((skipped, next))
        })
        .await
        .map_err(|_| LogError::Closed)??;
        self.next = next;
        Ok(skipped)
    }
}

impl Drop for KafkaTail {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            close(consumer);
        }
    }
}
