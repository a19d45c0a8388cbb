//! [`RollupStore`]: where the pipeline keeps its facts and how indicators are read back.
//!
//! A store holds, per local day, the staged hits (the durable base of every figure), the visits
//! and usages computed from them, and which days changed since they were last computed ("dirty"
//! days). Unique visitors stay exact because visits keep their pseudonymous visitor: any period ×
//! territory is answered with an exact `count(DISTINCT visitor)`, never a sum of smaller cells.
//!
//! Implementations: [`ParquetRollupStore`] (embedded: Parquet files queried by DataFusion) and
//! [`ClickHouseRollupStore`] (distributed: ClickHouse tables). Every implementation must pass
//! [`conformance::run`].

mod atomic_parquet;
pub mod clickhouse;
pub mod conformance;
mod day_moments;
pub mod erase;
pub mod erasure_hold;
pub mod parquet;
pub mod sql;

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::NaiveDate;
use collector::log::Partition;
use datafusion::arrow::array::RecordBatch;

pub use self::clickhouse::{ClickHouseConfig, ClickHouseRollupStore};
pub use self::erase::{DoomedVisitors, ErasedFacts};
pub use self::erasure_hold::HeldVisitors;
pub use self::parquet::ParquetRollupStore;
use crate::day_changes::{DayStep, VisitorSet};
use crate::day_part::DayPart;
use crate::error::PipelineError;
use crate::model::Period;
use crate::query::{IndicatorQuery, IndicatorRow};
use crate::sessionize::{CoreFacts, Sessionized};
use crate::tagging::{RefusedDay, RejectCount, RejectSample, TaggingRow};
use crate::visitor_slices::VisitorSlices;

/// Storage of the pipeline's facts and the indicator queries over them.
#[async_trait]
pub trait RollupStore: Send + Sync + 'static {
    /// The highest hit-log record position ([`collector::log::position`]) of one log partition
    /// staged for a day, `None` when nothing is.
    async fn staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError>;

    /// Durably adds hits (layout [`crate::facts::hits_schema`]) of one log partition to a day,
    /// all with positions above [`Self::staged_through`], and marks the day dirty.
    async fn stage_hits(&self, day: NaiveDate, hits: RecordBatch) -> Result<(), PipelineError>;

    /// Durably adds several batches of hits ([`Self::stage_hits`] each: one day and one log
    /// partition a batch), as one staging step: a store that speaks to a server stages them in a
    /// few requests instead of a few per batch.
    async fn stage_hits_batches(&self, batches: Vec<(NaiveDate, RecordBatch)>) -> Result<(), PipelineError> {
        for (day, hits) in batches {
            self.stage_hits(day, hits).await?;
        }
        Ok(())
    }

    /// How many hits are staged for a part of a day (to plan its computation; may count a hit
    /// staged twice by a broker's duplicate once more).
    async fn day_hit_count(&self, part: DayPart) -> Result<u64, PipelineError>;

    /// The staged hits of a part of a day whose visitors lie in `slices`.
    async fn day_hits_in(&self, part: DayPart, slices: VisitorSlices) -> Result<Vec<RecordBatch>, PipelineError>;

    /// The staged hits of a part of a day whose visitors lie in `slices` and in `visitors` (a
    /// step that re-cuts some visitors only, [`crate::day_changes`]).
    async fn day_hits_of(&self, part: DayPart, slices: VisitorSlices, visitors: &VisitorSet) -> Result<Vec<RecordBatch>, PipelineError> {
        let mut hits = Vec::new();
        for batch in self.day_hits_in(part, slices).await? {
            let batch = crate::day_changes::filter_visitors(&batch, |v| <[u8; 16]>::try_from(v).is_ok_and(|v| visitors.contains(&v)))?;
            if batch.num_rows() > 0 {
                hits.push(batch);
            }
        }
        Ok(hits)
    }

    /// Every staged hit of a day.
    async fn day_hits(&self, day: NaiveDate) -> Result<Vec<RecordBatch>, PipelineError> {
        self.day_hits_in(DayPart::whole(day), VisitorSlices::ALL).await
    }

    /// Days with staged hits, in order.
    async fn days(&self) -> Result<Vec<NaiveDate>, PipelineError>;

    /// Days whose hits changed since their visits were last written, in order.
    async fn dirty_days(&self) -> Result<Vec<NaiveDate>, PipelineError>;

    /// The parts of days ([`DayPart`]) to compute again, in order: a store that divides its
    /// facts by log partition names each dirty (day, partition); the others, whole dirty days.
    async fn dirty_parts(&self) -> Result<Vec<DayPart>, PipelineError> {
        Ok(self.dirty_days().await?.into_iter().map(DayPart::whole).collect())
    }

    /// Marks days dirty (to recompute them, e.g. after a change of definitions): every part of
    /// them.
    async fn mark_dirty(&self, days: &[NaiveDate]) -> Result<(), PipelineError>;

    /// Starts replacing the facts of a part of a day ([`DayPart`]: a store that divides its
    /// facts by log partition computes one partition's visitors at a time), cut with visits of
    /// this `definition` ([`crate::sessionize::Sessionizer::definition`]). Call it **before**
    /// reading the hits they come from: when hits are staged to the part after this call, the
    /// commit leaves it dirty, so they are computed next time. The writer replaces the whole
    /// part unless told to keep the visitors without new hits ([`DayFactsWriter::changes`]).
    async fn begin_day<'a>(&'a self, part: DayPart, definition: &str) -> Result<Box<dyn DayFactsWriter + 'a>, PipelineError>;

    /// Durably replaces a day's visits and usages (layouts [`crate::facts::visits_schema`] and
    /// [`crate::facts::usages_schema`]) and clears its dirty mark, in one piece.
    async fn replace_day(&self, day: NaiveDate, facts: Sessionized) -> Result<(), PipelineError> {
        let mut writer = self.begin_day(DayPart::whole(day), "").await?;
        writer.append(facts).await?;
        writer.commit().await
    }

    /// The indicators of every cell a query asks for, ordered by code, start and breakdown
    /// value: from the frozen cells for the periods frozen ([`Self::freeze`]), from the facts
    /// for the others (and for all of them when the cells do not keep what is asked and the
    /// facts of every period asked are still there).
    async fn query(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorRow>, PipelineError> {
        let (first, last) = query.days();
        let frozen: BTreeSet<NaiveDate> = self.frozen_starts(query.period).await?.range(first..=last).copied().collect();
        let (Some(&first_frozen), Some(&last_frozen)) = (frozen.first(), frozen.last()) else {
            return self.query_facts(query).await;
        };
        let kept = crate::frozen::lookup_sql(query, first_frozen, last_frozen, crate::query::Dialect::DataFusion, &|t| t.to_owned()).is_ok();
        if !kept && self.facts_retired_through().await?.is_none_or(|r| first_frozen > r) {
            // A combination the cells do not keep, over periods whose facts are all still
            // there (cells kept for speed, [`crate::materialize`]): read from the facts.
            return self.query_facts(query).await;
        }
        let mut rows: Vec<IndicatorRow> = self
            .query_frozen(query, first_frozen, last_frozen)
            .await?
            .into_iter()
            .filter(|r| frozen.contains(&r.start))
            .map(|r| if query.unique_visitors { r } else { IndicatorRow { visitors: 0, ..r } })
            .collect();
        // The facts are asked only for the runs of periods not frozen (the newest ones, as
        // retirement moves forward): a frozen school year costs no scan of its live days.
        let mut live_rows = false;
        for (from, to) in live_runs(query.period, first, last, &frozen) {
            let live = IndicatorQuery { from, to, ..query.clone() };
            rows.extend(self.query_facts(&live).await?.into_iter().filter(|r| !frozen.contains(&r.start)));
            live_rows = true;
        }
        if live_rows {
            rows.sort_unstable(); // a total order: the same as a stable sort
        }
        Ok(rows)
    }

    /// The indicators of every cell a query asks for, computed from the facts alone.
    async fn query_facts(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorRow>, PipelineError>;

    /// The starts of the periods of one kind whose cells are frozen.
    async fn frozen_starts(&self, period: Period) -> Result<BTreeSet<NaiveDate>, PipelineError>;

    /// The cells a query asks for from the frozen cells of the periods starting within
    /// `first..=last` ([`crate::frozen::lookup_sql`]).
    async fn query_frozen(&self, query: &IndicatorQuery, first: NaiveDate, last: NaiveDate) -> Result<Vec<IndicatorRow>, PipelineError>;

    /// Durably computes and keeps every cell of [`crate::frozen::cell_sets`] of these periods of one
    /// kind from the facts (replacing what was kept of them; see [`crate::frozen`]), before their
    /// facts are retired or to answer them faster ([`crate::materialize`]); from then on, queries
    /// read these periods from the kept cells, until a change to the facts of one of their days
    /// drops them (every implementation drops the cells of the periods holding a day, unless one
    /// of its days was retired, before committing new facts for it or erasing from it; see
    /// [`crate::frozen::thawed_by`]). Returns the cells kept.
    async fn freeze(&self, period: Period, starts: &BTreeSet<NaiveDate>) -> Result<u64, PipelineError>;

    /// The school year (its first day) and the last day of the year-to-date rows that stand
    /// ([`crate::year_to_date`]), if any: whole school-year queries of that year read them.
    async fn year_to_date(&self) -> Result<Option<(NaiveDate, NaiveDate)>, PipelineError>;

    /// Durably computes from the facts and keeps the year-to-date rows of the school year
    /// starting `year` over `year..=through`, replacing every other kept. They stand until a
    /// change to the facts of one of their days, or a retirement of facts, drops them (every
    /// implementation drops them before committing new facts for such a day or erasing from
    /// it; see [`crate::year_to_date::staled_by`]). Returns the rows kept.
    async fn keep_year_to_date(&self, year: NaiveDate, through: NaiveDate) -> Result<u64, PipelineError>;

    /// The last day whose per-visitor facts were retired, `None` when none were.
    async fn facts_retired_through(&self) -> Result<Option<NaiveDate>, PipelineError>;

    /// Durably notes that the per-visitor facts of every day up to `through` are retired (never
    /// moving the mark back), without deleting them: from then on, their hits are not staged
    /// and no change drops the cells of a period holding one of them
    /// ([`crate::frozen::thawed_by`]). [`Self::retire_facts`] notes it too.
    async fn note_facts_retired(&self, through: NaiveDate) -> Result<(), PipelineError>;

    /// Durably deletes the per-visitor facts (staged hits, visits, usages, refusals, dirty
    /// marks) of every day up to `through`, and notes `through` first. Tagging counts (no
    /// visitor) stay. Returns the days whose facts went.
    async fn retire_facts(&self, through: NaiveDate) -> Result<Vec<NaiveDate>, PipelineError>;

    /// The highest dead-letter position of one log partition staged for a day, `None` when
    /// nothing is.
    async fn rejects_staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError>;

    /// Durably adds refusals (layout [`crate::tagging::rejects_schema`], recovery rows among
    /// them) to a day; rows at or below [`Self::rejects_staged_through`] of their partition are
    /// skipped, so staging again changes nothing.
    async fn stage_rejects(&self, day: NaiveDate, rejects: RecordBatch) -> Result<(), PipelineError>;

    /// Accepted hits per day, platform, project, service, tool and plan version over `from..=to`.
    /// `plateforme` keeps one platform's rows only.
    async fn tagging(&self, from: NaiveDate, to: NaiveDate, plateforme: Option<&str>) -> Result<Vec<TaggingRow>, PipelineError>;

    /// Refused events per day, platform and reason over `from..=to`, each with how many of them a
    /// replay recovered since, on any day from `from` on ([`crate::tagging::Recovery`]).
    async fn reject_counts(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RejectCount>, PipelineError>;

    /// Refused events (whatever their reasons) per day and platform over `from..=to`, with how
    /// many of them a replay recovered since (as [`Self::reject_counts`]).
    async fn rejected_events(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RefusedDay>, PipelineError>;

    /// The latest refused events of one platform over `from..=to`, newest first, at most `limit`.
    async fn reject_sample(&self, plateforme: &str, from: NaiveDate, to: NaiveDate, limit: usize) -> Result<Vec<RejectSample>, PipelineError>;

    /// Durably removes every fact of these visitors (staged hits, visits, usages, and refusals
    /// whose properties hold their pseudonym), for an erasure request: every figure read
    /// afterwards is computed without them. Aggregates without visitors (tagging counts) stay.
    async fn erase_visitors(&self, visitors: &DoomedVisitors) -> Result<ErasedFacts, PipelineError>;

    /// Holds these erased visitors out of every staging until `until` (inclusive): for a log
    /// that cannot be rewritten, whose records of them stay until its retention removes them.
    /// Only a one-way digest of each pseudonym is kept ([`erasure_hold`]).
    async fn hold_erased(&self, visitors: &DoomedVisitors, until: NaiveDate) -> Result<(), PipelineError>;

    /// The visitors held out of staging on `today` (holds that ended are left out).
    async fn held_visitors(&self, today: NaiveDate) -> Result<HeldVisitors, PipelineError>;
}

/// The new facts of one day, written a piece at a time (one piece per range of visitor slices)
/// and visible to queries only once committed, all at once.
#[async_trait]
pub trait DayFactsWriter: Send {
    /// The computation as the store follows it: the staged positions it covers (the facts are
    /// cut from the hits at or below them; later ones are the next step's), what the day
    /// received since its facts were computed when the store can replace some visitors' facts
    /// only ([`crate::day_changes`]), and whether it does.
    fn step(&self) -> &DayStep;

    /// The same, to make the commit replace only the changed visitors' facts
    /// ([`DayStep::keep_unchanged_visitors`]).
    fn step_mut(&mut self) -> &mut DayStep;

    /// The current facts of the changed visitors ([`DayStep::changes`]) (their visits and usages as the
    /// facts being replaced hold them, in the core layouts
    /// [`crate::facts::core_visits_schema`] and [`crate::facts::core_usages_schema`]), so that
    /// a step extends them with the new hits instead of cutting them again from all their hits
    /// ([`crate::sessionize::extend`]). `None` when the store does not give them or there are
    /// no changes: the step then reads those visitors' hits.
    async fn changed_visitors_facts(&mut self) -> Result<Option<CoreFacts>, PipelineError> {
        Ok(None)
    }

    /// Adds the visits, usages and tagging counts of some of the day's visitors.
    async fn append(&mut self, facts: Sessionized) -> Result<(), PipelineError>;

    /// Durably replaces the day's facts with everything appended, then clears the day's dirty
    /// mark unless hits were staged to it since [`RollupStore::begin_day`].
    async fn commit(self: Box<Self>) -> Result<(), PipelineError>;
}

/// Checks a batch of hits (layout [`crate::facts::hits_schema`]) before `store` stages it: all
/// of one log partition, and every position above what the day already holds of that
/// partition. Returns the batch's first and last positions, `None` for an empty batch.
pub(crate) async fn guard_staging<S: RollupStore + ?Sized>(
    store: &S,
    day: NaiveDate,
    hits: &RecordBatch,
) -> Result<Option<(u64, u64)>, PipelineError> {
    use collector::log::partition_of;
    let Some((first, last)) = batch_partition(day, hits)? else { return Ok(None) };
    if let Some(through) = store.staged_through(day, partition_of(first)).await? {
        if first <= through {
            return Err(PipelineError::Store(format!("{day}: hits from offset {first} staged again (already staged through {through})")));
        }
    }
    Ok(Some((first, last)))
}

/// The first and last positions of a batch of hits to stage (`None` when empty); an error when
/// it spans two log partitions.
pub(crate) fn batch_partition(day: NaiveDate, hits: &RecordBatch) -> Result<Option<(u64, u64)>, PipelineError> {
    use collector::log::partition_of;
    use datafusion::arrow::array::AsArray;
    let positions = hits.column(0).as_primitive::<datafusion::arrow::datatypes::UInt64Type>().values();
    let (Some(first), Some(last)) = (positions.iter().copied().min(), positions.iter().copied().max()) else { return Ok(None) };
    if partition_of(first) != partition_of(last) {
        return Err(PipelineError::Store(format!(
            "{day}: one batch of hits spans log partitions {} and {}",
            partition_of(first),
            partition_of(last)
        )));
    }
    Ok(Some((first, last)))
}

/// The runs of adjacent periods of kind `period` within `first..=last` (period bounds) whose
/// start is not in `frozen`: each run's first and last day.
fn live_runs(period: Period, first: NaiveDate, last: NaiveDate, frozen: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut runs = Vec::new();
    let mut run: Option<(NaiveDate, NaiveDate)> = None;
    let mut start = period.start_of(first);
    while start <= last {
        let end = period.end_of(start);
        if frozen.contains(&start) {
            runs.extend(run.take());
        } else {
            run = Some((run.map_or(start, |(from, _)| from), end));
        }
        start = end + chrono::Days::new(1);
    }
    runs.extend(run);
    runs
}

#[cfg(test)]
mod live_runs_tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn only_the_periods_not_frozen_are_asked_of_the_facts() {
        let frozen: BTreeSet<NaiveDate> = [day("2025-09-01"), day("2025-10-01")].into();
        assert_eq!(live_runs(Period::Month, day("2025-09-01"), day("2025-12-31"), &frozen), vec![(day("2025-11-01"), day("2025-12-31"))]);
        assert_eq!(live_runs(Period::Month, day("2025-09-01"), day("2025-10-31"), &frozen), vec![]);
        assert_eq!(
            live_runs(Period::Month, day("2025-08-01"), day("2025-11-30"), &frozen),
            vec![(day("2025-08-01"), day("2025-08-31")), (day("2025-11-01"), day("2025-11-30"))]
        );
        let year: BTreeSet<NaiveDate> = [day("2025-09-01")].into();
        assert_eq!(live_runs(Period::SchoolYear, day("2025-09-01"), day("2026-08-31"), &year), vec![]);
        assert_eq!(live_runs(Period::Day, day("2025-09-01"), day("2025-09-03"), &year), vec![(day("2025-09-02"), day("2025-09-03"))]);
    }
}
