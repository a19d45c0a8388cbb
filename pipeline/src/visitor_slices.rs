//! [`VisitorSlices`]: a day's hits cut by the first byte of their pseudonym, so that a large day
//! is computed a slice at a time within bounded memory.
//!
//! A visit is the hits of one visitor on one platform, so every visit lies within one slice and
//! the facts of a day are the union of the facts of its slices. Pseudonyms are keyed hashes, so
//! their first byte is uniform: 256 slices of about equal size. Staged hits are written sorted
//! by slice (see [`sorted_by_slice`]) so that a reader finds a slice's rows from the visitor
//! column's statistics without reading the whole day.

use std::ops::Range;

use datafusion::arrow::array::{AsArray, BinaryArray, BooleanArray, RecordBatch, UInt8Array};
use datafusion::arrow::compute::{filter_record_batch, sort_to_indices, take_record_batch};

use crate::error::PipelineError;

/// How many slices a day has: one per value of the pseudonym's first byte.
pub const SLICES: usize = 256;

/// A contiguous range of visitor slices, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VisitorSlices {
    /// First slice in the range.
    pub first: u8,
    /// Last slice in the range (inclusive).
    pub last: u8,
}

impl VisitorSlices {
    /// Every slice: the whole day.
    pub const ALL: VisitorSlices = VisitorSlices { first: 0, last: u8::MAX };

    /// The slice of one pseudonym.
    pub fn of(visitor: &[u8]) -> u8 {
        visitor.first().copied().unwrap_or(0)
    }

    /// Whether this is every slice.
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }

    /// Whether a slice lies in the range.
    pub fn contains(self, slice: u8) -> bool {
        (self.first..=self.last).contains(&slice)
    }

    /// Whether the range shares a slice with `lo..=hi`.
    pub fn overlaps(self, lo: u8, hi: u8) -> bool {
        lo <= self.last && self.first <= hi
    }

    /// Cuts a day of `hits` staged hits into equal ranges of slices holding about `max_hits`
    /// each (a power of two of them, at most [`SLICES`]); one range (the whole day) when it
    /// fits.
    pub fn plan(hits: u64, max_hits: u64) -> Vec<VisitorSlices> {
        let wanted = hits.div_ceil(max_hits.max(1)).max(1);
        let count = usize::try_from(wanted).unwrap_or(SLICES).min(SLICES).next_power_of_two();
        let width = SLICES / count;
        (0..count)
            .map(|i| VisitorSlices {
                first: u8::try_from(i * width).expect("below 256"),
                last: u8::try_from((i + 1) * width - 1).expect("below 256"),
            })
            .collect()
    }

    /// The rows of a batch (with a binary `visitor` column) whose visitor lies in the range.
    pub fn filter(self, batch: &RecordBatch) -> Result<RecordBatch, PipelineError> {
        if self.is_all() {
            return Ok(batch.clone());
        }
        let visitors = visitor_column(batch)?;
        let keep: BooleanArray = visitors.iter().map(|v| Some(self.contains(VisitorSlices::of(v.unwrap_or_default())))).collect();
        Ok(filter_record_batch(batch, &keep)?)
    }
}

fn visitor_column(batch: &RecordBatch) -> Result<&BinaryArray, PipelineError> {
    batch
        .column_by_name("visitor")
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| PipelineError::Store("a batch of hits has no binary visitor column".into()))
}

/// A batch with its rows ordered by visitor slice (stable, so the log order is kept within a
/// slice), and the ranges of rows to write as row groups: cut at slice boundaries, each at
/// least `min_rows` long (the last may be shorter).
pub fn sorted_by_slice(batch: &RecordBatch, min_rows: usize) -> Result<(RecordBatch, Vec<Range<usize>>), PipelineError> {
    let slices: UInt8Array = visitor_column(batch)?.iter().map(|v| Some(VisitorSlices::of(v.unwrap_or_default()))).collect();
    let order = sort_to_indices(&slices, None, None)?;
    let sorted = take_record_batch(batch, &order)?;
    let sorted_slices = datafusion::arrow::compute::take(&slices, &order, None)?;
    let sorted_slices = sorted_slices.as_primitive::<datafusion::arrow::datatypes::UInt8Type>().values();
    let mut groups = Vec::new();
    let mut start = 0;
    for row in 1..sorted.num_rows() {
        if row - start >= min_rows.max(1) && sorted_slices[row] != sorted_slices[row - 1] {
            groups.push(start..row);
            start = row;
        }
    }
    if start < sorted.num_rows() {
        groups.push(start..sorted.num_rows());
    }
    Ok((sorted, groups))
}

/// The slice range `lo..=hi` that a row group's visitor statistics (its smallest and largest
/// pseudonym) allow; every slice when they are missing.
pub fn range_of_statistics(min: Option<&[u8]>, max: Option<&[u8]>) -> (u8, u8) {
    match (min, max) {
        (Some(min), Some(max)) if !min.is_empty() && !max.is_empty() => (min[0], max[0]),
        _ => (0, u8::MAX),
    }
}

/// Rows of `batch` in `range` as their own batch (zero-copy).
pub fn rows(batch: &RecordBatch, range: Range<usize>) -> RecordBatch {
    batch.slice(range.start, range.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::UInt64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn batch(visitors: &[[u8; 2]]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("offset", DataType::UInt64, false), Field::new("visitor", DataType::Binary, false)]));
        let offsets = UInt64Array::from_iter_values(0..visitors.len() as u64);
        let visitors = BinaryArray::from_iter_values(visitors.iter());
        RecordBatch::try_new(schema, vec![Arc::new(offsets), Arc::new(visitors)]).unwrap()
    }

    #[test]
    fn a_small_day_is_one_range_and_a_large_one_is_cut_in_equal_ranges() {
        assert_eq!(VisitorSlices::plan(10, 1_000), vec![VisitorSlices::ALL]);
        assert_eq!(VisitorSlices::plan(0, 1_000), vec![VisitorSlices::ALL]);
        let four = VisitorSlices::plan(3_500, 1_000);
        assert_eq!(four.len(), 4);
        assert_eq!(four[0], VisitorSlices { first: 0, last: 63 });
        assert_eq!(four[3], VisitorSlices { first: 192, last: 255 });
        assert_eq!(VisitorSlices::plan(u64::MAX, 1).len(), SLICES);
    }

    #[test]
    fn sorting_keeps_log_order_within_a_slice_and_cuts_groups_at_boundaries() {
        let b = batch(&[[3, 0], [1, 0], [3, 1], [1, 1], [2, 0]]);
        let (sorted, groups) = sorted_by_slice(&b, 2).unwrap();
        let offsets: Vec<u64> = sorted.column(0).as_primitive::<datafusion::arrow::datatypes::UInt64Type>().values().to_vec();
        assert_eq!(offsets, vec![1, 3, 4, 0, 2]);
        assert_eq!(groups, vec![0..2, 2..5]);
        let (_, one) = sorted_by_slice(&b, 100).unwrap();
        assert_eq!(one, vec![0..5]);
    }

    #[test]
    fn statistics_give_the_slice_range_of_a_row_group() {
        assert_eq!(range_of_statistics(Some(&[4, 9]), Some(&[7, 0])), (4, 7));
        assert_eq!(range_of_statistics(None, Some(&[7])), (0, 255));
    }

    proptest! {
        /// Every row lands in exactly one range of any plan: slicing neither loses nor repeats a hit.
        #[test]
        fn the_ranges_of_a_plan_partition_the_rows(visitors in proptest::collection::vec(any::<[u8; 2]>(), 0..200), hits in 0u64..100_000, max in 1u64..10_000) {
            let b = batch(&visitors);
            let mut seen: Vec<u64> = Vec::new();
            for range in VisitorSlices::plan(hits, max) {
                let part = range.filter(&b).unwrap();
                seen.extend(part.column(0).as_primitive::<datafusion::arrow::datatypes::UInt64Type>().values().iter());
            }
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..visitors.len() as u64).collect::<Vec<_>>());
        }
    }
}
