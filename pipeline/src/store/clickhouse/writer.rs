//! The ClickHouse store's writer of one day part's facts: inserted under a new generation,
//! listed on commit with the part's marks and stamps in the order `parts.rs` explains.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::NaiveDate;
use collector::log::Partition;

use super::parts;
use super::rows::{TaggingFactRow, UsageRow, VisitRow};
use super::ClickHouseRollupStore;
use crate::day_changes::DayStep;
use crate::error::PipelineError;
use crate::sessionize::{CoreFacts, Sessionized};
use crate::store::DayFactsWriter;

/// A part's new facts inserted under a new generation, which becomes the part's current one on
/// commit (until then queries read the one it replaces).
pub(super) struct ClickHouseDayWriter<'a> {
    pub(super) store: &'a ClickHouseRollupStore,
    pub(super) day: NaiveDate,
    /// The log partition whose visitors it computes.
    pub(super) partition: Partition,
    pub(super) generation: u64,
    /// The part's epoch when the computation began (`parts.rs`).
    pub(super) epoch: u64,
    /// The generation readers read when the computation began, if any (kept for them).
    pub(super) replaced: Option<u64>,
    /// The same, when its facts allow a partial step.
    pub(super) previous: Option<u64>,
    /// What the computation covers, what changed since `previous`, whether only the changed
    /// visitors go.
    pub(super) step: DayStep,
}

#[async_trait]
impl DayFactsWriter for ClickHouseDayWriter<'_> {
    fn step(&self) -> &DayStep {
        &self.step
    }

    fn step_mut(&mut self) -> &mut DayStep {
        &mut self.step
    }

    async fn changed_visitors_facts(&mut self) -> Result<Option<CoreFacts>, PipelineError> {
        let (Some(changes), Some(previous)) = (self.step.changes(), self.previous) else { return Ok(None) };
        self.store.facts_of_visitors(self.day, previous, &changes.visitors).await.map(Some)
    }

    async fn append(&mut self, mut facts: Sessionized) -> Result<(), PipelineError> {
        self.step.prepare(&mut facts);
        let (store, generation) = (self.store, self.generation);
        // Three tables, three inserts at once: each costs the server a new part whatever its
        // size, so waiting for them in turn is most of a small part's computation.
        let visits = async {
            if facts.visits.num_rows() > 0 {
                store.insert::<VisitRow<'_>>("visits", VisitRow::rows(&facts.visits, generation)?).await?;
            }
            Ok::<_, PipelineError>(())
        };
        let usages = async {
            if facts.usages.num_rows() > 0 {
                store.insert::<UsageRow<'_>>("usages", UsageRow::rows(&facts.usages, generation)?).await?;
            }
            Ok(())
        };
        let tagging = async {
            if facts.tagging.num_rows() > 0 {
                store.insert::<TaggingFactRow<'_>>("tagging", TaggingFactRow::rows(&facts.tagging, generation)?).await?;
            }
            Ok(())
        };
        tokio::try_join!(visits, usages, tagging)?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), PipelineError> {
        let (store, day, partition, generation) = (self.store, self.day, self.partition, self.generation);
        let mut step = self.step;
        let (changes, stamp) = step.commit();
        if let (Some(changes), Some(previous)) = (&changes, self.previous) {
            store.note_changed_visitors(generation, &changes.visitors).await?;
            store.copy_unchanged(day, previous, generation).await?;
            store.forget_changed_visitors(generation).await?;
            if changes.tagging.num_rows() > 0 {
                store.insert::<TaggingFactRow<'_>>("tagging", TaggingFactRow::rows(&changes.tagging, generation)?).await?;
            }
        }
        // The cells kept for the day's periods go before the facts change (a crash between the
        // two leaves the part dirty and no stale cell) and again after (a freeze elsewhere that
        // read the old facts meanwhile gets a generation below this second thaw).
        store.thaw(&BTreeSet::from([day])).await?;
        let through = stamp.through.get(&partition).copied();
        store.list(day, partition, generation, parts::listing_version(through, self.epoch)).await?;
        // Stamped after the switch, so that a stamped generation is one listed already
        // (`parts.rs`): a crash between the two leaves a current generation without a stamp,
        // which the next step computes whole.
        store.note_stamp(day, generation, &stamp).await?;
        store.mark_clean(day, partition, through, self.epoch).await?;
        store.thaw(&BTreeSet::from([day])).await?;
        let keep: Vec<u64> = self.replaced.into_iter().chain([generation]).collect();
        if let Err(e) = store.drop_superseded(day, partition, &keep).await {
            tracing::warn!(%day, partition, error = %e, "old generations of a day's partition not dropped yet");
        }
        Ok(())
    }
}
