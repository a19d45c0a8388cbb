//! [`Pipeline`]: moves hits from the [`HitLog`] into a [`RollupStore`] and keeps the visits of
//! every day up to date.
//!
//! Two steps, each crash-safe:
//! 1. **stage**: read the log from the committed offset in batches, place each hit in its
//!    territories and local day, append each day's new hits to the store (hits at or below the
//!    day's staged offset are skipped, so re-reading a batch stages nothing twice), which marks
//!    those days dirty; only then commit the offset. Staged hits are the durable base of every
//!    figure: once they and the dirty marks are on disk, the log records are no longer needed.
//! 2. **compute**: re-sessionize every dirty day from all its staged hits and replace its visits
//!    and usages; the day is clean once they are written. A late hit just makes its day dirty
//!    again; computing a day twice gives the same facts (idempotent).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use collector::log::{HitLog, Topic};
use collector::record::{DeadLetter, StoredHit};
use tagging_plan::{Plan, Referential};
use tracing::{info, warn};

use crate::error::PipelineError;
use crate::facts::hits_batch;
use crate::hit_row::{HitRow, Placer};
use crate::sessionize::Sessionizer;
use crate::store::RollupStore;
use crate::tagging::{reject_day, rejects_batch};

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Consumer name under which the hit-log offset is committed.
    pub consumer: String,
    /// Log records read per batch.
    pub batch_records: usize,
    /// How visits are cut.
    pub sessionizer: Sessionizer,
    /// How long `follow` waits when the log has nothing new.
    pub poll_interval: Duration,
    /// Days computed at once (default: the number of cores).
    pub parallelism: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            consumer: "pipeline".into(),
            batch_records: 200_000,
            sessionizer: Sessionizer::default(),
            poll_interval: Duration::from_secs(10),
            parallelism: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        }
    }
}

/// What staging has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Staged {
    /// Log records read.
    pub records: u64,
    /// Hits appended to the store (records read again after a crash are not).
    pub hits: u64,
    /// Hits whose UAI lies in no département of the plan (skipped, logged).
    pub unplaceable: u64,
    /// Next offset to read.
    pub next_offset: u64,
    /// End of the log when staging started.
    pub end_offset: u64,
    /// Dead letters read (staged for the conformance view).
    pub rejects: u64,
}

/// The pipeline over one log and one store.
pub struct Pipeline {
    log: Arc<dyn HitLog>,
    store: Arc<dyn RollupStore>,
    plan: Arc<Plan>,
    referential: Arc<Referential>,
    config: PipelineConfig,
}

impl Pipeline {
    /// A pipeline reading `log` into `store`, placing hits with this plan and referential.
    pub fn new(log: Arc<dyn HitLog>, store: Arc<dyn RollupStore>, plan: Arc<Plan>, referential: Arc<Referential>, config: PipelineConfig) -> Self {
        Pipeline { log, store, plan, referential, config }
    }

    /// The store it writes to.
    pub fn store(&self) -> &Arc<dyn RollupStore> {
        &self.store
    }

    /// Stages everything the log holds beyond the committed offset; `on_batch` sees the progress
    /// after each committed batch.
    pub async fn stage(&self, mut on_batch: impl FnMut(&Staged)) -> Result<Staged, PipelineError> {
        let consumer = self.config.consumer.as_str();
        let mut staged = Staged {
            next_offset: self.log.committed(consumer, Topic::Hits).await?,
            end_offset: self.log.stats(Topic::Hits).await?.end_offset,
            ..Staged::default()
        };
        let mut placer = Placer::new(&self.plan, &self.referential);
        loop {
            let records = self.log.read(Topic::Hits, staged.next_offset, self.config.batch_records).await?;
            let Some(last) = records.last() else { break };
            let next = last.offset + 1;
            staged.records += records.len() as u64;
            let mut by_day: BTreeMap<NaiveDate, Vec<HitRow>> = BTreeMap::new();
            for record in records {
                let hit = StoredHit::decode(&record.payload).map_err(|e| PipelineError::Decode { offset: record.offset, message: e.to_string() })?;
                match placer.row(record.offset, hit) {
                    Ok(row) => by_day.entry(row.day).or_default().push(row),
                    Err(error) => {
                        warn!(%error, "hit skipped");
                        staged.unplaceable += 1;
                    }
                }
            }
            for (day, rows) in by_day {
                let through = self.store.staged_through(day).await?;
                let fresh: Vec<HitRow> = rows.into_iter().filter(|r| through.is_none_or(|t| r.offset > t)).collect();
                if !fresh.is_empty() {
                    staged.hits += fresh.len() as u64;
                    self.store.stage_hits(day, hits_batch(&fresh)).await?;
                }
            }
            self.log.commit(consumer, Topic::Hits, next).await?;
            staged.next_offset = next;
            on_batch(&staged);
        }
        staged.rejects = self.stage_rejects().await?;
        Ok(staged)
    }

    /// Stages the dead letters beyond the committed offset (for the editors' conformance view);
    /// returns how many were read.
    async fn stage_rejects(&self) -> Result<u64, PipelineError> {
        let consumer = self.config.consumer.as_str();
        let mut next_offset = self.log.committed(consumer, Topic::DeadLetters).await?;
        let mut read = 0;
        loop {
            let records = self.log.read(Topic::DeadLetters, next_offset, self.config.batch_records).await?;
            let Some(last) = records.last() else { break };
            let next = last.offset + 1;
            read += records.len() as u64;
            let mut by_day: BTreeMap<NaiveDate, Vec<(u64, DeadLetter)>> = BTreeMap::new();
            for record in records {
                let letter =
                    DeadLetter::decode(&record.payload).map_err(|e| PipelineError::Decode { offset: record.offset, message: e.to_string() })?;
                by_day.entry(reject_day(letter.received_ms)).or_default().push((record.offset, letter));
            }
            for (day, letters) in by_day {
                self.store.stage_rejects(day, rejects_batch(&letters)).await?;
            }
            self.log.commit(consumer, Topic::DeadLetters, next).await?;
            next_offset = next;
        }
        Ok(read)
    }

    /// Recomputes the visits of every dirty day; `on_day` sees each day done with the count of
    /// days done and to do. Returns the days computed.
    pub async fn compute(&self, mut on_day: impl FnMut(NaiveDate, usize, usize)) -> Result<Vec<NaiveDate>, PipelineError> {
        let dirty = self.store.dirty_days().await?;
        let mut pending = dirty.iter().copied();
        let mut running = tokio::task::JoinSet::new();
        let mut done = 0;
        loop {
            while running.len() < self.config.parallelism.max(1) {
                let Some(day) = pending.next() else { break };
                let (store, sessionizer) = (Arc::clone(&self.store), self.config.sessionizer);
                running.spawn(async move {
                    let hits = store.day_hits(day).await?;
                    let facts = sessionizer.run(hits).await?;
                    store.replace_day(day, facts).await?;
                    Ok::<_, PipelineError>(day)
                });
            }
            let Some(finished) = running.join_next().await else { break };
            let day = finished.map_err(|e| PipelineError::Store(format!("day computation failed: {e}")))??;
            done += 1;
            on_day(day, done, dirty.len());
        }
        Ok(dirty)
    }

    /// Stages what the log holds, then computes the dirty days.
    pub async fn run_once(&self) -> Result<(Staged, Vec<NaiveDate>), PipelineError> {
        let staged = self.stage(|_| {}).await?;
        let days = self.compute(|_, _, _| {}).await?;
        Ok((staged, days))
    }

    /// Follows the log until `shutdown` completes, computing dirty days after each catch-up.
    pub async fn follow(&self, shutdown: impl Future<Output = ()>) -> Result<(), PipelineError> {
        tokio::pin!(shutdown);
        loop {
            let (staged, days) = self.run_once().await?;
            if staged.records > 0 || !days.is_empty() {
                info!(records = staged.records, hits = staged.hits, next_offset = staged.next_offset, days = days.len(), "pipeline step");
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }
}
