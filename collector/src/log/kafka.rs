//! [`KafkaHitLog`]: the distributed [`HitLog`], one Kafka topic per stream (`<prefix>hits`,
//! `<prefix>dead-letters`), spoken to with `rdkafka` (librdkafka).
//!
//! - Appends go through an idempotent producer (`enable.idempotence`, `acks=all`), compressed
//!   (lz4 by default), lingering a few milliseconds to batch; `append` returns only once the
//!   broker acknowledged every record. A broker that does not acknowledge within `send_timeout`
//!   makes the append fail [`LogError::Unavailable`] (the collector answers 503 + `Retry-After`):
//!   never a success for a record that is not written. Records that timed out (the broker was
//!   unreachable) leave the producer usable: librdkafka bumps the idempotent producer's epoch
//!   (KIP-360) and goes on. A producer in a *fatal* state (librdkafka raises one when the broker
//!   answers out-of-order sequence or an unknown producer id that it cannot recover from) never
//!   sends again, so it is replaced by a new one and the next appends start with a producer id
//!   from the broker as it is now (`a_fatal_producer_is_replaced_and_appends_go_on` forces it).
//! - Records are partitioned by key (the pseudonymous visitor), so a visitor's hits stay in
//!   order in one partition.
//! - Pipeline instances join a consumer group ([`HitLog::subscribe`]): the broker shares the
//!   partitions among them and gives a dead member's partitions to the others; offsets are
//!   committed by the pipeline only after its work is durable in the store.
//! - Watchers (the dashboards' live inspector) follow the topics with [`HitLog::tail`]: one
//!   consumer per tail, assigned every partition, in no group and committing nothing
//!   (`kafka_tail.rs`).
//! - `read`, `commit` and `committed` address one partition directly (for tools and tests): each
//!   call makes a short-lived consumer, so they are not for following a topic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Deserialize;
use tracing::{info, warn};

use self::member::{KafkaMember, MemberContext};
use self::tail::KafkaTail;
pub use self::tail::TAIL_GROUP;
use super::{HitLog, LogConsumer, LogError, LogRecord, LogTail, Partition, StoredRecord, Topic, TopicStats};

/// Where the brokers are and how the topics are made (the `[log.kafka]` table of the
/// configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaLogConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Prefix of the two topic names (default `dnma.`: `dnma.hits`, `dnma.dead-letters`).
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// Partitions of a topic created by dnma (default 12); an existing topic keeps its own.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Replication factor of a topic created by dnma (default 1; 3 on a real cluster).
    #[serde(default = "default_replication")]
    pub replication: u32,
    /// Producer compression: `lz4` (default), `zstd`, `gzip`, `snappy` or `none`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// How long an append waits for the broker's acknowledgement before failing as
    /// unavailable (default 5 s): the collector's bounded wait before a 503.
    #[serde(default = "default_send_timeout", with = "humantime_serde")]
    pub send_timeout: Duration,
    /// How long the producer waits to batch records (default 5 ms).
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
    /// How long the group waits for a silent member before giving its partitions to the
    /// others (default 10 s).
    #[serde(default = "default_session_timeout", with = "humantime_serde")]
    pub session_timeout: Duration,
}

fn default_prefix() -> String {
    "dnma.".into()
}
fn default_partitions() -> u32 {
    12
}
fn default_replication() -> u32 {
    1
}
fn default_compression() -> String {
    "lz4".into()
}
fn default_send_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_linger() -> Duration {
    Duration::from_millis(5)
}
fn default_session_timeout() -> Duration {
    Duration::from_secs(10)
}

impl KafkaLogConfig {
    /// A configuration with the defaults for these brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaLogConfig {
            brokers: brokers.into(),
            topic_prefix: default_prefix(),
            partitions: default_partitions(),
            replication: default_replication(),
            compression: default_compression(),
            send_timeout: default_send_timeout(),
            linger: default_linger(),
            session_timeout: default_session_timeout(),
        }
    }

    /// Checks the values a broker would refuse late, with a message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("log.kafka.brokers is empty".into());
        }
        if self.partitions == 0 || self.partitions > 10_000 {
            return Err(format!("log.kafka.partitions = {} (1 to 10000)", self.partitions));
        }
        if self.replication == 0 {
            return Err("log.kafka.replication must be at least 1".into());
        }
        if !["lz4", "zstd", "gzip", "snappy", "none"].contains(&self.compression.as_str()) {
            return Err(format!("log.kafka.compression = {:?} (lz4, zstd, gzip, snappy or none)", self.compression));
        }
        if self.send_timeout < Duration::from_millis(100) {
            return Err("log.kafka.send_timeout is under 100ms".into());
        }
        Ok(())
    }

    fn topic(&self, topic: Topic) -> String {
        format!("{}{}", self.topic_prefix, topic.name())
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("client.id", "dnma");
        config
    }

    /// The idempotent producer of appends.
    fn producer(&self) -> Result<FutureProducer, LogError> {
        self.client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &self.compression)
            .set("linger.ms", millis(self.linger))
            .set("message.timeout.ms", millis(self.send_timeout))
            .create()
            .map_err(broker)
    }

    /// A consumer that never joins a group (reads assigned partitions, commits for `group`).
    fn plain_consumer(&self, group: &str) -> Result<BaseConsumer, LogError> {
        self.client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(broker)
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

#[allow(clippy::needless_pass_by_value)] // the shape `map_err` wants
fn broker(e: KafkaError) -> LogError {
    LogError::Broker(e.to_string())
}

fn unavailable(e: &KafkaError) -> LogError {
    LogError::Unavailable(e.to_string())
}

/// The record number an offset names; `None` for the special ones (beginning, end, stored,
/// invalid).
fn numbered(offset: Offset) -> Option<i64> {
    match offset {
        Offset::Offset(n) => Some(n),
        _ => None,
    }
}

/// The Kafka offset of record number `n`.
fn offset_of_record(n: u64) -> Offset {
    Offset::Offset(i64::try_from(n).unwrap_or(i64::MAX))
}

fn partition_id(partition: Partition) -> Result<i32, LogError> {
    i32::try_from(partition).map_err(|_| LogError::Broker(format!("partition {partition} out of range")))
}

/// The distributed hit log (see the module header).
pub struct KafkaHitLog {
    config: KafkaLogConfig,
    /// The current producer (replaced after a fatal error).
    producer: std::sync::RwLock<Arc<FutureProducer>>,
    /// Partitions of each topic, read at open.
    partitions: [u32; 2],
}

impl KafkaHitLog {
    /// Connects to the brokers, creates the two topics if they do not exist, and reads their
    /// partition counts.
    pub async fn open(config: KafkaLogConfig) -> Result<Self, LogError> {
        config.validate().map_err(LogError::Broker)?;
        let producer = config.producer()?;
        let admin: AdminClient<DefaultClientContext> = config.client().create().map_err(broker)?;
        let replication = i32::try_from(config.replication).map_err(|_| LogError::Broker("replication out of range".into()))?;
        let partitions = i32::try_from(config.partitions).map_err(|_| LogError::Broker("partitions out of range".into()))?;
        let names: Vec<String> = Topic::ALL.iter().map(|t| config.topic(*t)).collect();
        let new: Vec<NewTopic> = names.iter().map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(replication))).collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))).request_timeout(Some(Duration::from_secs(30)));
        let results = admin.create_topics(&new, &options).await.map_err(|e| unavailable(&e))?;
        for result in results {
            match result {
                Ok(name) => info!(topic = %name, partitions, "topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(LogError::Broker(format!("creating topic {name}: {code}"))),
            }
        }
        let log = KafkaHitLog { config, producer: std::sync::RwLock::new(Arc::new(producer)), partitions: [0, 0] };
        let mut counts = [0; 2];
        for (i, topic) in Topic::ALL.iter().enumerate() {
            counts[i] = log.count_partitions(*topic).await?;
        }
        Ok(KafkaHitLog { partitions: counts, ..log })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &KafkaLogConfig {
        &self.config
    }

    async fn count_partitions(&self, topic: Topic) -> Result<u32, LogError> {
        let (config, name) = (self.config.clone(), self.config.topic(topic));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (config, wanted) = (config.clone(), name.clone());
            let count = tokio::task::spawn_blocking(move || {
                let consumer = config.plain_consumer("dnma-metadata")?;
                let metadata = consumer.fetch_metadata(Some(&wanted), Duration::from_secs(10)).map_err(|e| unavailable(&e))?;
                Ok::<_, LogError>(metadata.topics().iter().find(|t| t.name() == wanted).map_or(0, |t| t.partitions().len()))
            })
            .await
            .map_err(|_| LogError::Closed)??;
            if count > 0 {
                return u32::try_from(count).map_err(|_| LogError::Broker("too many partitions".into()));
            }
            if Instant::now() > deadline {
                return Err(LogError::Broker(format!("topic {name} has no partitions")));
            }
            // A topic just created takes a moment to show in the metadata.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Replaces `failed` by a new producer, unless another append already did.
    fn replace_producer(&self, failed: &Arc<FutureProducer>, why: &str) {
        let mut current = self.producer.write().expect("producer lock");
        if !Arc::ptr_eq(&current, failed) {
            return;
        }
        match self.config.producer() {
            Ok(fresh) => {
                warn!(%why, "Kafka producer replaced by a new one");
                *current = Arc::new(fresh);
            }
            Err(e) => warn!(%why, error = %e, "Kafka producer failed and no new one could be made"),
        }
    }

    fn index(topic: Topic) -> usize {
        match topic {
            Topic::Hits => 0,
            Topic::DeadLetters => 1,
        }
    }
}

#[async_trait]
impl HitLog for KafkaHitLog {
    async fn append(&self, topic: Topic, records: Vec<LogRecord>) -> Result<u64, LogError> {
        let name = self.config.topic(topic);
        let producer = Arc::clone(&self.producer.read().expect("producer lock"));
        let sends = records.iter().map(|r| producer.send(FutureRecord::to(&name).key(&r.key).payload(&r.payload), self.config.send_timeout));
        let delivered = futures::future::join_all(sends).await;
        let mut first = None;
        let mut failure = None;
        for result in delivered {
            match result {
                Ok((_, offset)) => {
                    first.get_or_insert(offset);
                }
                Err((e, _)) => failure = Some(unavailable(&e)),
            }
        }
        if let Some(failure) = failure {
            if let Some((code, reason)) = producer.client().fatal_error() {
                self.replace_producer(&producer, &format!("fatal error {code}: {reason}"));
            }
            return Err(failure);
        }
        Ok(first.map_or(0, |o| u64::try_from(o).unwrap_or(0)))
    }

    async fn partitions(&self, topic: Topic) -> Result<u32, LogError> {
        Ok(self.partitions[Self::index(topic)])
    }

    async fn read(&self, topic: Topic, partition: Partition, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let (config, name, id) = (self.config.clone(), self.config.topic(topic), partition_id(partition)?);
        tokio::task::spawn_blocking(move || {
            let consumer = config.plain_consumer("dnma-reader")?;
            let (low, high) = consumer.fetch_watermarks(&name, id, Duration::from_secs(10)).map_err(|e| unavailable(&e))?;
            let (low, high) = (u64::try_from(low).unwrap_or(0), u64::try_from(high).unwrap_or(0));
            let start = from.max(low);
            if start >= high || max == 0 {
                return Ok(Vec::new());
            }
            let want = usize::try_from(high - start).unwrap_or(usize::MAX).min(max);
            let mut assignment = TopicPartitionList::new();
            assignment.add_partition_offset(&name, id, offset_of_record(start)).map_err(broker)?;
            consumer.assign(&assignment).map_err(broker)?;
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut out = Vec::with_capacity(want);
            while out.len() < want {
                let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                    if Instant::now() > deadline {
                        return Err(LogError::Unavailable(format!("{name}[{partition}] from {start}: no answer in 30 s")));
                    }
                    continue;
                };
                let message = message.map_err(|e| unavailable(&e))?;
                let offset = u64::try_from(message.offset()).unwrap_or(0);
                if offset >= start {
                    out.push(StoredRecord { partition, offset, payload: message.payload().unwrap_or_default().to_vec() });
                }
            }
            Ok(out)
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    async fn commit(&self, consumer: &str, topic: Topic, partition: Partition, next_offset: u64) -> Result<(), LogError> {
        let (config, name, id, group) = (self.config.clone(), self.config.topic(topic), partition_id(partition)?, group_of(consumer, topic));
        tokio::task::spawn_blocking(move || {
            let consumer = config.plain_consumer(&group)?;
            let mut offsets = TopicPartitionList::new();
            offsets.add_partition_offset(&name, id, offset_of_record(next_offset)).map_err(broker)?;
            consumer.commit(&offsets, CommitMode::Sync).map_err(|e| unavailable(&e))
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    async fn committed(&self, consumer: &str, topic: Topic, partition: Partition) -> Result<u64, LogError> {
        let (config, name, id, group) = (self.config.clone(), self.config.topic(topic), partition_id(partition)?, group_of(consumer, topic));
        tokio::task::spawn_blocking(move || {
            let consumer = config.plain_consumer(&group)?;
            let mut wanted = TopicPartitionList::new();
            wanted.add_partition(&name, id);
            let answer = consumer.committed_offsets(wanted, Duration::from_secs(10)).map_err(|e| unavailable(&e))?;
            Ok(answer.find_partition(&name, id).and_then(|e| numbered(e.offset())).map_or(0, |n| u64::try_from(n).unwrap_or(0)))
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    async fn stats(&self, topic: Topic) -> Result<TopicStats, LogError> {
        let (config, name, partitions) = (self.config.clone(), self.config.topic(topic), self.partitions[Self::index(topic)]);
        tokio::task::spawn_blocking(move || {
            let consumer = config.plain_consumer("dnma-metadata")?;
            let mut stats = TopicStats { start_offset: 0, end_offset: 0, partitions, segments: 0, bytes: 0 };
            for partition in 0..partitions {
                let (low, high) = consumer.fetch_watermarks(&name, partition_id(partition)?, Duration::from_secs(10)).map_err(|e| unavailable(&e))?;
                stats.start_offset += u64::try_from(low).unwrap_or(0);
                stats.end_offset += u64::try_from(high).unwrap_or(0);
            }
            Ok(stats)
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError> {
        let (config, name, partitions) = (self.config.clone(), self.config.topic(topic), self.partitions[Self::index(topic)]);
        tokio::task::spawn_blocking(move || {
            let consumer = config.plain_consumer("dnma-metadata")?;
            (0..partitions)
                .map(|partition| {
                    let (_, high) =
                        consumer.fetch_watermarks(&name, partition_id(partition)?, Duration::from_secs(10)).map_err(|e| unavailable(&e))?;
                    Ok(u64::try_from(high).unwrap_or(0))
                })
                .collect()
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    async fn subscribe(self: Arc<Self>, group: &str, topic: Topic) -> Result<Box<dyn LogConsumer>, LogError> {
        let name = self.config.topic(topic);
        let group = group_of(group, topic);
        let consumer: StreamConsumer<MemberContext> = self
            .config
            .client()
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", millis(self.config.session_timeout))
            .set("heartbeat.interval.ms", millis(self.config.session_timeout / 4))
            .create_with_context(MemberContext::new(group.clone()))
            .map_err(broker)?;
        consumer.subscribe(&[&name]).map_err(broker)?;
        Ok(Box::new(KafkaMember::new(consumer, name)))
    }

    async fn tail(self: Arc<Self>, topic: Topic, back: u64) -> Result<Box<dyn LogTail>, LogError> {
        Ok(Box::new(KafkaTail::open(&self.config, topic, self.partitions[Self::index(topic)], back).await?))
    }
}

/// The Kafka consumer group of a dnma consumer on one topic: the consumer's name for the hits,
/// `<name>.dead-letters` for the dead letters. One group per topic: a group whose members
/// subscribe to different topics rebalances both at every join, and brokers handle it unevenly.
fn group_of(consumer: &str, topic: Topic) -> String {
    match topic {
        Topic::Hits => consumer.to_owned(),
        Topic::DeadLetters => format!("{consumer}.dead-letters"),
    }
}

#[path = "kafka_member.rs"]
mod member;

#[path = "kafka_tail.rs"]
mod tail;

#[cfg(test)]
#[path = "kafka_tests.rs"]
mod tests;
