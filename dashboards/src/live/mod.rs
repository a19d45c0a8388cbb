//! The live tag inspector (`/conformite/{plateforme}/direct`): an ENT editor watches its
//! platform's hits as the collector stores them, accepted ones with their tagging and refused
//! ones with their reasons, within a second.
//!
//! [`LiveFeed`] follows the hit log through [`HitLog::tail`] (the embedded log of `dnma serve`,
//! the embedded log read-only beside a collector, or Kafka: one code path), one [`LogTail`] per
//! topic (hits and dead letters) for as long as anyone watches: opened when the first subscriber
//! arrives, dropped when the last leaves. On Kafka a tail is one consumer assigned every
//! partition, in no consumer group and committing nothing, so the pipelines' group never sees
//! it. Events fan out to subscribers, one [`tokio::sync::broadcast`] channel per watched
//! platform; one tailing task serves them all.
//!
//! **What a new stream shows first.** An integrator who just sent a test hit wants to see it,
//! even if the page was not open yet. The tail starts [`BACKLOG_WINDOW`] records before the end
//! of each topic (split over its partitions) and reads that window before the first subscriber
//! is answered; from then on it keeps, for each platform the feed serves (the editors'
//! platforms of the configuration), its latest [`recent::RECENT_EVENTS`] events by receive time
//! ([`recent::Recent`]). A new stream gets its own platform's, oldest first, then the live ones:
//! the copy and the subscription are taken under one lock, so no event is shown twice or
//! missed. So a stream shows the platform's last events among the window read at start and
//! everything since, without reading the log again for each subscriber. Memory is bounded: the
//! served platforms times [`recent::RECENT_EVENTS`] events, dropped when the tail stops; each
//! channel holds [`CHANNEL_CAPACITY`] events, and a subscriber that falls further behind loses
//! the oldest (it is told how many) instead of holding the others back; a tail that falls more
//! than [`MAX_BEHIND`] records behind the log skips ahead (subscribers are told).

pub mod event;
pub mod page;
pub mod recent;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collector::log::{HitLog, LogError, LogTail, StoredRecord, Topic};
use tokio::sync::broadcast;

pub use event::LiveEvent;
use recent::Recent;

/// How often the tail takes what its readers fetched (an event shows within this).
pub const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Events a subscriber may be behind before it loses the oldest.
pub const CHANNEL_CAPACITY: usize = 512;

/// Records of a partition the tail may be behind before it skips ahead.
pub const MAX_BEHIND: u64 = 20_000;

/// Subscribers of one platform at once (browser tabs, scripts).
pub const MAX_SUBSCRIBERS: usize = 32;

/// Records of each topic read back when the tail starts, for the platforms' recent events.
pub const BACKLOG_WINDOW: u64 = 10_000;

/// How long the first subscriber waits for the backlog window to be read.
const BACKLOG_WAIT: Duration = Duration::from_secs(5);

/// Records read at once.
const READ_BATCH: usize = 2_000;

/// Why a subscription failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The log could not be opened for reading.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The platform has [`MAX_SUBSCRIBERS`] subscribers already.
    #[error("{MAX_SUBSCRIBERS} live views of this platform are open already")]
    Full,
    /// The feed does not serve this platform (no editor of the configuration has it).
    #[error("no editor has the platform {0:?}")]
    NotServed(String),
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A hit of its platform.
    Event(Arc<LiveEvent>),
    /// The tail fell behind the log and skipped records (of any platform).
    Skipped,
}

/// A new stream: its platform's recent events, then what comes.
#[derive(Debug)]
pub struct Subscription {
    /// The platform's latest events before the subscription, oldest first.
    pub recent: Vec<Arc<LiveEvent>>,
    /// The events from now on.
    pub receiver: broadcast::Receiver<Notice>,
}

/// The live feed of a log, shared by every subscriber.
pub struct LiveFeed {
    log: Arc<dyn HitLog>,
    served: Arc<HashSet<String>>,
    fanout: Arc<Mutex<Fanout>>,
    /// Held while a tail starts, so that two first subscribers start one.
    starting: tokio::sync::Mutex<()>,
    poll: Duration,
}

/// The channels of the watched platforms, their recent events, and whether the tail runs.
struct Fanout {
    channels: HashMap<String, broadcast::Sender<Notice>>,
    recent: Recent,
    running: bool,
}

impl Fanout {
    /// The channel of a platform, if someone watches it.
    fn sender(&self, plateforme: &str) -> Option<&broadcast::Sender<Notice>> {
        self.channels.get(plateforme).filter(|s| s.receiver_count() > 0)
    }

    /// Subscribes to a platform: its recent events and a receiver, at the same instant.
    fn join(&mut self, plateforme: &str) -> Result<Subscription, SubscribeError> {
        let sender = self.channels.entry(plateforme.to_owned()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0);
        if sender.receiver_count() >= MAX_SUBSCRIBERS {
            return Err(SubscribeError::Full);
        }
        let receiver = sender.subscribe();
        Ok(Subscription { recent: self.recent.of(plateforme), receiver })
    }
}

/// The readers of a running tail, one per topic.
type Readers = Vec<(Topic, Box<dyn LogTail>)>;

impl LiveFeed {
    /// A feed of a log for these platforms (the editors'; nothing runs until someone
    /// subscribes).
    pub fn new(log: Arc<dyn HitLog>, plateformes: impl IntoIterator<Item = String>) -> Self {
        Self::with_poll(log, plateformes, POLL_INTERVAL)
    }

    /// The same, taking what the readers fetched every `poll`.
    pub fn with_poll(log: Arc<dyn HitLog>, plateformes: impl IntoIterator<Item = String>, poll: Duration) -> Self {
        let served: Arc<HashSet<String>> = Arc::new(plateformes.into_iter().collect());
        let fanout = Fanout { channels: HashMap::new(), recent: Recent::new(Arc::clone(&served)), running: false };
        LiveFeed { log, served, fanout: Arc::new(Mutex::new(fanout)), starting: tokio::sync::Mutex::new(()), poll }
    }

    /// Subscribes to a platform: its recent events, then its events from now on. Starts the
    /// tail if it is not running (reading the backlog window first). Fails when the log cannot
    /// be read, when the platform has [`MAX_SUBSCRIBERS`] already, or is not served.
    pub async fn subscribe(&self, plateforme: &str) -> Result<Subscription, SubscribeError> {
        if !self.served.contains(plateforme) {
            return Err(SubscribeError::NotServed(plateforme.to_owned()));
        }
        if let Some(subscription) = self.join_running(plateforme)? {
            return Ok(subscription);
        }
        let _starting = self.starting.lock().await;
        if let Some(subscription) = self.join_running(plateforme)? {
            return Ok(subscription);
        }
        let (readers, recent) = self.open_readers().await?;
        let mut fanout = self.fanout.lock().expect("fanout lock");
        fanout.recent = recent;
        fanout.running = true;
        // Spawned under the lock: the tail's first look sees this subscriber.
        tokio::spawn(tail(readers, Arc::clone(&self.fanout), Arc::clone(&self.served), self.poll));
        fanout.join(plateforme)
    }

    /// Joins the running tail, if it runs (it stops only under the same lock, once no channel
    /// has a receiver).
    fn join_running(&self, plateforme: &str) -> Result<Option<Subscription>, SubscribeError> {
        let mut fanout = self.fanout.lock().expect("fanout lock");
        if fanout.running {
            fanout.join(plateforme).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Opens a reader per topic, [`BACKLOG_WINDOW`] records before its end, and reads that
    /// window into the recent events (for at most [`BACKLOG_WAIT`]).
    async fn open_readers(&self) -> Result<(Readers, Recent), LogError> {
        let mut readers: Readers = Vec::new();
        for topic in Topic::ALL {
            let partitions = u64::from(self.log.partitions(topic).await?.max(1));
            readers.push((topic, Arc::clone(&self.log).tail(topic, BACKLOG_WINDOW.div_ceil(partitions)).await?));
        }
        let mut recent = Recent::new(Arc::clone(&self.served));
        let deadline = Instant::now() + BACKLOG_WAIT;
        for (topic, reader) in &mut readers {
            while !reader.caught_up() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::warn!(topic = topic.name(), "live view: the backlog window was not read in {BACKLOG_WAIT:?}; going on with what was");
                    break;
                }
                let records = reader.poll(READ_BATCH, left.min(Duration::from_millis(100))).await?;
                for event in events(&self.served, *topic, &records) {
                    recent.push(event);
                }
            }
        }
        tracing::info!("live view: tailing the log");
        Ok((readers, recent))
    }

    /// Platforms watched now (tests and metrics).
    pub fn watched(&self) -> usize {
        self.fanout.lock().expect("fanout lock").channels.values().filter(|s| s.receiver_count() > 0).count()
    }
}

/// The events of the served platforms among records of `topic`.
fn events(served: &HashSet<String>, topic: Topic, records: &[StoredRecord]) -> Vec<Arc<LiveEvent>> {
    records
        .iter()
        .filter_map(|record| event::decode(topic, record))
        .filter(|decoded| served.contains(decoded.plateforme()))
        .filter_map(event::Decoded::into_event)
        .map(Arc::new)
        .collect()
}

/// The tailing task: every `poll`, takes what each reader has and sends each event of a served
/// platform to its recent events and its channel; returns (dropping its readers) once nobody
/// watches.
async fn tail(mut readers: Readers, fanout: Arc<Mutex<Fanout>>, served: Arc<HashSet<String>>, poll: Duration) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        {
            let mut fanout = fanout.lock().expect("fanout lock");
            fanout.channels.retain(|_, s| s.receiver_count() > 0);
            if fanout.channels.is_empty() {
                fanout.running = false;
                fanout.recent = Recent::new(Arc::clone(&served));
                tracing::info!("live view: nobody watches, the tail stops");
                return;
            }
        }
        for (topic, reader) in &mut readers {
            if let Err(e) = drain(*topic, &mut **reader, &fanout, &served).await {
                tracing::warn!(topic = topic.name(), error = %e, "live view: reading the log failed; trying again");
            }
        }
    }
}

/// Takes what a reader has now; skips ahead where it is more than [`MAX_BEHIND`] records
/// behind.
async fn drain(topic: Topic, reader: &mut dyn LogTail, fanout: &Mutex<Fanout>, served: &HashSet<String>) -> Result<(), LogError> {
    let mut read = 0;
    loop {
        let records = reader.poll(READ_BATCH, Duration::ZERO).await?;
        if records.is_empty() {
            return Ok(());
        }
        read += records.len() as u64;
        dispatch(fanout, events(served, topic, &records));
        if read >= MAX_BEHIND {
            // Still more after a whole window in one look: the log grows faster than the tail.
            if reader.skip_ahead(MAX_BEHIND).await? > 0 {
                broadcast_all(fanout, &Notice::Skipped);
            }
            return Ok(());
        }
    }
}

/// Keeps each event among its platform's recent ones and sends it to its channel, if watched.
fn dispatch(fanout: &Mutex<Fanout>, events: Vec<Arc<LiveEvent>>) {
    if events.is_empty() {
        return;
    }
    let mut fanout = fanout.lock().expect("fanout lock");
    for event in events {
        if let Some(sender) = fanout.sender(&event.plateforme) {
            // Fails only when the last subscriber just left.
            let _ = sender.send(Notice::Event(Arc::clone(&event)));
        }
        fanout.recent.push(event);
    }
}

fn broadcast_all(fanout: &Mutex<Fanout>, notice: &Notice) {
    for sender in fanout.lock().expect("fanout lock").channels.values() {
        let _ = sender.send(notice.clone());
    }
}

#[cfg(test)]
mod tests;
