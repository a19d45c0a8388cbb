//! SQL over the embedded store's Parquet files: a table over the files of one layout
//! ([`parquet_table`]), and queries over the day files of fact directories that run again when a
//! file is replaced under them ([`ParquetRollupStore::sql`]).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{MemTable, TableProvider};

use super::ParquetRollupStore;
use crate::error::PipelineError;
use crate::tagging::rejects_schema;

/// A table over Parquet files of one layout (an empty table when there are none). Page
/// indexes are not read (a table's format carries its own options; the session's are not
/// applied to it): decoding the page indexes of the files a query opens cost more than the
/// pages they would skip, and kept-cell files have none: looking for them copied each file's
/// metadata at every query.
pub(super) fn parquet_table(paths: impl IntoIterator<Item = PathBuf>, schema: &SchemaRef) -> Result<Arc<dyn TableProvider>, PipelineError> {
    let urls = paths.into_iter().map(|path| ListingTableUrl::parse(path.to_string_lossy())).collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Ok(Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?));
    }
    let mut options = datafusion::config::TableParquetOptions::default();
    options.global.enable_page_index = false;
    let listing = ListingOptions::new(Arc::new(ParquetFormat::default().with_options(options))).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(listing).with_schema(schema.clone());
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// A table of a query: its name, the directory of its day files, its layout, its first and
/// last days.
type Registered<'a> = (&'a str, &'a str, SchemaRef, NaiveDate, NaiveDate);

/// Attempts of a query that meets a file being replaced under it.
const QUERY_ATTEMPTS: usize = 4;

impl ParquetRollupStore {
    /// Runs SQL over the day files of some fact directories within `first..=last`. Day files are
    /// replaced (renamed over) while a pipeline runs: a query that listed a file and then read
    /// its replacement fails (wrong size, "corrupt footer", file gone); it is run again on a fresh
    /// listing, a few times, before the error is returned.
    pub(super) async fn sql(
        &self,
        tables: &[(&str, SchemaRef)],
        first: NaiveDate,
        last: NaiveDate,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, PipelineError> {
        let tables: Vec<Registered<'_>> = tables.iter().map(|(name, schema)| (*name, *name, schema.clone(), first, last)).collect();
        self.sql_over(&tables, sql).await
    }

    /// Runs SQL over the refusals of `first..=last` (table `rejects`) and the recovery rows
    /// staged from `first` on (table `recoveries`: the same files up to the latest day).
    pub(super) async fn sql_with_recoveries(&self, first: NaiveDate, last: NaiveDate, sql: &str) -> Result<Vec<RecordBatch>, PipelineError> {
        let tables = [("rejects", "rejects", rejects_schema(), first, last), ("recoveries", "rejects", rejects_schema(), first, NaiveDate::MAX)];
        self.sql_over(&tables, sql).await
    }

    /// Runs SQL over tables each registered over the day files of a directory within a range
    /// of days (see [`Self::sql`]).
    async fn sql_over(&self, tables: &[Registered<'_>], sql: &str) -> Result<Vec<RecordBatch>, PipelineError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ctx = self.session();
            for (name, dir, schema, first, last) in tables {
                ctx.register_table(*name, self.files.table(dir, schema, *first, *last)?)?;
            }
            let result = match ctx.sql(sql).await {
                Ok(frame) => frame.collect().await,
                Err(e) => Err(e),
            };
            match result {
                Ok(batches) => return Ok(batches),
                Err(e) if attempt < QUERY_ATTEMPTS && is_replaced_file(&e) => {
                    tracing::debug!(error = %e, attempt, "a fact file changed during the query; running it again");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt as u64)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Whether a query error comes from a file replaced or removed while it was read.
pub(super) fn is_replaced_file(e: &datafusion::error::DataFusionError) -> bool {
    let text = e.to_string();
    ["Parquet error", "Corrupt footer", "No such file", "not found", "Object at location", "out of range", "EOF"].iter().any(|m| text.contains(m))
}
