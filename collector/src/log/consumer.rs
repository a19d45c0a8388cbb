//! [`LogConsumer`]: how one pipeline instance reads a topic as a member of a consumer group.
//!
//! The group shares the topic's partitions among its members; each member reads its partitions
//! from their committed offsets and commits after its work is durable. A member that dies or
//! leaves gives its partitions to the others, which read again from the last commit: whatever
//! the dead member did after that commit is done twice, so the work must be idempotent (the
//! pipeline's staging is: a store never takes a record position it already holds).
//!
//! [`SoleConsumer`] is the member of a group that owns every partition, over any [`HitLog`]'s
//! `read` and `commit`: the embedded log's consumer. The Kafka log has its own, on the broker's
//! group protocol.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{HitLog, LogError, Partition, StoredRecord, Topic};

/// A member of a consumer group reading one topic.
#[async_trait]
pub trait LogConsumer: Send {
    /// Up to `max` records of the partitions this member owns, in offset order within each
    /// partition, waiting at most `wait` for the first one. Empty: nothing new for now.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<StoredRecord>, LogError>;

    /// Durably records, per partition, the offset to read next. A partition the group has
    /// given to another member since it was read is not committed: its new owner reads those
    /// records again from the previous commit.
    async fn commit(&mut self, next: &BTreeMap<Partition, u64>) -> Result<(), LogError>;

    /// The partitions the group gives this member now; `None`: every partition, whoever else
    /// reads (a member alone by construction). Empty while a new member waits for the group.
    fn owned(&self) -> Option<std::collections::BTreeSet<Partition>> {
        None
    }
}

/// The member that owns every partition of a topic (see the module header).
pub struct SoleConsumer {
    log: Arc<dyn HitLog>,
    group: String,
    topic: Topic,
    /// Next offset to read, per partition.
    next: BTreeMap<Partition, u64>,
}

impl SoleConsumer {
    /// Starts reading `topic` of `log` where `group` last committed.
    pub async fn start(log: Arc<dyn HitLog>, group: &str, topic: Topic) -> Result<Self, LogError> {
        let mut next = BTreeMap::new();
        for partition in 0..log.partitions(topic).await? {
            next.insert(partition, log.committed(group, topic, partition).await?);
        }
        Ok(SoleConsumer { log, group: group.to_owned(), topic, next })
    }
}

#[async_trait]
impl LogConsumer for SoleConsumer {
    async fn poll(&mut self, max: usize, _wait: Duration) -> Result<Vec<StoredRecord>, LogError> {
        let mut out = Vec::new();
        for (partition, next) in &mut self.next {
            if out.len() >= max {
                break;
            }
            let records = self.log.read(self.topic, *partition, *next, max - out.len()).await?;
            if let Some(last) = records.last() {
                *next = last.offset + 1;
            }
            out.extend(records);
        }
        Ok(out)
    }

    async fn commit(&mut self, next: &BTreeMap<Partition, u64>) -> Result<(), LogError> {
        for (partition, offset) in next {
            self.log.commit(&self.group, self.topic, *partition, *offset).await?;
        }
        Ok(())
    }
}
