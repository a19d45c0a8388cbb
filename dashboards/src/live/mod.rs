//! The live tag inspector (`/conformite/{plateforme}/direct`): an ENT editor watches its
//! platform's hits as the collector stores them, accepted ones with their tagging and refused
//! ones with their reasons, within a second.
//!
//! [`LiveFeed`] tails the hit log through [`HitLog`] (the embedded log of `dnma serve`, the
//! embedded log read-only beside a collector, or Kafka: one code path) from its end, on the hit
//! and dead-letter topics, and fans the events out to subscribers, one
//! [`tokio::sync::broadcast`] channel per watched platform. One tailing task serves every
//! subscriber: it starts with the first and stops when the last leaves. Memory is bounded: each
//! channel holds [`CHANNEL_CAPACITY`] events, and a subscriber that falls further behind loses
//! the oldest (it is told how many) instead of holding the others back; a tail that falls more
//! than [`MAX_BEHIND`] records behind the log skips ahead (subscribers are told).

pub mod event;
pub mod page;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use collector::log::{HitLog, LogError, Topic};
use tokio::sync::broadcast;

pub use event::LiveEvent;

/// How often the log's ends are looked at (an event shows within this and the read).
pub const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Events a subscriber may be behind before it loses the oldest.
pub const CHANNEL_CAPACITY: usize = 512;

/// Records of a partition the tail may be behind before it skips ahead.
pub const MAX_BEHIND: u64 = 20_000;

/// Subscribers of one platform at once (browser tabs, scripts).
pub const MAX_SUBSCRIBERS: usize = 32;

/// Records read at once.
const READ_BATCH: usize = 2_000;

/// Why a subscription failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The log could not say where it ends.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The platform has [`MAX_SUBSCRIBERS`] subscribers already.
    #[error("{MAX_SUBSCRIBERS} live views of this platform are open already")]
    Full,
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A hit of its platform.
    Event(Arc<LiveEvent>),
    /// The tail fell behind the log and skipped records (of any platform).
    Skipped,
}

/// The live feed of a log, shared by every subscriber.
pub struct LiveFeed {
    log: Arc<dyn HitLog>,
    fanout: Arc<Mutex<Fanout>>,
    poll: Duration,
}

/// The channels of the watched platforms and whether the tail runs.
#[derive(Default)]
struct Fanout {
    channels: HashMap<String, broadcast::Sender<Notice>>,
    running: bool,
}

impl Fanout {
    /// The channel of a platform, if someone watches it.
    fn sender(&self, plateforme: &str) -> Option<&broadcast::Sender<Notice>> {
        self.channels.get(plateforme).filter(|s| s.receiver_count() > 0)
    }
}

/// Where the tail reads next, per topic and partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Cursors {
    next: HashMap<Topic, Vec<u64>>,
}

impl Cursors {
    /// The log's current ends.
    async fn at_end(log: &dyn HitLog) -> Result<Self, LogError> {
        let mut next = HashMap::new();
        for topic in Topic::ALL {
            next.insert(topic, log.end_offsets(topic).await?);
        }
        Ok(Cursors { next })
    }
}

impl LiveFeed {
    /// A feed of a log (nothing runs until someone subscribes).
    pub fn new(log: Arc<dyn HitLog>) -> Self {
        Self::with_poll(log, POLL_INTERVAL)
    }

    /// The same, looking at the log every `poll`.
    pub fn with_poll(log: Arc<dyn HitLog>, poll: Duration) -> Self {
        LiveFeed { log, fanout: Arc::new(Mutex::new(Fanout::default())), poll }
    }

    /// Subscribes to a platform's events from now on (the tail starts at the log's end if it
    /// is not running). Fails when the log cannot say where it ends, or when the platform has
    /// [`MAX_SUBSCRIBERS`] already.
    pub async fn subscribe(&self, plateforme: &str) -> Result<broadcast::Receiver<Notice>, SubscribeError> {
        let receiver = {
            let mut fanout = self.fanout.lock().expect("fanout lock");
            let sender = fanout.channels.entry(plateforme.to_owned()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0);
            if sender.receiver_count() >= MAX_SUBSCRIBERS {
                return Err(SubscribeError::Full);
            }
            sender.subscribe()
        };
        // A running tail sees the new channel at its next look (it stops only when no channel
        // has a receiver, under the same lock).
        if self.fanout.lock().expect("fanout lock").running {
            return Ok(receiver);
        }
        let start = Cursors::at_end(&*self.log).await?;
        let mut fanout = self.fanout.lock().expect("fanout lock");
        if !fanout.running {
            fanout.running = true;
            tokio::spawn(tail(Arc::clone(&self.log), Arc::clone(&self.fanout), start, self.poll));
        }
        Ok(receiver)
    }

    /// Platforms watched now (tests and metrics).
    pub fn watched(&self) -> usize {
        self.fanout.lock().expect("fanout lock").channels.values().filter(|s| s.receiver_count() > 0).count()
    }
}

/// The tailing task: every `poll`, reads what the log holds past the cursors and sends each
/// record of a watched platform to its channel; returns once nobody watches.
async fn tail(log: Arc<dyn HitLog>, fanout: Arc<Mutex<Fanout>>, mut cursors: Cursors, poll: Duration) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!("live view: tailing the log");
    loop {
        tick.tick().await;
        {
            let mut fanout = fanout.lock().expect("fanout lock");
            fanout.channels.retain(|_, s| s.receiver_count() > 0);
            if fanout.channels.is_empty() {
                fanout.running = false;
                tracing::info!("live view: nobody watches, the tail stops");
                return;
            }
        }
        for topic in Topic::ALL {
            if let Err(e) = read_topic(&*log, &fanout, &mut cursors, topic).await {
                tracing::warn!(topic = topic.name(), error = %e, "live view: reading the log failed; trying again");
            }
        }
    }
}

/// Reads one topic past its cursors, partition by partition, up to the ends seen now.
async fn read_topic(log: &dyn HitLog, fanout: &Mutex<Fanout>, cursors: &mut Cursors, topic: Topic) -> Result<(), LogError> {
    let ends = log.end_offsets(topic).await?;
    let next = cursors.next.entry(topic).or_default();
    // Partitions added since the tail started are read from their end.
    if next.len() < ends.len() {
        next.extend_from_slice(&ends[next.len()..]);
    }
    for ((partition, cursor), end) in (0u32..).zip(next.iter_mut()).zip(ends) {
        if end < *cursor {
            // The log was recreated: start again at its end.
            *cursor = end;
        }
        if end - *cursor > MAX_BEHIND {
            *cursor = end - MAX_BEHIND;
            broadcast_all(fanout, &Notice::Skipped);
        }
        while *cursor < end {
            let records = log.read(topic, partition, *cursor, READ_BATCH).await?;
            let Some(last) = records.last() else {
                // Nothing readable up to the end (erased records).
                *cursor = end;
                break;
            };
            *cursor = last.offset + 1;
            dispatch(fanout, topic, &records);
        }
    }
    Ok(())
}

/// Sends each record of a watched platform to its channel.
fn dispatch(fanout: &Mutex<Fanout>, topic: Topic, records: &[collector::log::StoredRecord]) {
    for record in records {
        let Some(decoded) = event::decode(topic, record) else { continue };
        let fanout = fanout.lock().expect("fanout lock");
        let Some(sender) = fanout.sender(decoded.plateforme()) else { continue };
        if let Some(event) = decoded.into_event() {
            // Fails only when the last subscriber just left.
            let _ = sender.send(Notice::Event(Arc::new(event)));
        }
    }
}

fn broadcast_all(fanout: &Mutex<Fanout>, notice: &Notice) {
    for sender in fanout.lock().expect("fanout lock").channels.values() {
        let _ = sender.send(notice.clone());
    }
}

#[cfg(test)]
mod tests;
