//! A member of a Kafka consumer group on one topic ([`KafkaMember`], the Kafka log's
//! [`LogConsumer`]): polls in batches, counts silence as caught up only where no owned partition
//! lags, and commits only the partitions it still owns. [`MemberContext`] logs the group's
//! rebalances. A member that dies without leaving (SIGKILL) is the broker's business: its group
//! coordinator gives the dead member's partitions to the others once its session times out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Message, TopicPartitionList};
use tracing::{info, warn};

use super::{broker, numbered, offset_of_record, partition_id, unavailable};
use crate::log::{LogConsumer, LogError, Partition, StoredRecord};

/// Says in the logs which partitions the group gives a member and takes back, so that an
/// operator (or a failing test) can tell who reads what.
pub(super) struct MemberContext {
    group: String,
}

impl MemberContext {
    /// The context of a member of `group`.
    pub(super) fn new(group: String) -> Self {
        MemberContext { group }
    }
}

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn post_rebalance(&self, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| {
            list.elements().iter().map(rdkafka::topic_partition_list::TopicPartitionListElem::partition).collect::<Vec<_>>()
        };
        match rebalance {
            Rebalance::Assign(list) => info!(group = %self.group, partitions = ?partitions(list), "partitions assigned"),
            Rebalance::Revoke(list) => info!(group = %self.group, partitions = ?partitions(list), "partitions revoked"),
            Rebalance::Error(e) => warn!(group = %self.group, error = %e, "rebalance failed"),
        }
    }
}

/// A member of a consumer group on one Kafka topic.
pub(super) struct KafkaMember {
    consumer: Arc<StreamConsumer<MemberContext>>,
    topic: String,
    /// Whether the group has given it partitions yet.
    joined: bool,
}

impl KafkaMember {
    /// The member that `consumer`, subscribed to `topic`, makes.
    pub(super) fn new(consumer: StreamConsumer<MemberContext>, topic: String) -> Self {
        KafkaMember { consumer: Arc::new(consumer), topic, joined: false }
    }

    /// Whether an owned partition holds records past this member's position.
    async fn lagging(&self) -> bool {
        let (consumer, topic) = (Arc::clone(&self.consumer), self.topic.clone());
        tokio::task::spawn_blocking(move || {
            let Ok(positions) = consumer.position() else { return false };
            let committed = consumer.committed(Duration::from_secs(5)).ok();
            let offset_of = |list: Option<&TopicPartitionList>, partition: i32| {
                list.and_then(|l| l.find_partition(&topic, partition)).and_then(|e| numbered(e.offset()))
            };
            positions.elements_for_topic(&topic).iter().any(|element| {
                let partition = element.partition();
                let at = offset_of(Some(&positions), partition).or_else(|| offset_of(committed.as_ref(), partition)).unwrap_or(0);
                consumer.fetch_watermarks(&topic, partition, Duration::from_secs(5)).is_ok_and(|(_, high)| high > at)
            })
        })
        .await
        .unwrap_or(false)
    }

    fn assigned(&self) -> Vec<Partition> {
        let Ok(assignment) = self.consumer.assignment() else { return Vec::new() };
        assignment.elements_for_topic(&self.topic).iter().filter_map(|e| Partition::try_from(e.partition()).ok()).collect()
    }
}

/// How long a new member waits for the group to give it partitions before a poll counts as
/// empty (a rebalance takes a few seconds).
const JOIN_WAIT: Duration = Duration::from_secs(30);

/// How often a member waiting for partitions looks at its assignment.
const ASSIGNMENT_CHECK: Duration = Duration::from_millis(500);

/// How long a poll keeps adding records to a batch once it has some.
const BATCH_WINDOW: Duration = Duration::from_secs(1);

/// How long a poll waits for records the broker has but did not hand over yet.
const LAG_WAIT: Duration = Duration::from_secs(60);

#[async_trait]
impl LogConsumer for KafkaMember {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<StoredRecord>, LogError> {
        let started = Instant::now();
        let mut out = Vec::new();
        while out.len() < max {
            let budget = if !out.is_empty() {
                // A batch grows while records keep coming, for at most a second.
                if started.elapsed() > BATCH_WINDOW {
                    break;
                }
                Duration::from_millis(50)
            } else if self.joined {
                // Past the wait, a poll still waiting for lagging records listens a tenth of a
                // second at a time between two looks at the watermarks.
                wait.saturating_sub(started.elapsed()).max(Duration::from_millis(100))
            } else {
                // Not given partitions yet: look at the assignment twice a second, so a group
                // with nothing to read answers as soon as it has joined.
                JOIN_WAIT.saturating_sub(started.elapsed()).min(ASSIGNMENT_CHECK)
            };
            match tokio::time::timeout(budget, self.consumer.recv()).await {
                Ok(Ok(message)) => {
                    self.joined = true;
                    out.push(StoredRecord {
                        partition: Partition::try_from(message.partition()).unwrap_or_default(),
                        offset: u64::try_from(message.offset()).unwrap_or(0),
                        payload: message.payload().unwrap_or_default().to_vec(),
                    });
                }
                Ok(Err(e)) => return Err(unavailable(&e)),
                Err(_) => {
                    if out.is_empty() && !self.joined && !self.assigned().is_empty() {
                        // Partitions came, nothing read yet: whether that is "caught up" is
                        // the watermarks' call, below.
                        self.joined = true;
                    }
                    if out.is_empty() && !self.joined && started.elapsed() < JOIN_WAIT {
                        continue;
                    }
                    // Silence is "caught up" only where no owned partition has records past
                    // this member's position (a slow broker is not an empty one).
                    if out.is_empty() && self.lagging().await {
                        if started.elapsed() < LAG_WAIT {
                            continue;
                        }
                        warn!(topic = %self.topic, owned = ?self.assigned(), "owned partitions hold records past this member's position, but none came for {LAG_WAIT:?}");
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn commit(&mut self, next: &BTreeMap<Partition, u64>) -> Result<(), LogError> {
        let owned = self.assigned();
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in next {
            if owned.contains(partition) {
                offsets.add_partition_offset(&self.topic, partition_id(*partition)?, offset_of_record(*offset)).map_err(broker)?;
            } else {
                warn!(topic = %self.topic, partition, "partition given to another member: not committed (its new owner reads it again)");
            }
        }
        if offsets.count() == 0 {
            return Ok(());
        }
        let consumer = Arc::clone(&self.consumer);
        let result = tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync)).await.map_err(|_| LogError::Closed)?;
        match result {
            Ok(()) => Ok(()),
            Err(KafkaError::ConsumerCommit(
                code @ (RDKafkaErrorCode::RebalanceInProgress | RDKafkaErrorCode::IllegalGeneration | RDKafkaErrorCode::UnknownMemberId),
            )) => {
                warn!(topic = %self.topic, %code, "commit refused during a rebalance: the partitions' new owners read those records again");
                Ok(())
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    fn owned(&self) -> Option<std::collections::BTreeSet<Partition>> {
        Some(self.assigned().into_iter().collect())
    }
}
