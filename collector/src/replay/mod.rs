//! Replay of dead letters (Snowplow's *recovery of bad rows*): once an editor fixed the tagging,
//! or the plan learned a new code, the refused hits of a platform over a range of days are
//! validated again ([`judge`]); those the plan now accepts go into the hit log with their
//! original receive time, so the pipeline counts them on their own day.
//!
//! A replay must add nothing when run again, whatever log and however many processes. What was
//! replayed is written in the dead-letter topic itself, as *marks* ([`ReplayMark`]) beside the
//! letters: no other stored state, and it lives, is retained and is read exactly as the letters
//! it speaks of, in both logs. Dead letters are replayed in batches, each with two marks:
//! 1. `Begun`: the batch's dead letters (their positions) and where each partition of the hit
//!    topic ended;
//! 2. the batch's hits are appended, each naming its dead letter in its trailer
//!    ([`crate::record::HitTrailer`]), keyed by visitor as live hits are;
//! 3. `Done`: the dead letters whose hits are durable.
//!
//! A replay skips the dead letters of every `Done` mark. A batch begun without a `Done` mark
//! (the process died between its appends) is settled by the next replay once it is older than
//! [`SETTLE_AFTER`]: its hits are looked for in the hit log from where the batch began, and a
//! `Done` mark names those found; the others are replayed again. A younger one is under way in
//! another process and its dead letters are left to it. Two replays running at once on a Kafka
//! log each look, after writing their `Begun` mark, at the marks written since they read the
//! topic: a dead letter another batch began before theirs (marks share one key, so one
//! partition orders them) is left to that batch.
//!
//! The pipeline skips the marks when it stages dead letters for the editors' view
//! ([`crate::record::DeadLetterRecord::into_letter`]).

mod judge;
mod ledger;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tagging_plan::plan::normalize_code;
use tagging_plan::Validator;

pub use judge::{judge, platform_of, Judgement};
use ledger::Ledger;

use crate::log::{position, HitLog, LogError, LogRecord, Partition, Topic};
use crate::record::{DeadLetter, DeadLetterRecord, ReplayMark, ReplayStage};
use crate::useragent::ClientClass;

/// The key of every mark: one key, so one partition, in which marks keep their order.
pub const MARK_KEY: &[u8] = b"dnma-replay";

/// How old an unfinished batch must be to be settled rather than left to the replay under way
/// (a batch's appends take seconds; a Kafka append gives up after its `send_timeout`).
pub const SETTLE_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// Dead letters replayed per batch (its `Begun` mark lists them: about 8 bytes each).
pub const BATCH: usize = 2000;

/// Records read at once.
pub(crate) const READ_CHUNK: usize = 5000;

/// Which dead letters to replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReplayScope {
    /// The platform, as `plateforme` (or the legacy `x4`) names it in the hits.
    pub plateforme: String,
    /// First day of receipt (Europe/Paris, as the editors' view counts refusals).
    pub from: NaiveDate,
    /// Last day of receipt, included.
    pub to: NaiveDate,
}

impl ReplayScope {
    fn holds(&self, letter: &DeadLetter) -> bool {
        let day = DateTime::from_timestamp_millis(letter.received_ms).unwrap_or_default().with_timezone(&chrono_tz::Europe::Paris).date_naive();
        (self.from..=self.to).contains(&day) && platform_of(letter).as_deref() == Some(normalize_code(&self.plateforme).as_ref())
    }
}

/// What a replay did, per reason code the dead letters were refused for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReplaySummary {
    /// The platform.
    pub plateforme: String,
    /// First day.
    pub from: Option<NaiveDate>,
    /// Last day.
    pub to: Option<NaiveDate>,
    /// Version of the plan they were validated against.
    pub plan_version: String,
    /// Dead letters of the platform received in those days.
    pub dead_letters: u64,
    /// Of them, now in the hit log (appended by this replay).
    pub replayed: u64,
    /// Of them, refused again.
    pub still_refused: u64,
    /// Of them, replayed by an earlier replay (skipped).
    pub already_replayed: u64,
    /// Of them, left to another replay under way.
    pub under_way: u64,
    /// Unfinished batches of earlier replays settled first.
    pub settled_batches: u64,
    /// Per reason code of the original refusal (a letter refused for several counts under
    /// each), in code order.
    pub by_reason: Vec<ReasonCount>,
    /// Why those still refused are refused now: reason code and count, in code order.
    pub refused_now: Vec<(String, u64)>,
}

/// The dead letters of one original reason code and what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReasonCount {
    /// The reason code they were refused for.
    pub code: String,
    /// How many.
    pub dead_letters: u64,
    /// Replayed now.
    pub replayed: u64,
    /// Refused again.
    pub still_refused: u64,
    /// Replayed earlier.
    pub already_replayed: u64,
    /// Left to another replay under way.
    pub under_way: u64,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The log failed (retrying later may help; what was appended is marked or settled).
    #[error("{0}")]
    Log(LogError),
    /// A record of the log does not decode.
    #[error("undecodable record in {topic:?}, partition {partition}, offset {offset}: {message}")]
    Decode {
        /// Its topic.
        topic: Topic,
        /// Its partition.
        partition: Partition,
        /// Its offset.
        offset: u64,
        /// Why.
        message: String,
    },
    /// No dead letter names the platform, and the plan knows no operator of it.
    #[error("unknown platform {plateforme:?}: no dead letter names it{}", known_list(.known))]
    UnknownPlatform {
        /// As asked.
        plateforme: String,
        /// The platforms the dead letters name.
        known: Vec<String>,
    },
}

impl From<LogError> for ReplayError {
    fn from(e: LogError) -> Self {
        ReplayError::Log(e)
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (the log holds no dead letters)".to_owned()
    } else {
        format!(" (dead letters name {})", known.join(", "))
    }
}

/// What is done with a dead letter of the scope.
enum Fate {
    Replayed,
    StillRefused(Vec<String>),
    AlreadyReplayed,
    UnderWay,
}

/// Replays the dead letters of a scope against the validator's plan; `now` stamps the marks
/// and decides which unfinished batches are settled.
pub async fn replay(log: &dyn HitLog, validator: &Validator<'_>, scope: &ReplayScope, now: DateTime<Utc>) -> Result<ReplaySummary, ReplayError> {
    let now_ms = now.timestamp_millis();
    let mut scan = Scan::read(log, scope).await?;
    let wanted = normalize_code(&scope.plateforme).into_owned();
    if !scan.platforms.contains(&wanted) && validator.plan().operator_of(&wanted).is_none() {
        return Err(ReplayError::UnknownPlatform { plateforme: scope.plateforme.clone(), known: scan.platforms.iter().cloned().collect() });
    }
    let (settled, under_way) = scan.ledger.settle(log, (now - SETTLE_AFTER).timestamp_millis(), now_ms).await?;
    let replayed = scan.ledger.replayed();
    let mut tally = Tally::default();
    let run = format!("{}-{}-{:08x}", now.format("%Y%m%dT%H%M%S%.3f"), std::process::id(), rand::random::<u32>());
    let mut batch = Batch::default();
    let mut batches = 0usize;
    for (partition, &end) in (0u32..).zip(&scan.ends) {
        let mut next = 0;
        while next < end {
            let records = log.read(Topic::DeadLetters, partition, next, READ_CHUNK).await?;
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for record in records.into_iter().filter(|r| r.offset < end) {
                let at = position(partition, record.offset);
                if !scan.candidates.contains(&at) {
                    continue;
                }
                let Ok(DeadLetterRecord::Letter { letter, client }) = DeadLetterRecord::decode(&record.payload) else { continue };
                if replayed.contains(&at) {
                    tally.count(&letter, &Fate::AlreadyReplayed);
                } else if under_way.contains(&at) {
                    tally.count(&letter, &Fate::UnderWay);
                } else {
                    batch.letters.push((at, letter, client));
                    if batch.letters.len() >= BATCH {
                        batches += 1;
                        batch.flush(log, validator, &scan, &format!("{run}-{batches}"), now_ms, &mut tally).await?;
                    }
                }
            }
        }
    }
    if !batch.letters.is_empty() {
        batches += 1;
        batch.flush(log, validator, &scan, &format!("{run}-{batches}"), now_ms, &mut tally).await?;
    }
    Ok(tally.summary(scope, validator.plan().version(), settled))
}

/// What reading the dead-letter topic once found.
struct Scan {
    /// The next offset of each partition when it was read: later records are not replayed.
    ends: Vec<u64>,
    ledger: Ledger,
    /// Positions of the dead letters of the scope.
    candidates: HashSet<u64>,
    /// Platforms named by any dead letter.
    platforms: BTreeSet<String>,
}

impl Scan {
    async fn read(log: &dyn HitLog, scope: &ReplayScope) -> Result<Scan, ReplayError> {
        let mut scan = Scan { ends: Vec::new(), ledger: Ledger::default(), candidates: HashSet::new(), platforms: BTreeSet::new() };
        for partition in 0..log.partitions(Topic::DeadLetters).await? {
            let mut next = 0;
            loop {
                let records = log.read(Topic::DeadLetters, partition, next, READ_CHUNK).await?;
                let Some(last) = records.last() else { break };
                next = last.offset + 1;
                for record in records {
                    match decode(&record.payload, partition, record.offset)? {
                        DeadLetterRecord::Mark(mark) => scan.ledger.add(mark),
                        DeadLetterRecord::Letter { letter, .. } => {
                            if let Some(platform) = platform_of(&letter) {
                                scan.platforms.insert(platform);
                            }
                            if scope.holds(&letter) {
                                scan.candidates.insert(position(partition, record.offset));
                            }
                        }
                    }
                }
            }
            scan.ends.push(next);
        }
        Ok(scan)
    }

    /// The marks written after the scan, partition by partition, in offset order.
    async fn later_marks(&self, log: &dyn HitLog) -> Result<BTreeMap<Partition, Vec<(u64, ReplayMark)>>, ReplayError> {
        let mut marks: BTreeMap<Partition, Vec<(u64, ReplayMark)>> = BTreeMap::new();
        for (partition, &start) in (0u32..).zip(&self.ends) {
            let mut next = start;
            loop {
                let records = log.read(Topic::DeadLetters, partition, next, READ_CHUNK).await?;
                let Some(last) = records.last() else { break };
                next = last.offset + 1;
                for record in records {
                    if let DeadLetterRecord::Mark(mark) = decode(&record.payload, partition, record.offset)? {
                        marks.entry(partition).or_default().push((record.offset, mark));
                    }
                }
            }
        }
        Ok(marks)
    }
}

fn decode(payload: &[u8], partition: Partition, offset: u64) -> Result<DeadLetterRecord, ReplayError> {
    DeadLetterRecord::decode(payload).map_err(|e| ReplayError::Decode { topic: Topic::DeadLetters, partition, offset, message: e.to_string() })
}

/// Dead letters waiting to be judged and replayed together.
#[derive(Default)]
struct Batch {
    letters: Vec<(u64, DeadLetter, Option<ClientClass>)>,
}

impl Batch {
    /// Judges the letters, and appends the hits of those now valid between the batch's marks.
    async fn flush(
        &mut self,
        log: &dyn HitLog,
        validator: &Validator<'_>,
        scan: &Scan,
        name: &str,
        now_ms: i64,
        tally: &mut Tally,
    ) -> Result<(), ReplayError> {
        let mut hits = Vec::new();
        let mut letters = Vec::new();
        for (at, letter, client) in self.letters.drain(..) {
            match judge(validator, &letter, client.as_ref()) {
                Judgement::Replay(hit) => {
                    hits.push((at, LogRecord { key: hit.visitor.0.to_vec(), payload: hit.encode_replayed(at) }));
                    letters.push(letter);
                }
                Judgement::Refused(codes) => tally.count(&letter, &Fate::StillRefused(codes)),
            }
        }
        if hits.is_empty() {
            return Ok(());
        }
        let positions: Vec<u64> = hits.iter().map(|(at, _)| *at).collect();
        let hits_end = log.end_offsets(Topic::Hits).await?;
        let begun = ReplayMark::new(now_ms, name, ReplayStage::Begun { positions, hits_end });
        log.append(Topic::DeadLetters, vec![LogRecord { key: MARK_KEY.to_vec(), payload: begun.encode() }]).await?;
        // Another replay that began the same dead letters first keeps them.
        let later = scan.later_marks(log).await?;
        let ours = later.values().find(|marks| marks.iter().any(|(_, m)| m.batch == name)).map_or(&[][..], Vec::as_slice);
        let claimed = Ledger::claimed_before(ours, name);
        let (mut kept, mut appended) = (Vec::new(), Vec::new());
        for ((at, record), letter) in hits.into_iter().zip(letters) {
            if claimed.contains(&at) {
                tally.count(&letter, &Fate::UnderWay);
            } else {
                kept.push(record);
                appended.push(at);
                tally.count(&letter, &Fate::Replayed);
            }
        }
        if !kept.is_empty() {
            log.append(Topic::Hits, kept).await?;
        }
        let done = ReplayMark::new(now_ms, name, ReplayStage::Done { positions: appended.clone() });
        log.append(Topic::DeadLetters, vec![LogRecord { key: MARK_KEY.to_vec(), payload: done.encode() }]).await?;
        tracing::info!(batch = name, replayed = appended.len(), "replay batch appended");
        Ok(())
    }
}

/// Counts per original reason code.
#[derive(Default)]
struct Tally {
    total: ReasonCount,
    by_reason: BTreeMap<String, ReasonCount>,
    refused_now: BTreeMap<String, u64>,
}

impl Tally {
    fn count(&mut self, letter: &DeadLetter, fate: &Fate) {
        Self::bump(&mut self.total, fate);
        let mut codes: BTreeSet<&str> = letter.reasons.iter().map(|r| r.code.as_str()).collect();
        if codes.is_empty() {
            codes.insert("unknown");
        }
        for code in codes {
            let row = self.by_reason.entry(code.to_owned()).or_insert_with(|| ReasonCount { code: code.to_owned(), ..ReasonCount::default() });
            Self::bump(row, fate);
        }
        if let Fate::StillRefused(now) = fate {
            for code in now {
                *self.refused_now.entry(code.clone()).or_default() += 1;
            }
        }
    }

    fn bump(row: &mut ReasonCount, fate: &Fate) {
        row.dead_letters += 1;
        match fate {
            Fate::Replayed => row.replayed += 1,
            Fate::StillRefused(_) => row.still_refused += 1,
            Fate::AlreadyReplayed => row.already_replayed += 1,
            Fate::UnderWay => row.under_way += 1,
        }
    }

    fn summary(self, scope: &ReplayScope, plan_version: &str, settled: usize) -> ReplaySummary {
        ReplaySummary {
            plateforme: normalize_code(&scope.plateforme).into_owned(),
            from: Some(scope.from),
            to: Some(scope.to),
            plan_version: plan_version.to_owned(),
            dead_letters: self.total.dead_letters,
            replayed: self.total.replayed,
            still_refused: self.total.still_refused,
            already_replayed: self.total.already_replayed,
            under_way: self.total.under_way,
            settled_batches: settled as u64,
            by_reason: self.by_reason.into_values().collect(),
            refused_now: self.refused_now.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests;
