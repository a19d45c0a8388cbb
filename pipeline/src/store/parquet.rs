//! [`ParquetRollupStore`]: the embedded store, Parquet files in a directory, queried by
//! DataFusion.
//!
//! ```text
//! ROOT/hits/YYYY-MM-DD/part-<first offset>-<last offset>.parquet   staged hits, appended
//! ROOT/visits/YYYY-MM-DD.parquet                                    one base file per day, replaced (stamped)
//! ROOT/visits/YYYY-MM-DD.delta.parquet                              the visits of visitors re-cut since the base (stamped)
//! ROOT/usages/YYYY-MM-DD[.delta].parquet                            the same for usages
//! ROOT/tagging/YYYY-MM-DD.parquet                                   one file per day, replaced (stamped)
//! ROOT/rejects/YYYY-MM-DD.parquet                                   refusals, rewritten to add rows
//! ROOT/dirty/YYYY-MM-DD                                             empty marker: recompute that day
//! ROOT/frozen/<kind>/YYYY-MM-DD.parquet                             cells of a closed period (facts retired, or kept for speed)
//! ROOT/year-to-date/<year>_<through>.<table>.parquet                the open school year's facts summed per visitor
//! ROOT/facts-retired-through                                        last day whose per-visitor facts were retired
//! ROOT/erasure-holds.json                                           digests of erased visitors held out of staging
//! ROOT/tmp/                                                         files being written
//! ROOT/LOCK                                                         held by the one writer
//! ```
//!
//! Every file is written in `tmp/`, synced, then renamed into place and its directory synced, so a
//! reader sees the old file or the new one, never a torn one, and a crash leaves at worst a
//! stray file in `tmp/` (removed on the next open). A part holds its hits ordered by visitor
//! slice ([`crate::visitor_slices`]), so a large day is read and computed a range of slices at a
//! time. Parts of a day are compacted when they pile up (the adjacent run of parts with the
//! fewest hits, a range of slices at a time, so memory stays bounded however large the day, and
//! never over 4 Mi hits at once, so the step that merges stays short however large the day); a
//! part whose offsets another part covers is ignored, so a crash during compaction cannot count
//! a hit twice.
//!
//! A day's three fact files carry, in their metadata, the stamp of what they were computed from
//! ([`crate::day_changes::FactsStamp`]: the staged position of each log partition, the
//! definition of visits). A step then re-cuts only the visitors of the hits staged above it:
//! their facts go to the day's delta, which readers take instead of those visitors' rows in the
//! base, and the new hits' tagging counts are added (`parquet_day_writer.rs`,
//! `parquet_delta.rs`).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{SchemaRef, UInt64Type};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use collector::log::{partition_of, Partition};

use super::atomic_parquet::{read_all, read_slices, read_visitors, row_count, sync_dir, AtomicParquet};
use super::day_moments::DayMoments;
use super::{sql, DayFactsWriter, DoomedVisitors, ErasedFacts, HeldVisitors, RollupStore};
use crate::day_changes::VisitorSet;
use crate::day_part::DayPart;
use crate::error::PipelineError;
use crate::facts::{hits_schema, usages_schema, visits_schema};
use crate::frozen;
use crate::model::Period;
use crate::query::{indicator_sql, Dialect, IndicatorQuery, IndicatorRow};
use crate::tagging::{rejects_schema, tagging_rows, tagging_schema, RefusedDay, RejectCount, RejectSample, TaggingRow};
use crate::visitor_slices::VisitorSlices;
use query::{is_replaced_file, parquet_table};

/// The embedded rollup store (see the module header for its layout).
pub struct ParquetRollupStore {
    files: Arc<Files>,
    moments: DayMoments,
    /// Held while a day is marked dirty and its moment noted, and while a computation decides
    /// to clear the mark, so that no staging falls between the two.
    marking: tokio::sync::Mutex<()>,
    /// Held while cells are kept ([`RollupStore::freeze`]) and while facts change with the cells
    /// they make stale dropped, so that no freeze reads facts about to change and keeps cells
    /// computed from them after they were dropped.
    cells: tokio::sync::Mutex<()>,
    /// Shared by every query, for its cache of Parquet footers: a lookup over the kept cells of
    /// a school year's weeks opens some 45 files, whose footers would otherwise be read and
    /// decoded again at each request. An entry is used only
    /// while its file keeps its size and modification time (a replaced file is read again).
    runtime: Arc<RuntimeEnv>,
}

/// Bytes of Parquet footers kept decoded between queries.
const FOOTER_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// The runtime every query of a store shares: footers cached; no cache of directory listings
/// (day files come and go).
fn query_runtime() -> Result<Arc<RuntimeEnv>, PipelineError> {
    let caches = CacheManagerConfig::default().with_list_files_cache_limit(0).with_metadata_cache_limit(FOOTER_CACHE_BYTES);
    Ok(RuntimeEnvBuilder::new().with_cache_manager(caches).build_arc()?)
}

/// The store's directory, shared with its blocking tasks.
struct Files {
    root: PathBuf,
    /// Held open while this store may write (the exclusive lock lives as long as the store).
    lock: Option<File>,
    next_tmp: AtomicU64,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let context = context.into();
    move |e| PipelineError::io(context, e)
}

impl ParquetRollupStore {
    /// Opens (creating it if needed) the store under `root` for writing; fails if another process
    /// writes to it.
    pub fn open(root: &Path) -> Result<Self, PipelineError> {
        for dir in ["hits", "visits", "usages", "tagging", "rejects", "dirty", "tmp"] {
            fs::create_dir_all(root.join(dir)).map_err(io(format!("creating {}", root.join(dir).display())))?;
        }
        let lock_path = root.join("LOCK");
        let lock =
            File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(io(format!("opening {}", lock_path.display())))?;
        lock.try_lock().map_err(|_| PipelineError::Store(format!("{} is locked: another pipeline writes to this store", root.display())))?;
        for stray in fs::read_dir(root.join("tmp")).map_err(io("listing tmp"))? {
            let stray = stray.map_err(io("listing tmp"))?.path();
            fs::remove_file(&stray).map_err(io(format!("removing {}", stray.display())))?;
        }
        Ok(ParquetRollupStore {
            files: Arc::new(Files { root: root.to_owned(), lock: Some(lock), next_tmp: AtomicU64::new(0) }),
            moments: DayMoments::default(),
            marking: tokio::sync::Mutex::new(()),
            cells: tokio::sync::Mutex::new(()),
            runtime: query_runtime()?,
        })
    }

    /// Whether another process holds the store under `root` open for writing (a running
    /// pipeline): then only that process may change it.
    pub fn is_held(root: &Path) -> bool {
        let Ok(file) = File::options().write(true).open(root.join("LOCK")) else { return false };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// Opens an existing store to query it while a pipeline may be writing to it.
    pub fn open_read_only(root: &Path) -> Result<Self, PipelineError> {
        if !root.join("visits").is_dir() {
            return Err(PipelineError::Store(format!("{} holds no rollups (run `dnma pipeline run` first)", root.display())));
        }
        Ok(ParquetRollupStore {
            files: Arc::new(Files { root: root.to_owned(), lock: None, next_tmp: AtomicU64::new(0) }),
            moments: DayMoments::default(),
            marking: tokio::sync::Mutex::new(()),
            cells: tokio::sync::Mutex::new(()),
            runtime: query_runtime()?,
        })
    }

    /// Where the store lives.
    pub fn root(&self) -> &Path {
        &self.files.root
    }

    /// A session for one query, on the store's shared runtime. Pages are not pruned by their
    /// index (row groups are, by their statistics): decoding the page indexes of the files a
    /// query opens cost more than the pages it would skip.
    fn session(&self) -> SessionContext {
        let mut config = SessionConfig::new();
        config.options_mut().execution.parquet.enable_page_index = false;
        SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime))
    }
}

impl Files {
    fn writable(&self) -> Result<(), PipelineError> {
        if self.lock.is_none() {
            return Err(PipelineError::Store(format!("{} was opened read-only", self.root.display())));
        }
        Ok(())
    }

    fn rejects_path(&self, day: NaiveDate) -> PathBuf {
        self.root.join("rejects").join(format!("{day}.parquet"))
    }

    /// A new Parquet file in `tmp/`.
    fn create(&self, schema: &SchemaRef) -> Result<AtomicParquet, PipelineError> {
        AtomicParquet::create(self.tmp_path(), schema)
    }

    /// A new Parquet file in `tmp/` with small metadata ([`AtomicParquet::create_compact`]).
    fn create_compact(&self, schema: &SchemaRef) -> Result<AtomicParquet, PipelineError> {
        AtomicParquet::create_compact(self.tmp_path(), schema)
    }

    fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(format!("{}-{}.parquet", std::process::id(), self.next_tmp.fetch_add(1, Ordering::Relaxed)))
    }

    /// Writes a batch as a Parquet file at `path`, atomically.
    fn write_atomically(&self, path: &Path, schema: &SchemaRef, batch: &RecordBatch) -> Result<(), PipelineError> {
        let mut file = self.create(schema)?;
        file.write(batch)?;
        file.finish(path)
    }
}

/// The highest staged refusal position of each log partition in a day's refusals file.
fn staged_rejects(path: &Path) -> Result<std::collections::BTreeMap<Partition, u64>, PipelineError> {
    let mut through = std::collections::BTreeMap::new();
    if !path.exists() {
        return Ok(through);
    }
    for batch in read_all(path)? {
        for &o in batch.column(0).as_primitive::<UInt64Type>().values() {
            let at = through.entry(partition_of(o)).or_insert(o);
            *at = (*at).max(o);
        }
    }
    Ok(through)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, PipelineError> + Send + 'static) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PipelineError::Store(format!("store task failed: {e}")))?
}

#[async_trait]
impl RollupStore for ParquetRollupStore {
    async fn staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        Ok(self.files.parts(day)?.iter().filter(|p| partition_of(p.first) == partition).map(|p| p.last).max())
    }

    async fn stage_hits(&self, day: NaiveDate, hits: RecordBatch) -> Result<(), PipelineError> {
        self.files.writable()?;
        let Some((first, last)) = super::guard_staging(self, day, &hits).await? else { return Ok(()) };
        let this = self.files.clone();
        {
            let _marking = self.marking.lock().await;
            blocking(move || {
                let marker = this.root.join("dirty").join(day.to_string());
                File::create(&marker).map_err(io(format!("creating {}", marker.display())))?;
                sync_dir(&this.root.join("dirty"))?;
                this.write_hits_atomically(&this.part_path(day, first, last), &hits)
            })
            .await?;
            self.moments.staged(day);
        }
        let this = self.files.clone();
        blocking(move || this.compact(day, partition_of(first))).await
    }

    async fn day_hit_count(&self, part: DayPart) -> Result<u64, PipelineError> {
        let parts = self.files.parts(whole_day(part)?)?;
        blocking(move || parts.iter().map(|p| row_count(&p.path)).sum()).await
    }

    async fn day_hits_in(&self, part: DayPart, slices: VisitorSlices) -> Result<Vec<RecordBatch>, PipelineError> {
        let parts = self.files.parts(whole_day(part)?)?;
        blocking(move || {
            let mut batches = Vec::new();
            for part in parts {
                batches.extend(read_slices(&part.path, slices)?);
            }
            Ok(batches)
        })
        .await
    }

    async fn day_hits_of(&self, part: DayPart, slices: VisitorSlices, visitors: &VisitorSet) -> Result<Vec<RecordBatch>, PipelineError> {
        let (parts, visitors) = (self.files.parts(whole_day(part)?)?, Arc::new(visitors.clone()));
        blocking(move || {
            let mut batches = Vec::new();
            for part in parts {
                batches.extend(read_visitors(&part.path, slices, Arc::clone(&visitors))?);
            }
            Ok(batches)
        })
        .await
    }

    async fn days(&self) -> Result<Vec<NaiveDate>, PipelineError> {
        Ok(self.files.listed_days("hits")?.into_iter().collect())
    }

    async fn dirty_days(&self) -> Result<Vec<NaiveDate>, PipelineError> {
        Ok(self.files.listed_days("dirty")?.into_iter().collect())
    }

    async fn mark_dirty(&self, days: &[NaiveDate]) -> Result<(), PipelineError> {
        self.files.writable()?;
        let _marking = self.marking.lock().await;
        for day in days {
            let marker = self.files.root.join("dirty").join(day.to_string());
            File::create(&marker).map_err(io(format!("creating {}", marker.display())))?;
            self.moments.staged(*day);
        }
        sync_dir(&self.files.root.join("dirty"))
    }

    async fn begin_day<'a>(&'a self, part: DayPart, definition: &str) -> Result<Box<dyn DayFactsWriter + 'a>, PipelineError> {
        Ok(Box::new(self.begin_day_writer(whole_day(part)?, definition).await?))
    }

    async fn query_facts(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorRow>, PipelineError> {
        let kept = match crate::year_to_date::year_of(query) {
            Some(asked) => self.files.year_to_date()?.filter(|(year, _)| *year == asked),
            None => None,
        };
        if let Some((year, through)) = kept {
            match self.query_year_to_date(query, year, through).await {
                Ok(rows) => return Ok(rows),
                // The rows were dropped (the facts of one of their days changed) or kept again
                // while they were read: the facts answer.
                Err(PipelineError::DataFusion(e)) if is_replaced_file(&e) => {
                    tracing::debug!(error = %e, "year-to-date rows changed during the query; reading the facts");
                }
                Err(e) => return Err(e),
            }
        }
        let sql = indicator_sql(query).map_err(|e| PipelineError::Query(e.0))?;
        let (first, last) = query.days();
        let batches = self.sql(&[("visits", visits_schema()), ("usages", usages_schema())], first, last, &sql).await?;
        sql::indicator_rows_of(query, &batches)
    }

    async fn frozen_starts(&self, period: Period) -> Result<BTreeSet<NaiveDate>, PipelineError> {
        self.files.frozen_starts(period)
    }

    async fn query_frozen(&self, query: &IndicatorQuery, first: NaiveDate, last: NaiveDate) -> Result<Vec<IndicatorRow>, PipelineError> {
        let sql = frozen::lookup_sql(query, first, last, Dialect::DataFusion, &|t| t.to_owned()).map_err(|e| PipelineError::Query(e.0))?;
        let ctx = self.session();
        ctx.register_table("frozen", self.files.frozen_table(query.period, first, last)?)?;
        match ctx.sql(&sql).await?.collect().await {
            Ok(batches) => sql::indicator_rows_of(query, &batches),
            Err(e) if is_replaced_file(&e) => {
                // A period's cells were dropped (its facts changed, so they are there) or kept
                // again while they were read: its figures come from the facts.
                tracing::debug!(error = %e, "kept cells changed during the query; reading the facts");
                self.query_facts(&IndicatorQuery { from: first, to: query.period.end_of(last), ..query.clone() }).await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn freeze(&self, period: Period, starts: &BTreeSet<NaiveDate>) -> Result<u64, PipelineError> {
        self.files.writable()?;
        let _cells = self.cells.lock().await;
        let mut kept = 0;
        for (first, last, members) in frozen::chunks(period, starts) {
            kept += freeze::freeze_chunk(&self.files, period, (first, last), &members, freeze::FREEZE_IN_MEMORY_ROWS).await?;
        }
        Ok(kept)
    }

    async fn facts_retired_through(&self) -> Result<Option<NaiveDate>, PipelineError> {
        self.files.facts_retired_through()
    }

    async fn year_to_date(&self) -> Result<Option<(NaiveDate, NaiveDate)>, PipelineError> {
        self.files.year_to_date()
    }

    async fn keep_year_to_date(&self, year: NaiveDate, through: NaiveDate) -> Result<u64, PipelineError> {
        crate::year_to_date::check_span(year, through)?;
        self.files.writable()?;
        let _cells = self.cells.lock().await;
        year_to_date::keep(&self.files, year, through).await
    }

    async fn note_facts_retired(&self, through: NaiveDate) -> Result<(), PipelineError> {
        self.files.writable()?;
        let _marking = self.marking.lock().await;
        let this = self.files.clone();
        blocking(move || this.note_retired(through).map(drop)).await
    }

    async fn retire_facts(&self, through: NaiveDate) -> Result<Vec<NaiveDate>, PipelineError> {
        self.files.writable()?;
        let _marking = self.marking.lock().await;
        let this = self.files.clone();
        blocking(move || this.retire_facts(through)).await
    }

    async fn rejects_staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        let path = self.files.rejects_path(day);
        blocking(move || Ok(staged_rejects(&path)?.remove(&partition))).await
    }

    async fn stage_rejects(&self, day: NaiveDate, rejects: RecordBatch) -> Result<(), PipelineError> {
        self.files.writable()?;
        let this = self.files.clone();
        blocking(move || {
            let path = this.rejects_path(day);
            let through = staged_rejects(&path)?;
            let offsets = rejects.column(0).as_primitive::<UInt64Type>();
            let fresh: datafusion::arrow::array::BooleanArray = offsets
                .iter()
                .map(|o| {
                    let o = o.unwrap_or(0);
                    Some(through.get(&partition_of(o)).is_none_or(|t| o > *t))
                })
                .collect();
            let fresh = datafusion::arrow::compute::filter_record_batch(&rejects, &fresh)?;
            if fresh.num_rows() == 0 {
                return Ok(());
            }
            let mut batches = if path.exists() { read_all(&path)? } else { Vec::new() };
            batches.push(fresh);
            let all = concat_batches(&rejects_schema(), &batches)?;
            this.write_atomically(&path, &rejects_schema(), &all)
        })
        .await
    }

    async fn tagging(&self, from: NaiveDate, to: NaiveDate, plateforme: Option<&str>) -> Result<Vec<TaggingRow>, PipelineError> {
        let batches = self.sql(&[("tagging", tagging_schema())], from, to, &sql::tagging("tagging", plateforme)).await?;
        Ok(tagging_rows(&batches))
    }

    async fn reject_counts(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RejectCount>, PipelineError> {
        sql::reject_counts_of(&self.sql_with_recoveries(from, to, &sql::reject_counts("rejects", "recoveries")).await?)
    }

    async fn rejected_events(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RefusedDay>, PipelineError> {
        sql::rejected_events_of(&self.sql_with_recoveries(from, to, &sql::rejected_events("rejects", "recoveries")).await?)
    }

    async fn reject_sample(&self, plateforme: &str, from: NaiveDate, to: NaiveDate, limit: usize) -> Result<Vec<RejectSample>, PipelineError> {
        let batches = self.sql(&[("rejects", rejects_schema())], from, to, &sql::reject_sample("rejects", plateforme, limit)).await?;
        Ok(sql::reject_samples_of(&batches, limit))
    }

    async fn erase_visitors(&self, visitors: &DoomedVisitors) -> Result<ErasedFacts, PipelineError> {
        self.files.writable()?;
        let _cells = self.cells.lock().await;
        let (this, visitors) = (self.files.clone(), visitors.clone());
        blocking(move || {
            let mut erased = ErasedFacts::default();
            for day in this.listed_days("hits")? {
                // Every part file, covered ones included: none may keep the visitors' hits.
                let dir = this.day_dir(day);
                for entry in fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))? {
                    let path = entry.map_err(io(format!("listing {}", dir.display())))?.path();
                    erased.hits += this.erase_rows(day, &path, &hits_schema(), &visitors, &mut erased.days)?;
                }
            }
            // Deltas folded first: only the rows readers see are counted (and erased).
            this.compact_days(NaiveDate::MIN, NaiveDate::MAX)?;
            for (table, schema) in [("visits", visits_schema()), ("usages", usages_schema()), ("rejects", rejects_schema())] {
                for day in this.listed_days(table)? {
                    let path = this.fact_path(table, day);
                    let removed = this.erase_rows(day, &path, &schema, &visitors, &mut erased.days)?;
                    *match table {
                        "visits" => &mut erased.visits,
                        "usages" => &mut erased.usages,
                        _ => &mut erased.rejects,
                    } += removed;
                }
            }
            Ok(erased)
        })
        .await
    }

    async fn hold_erased(&self, visitors: &DoomedVisitors, until: NaiveDate) -> Result<(), PipelineError> {
        self.files.writable()?;
        let (this, digests) = (self.files.clone(), visitors.hold_digests());
        blocking(move || this.add_erasure_holds(&digests, until)).await
    }

    async fn held_visitors(&self, today: NaiveDate) -> Result<HeldVisitors, PipelineError> {
        self.files.held_visitors(today)
    }
}

/// The day of a part the embedded store computes: a whole day (it is written by one process,
/// which computes every log partition of a day at once).
fn whole_day(part: DayPart) -> Result<NaiveDate, PipelineError> {
    match part.partition {
        None => Ok(part.day),
        Some(partition) => {
            Err(PipelineError::Store(format!("{}: the embedded store computes whole days, not log partition {partition} apart", part.day)))
        }
    }
}

#[path = "parquet_day_writer.rs"]
mod day_writer;
#[path = "parquet_delta.rs"]
mod delta;
#[path = "parquet_erasure.rs"]
mod erasure;
#[path = "parquet_freeze.rs"]
mod freeze;
#[path = "parquet_hits.rs"]
mod hits;
#[path = "parquet_query.rs"]
mod query;
#[path = "parquet_frozen.rs"]
mod retired;
#[path = "parquet_year_to_date.rs"]
mod year_to_date;

#[cfg(test)]
#[path = "parquet_tests.rs"]
mod tests;
