//! A member of a Kafka consumer group on one topic ([`KafkaMember`], the Kafka log's
//! [`LogConsumer`]): polls in batches, counts silence as caught up only where no owned partition
//! lags, commits only the partitions it still owns, and rejoins its group when a partition
//! nobody reads stalls. [`MemberContext`] logs the group's rebalances.

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
    /// How many partitions the topic has.
    partitions: Partition,
    /// Whether the group has given it partitions yet.
    joined: bool,
    /// The group's committed offsets of the partitions others should be reading but that lag,
    /// and since when they have not moved.
    stalled: Option<(BTreeMap<i32, i64>, Instant)>,
    /// How long such a stall lasts before this member rejoins the group.
    rejoin_after: Duration,
}

/// The shortest stall of a partition nobody reads before a member rejoins its group.
const MIN_STALL_BEFORE_REJOIN: Duration = Duration::from_secs(30);

impl KafkaMember {
    /// The member that `consumer` (subscribed to `topic`, of `partitions` partitions) makes.
    pub(super) fn new(consumer: StreamConsumer<MemberContext>, topic: String, partitions: Partition, session_timeout: Duration) -> Self {
        KafkaMember {
            consumer: Arc::new(consumer),
            topic,
            partitions,
            joined: false,
            stalled: None,
            rejoin_after: (session_timeout * 3).max(MIN_STALL_BEFORE_REJOIN),
        }
    }

    /// The partitions this member does not own that hold records past the group's committed
    /// offset, with that offset.
    async fn lagging_elsewhere(&self) -> BTreeMap<i32, i64> {
        let (consumer, topic, partitions) = (Arc::clone(&self.consumer), self.topic.clone(), self.partitions);
        let owned: Vec<i32> = self.owned().into_iter().filter_map(|p| partition_id(p).ok()).collect();
        tokio::task::spawn_blocking(move || {
            let mut wanted = TopicPartitionList::new();
            for partition in (0..partitions).filter_map(|p| partition_id(p).ok()).filter(|p| !owned.contains(p)) {
                wanted.add_partition(&topic, partition);
            }
            if wanted.count() == 0 {
                return BTreeMap::new();
            }
            let Ok(committed) = consumer.committed_offsets(wanted, Duration::from_secs(5)) else { return BTreeMap::new() };
            committed
                .elements_for_topic(&topic)
                .iter()
                .filter_map(|element| {
                    let at = numbered(element.offset()).unwrap_or(0);
                    let (_, high) = consumer.fetch_watermarks(&topic, element.partition(), Duration::from_secs(5)).ok()?;
                    (high > at).then_some((element.partition(), at))
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Called when this member has nothing left to read: when partitions it does not own lag
    /// without their committed offsets moving for [`Self::rejoin_after`], the group has lost
    /// them (a broker's coordinator finished a rebalance without some member, as tansu 0.6 does
    /// when a member is killed and another joins), and this member rejoins so that a new
    /// rebalance gives every partition out again. A member that is only slow costs the group
    /// one rebalance; records read but not committed are read again, and staging skips them.
    async fn rejoin_if_partitions_are_orphaned(&mut self) -> Result<(), LogError> {
        let lagging = self.lagging_elsewhere().await;
        if lagging.is_empty() {
            self.stalled = None;
            return Ok(());
        }
        match &self.stalled {
            Some((seen, since)) if *seen == lagging => {
                if since.elapsed() < self.rejoin_after {
                    return Ok(());
                }
                warn!(topic = %self.topic, partitions = ?lagging.keys().collect::<Vec<_>>(), stalled = ?since.elapsed(), "partitions lag and nobody reads them: rejoining the group");
                self.consumer.unsubscribe();
                self.consumer.subscribe(&[&self.topic]).map_err(broker)?;
                self.joined = false;
                self.stalled = None;
            }
            _ => self.stalled = Some((lagging, Instant::now())),
        }
        Ok(())
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

    fn owned(&self) -> Vec<Partition> {
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
                    if out.is_empty() && !self.joined && !self.owned().is_empty() {
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
                        warn!(topic = %self.topic, owned = ?self.owned(), "owned partitions hold records past this member's position, but none came for {LAG_WAIT:?}");
                    } else if out.is_empty() && self.joined {
                        self.rejoin_if_partitions_are_orphaned().await?;
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn commit(&mut self, next: &BTreeMap<Partition, u64>) -> Result<(), LogError> {
        let owned = self.owned();
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
}
