//! Parquet files of the embedded store: written in `tmp/`, synced, then renamed into place (a
//! reader sees the old file or the new one, never a torn one); staged hits laid out by visitor
//! slice and read back a range of slices at a time.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{SchemaRef, UInt64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::parquet::arrow::arrow_reader::{ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::metadata::{KeyValue, RowGroupMetaData};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::day_changes::VisitorSet;
use crate::error::PipelineError;
use crate::facts::with_school_columns;
use crate::visitor_slices::{range_of_statistics, rows, sorted_by_slice, VisitorSlices};

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let context = context.into();
    move |e| PipelineError::io(context, e)
}

/// The column of pseudonyms, written without a dictionary ([`AtomicParquet::create`]).
const VISITOR_COLUMN: &str = "visitor";

/// Most rows in a row group of a compact file ([`AtomicParquet::create_compact`]): a writer
/// holds a row group's encoded pages in memory until it ends, and a freeze writes several files
/// at once (one per period of its chunk), each with up to a cell set's cells in its row group.
pub(crate) const COMPACT_ROW_GROUP_ROWS: usize = 128 * 1024;

/// A Parquet file being written in `tmp/`, renamed into place by [`AtomicParquet::finish`].
pub(crate) struct AtomicParquet {
    tmp: PathBuf,
    writer: ArrowWriter<File>,
}

impl AtomicParquet {
    /// Starts a file at the temporary path `tmp`. A `visitor` column (a pseudonym per hit or
    /// fact: about as many values as rows) is written without a dictionary: interning values
    /// that seldom repeat was the largest cost of writing facts, and the dictionary is dropped
    /// for plain encoding after its first megabyte anyway. Nor is it compressed: keyed hashes
    /// do not compress, and it is the column a read of some visitors' rows decodes whole.
    pub(crate) fn create(tmp: PathBuf, schema: &SchemaRef) -> Result<Self, PipelineError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_column_dictionary_enabled(ColumnPath::from(VISITOR_COLUMN), false)
            .set_column_compression(ColumnPath::from(VISITOR_COLUMN), Compression::UNCOMPRESSED)
            .build();
        Self::with_properties(tmp, schema, props)
    }

    /// Starts a file at `tmp` with small metadata: statistics per column chunk only (no page
    /// index), for files a query opens many of and prunes by row group (kept cells). Row groups
    /// end at [`COMPACT_ROW_GROUP_ROWS`] rows at most, which bounds what a writer buffers.
    pub(crate) fn create_compact(tmp: PathBuf, schema: &SchemaRef) -> Result<Self, PipelineError> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .set_max_row_group_row_count(Some(COMPACT_ROW_GROUP_ROWS))
            .build();
        Self::with_properties(tmp, schema, props)
    }

    fn with_properties(tmp: PathBuf, schema: &SchemaRef, props: WriterProperties) -> Result<Self, PipelineError> {
        let file = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        Ok(AtomicParquet { tmp, writer })
    }

    /// Ends the current row group (nothing when it holds no rows).
    pub(crate) fn end_row_group(&mut self) -> Result<(), PipelineError> {
        self.writer.flush()?;
        Ok(())
    }

    /// Adds a key-value entry to the file's metadata (written with its footer).
    pub(crate) fn note(&mut self, key: &str, value: String) {
        self.writer.append_key_value_metadata(KeyValue::new(key.to_owned(), value));
    }

    /// Where the file is being written.
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Adds rows to the current row group.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), PipelineError> {
        self.writer.write(batch)?;
        Ok(())
    }

    /// Writes rows as a row group of their own (nothing for no rows).
    pub(crate) fn write_row_group(&mut self, batch: &RecordBatch) -> Result<(), PipelineError> {
        if batch.num_rows() > 0 {
            self.writer.write(batch)?;
            self.writer.flush()?;
        }
        Ok(())
    }

    /// Writes staged hits ordered by visitor slice, in row groups cut at slice boundaries of at
    /// least `min_rows` rows, so that the visitor column's statistics tell each row group's
    /// slices.
    pub(crate) fn write_by_slice(&mut self, batch: &RecordBatch, min_rows: usize) -> Result<(), PipelineError> {
        let (sorted, groups) = sorted_by_slice(batch, min_rows)?;
        for group in groups {
            self.write_row_group(&rows(&sorted, group))?;
        }
        Ok(())
    }

    /// Closes the file where it was written (a scratch file, neither synced nor renamed) and
    /// returns its path.
    pub(crate) fn close(self) -> Result<PathBuf, PipelineError> {
        self.writer.close()?;
        Ok(self.tmp)
    }

    /// Closes, syncs and renames the file to `path` (its directory created and synced).
    pub(crate) fn finish(self, path: &Path) -> Result<(), PipelineError> {
        let file = self.writer.into_inner()?;
        file.sync_all().map_err(io(format!("syncing {}", self.tmp.display())))?;
        let dir = path.parent().expect("store files live in a directory");
        fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        fs::rename(&self.tmp, path).map_err(io(format!("renaming {} to {}", self.tmp.display(), path.display())))?;
        sync_dir(dir)
    }
}

/// Makes a directory's entries (a rename, a removal) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), PipelineError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(format!("syncing {}", dir.display())))
}

/// Every row of a Parquet file.
pub(crate) fn read_all(path: &Path) -> Result<Vec<RecordBatch>, PipelineError> {
    read_slices(path, VisitorSlices::ALL)
}

/// The rows of a staged-hits file whose visitor lies in `slices`: only the row groups whose
/// visitor statistics overlap the range are read, then their rows are filtered.
pub(crate) fn read_slices(path: &Path, slices: VisitorSlices) -> Result<Vec<RecordBatch>, PipelineError> {
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024);
    if !slices.is_all() {
        let visitor = builder.schema().index_of("visitor").map_err(|_| PipelineError::Store(format!("{} has no visitor column", path.display())))?;
        let groups = groups_of_slices(builder.metadata().row_groups(), visitor, slices);
        builder = builder.with_row_groups(groups);
    }
    let reader = builder.build()?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = slices.filter(&batch?)?;
        if batch.num_rows() > 0 {
            batches.push(with_school_columns(batch)?);
        }
    }
    Ok(batches)
}

/// The rows of a staged-hits or fact file whose visitor lies in `slices` and in `visitors`:
/// the row groups are chosen by slice as in [`read_slices`] (a row group may hold the edges of
/// the neighbouring slices), then the visitor column is decoded first and the other columns
/// only for the rows it selects. Batches come in the current layout ([`with_school_columns`]).
pub(crate) fn read_visitors(path: &Path, slices: VisitorSlices, visitors: Arc<VisitorSet>) -> Result<Vec<RecordBatch>, PipelineError> {
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024);
    let visitor = builder.schema().index_of("visitor").map_err(|_| PipelineError::Store(format!("{} has no visitor column", path.display())))?;
    let groups = groups_of_slices(builder.metadata().row_groups(), visitor, slices);
    let mask = ProjectionMask::roots(builder.parquet_schema(), [visitor]);
    let predicate = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
        let column = batch.column(0).as_binary_opt::<i32>().ok_or_else(|| ArrowError::SchemaError("the visitor column is not binary".into()))?;
        let wanted = |v: &[u8]| slices.contains(VisitorSlices::of(v)) && <[u8; 16]>::try_from(v).is_ok_and(|v| visitors.contains(&v));
        Ok(column.iter().map(|v| Some(v.is_some_and(wanted))).collect::<BooleanArray>())
    });
    non_empty_batches(builder.with_row_groups(groups).with_row_filter(RowFilter::new(vec![Box::new(predicate)])).build()?)
}

/// The rows of a staged-hits file whose position (column `offset`) `keep` selects: the
/// positions are decoded first, the other columns only for the rows they select, so that the
/// new hits of a part merged with older ones cost what they hold, not the whole part.
pub(crate) fn read_positions(path: &Path, keep: impl Fn(u64) -> bool + Send + 'static) -> Result<Vec<RecordBatch>, PipelineError> {
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024);
    let offset = builder.schema().index_of("offset").map_err(|_| PipelineError::Store(format!("{} has no offset column", path.display())))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [offset]);
    let predicate = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
        let positions =
            batch.column(0).as_primitive_opt::<UInt64Type>().ok_or_else(|| ArrowError::SchemaError("the offset column is not UInt64".into()))?;
        Ok(positions.values().iter().map(|p| Some(keep(*p))).collect::<BooleanArray>())
    });
    non_empty_batches(builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)])).build()?)
}

/// The batches a filtered reader gives, empty ones left out, in the current layout.
fn non_empty_batches(reader: impl Iterator<Item = Result<RecordBatch, ArrowError>>) -> Result<Vec<RecordBatch>, PipelineError> {
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch?;
        if batch.num_rows() > 0 {
            batches.push(with_school_columns(batch)?);
        }
    }
    Ok(batches)
}

/// One column of a Parquet file, alone (the others are not decoded).
pub(crate) fn read_column(path: &Path, column: &str) -> Result<Vec<RecordBatch>, PipelineError> {
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024);
    let mask = ProjectionMask::columns(builder.parquet_schema(), [column]);
    builder.with_projection(mask).build()?.map(|batch| Ok(batch?)).collect()
}

/// The row groups whose visitor statistics (column `visitor`) overlap `slices`.
fn groups_of_slices(groups: &[RowGroupMetaData], visitor: usize, slices: VisitorSlices) -> Vec<usize> {
    groups
        .iter()
        .enumerate()
        .filter(|(_, group)| {
            let stats = group.column(visitor).statistics();
            let (lo, hi) = range_of_statistics(stats.and_then(|s| s.min_bytes_opt()), stats.and_then(|s| s.max_bytes_opt()));
            slices.overlaps(lo, hi)
        })
        .map(|(i, _)| i)
        .collect()
}

/// The rows of some row groups of a Parquet file (none for no row group).
pub(crate) fn read_row_groups(path: &Path, groups: Vec<usize>) -> Result<Vec<RecordBatch>, PipelineError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024).with_row_groups(groups).build()?;
    Ok(reader.map(|batch| with_school_columns(batch?)).collect::<Result<Vec<_>, _>>()?)
}

/// A key-value entry of a Parquet file's metadata; `None` when the file or the entry is missing.
pub(crate) fn noted(path: &Path, key: &str) -> Result<Option<String>, PipelineError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PipelineError::io(format!("opening {}", path.display()), e)),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let entries = builder.metadata().file_metadata().key_value_metadata();
    Ok(entries.and_then(|entries| entries.iter().find(|e| e.key == key)).and_then(|e| e.value.clone()))
}

/// How many rows a Parquet file holds (from its footer).
pub(crate) fn row_count(path: &Path) -> Result<u64, PipelineError> {
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    Ok(u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::hits_batch;
    use crate::store::conformance::one_day_of_hits;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::UInt64Type;

    fn offsets(batches: &[RecordBatch]) -> Vec<u64> {
        let mut o: Vec<u64> = batches.iter().flat_map(|b| b.column(0).as_primitive::<UInt64Type>().values().to_vec()).collect();
        o.sort_unstable();
        o
    }

    #[test]
    fn a_range_of_slices_reads_back_exactly_its_visitors_hits() {
        let dir = tempfile::tempdir().unwrap();
        let hits = hits_batch(&one_day_of_hits(20_000));
        let n = hits.num_rows() as u64;
        let mut file = AtomicParquet::create(dir.path().join("tmp.parquet"), &hits.schema()).unwrap();
        file.write_by_slice(&hits, 1_000).unwrap();
        let path = dir.path().join("part.parquet");
        file.finish(&path).unwrap();
        assert_eq!(row_count(&path).unwrap(), n);
        let plan = VisitorSlices::plan(n, n / 7);
        assert!(plan.len() == 8);
        let mut all = Vec::new();
        for range in &plan {
            let got = read_slices(&path, *range).unwrap();
            let expected = range.filter(&hits).unwrap();
            assert_eq!(offsets(&got), offsets(&[expected]));
            all.extend(got);
        }
        assert_eq!(offsets(&all), offsets(&read_all(&path).unwrap()));
        assert_eq!(offsets(&all).len() as u64, n);
    }
}
