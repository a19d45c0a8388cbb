//! Freezing in the embedded store: the cells of a chunk of closed periods computed from their
//! facts within bounded memory (see [`crate::frozen`]).
//!
//! The chunk's visits and usages are read into memory a range of visitor slices at a time
//! ([`crate::visitor_slices`]), at most [`FREEZE_IN_MEMORY_ROWS`] rows each, and every cell
//! set's statement runs over them. A visitor lies in one slice, so the cells of the ranges add
//! up to the exact cells, distinct visitors included: when there are several ranges, each
//! range's cells go to a temporary file (a row group per statement) and each set's cells are
//! summed over the ranges at the end ([`frozen::merge_sql`]). Memory is bounded by one range's
//! facts and one set's cells, however long the period.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::{blocking, Files};
use crate::error::PipelineError;
use crate::facts::{usages_schema, visits_schema};
use crate::frozen::{self, frozen_schema, in_frozen_layout, CellSet};
use crate::model::Period;
use crate::query::Dialect;
use crate::store::atomic_parquet::{read_row_groups, read_slices, row_count, AtomicParquet};
use crate::visitor_slices::VisitorSlices;

/// Most fact rows (visits and usages together) a freeze holds in memory at once (some 850 bytes
/// a row in memory, measured: about 1.7 GB); a larger chunk is computed a range of visitor
/// slices at a time.
pub(super) const FREEZE_IN_MEMORY_ROWS: u64 = 2_000_000;

/// The fact files of a chunk, by table.
pub(super) type FactFiles = Vec<(&'static str, Vec<PathBuf>)>;

/// Freezes the periods `members` of kind `period`, which span `first..=last`: their cells are
/// computed from the facts, at most `max_rows` fact rows in memory at once, and written one
/// file per period. Returns the cells kept.
pub(super) async fn freeze_chunk(
    files: &Arc<Files>,
    period: Period,
    (first, last): (NaiveDate, NaiveDate),
    members: &[NaiveDate],
    max_rows: u64,
) -> Result<u64, PipelineError> {
    let this = files.clone();
    let (rows, paths) = blocking(move || this.fact_files(first, last)).await?;
    let ranges = VisitorSlices::plan(rows, max_rows);
    let sets = frozen::cell_sets();
    let statement = |set: &CellSet| frozen::freeze_sql(set, period, first, last, Dialect::DataFusion, &|t| t.to_owned());
    let mut writers = files.frozen_writers(period, members)?;
    let mut kept = 0;
    if let [all] = ranges[..] {
        let ctx = facts_in_memory(paths, all).await?;
        for set in &sets {
            for batch in ctx.sql(&statement(set)).await?.collect().await? {
                kept += writers.write(&in_frozen_layout(&batch)?)?;
            }
            writers.end_set()?;
        }
    } else {
        tracing::info!(period = period.name(), %first, %last, rows, ranges = ranges.len(), "freezing a range of visitor slices at a time");
        let mut partials = Vec::with_capacity(ranges.len());
        for slices in ranges {
            let ctx = facts_in_memory(paths.clone(), slices).await?;
            let mut partial = PartialCells { file: files.create(&frozen_schema())?, groups: 0, sets: Vec::with_capacity(sets.len()) };
            for set in &sets {
                let batches = ctx.sql(&statement(set)).await?.collect().await?;
                partial.add_set(&batches)?;
            }
            partials.push(blocking(move || partial.close()).await?);
        }
        for i in 0..sets.len() {
            let parts: Vec<(PathBuf, Vec<usize>)> = partials.iter().map(|p| (p.path.clone(), p.sets[i].clone())).collect();
            let cells =
                blocking(move || parts.into_iter().map(|(path, groups)| read_row_groups(&path, groups)).collect::<Result<Vec<_>, _>>()).await?;
            let ctx = SessionContext::new();
            ctx.register_table("partial", Arc::new(MemTable::try_new(frozen_schema(), vec![cells.into_iter().flatten().collect()])?))?;
            for batch in ctx.sql(&frozen::merge_sql("partial")).await?.collect().await? {
                kept += writers.write(&in_frozen_layout(&batch)?)?;
            }
            writers.end_set()?;
        }
        for partial in &partials {
            std::fs::remove_file(&partial.path).map_err(|e| PipelineError::io(format!("removing {}", partial.path.display()), e))?;
        }
    }
    let this = files.clone();
    blocking(move || this.finish_frozen(period, writers)).await?;
    Ok(kept)
}

impl Files {
    /// The visits and usages files of `first..=last` and how many rows they hold (their
    /// deltas folded into their bases first: each day is then one file a table).
    pub(super) fn fact_files(&self, first: NaiveDate, last: NaiveDate) -> Result<(u64, FactFiles), PipelineError> {
        self.compact_days(first, last)?;
        let mut paths = Vec::new();
        let mut rows = 0;
        for name in ["visits", "usages"] {
            let files: Vec<PathBuf> =
                self.listed_days(name)?.range(first..=last).map(|d| self.root.join(name).join(format!("{d}.parquet"))).collect();
            for path in &files {
                rows += row_count(path)?;
            }
            paths.push((name, files));
        }
        Ok((rows, paths))
    }
}

/// A session over the visits and usages of `files` whose visitor lies in `slices`, held in
/// memory (split for the cores): a freeze runs some 150 statements over them, each of which
/// would otherwise decode the files again.
pub(super) async fn facts_in_memory(files: FactFiles, slices: VisitorSlices) -> Result<SessionContext, PipelineError> {
    let partitions = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let tables = blocking(move || {
        let mut tables = Vec::new();
        for (name, paths) in files {
            let schema = if name == "visits" { visits_schema() } else { usages_schema() };
            let mut split: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
            let mut i = 0;
            for path in &paths {
                for batch in read_slices(path, slices)? {
                    split[i % partitions].push(batch);
                    i += 1;
                }
            }
            tables.push((name, MemTable::try_new(schema, split)?));
        }
        Ok(tables)
    })
    .await?;
    let ctx = SessionContext::new();
    for (name, table) in tables {
        ctx.register_table(name, Arc::new(table))?;
    }
    Ok(ctx)
}

/// The cells of one range of visitor slices being written to a temporary file, a row group per
/// batch, remembering which row groups hold each set's cells.
struct PartialCells {
    file: AtomicParquet,
    groups: usize,
    sets: Vec<Vec<usize>>,
}

impl PartialCells {
    /// Adds the next set's cells.
    fn add_set(&mut self, batches: &[RecordBatch]) -> Result<(), PipelineError> {
        let mut mine = Vec::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            self.file.write_row_group(&in_frozen_layout(batch)?)?;
            mine.push(self.groups);
            self.groups += 1;
        }
        self.sets.push(mine);
        Ok(())
    }

    fn close(self) -> Result<ClosedPartial, PipelineError> {
        Ok(ClosedPartial { path: self.file.close()?, sets: self.sets })
    }
}

/// A closed [`PartialCells`] file.
struct ClosedPartial {
    path: PathBuf,
    sets: Vec<Vec<usize>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::hits_batch;
    use crate::sessionize::Sessionizer;
    use crate::store::conformance::one_day_of_hits;
    use crate::store::parquet::ParquetRollupStore;
    use crate::store::RollupStore;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    /// Every frozen cell of a day, one line each, in a stable order.
    async fn cells(files: &Files, day: NaiveDate) -> String {
        let ctx = SessionContext::new();
        ctx.register_table("frozen", files.frozen_table(Period::Day, day, day).unwrap()).unwrap();
        let sorted = ctx.sql("SELECT * FROM frozen ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9").await.unwrap().collect().await.unwrap();
        pretty_format_batches(&sorted).unwrap().to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cells_computed_a_range_of_slices_at_a_time_are_the_cells_computed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = ParquetRollupStore::open(dir.path()).unwrap();
        let rows = one_day_of_hits(4_000);
        let d = rows[0].day;
        store.stage_hits(d, hits_batch(&rows)).await.unwrap();
        let facts = Sessionizer::default().run(store.day_hits(d).await.unwrap()).await.unwrap();
        store.replace_day(d, facts).await.unwrap();
        let (fact_rows, _) = store.files.fact_files(d, d).unwrap();

        let kept_at_once = freeze_chunk(&store.files, Period::Day, (d, d), &[d], u64::MAX).await.unwrap();
        let at_once = cells(&store.files, d).await;
        let kept_by_range = freeze_chunk(&store.files, Period::Day, (d, d), &[d], fact_rows / 5).await.unwrap();
        let by_range = cells(&store.files, d).await;

        assert!(VisitorSlices::plan(fact_rows, fact_rows / 5).len() == 8, "the second freeze ran over several ranges");
        assert!(kept_at_once > 1_000, "{kept_at_once}");
        assert_eq!(kept_by_range, kept_at_once);
        assert_eq!(by_range, at_once);
        let stray = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        assert_eq!(stray, 0, "the partial files are removed");

        // Small metadata: a row group per cell set at most, statistics per chunk, no page index.
        let file = std::fs::File::open(store.files.frozen_path(Period::Day, d)).unwrap();
        let metadata = datafusion::parquet::file::reader::FileReader::metadata(
            &datafusion::parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap(),
        )
        .clone();
        assert!(metadata.num_row_groups() <= frozen::cell_sets().len(), "{} row groups", metadata.num_row_groups());
        let chunk = metadata.row_group(0).column(0);
        assert!(chunk.statistics().is_some() && chunk.offset_index_offset().is_none() && chunk.column_index_offset().is_none());
    }
}
