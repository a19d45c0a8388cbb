//! Year to date in the embedded store: `ROOT/year-to-date/<year>_<through>.<table>.parquet`,
//! the open school year's visits and usages summed per visitor over `year..=through` (see
//! [`crate::year_to_date`]), how they are kept and how whole school-year queries read them.
//! The rows stand only while both files are there: the usages are put in place first and
//! removed last.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::datasource::MemTable;

use super::freeze::{facts_in_memory, FREEZE_IN_MEMORY_ROWS};
use super::{blocking, io, sql, Files, ParquetRollupStore};
use crate::error::PipelineError;
use crate::facts::{usages_schema, visits_schema};
use crate::model::Period;
use crate::query::{indicator_sql_counting, Dialect, IndicatorQuery, IndicatorRow};
use crate::store::atomic_parquet::{read_slices, row_count, sync_dir};
use crate::visitor_slices::VisitorSlices;
use crate::year_to_date::{extend_sql, keep_sql, schema, union_source, TABLES, VISIT_COUNT};

impl Files {
    fn year_to_date_dir(&self) -> PathBuf {
        self.root.join("year-to-date")
    }

    /// The file of one table of the rows kept over `year..=through`.
    pub(super) fn year_to_date_path(&self, year: NaiveDate, through: NaiveDate, table: &str) -> PathBuf {
        self.year_to_date_dir().join(format!("{year}_{through}.{table}.parquet"))
    }

    /// Every `(year, through)` with a file, and the tables it has.
    fn year_to_date_files(&self) -> Result<BTreeMap<(NaiveDate, NaiveDate), Vec<String>>, PipelineError> {
        let dir = self.year_to_date_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(PipelineError::io(format!("listing {}", dir.display()), e)),
        };
        let mut found: BTreeMap<(NaiveDate, NaiveDate), Vec<String>> = BTreeMap::new();
        for entry in entries {
            let path = entry.map_err(io(format!("listing {}", dir.display())))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let parsed = name.strip_suffix(".parquet").and_then(|stem| {
                let (days, table) = stem.split_once('.')?;
                let (year, through) = days.split_once('_')?;
                Some(((year.parse().ok()?, through.parse().ok()?), table.to_owned()))
            });
            let Some((key, table)) = parsed else { return Err(PipelineError::Store(format!("unexpected file {}", path.display()))) };
            found.entry(key).or_default().push(table);
        }
        Ok(found)
    }

    /// The school year and last day of the year-to-date rows kept, if any (the latest).
    pub(super) fn year_to_date(&self) -> Result<Option<(NaiveDate, NaiveDate)>, PipelineError> {
        let found = self.year_to_date_files()?;
        Ok(found.into_iter().filter(|(_, tables)| TABLES.iter().all(|t| tables.iter().any(|f| f == t))).map(|(key, _)| key).max_by_key(|k| k.1))
    }

    /// Removes the year-to-date rows kept over `year..=through` for which `stale` holds (the
    /// visits first, so that half-removed rows never stand). Returns whether any went.
    pub(super) fn drop_years_to_date(&self, stale: impl Fn(NaiveDate, NaiveDate) -> bool) -> Result<bool, PipelineError> {
        let mut dropped = false;
        for ((year, through), tables) in self.year_to_date_files()? {
            if !stale(year, through) {
                continue;
            }
            for table in ["visits", "usages"].iter().filter(|t| tables.iter().any(|f| f == *t)) {
                let path = self.year_to_date_path(year, through, table);
                fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
            }
            tracing::debug!(%year, %through, "year-to-date rows dropped");
            dropped = true;
        }
        if dropped {
            sync_dir(&self.year_to_date_dir())?;
        }
        Ok(dropped)
    }
}

impl ParquetRollupStore {
    /// A whole school year's cells from its year-to-date rows over `year..=through` and the facts
    /// of its later days ([`union_source`]).
    pub(super) async fn query_year_to_date(
        &self,
        query: &IndicatorQuery,
        year: NaiveDate,
        through: NaiveDate,
    ) -> Result<Vec<IndicatorRow>, PipelineError> {
        let ctx = self.session();
        let after = through.succ_opt().unwrap_or(through);
        for table in TABLES {
            ctx.register_table(format!("kept_{table}"), super::parquet_table([self.files.year_to_date_path(year, through, table)], &schema(table))?)?;
            let schema = if table == "visits" { visits_schema() } else { usages_schema() };
            ctx.register_table(format!("facts_{table}"), self.files.table(table, &schema, after, Period::SchoolYear.end_of(year))?)?;
        }
        let source = |table: &str| union_source(table, &format!("kept_{table}"), &format!("facts_{table}"), through, Dialect::DataFusion);
        let sql =
            indicator_sql_counting(query, Dialect::DataFusion, &source, &format!("sum({VISIT_COUNT})")).map_err(|e| PipelineError::Query(e.0))?;
        let batches = ctx.sql(&sql).await?.collect().await?;
        sql::indicator_rows_of(query, &batches)
    }
}

/// Computes the year-to-date rows of `year..=through`, a range of visitor slices at a time (a
/// visitor lies in one slice, so the ranges' rows are the rows): by extending the standing rows
/// of an earlier `through` of the same year with the facts of the days since, or else from the
/// facts of the whole span. Puts them in place and removes every other kept. Returns the rows
/// kept.
pub(super) async fn keep(files: &Arc<Files>, year: NaiveDate, through: NaiveDate) -> Result<u64, PipelineError> {
    let this = files.clone();
    let (rows, paths, extended) = blocking(move || {
        let extended = this.year_to_date()?.filter(|(y, t)| *y == year && *t < through).map(|(_, t)| t);
        let first = extended.and_then(|t| t.succ_opt()).unwrap_or(year);
        let (mut rows, paths) = this.fact_files(first, through)?;
        if let Some(kept_through) = extended {
            for table in TABLES {
                rows += row_count(&this.year_to_date_path(year, kept_through, table))?;
            }
        }
        Ok((rows, paths, extended))
    })
    .await?;
    let mut outputs = [files.create(&schema(TABLES[0]))?, files.create(&schema(TABLES[1]))?];
    let mut kept = 0;
    for slices in VisitorSlices::plan(rows, FREEZE_IN_MEMORY_ROWS) {
        let ctx = facts_in_memory(paths.clone(), slices).await?;
        for (table, output) in TABLES.iter().zip(outputs.iter_mut()) {
            let sql = match extended {
                Some(kept_through) => {
                    let path = files.year_to_date_path(year, kept_through, table);
                    // (Read as facts are, so in their layout again: the kept rows' own.)
                    let rows = blocking(move || Ok(crate::facts::in_layout(&read_slices(&path, slices)?, &schema(table))?)).await?;
                    ctx.register_table(format!("kept_{table}"), Arc::new(MemTable::try_new(schema(table), vec![vec![rows]])?))?;
                    extend_sql(table, year, kept_through, through, Dialect::DataFusion, &format!("kept_{table}"), table)
                }
                None => keep_sql(table, year, through, Dialect::DataFusion, &|t| t.to_owned()),
            };
            for batch in ctx.sql(&sql).await?.collect().await? {
                kept += batch.num_rows() as u64;
                output.write(&in_layout(table, &batch)?)?;
            }
        }
    }
    let this = files.clone();
    blocking(move || {
        let dir = this.year_to_date_dir();
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let [visits, usages] = outputs;
        usages.finish(&this.year_to_date_path(year, through, "usages"))?;
        visits.finish(&this.year_to_date_path(year, through, "visits"))?;
        sync_dir(&dir)?;
        this.drop_years_to_date(|y, t| (y, t) != (year, through))
    })
    .await?;
    tracing::debug!(%year, %through, extended_from = ?extended, rows = kept, "year-to-date rows kept");
    Ok(kept)
}

/// A batch of [`keep_sql`]'s output in the layout of [`schema`] (same columns, in order).
fn in_layout(table: &str, batch: &RecordBatch) -> Result<RecordBatch, PipelineError> {
    let schema = schema(table);
    let columns =
        schema.fields().iter().zip(batch.columns()).map(|(field, column)| cast(column, field.data_type())).collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}
