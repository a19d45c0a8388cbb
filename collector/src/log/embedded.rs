//! [`EmbeddedHitLog`]: the hit log on local disk, nothing to install.
//!
//! Each topic is a directory of segment files named by their first offset
//! (`00000000000000000000.seg`), holding framed records (see `frame`). One writer thread per
//! topic owns the active segment: it takes every append request waiting in its queue, writes them
//! with one `write`, makes them durable with one `fdatasync` (group commit), then answers each
//! request with its first offset (the writer: `embedded_writer.rs`). Segments roll past `segment_bytes`; whole segments older than a
//! given offset can be deleted (retention). On open, every segment is scanned: a torn tail of the
//! last segment (a crash mid-write) is truncated and everything before it kept; a bad record in
//! an older segment is reported ([`EmbeddedHitLog::damage`], an error in the logs) with its
//! segment, byte position and the offsets lost, and the log opens without them: the records
//! before it and every later segment stay readable (the lost offsets are a gap readers skip).
//! A read-only log may instead check each sealed segment when a read first reaches it
//! (`embedded_checks.rs`): a pipeline reading what is new then does not read a day's log to
//! open it.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::frame::{self, Next};
use super::offsets::OffsetStore;
use super::{HitLog, LogConsumer, LogError, LogRecord, LogTail, Partition, ReadTail, SoleConsumer, StoredRecord, Topic, TopicStats};

#[path = "embedded_writer.rs"]
mod writer;

#[path = "embedded_follow.rs"]
mod follow;

#[path = "embedded_checks.rs"]
mod checks;

#[path = "embedded_recover.rs"]
mod recover;

use recover::{recover, scan};

use writer::{erase_in_segment, AppendRequest, EraseRequest, Writer, WriterRequest};

/// One sparse index entry every this many records.
const INDEX_EVERY: u64 = 64;

/// Settings of the embedded log.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedLogConfig {
    /// A segment rolls once it reaches this many bytes.
    pub segment_bytes: u64,
    /// Open for reading only (`dnma log tail` beside a running collector): no writer thread,
    /// nothing truncated, appends and commits fail. Such a log follows its writer: each
    /// `end_offsets` first catches up with what was appended since (and forgets the segments
    /// retention deleted), reading only the new frames.
    pub read_only: bool,
    /// Check every record of the sealed segments when opening (the default). Off, a read-only
    /// log takes its sealed segments from their file names and sizes, and checks each at the
    /// first read that reaches it (`embedded_checks.rs`): a pipeline that reads what is new
    /// then opens a log of a whole day in milliseconds. Damage found so is reported as at open,
    /// once that read has found it. A writer always checks at open.
    pub check_sealed_at_open: bool,
}

impl Default for EmbeddedLogConfig {
    fn default() -> Self {
        EmbeddedLogConfig { segment_bytes: 64 << 20, read_only: false, check_sealed_at_open: true }
    }
}

/// Where a segment lies in its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SegmentSpan {
    /// Offset of its first record.
    pub base: u64,
    /// Offset after its last record.
    pub end: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Records lost to corruption in the middle of the log, found when it was opened or read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    /// The topic.
    pub topic: Topic,
    /// The segment file.
    pub segment: String,
    /// Byte position of the first bad record in it.
    pub position: u64,
    /// What check failed.
    pub reason: String,
    /// Offset of the first record lost.
    pub first_lost_offset: u64,
    /// Records lost (up to the next segment).
    pub lost_records: u64,
}

impl Damage {
    /// The damage a scan of `segment` found at byte `position`, `lost_records` after its
    /// readable records; reported as an error as it is found.
    fn found(topic: Topic, segment: &Segment, position: u64, reason: String, lost_records: u64) -> Damage {
        let found = Damage { topic, segment: segment.path.display().to_string(), position, reason, first_lost_offset: segment.end(), lost_records };
        tracing::error!(
            segment = %found.segment,
            position,
            first_lost_offset = found.first_lost_offset,
            lost_records,
            reason = %found.reason,
            "corrupt record in the log: the records from it to the end of its segment are lost, the rest is readable"
        );
        found
    }
}

/// A segment file and what is durable in it.
#[derive(Debug, Clone)]
struct Segment {
    base: u64,
    count: u64,
    bytes: u64,
    path: PathBuf,
    /// (offset, byte position) every [`INDEX_EVERY`] records from `base`.
    index: Vec<(u64, u64)>,
    /// Whether its records were checked (scanned): `count`, `bytes` and `index` are then what
    /// the scan found; otherwise `count` and `bytes` come from the file names and size, and
    /// `index` is empty (see `checks`).
    checked: bool,
}

impl Segment {
    fn end(&self) -> u64 {
        self.base + self.count
    }

    /// A new, empty segment of a topic directory.
    fn empty(dir: &Path, base: u64) -> Segment {
        Segment { base, count: 0, bytes: 0, path: segment_path(dir, base), index: Vec::new(), checked: true }
    }
}

type Segments = Arc<RwLock<Vec<Segment>>>;
/// Says which stored records an erasure turns into tombstones (given a record's payload).
pub type RecordFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

struct TopicLog {
    segments: Segments,
    /// The topic's directory, when read-only: `end_offsets` catches up from it.
    follow: Option<PathBuf>,
    /// Damage found at open, and by the reads of segments not checked at open.
    damage: Arc<Mutex<Vec<Damage>>>,
    sender: Mutex<Option<mpsc::Sender<WriterRequest>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// The embedded, file-based [`HitLog`].
pub struct EmbeddedHitLog {
    hits: TopicLog,
    dead_letters: TopicLog,
    offsets: OffsetStore,
    /// Held (exclusively locked) while a writer has the log open: a second writer is refused.
    lock: Option<File>,
    /// Held by an erasure and by retention's deletions, so neither removes or replaces a
    /// segment the other is working on.
    maintenance: Mutex<()>,
}

impl EmbeddedHitLog {
    /// Opens (or creates) the log under `dir`, recovering from a crash if needed.
    pub fn open(dir: &Path, config: EmbeddedLogConfig) -> Result<Self, LogError> {
        if config.read_only && !dir.is_dir() {
            return Err(LogError::io(format!("opening {}", dir.display()), std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        let lock = if config.read_only { None } else { Some(lock_dir(dir)?) };
        Ok(EmbeddedHitLog {
            lock,
            maintenance: Mutex::new(()),
            hits: TopicLog::open(&dir.join(Topic::Hits.name()), Topic::Hits, config)?,
            dead_letters: TopicLog::open(&dir.join(Topic::DeadLetters.name()), Topic::DeadLetters, config)?,
            offsets: OffsetStore::open(dir.join("offsets"))?,
        })
    }

    /// Whether another process holds the log under `dir` open for writing (a running
    /// collector): then only that process may erase in it.
    pub fn is_held(dir: &Path) -> bool {
        let Ok(file) = OpenOptions::new().write(true).open(dir.join("LOCK")) else { return false };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    fn topic(&self, topic: Topic) -> &TopicLog {
        match topic {
            Topic::Hits => &self.hits,
            Topic::DeadLetters => &self.dead_letters,
        }
    }

    /// Deletes the sealed segments whose records all lie before `offset`; returns how many.
    pub fn delete_segments_before(&self, topic: Topic, offset: u64) -> Result<usize, LogError> {
        if self.lock.is_none() {
            return Err(LogError::io("deleting segments", std::io::Error::new(std::io::ErrorKind::PermissionDenied, "the log is open read-only")));
        }
        let log = self.topic(topic);
        let _maintenance = self.maintenance.lock().expect("maintenance lock");
        let mut segments = log.segments.write().expect("segment lock");
        let sealed = segments.len().saturating_sub(1);
        let doomed = segments[..sealed].iter().take_while(|s| s.end() <= offset).count();
        for segment in segments.drain(..doomed) {
            fs::remove_file(&segment.path).map_err(|e| LogError::io(format!("deleting {}", segment.path.display()), e))?;
        }
        Ok(doomed)
    }

    /// Records lost to corruption (both topics): found when the log was opened, or, for
    /// sealed segments not checked at open, by the reads so far.
    pub fn damage(&self) -> Vec<Damage> {
        let hits = self.hits.damage.lock().expect("damage lock").clone();
        hits.into_iter().chain(self.dead_letters.damage.lock().expect("damage lock").iter().cloned()).collect()
    }

    /// The sealed segments of a topic (every one but the last, which may still grow), in
    /// offset order.
    pub fn sealed_segments(&self, topic: Topic) -> Vec<SegmentSpan> {
        let segments = self.topic(topic).segments.read().expect("segment lock");
        let sealed = segments.len().saturating_sub(1);
        segments[..sealed].iter().map(|s| SegmentSpan { base: s.base, end: s.end(), bytes: s.bytes }).collect()
    }

    /// Erases, in every segment of a topic, the records `doomed` selects: each becomes a
    /// tombstone of the same length (offsets and positions do not move; readers skip it). A
    /// segment with something to erase is rewritten whole beside itself, synced, then renamed
    /// over the old one, so a crash leaves either. The log must be open for writing (it holds
    /// the lock, so no other process appends meanwhile), and may be appended to meanwhile: the
    /// sealed segments are erased beside the writer, then the writer erases the active one
    /// between two group commits (appends wait for that one segment only). Records appended
    /// after the erasure returns are not looked at. Blocks; returns how many records were erased.
    pub fn erase(&self, topic: Topic, doomed: &RecordFilter) -> Result<u64, LogError> {
        if self.lock.is_none() {
            return Err(LogError::io("erasing records", std::io::Error::new(std::io::ErrorKind::PermissionDenied, "the log is open read-only")));
        }
        let _maintenance = self.maintenance.lock().expect("maintenance lock");
        let log = self.topic(topic);
        let segments = log.segments.read().expect("segment lock").clone();
        let Some((active, sealed)) = segments.split_last() else { return Ok(0) };
        let mut erased = 0;
        for segment in sealed {
            erased += erase_in_segment(segment, doomed.as_ref())?;
        }
        let (reply, answer) = mpsc::channel();
        let sent = log
            .sender
            .lock()
            .expect("sender lock")
            .as_ref()
            .map(|writer| writer.send(WriterRequest::Erase(EraseRequest { from_base: active.base, doomed: Arc::clone(doomed), reply })).is_ok());
        if sent == Some(true) {
            erased += answer.recv().map_err(|_| LogError::Closed)??;
        } else {
            // No writer: once a closing one is joined (close holds this lock meanwhile),
            // nothing appends and the segments are as listed.
            let _joined = log.writer.lock().expect("writer lock");
            let segments = log.segments.read().expect("segment lock").clone();
            for segment in segments.iter().filter(|s| s.base >= active.base) {
                erased += erase_in_segment(segment, doomed.as_ref())?;
            }
        }
        Ok(erased)
    }

    /// Stops the writer threads after the appends already queued; later appends fail `Closed`.
    pub fn close(&self) {
        for log in [&self.hits, &self.dead_letters] {
            log.sender.lock().expect("sender lock").take();
            // Joined under the lock: an erasure waiting for it then finds no writer running.
            let mut writer = log.writer.lock().expect("writer lock");
            if let Some(handle) = writer.take() {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for EmbeddedHitLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl TopicLog {
    fn open(dir: &Path, topic: Topic, config: EmbeddedLogConfig) -> Result<Self, LogError> {
        if config.read_only {
            let (segments, damage) =
                if config.check_sealed_at_open { recover(dir, topic, true)? } else { (checks::list_unchecked(dir)?, Vec::new()) };
            let follow = Some(dir.to_owned());
            let damage = Arc::new(Mutex::new(damage));
            return Ok(TopicLog { segments: Arc::new(RwLock::new(segments)), follow, damage, sender: Mutex::new(None), writer: Mutex::new(None) });
        }
        fs::create_dir_all(dir).map_err(|e| LogError::io(format!("creating {}", dir.display()), e))?;
        let (segments, damage) = recover(dir, topic, false)?;
        let active = segments.last().expect("recover leaves one segment");
        let file = OpenOptions::new().append(true).open(&active.path).map_err(|e| LogError::io(format!("opening {}", active.path.display()), e))?;
        let segments: Segments = Arc::new(RwLock::new(segments));
        let (sender, receiver) = mpsc::channel();
        let writer = Writer { dir: dir.to_owned(), segments: Arc::clone(&segments), file, config, broken: None };
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let handle = std::thread::Builder::new()
            .name(format!("log-{name}"))
            .spawn(move || writer.run(&receiver))
            .map_err(|e| LogError::io("starting the log writer", e))?;
        let damage = Arc::new(Mutex::new(damage));
        Ok(TopicLog { segments, follow: None, damage, sender: Mutex::new(Some(sender)), writer: Mutex::new(Some(handle)) })
    }
}

/// Takes the writer's lock of a log directory.
fn lock_dir(dir: &Path) -> Result<File, LogError> {
    fs::create_dir_all(dir).map_err(|e| LogError::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogError::io(format!("opening {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(LogError::io(format!("{} is in use by another dnma process", dir.display()), std::io::Error::from(std::io::ErrorKind::WouldBlock)))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io(format!("locking {}", path.display()), e)),
    }
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.seg"))
}

/// Where a read starts in one segment: taken under the lock, so a read copies no index.
struct SegmentRead {
    path: PathBuf,
    /// Offset after the segment's last durable record.
    end: u64,
    /// Indexed offset at or before the wanted one, and its byte position.
    start: (u64, u64),
}

/// The segments a read from `from` needs, with where to start in each.
fn plan_read(segments: &[Segment], from: u64) -> Vec<SegmentRead> {
    segments
        .iter()
        .filter(|s| s.end() > from)
        .map(|s| SegmentRead {
            path: s.path.clone(),
            end: s.end(),
            start: s.index.iter().rev().find(|(o, _)| *o <= from).copied().unwrap_or((s.base, 0)),
        })
        .collect()
}

/// Reads up to `max` records from `from` (records before the first planned segment are gone).
fn read_segments(segments: &[SegmentRead], from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
    let mut out = Vec::new();
    for segment in segments {
        if out.len() >= max {
            break;
        }
        let (mut offset, mut position) = segment.start;
        let io = |e| LogError::io(format!("reading {}", segment.path.display()), e);
        let mut file = File::open(&segment.path).map_err(io)?;
        file.seek(SeekFrom::Start(position)).map_err(io)?;
        let mut reader = BufReader::with_capacity(256 << 10, file);
        while offset < segment.end && out.len() < max {
            match frame::read_next(&mut reader).map_err(io)? {
                Next::Record(payload) => {
                    position += frame::HEADER + payload.len() as u64;
                    if offset >= from && !frame::is_tombstone(&payload) {
                        out.push(StoredRecord { partition: 0, offset, payload });
                    }
                    offset += 1;
                }
                Next::End | Next::Bad(_) => {
                    return Err(LogError::Corrupt {
                        segment: segment.path.display().to_string(),
                        position,
                        reason: format!("record {offset} is unreadable though it was acknowledged"),
                    })
                }
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl HitLog for EmbeddedHitLog {
    async fn append(&self, topic: Topic, records: Vec<LogRecord>) -> Result<u64, LogError> {
        let (reply, answer) = oneshot::channel();
        {
            let sender = self.topic(topic).sender.lock().expect("sender lock");
            sender.as_ref().ok_or(LogError::Closed)?.send(WriterRequest::Append(AppendRequest { records, reply })).map_err(|_| LogError::Closed)?;
        }
        answer.await.map_err(|_| LogError::Closed)?
    }

    async fn partitions(&self, _topic: Topic) -> Result<u32, LogError> {
        Ok(1)
    }

    async fn read(&self, topic: Topic, partition: Partition, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        if partition != 0 {
            return Ok(Vec::new());
        }
        let log = self.topic(topic);
        let (segments, damage) = (Arc::clone(&log.segments), Arc::clone(&log.damage));
        tokio::task::spawn_blocking(move || {
            checks::check_reached(&segments, &damage, topic, from)?;
            let plan = plan_read(&segments.read().expect("segment lock"), from);
            read_segments(&plan, from, max)
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    async fn commit(&self, consumer: &str, topic: Topic, partition: Partition, next_offset: u64) -> Result<(), LogError> {
        one_partition(partition)?;
        let (store, consumer) = (self.offsets.clone(), consumer.to_owned());
        tokio::task::spawn_blocking(move || store.commit(&consumer, topic, next_offset)).await.map_err(|_| LogError::Closed)?
    }

    async fn committed(&self, consumer: &str, topic: Topic, partition: Partition) -> Result<u64, LogError> {
        one_partition(partition)?;
        let (store, consumer) = (self.offsets.clone(), consumer.to_owned());
        tokio::task::spawn_blocking(move || store.committed(&consumer, topic)).await.map_err(|_| LogError::Closed)?
    }

    async fn stats(&self, topic: Topic) -> Result<TopicStats, LogError> {
        let segments = self.topic(topic).segments.read().expect("segment lock");
        Ok(TopicStats {
            start_offset: segments.first().map_or(0, |s| s.base),
            end_offset: segments.last().map_or(0, Segment::end),
            partitions: 1,
            segments: segments.len(),
            bytes: segments.iter().map(|s| s.bytes).sum(),
        })
    }

    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError> {
        let log = self.topic(topic);
        if let Some(dir) = log.follow.clone() {
            let segments = Arc::clone(&log.segments);
            tokio::task::spawn_blocking(move || follow::catch_up(&dir, &segments)).await.map_err(|_| LogError::Closed)??;
        }
        Ok(vec![log.segments.read().expect("segment lock").last().map_or(0, Segment::end)])
    }

    async fn subscribe(self: Arc<Self>, group: &str, topic: Topic) -> Result<Box<dyn LogConsumer>, LogError> {
        Ok(Box::new(SoleConsumer::start(self, group, topic).await?))
    }

    async fn tail(self: Arc<Self>, topic: Topic, back: u64) -> Result<Box<dyn LogTail>, LogError> {
        Ok(Box::new(ReadTail::open(self, topic, back).await?))
    }
}

/// The embedded log has one partition per topic: committing another is a caller's mistake.
fn one_partition(partition: Partition) -> Result<(), LogError> {
    if partition == 0 {
        Ok(())
    } else {
        Err(LogError::Broker(format!("the embedded log has one partition, not {}", partition + 1)))
    }
}

#[cfg(test)]
#[path = "embedded_tests.rs"]
mod tests;
