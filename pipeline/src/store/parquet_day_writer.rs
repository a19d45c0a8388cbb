//! [`ParquetDayWriter`]: a day's new facts in the embedded store, written in `tmp/` a piece at a
//! time and renamed into place on commit; either the whole day's, or those of the visitors with
//! new hits ([`crate::day_changes`]), which go to the day's delta with the delta's other
//! visitors, or to a new base once the delta grows too large ([`super::parquet_delta`]). Each
//! file carries the [`FactsStamp`] of what it was computed from.

use std::fs;

use async_trait::async_trait;
use chrono::NaiveDate;
use collector::log::partition_of;
use datafusion::arrow::datatypes::SchemaRef;

use super::delta::COMPACT_SHARE;
use super::{blocking, Files, ParquetRollupStore};
use crate::day_changes::{filter_positions, is_between, DayChanges, DayStep, FactsStamp, Positions, STAMP_KEY};
use crate::error::PipelineError;
use crate::facts::{core_usages_schema, core_visits_schema, in_layout, usages_schema, visits_schema};
use crate::sessionize::{CoreFacts, Sessionized};
use crate::store::atomic_parquet::{noted, read_all, read_positions, sync_dir, AtomicParquet};
use crate::store::DayFactsWriter;
use crate::tagging::tagging_schema;

/// The fact tables of a day, in the order the writer holds their files.
const TABLES: [&str; 3] = ["visits", "usages", "tagging"];

/// A day's new facts being written in `tmp/` (visits, usages, tagging counts), one row group
/// per appended piece; renamed into place on commit.
pub(super) struct ParquetDayWriter<'a> {
    pub(super) store: &'a ParquetRollupStore,
    pub(super) day: NaiveDate,
    pub(super) begun: u64,
    /// Visits, usages, tagging counts; `None` once committed.
    pub(super) files: Option<[AtomicParquet; 3]>,
    /// What the computation covers, what changed, whether only the changed visitors go.
    pub(super) step: DayStep,
    /// Visit and usage rows appended so far.
    pub(super) appended_rows: u64,
}

impl Files {
    /// The stamp the day's fact files agree on; `None` when one lacks it (never computed,
    /// written before stamps, rewritten by an erasure) or they disagree (a crash between their
    /// renames): the day is then computed whole.
    fn facts_stamp(&self, day: NaiveDate) -> Result<Option<FactsStamp>, PipelineError> {
        let mut agreed: Option<String> = None;
        for table in TABLES {
            let Some(stamp) = noted(&self.stamped_path(table, day), STAMP_KEY)? else { return Ok(None) };
            if agreed.as_ref().is_some_and(|a| *a != stamp) {
                return Ok(None);
            }
            agreed = Some(stamp);
        }
        Ok(agreed.as_deref().and_then(FactsStamp::decode))
    }

    /// Everything a computation of the day starts from: the staged positions now, and the
    /// changes since the day's facts, when they were cut with the same `definition`.
    pub(super) fn day_reading(&self, day: NaiveDate, definition: &str) -> Result<(FactsStamp, Option<DayChanges>), PipelineError> {
        let parts = self.parts(day)?;
        let mut through = Positions::new();
        for part in &parts {
            let at = through.entry(partition_of(part.first)).or_insert(part.last);
            *at = (*at).max(part.last);
        }
        let now = FactsStamp { through, definition: definition.to_owned() };
        let Some(stamp) = self.facts_stamp(day)?.filter(|s| s.definition == definition) else { return Ok((now, None)) };
        let mut new_hits = Vec::new();
        for part in parts.iter().filter(|p| stamp.through.get(&partition_of(p.first)).is_none_or(|t| p.last > *t)) {
            let (after, through) = (stamp.through.clone(), now.through.clone());
            if stamp.through.get(&partition_of(part.first)).is_none_or(|t| part.first > *t) {
                // All new: read whole, then bounded by what was staged when the step began.
                for batch in read_all(&part.path)? {
                    let batch = filter_positions(&batch, |p| is_between(p, &after, &through))?;
                    if batch.num_rows() > 0 {
                        new_hits.push(batch);
                    }
                }
            } else {
                // A compaction merged new hits with older ones: only the new rows are decoded.
                new_hits.extend(read_positions(&part.path, move |p| is_between(p, &after, &through))?);
            }
        }
        let changes = DayChanges::from_new_hits(stamp, now.through.clone(), new_hits)?;
        Ok((now, Some(changes)))
    }

    /// Copies the day's current tagging counts into `into`.
    fn copy_tagging(&self, day: NaiveDate, into: &mut AtomicParquet) -> Result<(), PipelineError> {
        let path = self.fact_path("tagging", day);
        if path.exists() {
            for batch in read_all(&path)? {
                into.write_row_group(&batch)?;
            }
        }
        Ok(())
    }
}

/// The schemas of the writer's files, in [`TABLES`] order.
fn schemas() -> [SchemaRef; 3] {
    [visits_schema(), usages_schema(), tagging_schema()]
}

#[async_trait]
impl DayFactsWriter for ParquetDayWriter<'_> {
    fn step(&self) -> &DayStep {
        &self.step
    }

    fn step_mut(&mut self) -> &mut DayStep {
        &mut self.step
    }

    async fn changed_visitors_facts(&mut self) -> Result<Option<CoreFacts>, PipelineError> {
        let Some(changes) = self.step.changes() else { return Ok(None) };
        let visitors = std::sync::Arc::new(changes.visitors.clone());
        // Both tables at once: each read decodes the visitor column of the whole day's file.
        let read = |table: &'static str, schema: SchemaRef| {
            let (this, day, visitors) = (self.store.files.clone(), self.day, visitors.clone());
            blocking(move || Ok(in_layout(&this.facts_of(table, day, &visitors)?, &schema)?))
        };
        let (visits, usages) = tokio::try_join!(read("visits", core_visits_schema()), read("usages", core_usages_schema()))?;
        Ok(Some(CoreFacts { visits, usages }))
    }

    async fn append(&mut self, mut facts: Sessionized) -> Result<(), PipelineError> {
        let mut files = self.files.take().ok_or_else(|| PipelineError::Store("facts appended after commit".into()))?;
        self.step.prepare(&mut facts);
        self.appended_rows += (facts.visits.num_rows() + facts.usages.num_rows()) as u64;
        let files = blocking(move || {
            // Usages are the most rows: encoded beside the visits and tagging counts.
            let [visits, usages, tagging] = &mut files;
            std::thread::scope(|scope| {
                let usages = scope.spawn(|| usages.write_row_group(&facts.usages));
                visits.write_row_group(&facts.visits)?;
                tagging.write_row_group(&facts.tagging)?;
                usages.join().map_err(|_| PipelineError::Store("encoding usages panicked".into()))?
            })?;
            Ok(files)
        })
        .await?;
        self.files = Some(files);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), PipelineError> {
        let mut files = self.files.take().ok_or_else(|| PipelineError::Store("facts committed twice".into()))?;
        let (this, day, appended) = (self.store.files.clone(), self.day, self.appended_rows);
        let (changes, stamp) = self.step.commit();
        let stamp = stamp.encode();
        let store = self.store;
        // The cells kept for the day's periods are dropped first: a crash between the two
        // leaves the day dirty and no stale cell.
        let _cells = store.cells.lock().await;
        blocking(move || {
            // A partial step writes the re-cut visitors' facts to the delta, with the delta's
            // other visitors; once that would be too large a share of the base, a new base.
            let mut as_delta = false;
            if let Some(changes) = &changes {
                let (base_rows, delta_rows) = this.base_and_delta_rows(day)?;
                as_delta = (delta_rows + appended).saturating_mul(COMPACT_SHARE) <= base_rows;
                this.copy_facts_except("visits", day, &changes.visitors, !as_delta, &mut files[0])?;
                this.copy_facts_except("usages", day, &changes.visitors, !as_delta, &mut files[1])?;
                this.copy_tagging(day, &mut files[2])?;
                files[2].write_row_group(&changes.tagging)?;
            }
            this.thaw(&std::collections::BTreeSet::from([day]))?;
            let [visits, usages, tagging] = files.map(|mut file| {
                file.note(STAMP_KEY, stamp.clone());
                file
            });
            if as_delta {
                visits.finish(&this.delta_path("visits", day))?;
                usages.finish(&this.delta_path("usages", day))?;
                return tagging.finish(&this.fact_path("tagging", day));
            }
            usages.finish(&this.fact_path("usages", day))?;
            tagging.finish(&this.fact_path("tagging", day))?;
            visits.finish(&this.fact_path("visits", day))?;
            this.remove_deltas(day)
        })
        .await?;
        // Hits staged since the computation began may not be in these facts: the day stays
        // dirty. (Under the marking lock: a staging's dirty mark and its moment go together.)
        let _marking = store.marking.lock().await;
        if store.moments.staged_since(day, self.begun) {
            return Ok(());
        }
        let marker = store.files.root.join("dirty").join(day.to_string());
        match fs::remove_file(&marker) {
            Ok(()) => sync_dir(&store.files.root.join("dirty")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PipelineError::io(format!("removing {}", marker.display()), e)),
        }
    }
}

impl ParquetRollupStore {
    /// Starts a day's computation (see [`crate::store::RollupStore::begin_day`]).
    pub(super) async fn begin_day_writer(&self, day: NaiveDate, definition: &str) -> Result<ParquetDayWriter<'_>, PipelineError> {
        self.files.writable()?;
        let begun = self.moments.begin();
        let (this, definition) = (self.files.clone(), definition.to_owned());
        let (files, stamp, changes) = blocking(move || {
            let (stamp, changes) = this.day_reading(day, &definition)?;
            let [visits, usages, tagging] = schemas();
            Ok(([this.create(&visits)?, this.create(&usages)?, this.create(&tagging)?], stamp, changes))
        })
        .await?;
        Ok(ParquetDayWriter { store: self, day, begun, files: Some(files), step: DayStep::new(stamp, changes), appended_rows: 0 })
    }
}

impl Drop for ParquetDayWriter<'_> {
    fn drop(&mut self) {
        // Not committed: the temporary files go (the next open would remove them anyway).
        for file in self.files.take().into_iter().flatten() {
            let tmp = file.tmp().to_owned();
            drop(file);
            let _ = fs::remove_file(tmp);
        }
    }
}
