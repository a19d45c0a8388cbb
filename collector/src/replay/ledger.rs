//! What the replay marks of the dead-letter topic say: which dead letters were replayed, and
//! which batches began without a `Done` mark (a replay that died, or one under way). A batch
//! that began long enough ago is *settled*: the hits it appended are found in the hit log from
//! where it began (each names its dead letter in its trailer), and a `Done` mark saying so is
//! written, so that nothing is appended twice and nothing is lost.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::log::{HitLog, LogRecord, Topic};
use crate::record::{DecodeError, HitTrailer, ReplayMark, ReplayStage, StoredHit};

use super::{ReplayError, MARK_KEY, READ_CHUNK};

/// A batch that began, from its `Begun` mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Begun {
    /// When its mark was written.
    pub written_ms: i64,
    /// The dead letters it replays.
    pub positions: Vec<u64>,
    /// Where each partition of the hit topic ended before its appends.
    pub hits_end: Vec<u64>,
}

/// The marks read so far.
#[derive(Debug, Default)]
pub struct Ledger {
    begun: BTreeMap<String, Begun>,
    done: BTreeMap<String, Vec<u64>>,
}

impl Ledger {
    /// Takes a mark into account.
    pub fn add(&mut self, mark: ReplayMark) {
        match mark.stage {
            ReplayStage::Begun { positions, hits_end } => {
                self.begun.insert(mark.batch, Begun { written_ms: mark.written_ms, positions, hits_end });
            }
            // Two settlements of one batch find the same hits: either will do.
            ReplayStage::Done { positions } => {
                self.done.insert(mark.batch, positions);
            }
        }
    }

    /// Dead letters whose hits are in the hit log.
    pub fn replayed(&self) -> HashSet<u64> {
        self.done.values().flatten().copied().collect()
    }

    /// Batches begun and not done, by name.
    pub fn unfinished(&self) -> impl Iterator<Item = (&String, &Begun)> {
        self.begun.iter().filter(|(batch, _)| !self.done.contains_key(*batch))
    }

    /// Settles the unfinished batches begun before `settled_before` (ms): finds their hits in
    /// the hit log and writes their `Done` marks. Returns how many batches were settled and the
    /// dead letters of the unfinished ones still under way (left alone).
    pub async fn settle(&mut self, log: &dyn HitLog, settled_before: i64, now_ms: i64) -> Result<(usize, HashSet<u64>), ReplayError> {
        let (old, young): (Vec<_>, Vec<_>) =
            self.unfinished().map(|(b, begun)| (b.clone(), begun.clone())).partition(|(_, b)| b.written_ms < settled_before);
        let under_way = young.iter().flat_map(|(_, b)| b.positions.iter().copied()).collect();
        if old.is_empty() {
            return Ok((0, under_way));
        }
        let mut from: BTreeMap<u32, u64> = BTreeMap::new();
        for (_, begun) in &old {
            for (partition, end) in (0u32..).zip(&begun.hits_end) {
                let at = from.entry(partition).or_insert(*end);
                *at = (*at).min(*end);
            }
        }
        let found = replayed_hits(log, &from).await?;
        for (batch, begun) in &old {
            let positions: Vec<u64> = begun.positions.iter().copied().filter(|p| found.contains(p)).collect();
            let mark = ReplayMark::new(now_ms, batch.clone(), ReplayStage::Done { positions: positions.clone() });
            log.append(Topic::DeadLetters, vec![LogRecord { key: MARK_KEY.to_vec(), payload: mark.encode() }]).await?;
            tracing::warn!(batch, begun = begun.positions.len(), found = positions.len(), "an unfinished replay batch settled from the hit log");
            self.done.insert(batch.clone(), positions);
        }
        Ok((old.len(), under_way))
    }

    /// The dead letters claimed by batches begun before `ours` in the same partition, among
    /// the marks read after the ledger was made (`later`, in offset order): another replay
    /// running at the same time got there first.
    pub fn claimed_before(later: &[(u64, ReplayMark)], ours: &str) -> BTreeSet<u64> {
        let mut claimed = BTreeSet::new();
        for (_, mark) in later {
            if mark.batch == ours {
                break;
            }
            if let ReplayStage::Begun { positions, .. } = &mark.stage {
                claimed.extend(positions.iter().copied());
            }
        }
        claimed
    }
}

/// The dead letters named by the replayed hits of each partition of the hit topic from an
/// offset on.
async fn replayed_hits(log: &dyn HitLog, from: &BTreeMap<u32, u64>) -> Result<HashSet<u64>, ReplayError> {
    let mut found = HashSet::new();
    for (&partition, &start) in from {
        let mut next = start;
        loop {
            let records = log.read(Topic::Hits, partition, next, READ_CHUNK).await?;
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for record in &records {
                let (_, trailer) = StoredHit::decode_with_trailer(&record.payload).map_err(|e: DecodeError| ReplayError::Decode {
                    topic: Topic::Hits,
                    partition,
                    offset: record.offset,
                    message: e.to_string(),
                })?;
                if let Some(HitTrailer::Replayed(position)) = trailer {
                    found.insert(position);
                }
            }
        }
    }
    Ok(found)
}
