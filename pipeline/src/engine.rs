//! [`Pipeline`]: moves hits from the [`HitLog`] into a [`RollupStore`] and keeps the visits of
//! every day up to date.
//!
//! Two steps, each crash-safe:
//! 1. **stage**: read the log as a member of the consumer group (the configured consumer name)
//!    from the committed offsets in batches (the next batch polled while one is written), place
//!    each hit in its territories and local day,
//!    append each day's new hits to the store (hits at or below what the day already holds of
//!    their partition are skipped, so re-reading a batch, after a crash or after the group gave
//!    a dead member's partitions to another, stages nothing twice), which marks those days dirty;
//!    only then commit the offsets. Staged hits are the durable base of every figure: once they
//!    and the dirty marks are on disk, the log records are no longer needed. Several instances
//!    may stage at once (a Kafka log's group shares the partitions among them).
//! 2. **compute**: re-sessionize every dirty part of a day ([`DayPart`]) from its staged hits
//!    and replace its visits and usages; the part is clean once they are written. A late hit
//!    just makes its part dirty again; computing a part twice gives the same facts
//!    (idempotent). A store that divides its facts by log partition (ClickHouse) names each
//!    dirty (day, partition), and a member of a consumer group computes only the parts of the
//!    partitions the group gives it now: a visitor's hits all lie in one partition (the log is
//!    keyed by pseudonym), so no two members compute the same visitor, and a partition that
//!    moves to another member moves its work with it. Whether a part is dirty is decided by the
//!    positions staged and covered, never by comparing two machines' clocks (see the store's
//!    `parts.rs`). A part holding more than [`PipelineConfig::compute_hits`]
//!    hits is computed a range of visitor slices at a time (visits never span two visitors), so
//!    memory stays bounded however large the day.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use collector::freshness::Freshness;
use collector::log::{partition_of, HitLog, LogConsumer, Partition};
use tagging_plan::{Plan, Referential};
use tracing::{info, warn};

use crate::day_changes::filter_positions;
use crate::day_part::DayPart;
use crate::error::PipelineError;
use crate::sessionize::Sessionizer;
use crate::store::{DayFactsWriter, RollupStore};
use crate::visitor_slices::VisitorSlices;

mod staging;

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
    /// How long one read waits for records before staging counts as caught up (a broker's
    /// consumer needs a moment; the embedded log answers at once).
    pub poll_wait: Duration,
    /// Day parts computed at once (default: the number of cores).
    pub parallelism: usize,
    /// Most staged hits sessionized at once (default 500,000): a larger day is computed in
    /// ranges of visitor slices of about this many hits.
    pub compute_hits: u64,
    /// Months the per-visitor facts are kept ([`crate::fact_retention`]; default 13).
    pub facts_months: u32,
    /// How often `follow` applies that retention (default one hour).
    pub retention_every: Duration,
    /// Whether `follow` keeps the cells of closed periods, one per step ([`crate::materialize`];
    /// default on).
    pub materialize: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            consumer: "pipeline".into(),
            batch_records: 200_000,
            sessionizer: Sessionizer::default(),
            poll_interval: Duration::from_secs(10),
            poll_wait: Duration::from_secs(1),
            parallelism: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            compute_hits: 500_000,
            facts_months: crate::fact_retention::DEFAULT_MONTHS,
            retention_every: Duration::from_secs(3600),
            materialize: true,
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
    /// Next offset to read, summed over the partitions read (in a one-partition log: the next
    /// offset).
    pub next_offset: u64,
    /// Records ever appended to the log when staging started (in a one-partition log: its end
    /// offset).
    pub end_offset: u64,
    /// Dead letters read (staged for the conformance view).
    pub rejects: u64,
    /// Hits and dead letters skipped because their visitor was erased while they were still in
    /// the log ([`RollupStore::hold_erased`]).
    pub held: u64,
    /// Hits of days whose per-visitor facts were already retired (older than the retention of
    /// identifiers, e.g. from an old import): not staged ([`crate::fact_retention`]).
    pub retired: u64,
}

/// The pipeline over one log and one store.
pub struct Pipeline {
    log: Arc<dyn HitLog>,
    store: Arc<dyn RollupStore>,
    plan: Arc<Plan>,
    referential: Arc<Referential>,
    config: PipelineConfig,
    /// This instance's membership of the consumer group, per topic: kept between steps (joining
    /// a group again costs a rebalance), dropped after a failure so that reading starts again
    /// from the committed offsets.
    members: tokio::sync::Mutex<[Option<Box<dyn LogConsumer>>; 2]>,
    /// Held by [`Pipeline::follow`] for each step: whoever else holds it (an erasure on a
    /// running server) knows no step reads the log or writes the store meanwhile.
    steps: Arc<tokio::sync::Mutex<()>>,
    /// Receive times of the newest hits it staged and counted (shared with an in-process
    /// collector, which adds the newest acknowledged).
    freshness: Arc<Freshness>,
    /// What this instance knows is staged of each (day, log partition): read from the store
    /// once, then kept up as it stages, so that a batch costs no question to the store per day
    /// and partition. Never above what the store holds (it only grows with what this instance
    /// staged), so a record at or below it was staged; forgotten with the group's members.
    staged: std::sync::Mutex<BTreeMap<(NaiveDate, Partition), Option<u64>>>,
    /// Staged hits this instance sessionized, over all its steps.
    computed_hits: std::sync::atomic::AtomicU64,
}

impl Pipeline {
    /// A pipeline reading `log` into `store`, placing hits with this plan and referential.
    pub fn new(log: Arc<dyn HitLog>, store: Arc<dyn RollupStore>, plan: Arc<Plan>, referential: Arc<Referential>, config: PipelineConfig) -> Self {
        Pipeline {
            log,
            store,
            plan,
            referential,
            config,
            members: tokio::sync::Mutex::new([None, None]),
            steps: Arc::default(),
            freshness: Arc::default(),
            staged: std::sync::Mutex::default(),
            computed_hits: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Staged hits this instance sessionized so far (a member of a group: those of the
    /// partitions it owned when it computed).
    pub fn computed_hits(&self) -> u64 {
        self.computed_hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The log partitions of hits this instance's group member owns now: `None` for a member
    /// alone (every partition) or before its first step, empty while it waits for its group.
    pub async fn owned_partitions(&self) -> Option<std::collections::BTreeSet<Partition>> {
        self.members.lock().await[0].as_ref().and_then(|member| member.owned())
    }

    /// The same pipeline recording what it stages and counts in `freshness` (an in-process
    /// collector's, so that its `/metrics` shows the counting lag).
    #[must_use]
    pub fn with_freshness(mut self, freshness: Arc<Freshness>) -> Self {
        self.freshness = freshness;
        self
    }

    /// Receive times of the newest hits staged and counted by this pipeline.
    pub fn freshness(&self) -> &Arc<Freshness> {
        &self.freshness
    }

    /// The lock [`Pipeline::follow`] holds for each step: hold it to keep steps out.
    pub fn step_lock(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.steps)
    }

    /// The store it writes to.
    pub fn store(&self) -> &Arc<dyn RollupStore> {
        &self.store
    }

    /// Recomputes the visits of every dirty part of a day this instance computes (a member of
    /// a group: the parts of the partitions it owns now); `on_part` sees each part done with the
    /// count of parts done and to do. Returns the parts computed.
    pub async fn compute(&self, mut on_part: impl FnMut(DayPart, usize, usize)) -> Result<Vec<DayPart>, PipelineError> {
        let owned = self.owned_partitions().await;
        let dirty: Vec<DayPart> = self.store.dirty_parts().await?.into_iter().filter(|part| part.owned_by(owned.as_ref())).collect();
        let mut pending = dirty.iter().copied();
        let mut running = tokio::task::JoinSet::new();
        let mut done = 0;
        loop {
            while running.len() < self.config.parallelism.max(1) {
                let Some(part) = pending.next() else { break };
                let (store, sessionizer, most) = (Arc::clone(&self.store), self.config.sessionizer, self.config.compute_hits);
                running.spawn(async move {
                    let computed = compute_day(store.as_ref(), sessionizer, part, most).await?;
                    Ok::<_, PipelineError>((part, computed))
                });
            }
            let Some(finished) = running.join_next().await else { break };
            let (part, computed) = finished.map_err(|e| PipelineError::Store(format!("day computation failed: {e}")))??;
            self.computed_hits.fetch_add(computed.hits, std::sync::atomic::Ordering::Relaxed);
            done += 1;
            on_part(part, done, dirty.len());
        }
        Ok(dirty)
    }

    /// Applies the retention of per-visitor facts as of today ([`crate::fact_retention`]);
    /// a failure is logged and left for the next time.
    pub async fn apply_fact_retention(&self) {
        let today = chrono::Utc::now().date_naive();
        match crate::fact_retention::apply(self.store.as_ref(), today, self.config.facts_months).await {
            Ok(pass) if !pass.days.is_empty() => {
                info!(through = %pass.through, days = pass.days.len(), cells = pass.cells, "per-visitor facts retired, figures of their periods frozen");
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "retention of per-visitor facts failed; will try again"),
        }
    }

    /// Keeps the cells of the newest closed period not kept yet ([`crate::materialize`]), when
    /// configured to; a failure is logged and left for the next step.
    pub async fn materialize_next(&self) -> Option<crate::materialize::Materialized> {
        if !self.config.materialize {
            return None;
        }
        let today = chrono::Utc::now().date_naive();
        let started = std::time::Instant::now();
        match crate::materialize::materialize_next(self.store.as_ref(), today).await {
            Ok(Some(done)) => {
                info!(period = done.period.name(), start = %done.start, through = ?done.through, cells = done.cells, took = ?started.elapsed(), "period materialized");
                Some(done)
            }
            Ok(None) => None,
            Err(error) => {
                warn!(%error, "materializing a closed period failed; will try again");
                None
            }
        }
    }

    /// Stages what the log holds, then computes the dirty parts of days it owns.
    pub async fn run_once(&self) -> Result<(Staged, Vec<DayPart>), PipelineError> {
        let staged = self.stage(|_| {}).await?;
        // Every hit staged so far is read by the computation below, which begins after this.
        let counted = self.freshness.newest_staged();
        let days = self.compute(|_, _, _| {}).await?;
        self.freshness.counted_through(counted);
        Ok((staged, days))
    }

    /// Follows the log until `shutdown` completes, computing dirty days after each catch-up. A
    /// failed step (the broker or the store unreachable for a while) is logged and tried again
    /// after the poll interval, from the committed offsets: following never gives up.
    pub async fn follow(&self, shutdown: impl Future<Output = ()>) -> Result<(), PipelineError> {
        tokio::pin!(shutdown);
        let mut retention_due = std::time::Instant::now();
        loop {
            let step = self.steps.lock().await;
            if std::time::Instant::now() >= retention_due {
                self.apply_fact_retention().await;
                retention_due = std::time::Instant::now() + self.config.retention_every;
            }
            match self.run_once().await {
                Ok((staged, days)) => {
                    if staged.records > 0 || !days.is_empty() {
                        let lag = self.freshness.lag().map(|lag| lag.as_secs_f64());
                        // The log partitions whose parts this member computed (none named: whole days).
                        let partitions: std::collections::BTreeSet<Partition> = days.iter().filter_map(|part| part.partition).collect();
                        info!(records = staged.records, hits = staged.hits, next_offset = staged.next_offset, parts = days.len(), partitions = ?partitions, lag_s = ?lag, "pipeline step");
                    }
                    // Caught up: one closed period's cells are kept (none whose days are dirty).
                    self.materialize_next().await;
                }
                Err(error) => warn!(%error, retry_in = ?self.config.poll_interval, "pipeline step failed"),
            }
            drop(step);
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }
}

/// What computing one day did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayComputed {
    /// Whether only the visitors with new hits were re-cut (the others' facts kept).
    pub partial: bool,
    /// Staged hits sessionized: in a partial step, the new hits only when the changed
    /// visitors' visits were extended from their facts, all those visitors' hits otherwise.
    pub hits: u64,
}

/// Computes the facts of one part of a day ([`DayPart`], or a whole day) from its staged hits,
/// at most about `most` hits in memory at once.
///
/// When the store can tell what the part received since its facts were computed and that is a
/// small share of it ([`crate::day_changes`]), only the visitors with new hits are re-cut, from
/// all their hits of the day, and the other visitors' facts stay. Otherwise the whole part is
/// read and sessionized a range of visitor slices at a time, each range's facts appended to
/// the part's new facts, which replace the old ones in one commit.
pub async fn compute_day(
    store: &dyn RollupStore,
    sessionizer: Sessionizer,
    part: impl Into<DayPart>,
    most: u64,
) -> Result<DayComputed, PipelineError> {
    let part = part.into();
    let planned = store.day_hit_count(part).await?;
    // Begun before any reading: hits staged from now on leave the part dirty.
    let begun = std::time::Instant::now();
    let mut writer = store.begin_day(part, &sessionizer.definition()).await?;
    tracing::debug!(day = %part.day, planned, new_hits = writer.step().changes().map(|c| c.new_hits), elapsed = ?begun.elapsed(), "day computation begun");
    let visitors = match writer.step().changes() {
        Some(changes) if changes.worth_it(planned) => Some(changes.visitors.clone()),
        _ => None,
    };
    if visitors.is_some() {
        writer.step_mut().keep_unchanged_visitors(part.day)?;
        let begun = std::time::Instant::now();
        if let Some(computed) = extend_changed_visitors(writer.as_mut(), sessionizer).await? {
            let extended = begun.elapsed();
            writer.commit().await?;
            tracing::debug!(day = %part.day, hits = computed.hits, ?extended, committed = ?begun.elapsed().saturating_sub(extended), "changed visitors extended");
            return Ok(computed);
        }
    }
    let through = writer.step().through().clone();
    let mut computed = DayComputed { partial: visitors.is_some(), hits: 0 };
    for slices in VisitorSlices::plan(planned, most) {
        let read = match &visitors {
            Some(visitors) => store.day_hits_of(part, slices, visitors).await?,
            None => store.day_hits_in(part, slices).await?,
        };
        let mut hits = Vec::new();
        for batch in read {
            // Hits staged after the computation began are the next one's.
            let batch = filter_positions(&batch, |p| through.get(&partition_of(p)).is_some_and(|t| p <= *t))?;
            if batch.num_rows() > 0 {
                computed.hits += batch.num_rows() as u64;
                hits.push(batch);
            }
        }
        writer.append(sessionizer.run(hits).await?).await?;
    }
    writer.commit().await?;
    Ok(computed)
}

/// Appends the changed visitors' facts extended with the new hits, when the store gives their
/// current facts and those keep what extending needs (a visit's last hit, a usage's visit):
/// the step then reads no earlier hit. `None` when it cannot, and nothing is appended.
async fn extend_changed_visitors(writer: &mut dyn DayFactsWriter, sessionizer: Sessionizer) -> Result<Option<DayComputed>, PipelineError> {
    let Some(changes) = writer.step().changes() else { return Ok(None) };
    let (new_hits, count) = (changes.hits.clone(), changes.new_hits);
    let begun = std::time::Instant::now();
    let Some(old) = writer.changed_visitors_facts().await? else { return Ok(None) };
    tracing::debug!(visits = old.visits.num_rows(), usages = old.usages.num_rows(), read = ?begun.elapsed(), "changed visitors' facts read");
    match sessionizer.extend(old, new_hits).await {
        Ok(Some(facts)) => {
            writer.append(facts).await?;
            Ok(Some(DayComputed { partial: true, hits: count }))
        }
        Ok(None) => {
            tracing::debug!("facts written before visits kept their last hit; cutting the changed visitors from their hits");
            Ok(None)
        }
        Err(e) => {
            warn!(error = %e, "the changed visitors' facts could not be extended; cutting them from their hits");
            Ok(None)
        }
    }
}
