//! The ClickHouse store's facts divided by log partition ([`DayPart`]), so that the pipelines of
//! a consumer group share the work: each (day, partition) has its own current generation, and
//! its own marks saying whether it must be computed again. Nothing here compares two machines'
//! clocks; every order comes from the data:
//!
//! ```text
//! part_generations  (day, partition) → generation, version   ReplacingMergeTree(version): the highest version is read
//! dirty_parts       (day, partition) → version, dirty         staging marks 2·(p+1), clean marks 2·(t+1)+1
//! forced_parts      (day, partition) → version, dirty         forced marks 2·(e+1), clean marks 2·e+1
//! ```
//!
//! - **Staging** marks a part dirty with version `2·(p+1)`, `p` the highest position staged,
//!   before inserting its hits. A computation that covers the staged positions through `t` marks
//!   it clean with `2·(t+1)+1`: that wins over every staging it covers (`t ≥ p`) and loses to
//!   every staging it does not (`t < p`), whoever wrote them and whatever their clocks say.
//! - **Forced** recomputations (an erasure, a change of definitions, [`super::RollupStore::mark_dirty`])
//!   have no new position: they take the next *epoch* of the part, `2·(e+1)` over the highest
//!   epoch `e` marked. A computation reads the epoch when it begins and marks `2·e+1`, so it
//!   clears the forced marks written before it began and not those written after.
//! - **Generations.** A generation's number is the microsecond its computation began, shifted
//!   left by [`PARTITION_BITS`], plus its partition: unique across the partitions of a day
//!   (readers select `(day, generation)`), and naming its partition. Its listing's version is
//!   the staged offset it covers, shifted left 16 bits, plus its epoch: of two members computing
//!   the same part (one that lost the partition and did not know yet), the one that saw more
//!   stands. The positions a generation covers never go back (an erasure may remove the highest
//!   hit): a computation covers at least what the generation it replaces covered.
//! - **Dropping** old generations: the current one and the one it replaced are kept (readers
//!   may still be on it). A generation is stamped (`facts_stamps`) right after it is listed, so
//!   one stamped and not current lost for good (nobody lists a generation twice) and is
//!   dropped; one not stamped is a computation under way, dropped only when it is
//!   [`ABANDONED_AFTER`] old (it crashed). A whole-day generation of an older version that no
//!   partition reads any more goes too.
//!
//! Stores written before version 8 kept one generation per day: [`ClickHouseRollupStore::split_day_generations`]
//! divides each by the partitions of its visitors' hits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDate;
use collector::log::{partition_positions, Partition};

use super::records::{DayGeneration, DayPartition, PartGeneration, PartMark, PartVersion};
use super::rows::TaggingFactRow;
use super::ClickHouseRollupStore;
use crate::day_changes::{FactsStamp, Positions};
use crate::day_part::DayPart;
use crate::error::PipelineError;
use crate::facts::{usages_schema, visits_schema};
use crate::store::RollupStore;
use crate::visitor_slices::VisitorSlices;

/// Bits of a generation number that hold its log partition.
pub(super) const PARTITION_BITS: u32 = 10;

/// Generation numbers at or above this one are of version 8 (partition in their low bits);
/// those below are whole-day generations of earlier versions (microseconds).
const PARTITIONED_FROM: u64 = 1 << 56;

/// How old a generation that never became current must be to count as abandoned (its
/// computation crashed) and be dropped.
const ABANDONED_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The number of the generation of `partition` whose computation began at `began` (the
/// store's microsecond versions); an error for a partition past what the number can hold.
pub(super) fn generation_number(began: u64, partition: Partition) -> Result<u64, PipelineError> {
    if partition >= 1 << PARTITION_BITS {
        return Err(PipelineError::Store(format!(
            "log partition {partition}: the ClickHouse store divides facts among at most {} partitions",
            1 << PARTITION_BITS
        )));
    }
    Ok(began << PARTITION_BITS | u64::from(partition))
}

/// The partition a generation number names (`None`: a whole-day generation of an older version).
fn partition_of_generation(generation: u64) -> Option<Partition> {
    (generation >= PARTITIONED_FROM).then(|| u32::try_from(generation & ((1 << PARTITION_BITS) - 1)).unwrap_or_default())
}

/// When a generation's computation began, in microseconds.
fn began_of_generation(generation: u64) -> u64 {
    if generation >= PARTITIONED_FROM {
        generation >> PARTITION_BITS
    } else {
        generation
    }
}

/// The version of a generation's listing: the offset it covers through, then its epoch.
pub(super) fn listing_version(through: Option<u64>, epoch: u64) -> u64 {
    let offset = through.map_or(0, |t| (t & ((1 << 48) - 1)) + 1);
    offset << 16 | epoch.min(0xFFFF)
}

/// A staging mark's version for hits staged through `position`.
fn staged_version(position: u64) -> u64 {
    2 * (position + 1)
}

/// A clean mark's version for a computation covering through `through` (`None`: nothing staged).
fn clean_version(through: Option<u64>) -> u64 {
    through.map_or(1, |t| 2 * (t + 1) + 1)
}

/// The SQL condition selecting the staged rows of one log partition (by their position column).
pub(super) fn within_partition(partition: Partition) -> String {
    let positions = partition_positions(partition);
    format!("`offset` >= {} AND `offset` < {}", positions.start, positions.end)
}

/// ` AND` the condition of a part's partition, nothing for a whole day.
pub(super) fn and_within(part: DayPart) -> String {
    part.partition.map_or_else(String::new, |p| format!(" AND {}", within_partition(p)))
}

impl ClickHouseRollupStore {
    /// The current facts of `name` (visits, usages or tagging) over `first..=last`, as a subquery:
    /// the rows of every part's current generation.
    pub(super) fn current(&self, name: &str, first: NaiveDate, last: NaiveDate) -> String {
        let within = format!("day >= toDate('{first}') AND day <= toDate('{last}')");
        format!(
            "(SELECT * FROM {table} WHERE {within} AND (day, generation) IN (SELECT day, generation FROM {generations} FINAL WHERE {within})) AS {name}",
            table = self.table(name),
            generations = self.table("part_generations"),
        )
    }

    /// The generation of a part that readers read, if any.
    pub(super) async fn listed(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        let query = self
            .sql(&format!("SELECT ?fields FROM {} FINAL WHERE day = toDate(?) AND partition = ?", self.table("part_generations")))
            .await?
            .bind(day)
            .bind(partition);
        Ok(self.fetch_all::<PartGeneration>(query).await?.first().map(|row| row.generation))
    }

    /// Makes `generation` a part's current one (if no listing of a higher version stands).
    pub(super) async fn list(&self, day: NaiveDate, partition: Partition, generation: u64, version: u64) -> Result<(), PipelineError> {
        self.insert::<PartGeneration>("part_generations", [Ok(PartGeneration { day, partition, generation, version })].into_iter()).await
    }

    /// The log partitions a day's facts are divided into: those of its staged hits and those
    /// of its listed generations.
    pub(super) async fn partitions_of_day(&self, day: NaiveDate) -> Result<BTreeSet<Partition>, PipelineError> {
        Ok(self.parts_of_days(&[day]).await?.into_iter().map(|(_, p)| p).collect())
    }

    /// The (day, partition) pairs of these days, as [`Self::partitions_of_day`].
    pub(super) async fn parts_of_days(&self, days: &[NaiveDate]) -> Result<BTreeSet<(NaiveDate, Partition)>, PipelineError> {
        if days.is_empty() {
            return Ok(BTreeSet::new());
        }
        let list = days.iter().map(|d| format!("toDate('{d}')")).collect::<Vec<_>>().join(", ");
        let query = self
            .sql(&format!(
                "SELECT DISTINCT day, toUInt32(bitShiftRight(`offset`, 48)) AS partition FROM {hits} WHERE day IN ({list}) \
                 UNION ALL SELECT DISTINCT day, partition FROM {generations} WHERE day IN ({list})",
                hits = self.table("hits"),
                generations = self.table("part_generations"),
            ))
            .await?;
        Ok(self.fetch_all::<DayPartition>(query).await?.into_iter().map(|r| (r.day, r.partition)).collect())
    }

    /// Marks parts dirty for hits staged through the given positions (before they are inserted).
    pub(super) async fn mark_staged(&self, staged: &BTreeMap<(NaiveDate, Partition), u64>) -> Result<(), PipelineError> {
        if staged.is_empty() {
            return Ok(());
        }
        let marks = staged.iter().map(|(&(day, partition), &last)| Ok(PartMark { day, partition, version: staged_version(last), dirty: true }));
        self.insert::<PartMark>("dirty_parts", marks).await
    }

    /// Forces parts to be computed again: each takes the next epoch.
    pub(super) async fn force(&self, parts: &BTreeSet<(NaiveDate, Partition)>) -> Result<(), PipelineError> {
        if parts.is_empty() {
            return Ok(());
        }
        let epochs = self.epochs(parts).await?;
        let marks = parts.iter().map(|&(day, partition)| {
            let epoch = epochs.get(&(day, partition)).copied().unwrap_or(0);
            Ok(PartMark { day, partition, version: 2 * (epoch + 1), dirty: true })
        });
        self.insert::<PartMark>("forced_parts", marks).await
    }

    /// The epoch of each of these parts that has one (the highest forced mark, halved).
    async fn epochs(&self, parts: &BTreeSet<(NaiveDate, Partition)>) -> Result<BTreeMap<(NaiveDate, Partition), u64>, PipelineError> {
        let list = parts.iter().map(|(d, p)| format!("(toDate('{d}'), toUInt32({p}))")).collect::<Vec<_>>().join(", ");
        let query = self
            .sql(&format!(
                "SELECT day, partition, max(version) AS version FROM {} WHERE (day, partition) IN ({list}) GROUP BY day, partition",
                self.table("forced_parts")
            ))
            .await?;
        Ok(self.fetch_all::<PartVersion>(query).await?.into_iter().map(|r| ((r.day, r.partition), r.version / 2)).collect())
    }

    /// The epoch of a part now (0 when it was never forced).
    pub(super) async fn epoch(&self, day: NaiveDate, partition: Partition) -> Result<u64, PipelineError> {
        Ok(self.epochs(&BTreeSet::from([(day, partition)])).await?.get(&(day, partition)).copied().unwrap_or(0))
    }

    /// Marks a part clean for a computation that covered the staged positions through
    /// `through` and began at `epoch`.
    pub(super) async fn mark_clean(&self, day: NaiveDate, partition: Partition, through: Option<u64>, epoch: u64) -> Result<(), PipelineError> {
        tokio::try_join!(
            self.insert::<PartMark>("dirty_parts", [Ok(PartMark { day, partition, version: clean_version(through), dirty: false })].into_iter()),
            self.insert::<PartMark>("forced_parts", [Ok(PartMark { day, partition, version: 2 * epoch + 1, dirty: false })].into_iter())
        )?;
        Ok(())
    }

    /// The parts whose latest staging or forced mark is dirty, in order.
    pub(super) async fn dirty_part_list(&self) -> Result<Vec<DayPart>, PipelineError> {
        let mut parts = BTreeSet::new();
        for table in ["dirty_parts", "forced_parts"] {
            let query = self.sql(&format!("SELECT day, partition FROM {} FINAL WHERE dirty = 1", self.table(table))).await?;
            parts.extend(self.fetch_all::<DayPartition>(query).await?.into_iter().map(|r| DayPart::of_partition(r.day, r.partition)));
        }
        Ok(parts.into_iter().collect())
    }

    /// The days with a dirty part, in order.
    pub(super) async fn dirty_day_list(&self) -> Result<Vec<NaiveDate>, PipelineError> {
        let days: BTreeSet<NaiveDate> = self.dirty_part_list().await?.into_iter().map(|p| p.day).collect();
        Ok(days.into_iter().collect())
    }

    /// Drops the generations of a part that no reader needs: every one but `keep` (the current
    /// one, and the one the computation replaced) whose computation finished and covers less
    /// than the current one, and those abandoned (see the module header).
    pub(super) async fn drop_superseded(&self, day: NaiveDate, partition: Partition, keep: &[u64]) -> Result<(), PipelineError> {
        let query = self.sql(&format!("SELECT generation FROM {} FINAL WHERE day = toDate(?)", self.table("part_generations"))).await?.bind(day);
        let current: BTreeSet<u64> = self.fetch_all::<u64>(query).await?.into_iter().collect();
        let day_key = day.format("%Y%m%d").to_string();
        let mut candidates = BTreeMap::<u64, Vec<&str>>::new();
        for table in ["visits", "usages", "tagging"] {
            let parts = self
                .sql("SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active AND partition LIKE ?")
                .await?
                .bind(&self.config.database)
                .bind(table)
                .bind(format!("({day_key},%"));
            for name in self.fetch_all::<String>(parts).await? {
                let Some((key, generation)) = name.trim_matches(|c| c == '(' || c == ')').split_once(',') else { continue };
                let Ok(generation) = generation.trim().parse::<u64>() else { continue };
                let ours = partition_of_generation(generation).is_none_or(|p| p == partition);
                if key == day_key && ours && !current.contains(&generation) && !keep.contains(&generation) {
                    candidates.entry(generation).or_default().push(table);
                }
            }
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let now = self.next_version();
        for (generation, tables) in candidates {
            // Stamped: listed already (a generation is stamped after it is listed) and no longer
            // current, so it lost for good. Not stamped: a computation under way, or one that
            // crashed long ago.
            // A whole-day generation of an older version not current: divided since.
            let drop = partition_of_generation(generation).is_none()
                || self.stamp_of(day, generation).await?.is_some()
                || now.saturating_sub(began_of_generation(generation)) > u64::try_from(ABANDONED_AFTER.as_micros()).unwrap_or(u64::MAX);
            if drop {
                for table in tables {
                    self.execute(self.sql(&format!("ALTER TABLE {} DROP PARTITION ({day_key}, {generation})", self.table(table))).await?).await?;
                }
            }
        }
        Ok(())
    }

    /// Divides the whole-day generations of stores written before version 8 (table
    /// `generations`) by log partition: a day whose staged hits lie in one partition keeps its
    /// generation, listed for that partition; another has each partition's visitors' visits and
    /// usages copied on the server into a generation of the partition, its tagging counts
    /// computed again from the partition's hits, and all its partitions listed in one insert (a
    /// crash before that insert leaves the day to divide again; the copies are abandoned
    /// generations). Days marked dirty are forced in every partition. Returns the days divided.
    pub(super) async fn split_day_generations(&self) -> Result<usize, PipelineError> {
        let query = self.sql(&format!("SELECT ?fields FROM {} FINAL ORDER BY day", self.table("generations"))).await?;
        let legacy: Vec<DayGeneration> = self.fetch_all(query).await?;
        let mut divided = 0;
        for DayGeneration { day, generation } in legacy {
            if !self.sql_rows_exist(&format!("SELECT count() FROM {} WHERE day = toDate('{day}')", self.table("part_generations"))).await? {
                self.split_day(day, generation).await?;
                divided += 1;
            }
        }
        let query = self.sql(&format!("SELECT day FROM {} FINAL WHERE dirty = 1", self.table("dirty"))).await?;
        let dirty = self.days_of(query).await?;
        self.force(&self.parts_of_days(&dirty).await?).await?;
        Ok(divided)
    }

    /// Whether a `SELECT count()` answers more than zero.
    async fn sql_rows_exist(&self, sql: &str) -> Result<bool, PipelineError> {
        Ok(self.fetch_one::<u64>(self.sql(sql).await?).await? > 0)
    }

    /// Divides one day's whole-day generation (see [`Self::split_day_generations`]).
    async fn split_day(&self, day: NaiveDate, whole: u64) -> Result<(), PipelineError> {
        let stamp = self.stamp_of(day, whole).await?;
        let partitions = self.partitions_of_day(day).await?;
        let mut listings = Vec::new();
        if partitions.len() <= 1 {
            let partition = partitions.first().copied().unwrap_or(0);
            let through = stamp.as_ref().and_then(|s| s.through.get(&partition).copied());
            listings.push(PartGeneration { day, partition, generation: whole, version: listing_version(through, 0) });
        } else {
            for partition in partitions {
                let generation = generation_number(self.next_version(), partition)?;
                let visitors_of_partition =
                    format!("SELECT visitor FROM {} WHERE day = toDate('{day}') AND {}", self.table("hits"), within_partition(partition));
                for (table, schema) in [("visits", visits_schema()), ("usages", usages_schema())] {
                    let columns: Vec<String> = schema.fields().iter().map(|f| format!("`{}`", f.name())).collect();
                    let columns = columns.join(", ");
                    let sql = format!(
                        "INSERT INTO {table} ({columns}, generation) SELECT {columns}, toUInt64({generation}) FROM {table} \
                         WHERE day = toDate('{day}') AND generation = {whole} AND visitor IN ({visitors_of_partition})",
                        table = self.table(table)
                    );
                    self.execute(self.sql(&sql).await?).await?;
                }
                let hits = self.day_hits_in(DayPart::of_partition(day, partition), VisitorSlices::ALL).await?;
                let tagging = crate::tagging::tagging_batch(&hits)?;
                if tagging.num_rows() > 0 {
                    self.insert::<TaggingFactRow<'_>>("tagging", TaggingFactRow::rows(&tagging, generation)?).await?;
                }
                let through = stamp.as_ref().and_then(|s| s.through.get(&partition).copied());
                if let Some(stamp) = &stamp {
                    let own: Positions = stamp.through.iter().filter(|(p, _)| **p == partition).map(|(p, t)| (*p, *t)).collect();
                    self.note_stamp(day, generation, &FactsStamp { through: own, definition: stamp.definition.clone() }).await?;
                }
                listings.push(PartGeneration { day, partition, generation, version: listing_version(through, 0) });
            }
        }
        self.insert::<PartGeneration>("part_generations", listings.into_iter().map(Ok)).await?;
        // The day's staging marks start from what the whole-day generation covered.
        if let Some(stamp) = stamp {
            let covered: BTreeMap<(NaiveDate, Partition), u64> = stamp.through.iter().map(|(p, t)| ((day, *p), *t)).collect();
            let marks = covered.iter().map(|(&(day, partition), &t)| Ok(PartMark { day, partition, version: clean_version(Some(t)), dirty: false }));
            self.insert::<PartMark>("dirty_parts", marks).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::log::position;

    #[test]
    fn a_clean_mark_wins_over_the_stagings_it_covers_and_loses_to_the_others() {
        for staged in [0, 1, 7, position(3, 0), position(3, 41)] {
            assert!(clean_version(Some(staged)) > staged_version(staged), "covers {staged}");
            assert!(clean_version(Some(staged + 5)) > staged_version(staged));
            assert!(clean_version(Some(staged)) < staged_version(staged + 1), "does not cover {}", staged + 1);
            assert!(clean_version(None) < staged_version(staged), "nothing staged covers nothing");
        }
    }

    #[test]
    fn a_generation_names_its_partition_and_when_it_began() {
        let began = 1_765_000_000_000_000;
        let generation = generation_number(began, 11).unwrap();
        assert!(generation >= PARTITIONED_FROM);
        assert_eq!(partition_of_generation(generation), Some(11));
        assert_eq!(began_of_generation(generation), began);
        assert_eq!(partition_of_generation(began), None, "a whole-day generation of an older version");
        assert_eq!(began_of_generation(began), began);
        assert!(generation_number(began, 1 << PARTITION_BITS).is_err());
        assert!(generation_number(began, 0).unwrap() != generation_number(began, 1).unwrap(), "two partitions at the same microsecond");
    }

    #[test]
    fn a_listing_that_saw_more_or_a_later_epoch_stands() {
        assert!(listing_version(Some(position(2, 10)), 0) > listing_version(Some(position(2, 9)), 7));
        assert!(listing_version(Some(position(2, 10)), 1) > listing_version(Some(position(2, 10)), 0));
        assert!(listing_version(Some(position(2, 0)), 0) > listing_version(None, 3));
    }
}
