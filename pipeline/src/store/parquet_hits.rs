//! Staged hits in the embedded store: one directory per day, part files named by the log
//! offsets they hold (`ROOT/hits/YYYY-MM-DD/part-<first>-<last>.parquet`), ordered by visitor
//! slice, and their compaction when a day's parts pile up (see the store's module header).

use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;

use collector::log::{partition_of, Partition};

use super::{io, Files};
use crate::error::PipelineError;
use crate::facts::hits_schema;
use crate::store::atomic_parquet::{read_slices, row_count, sync_dir};
use crate::visitor_slices::VisitorSlices;

/// Parts of one log partition of a day beyond which some are compacted.
pub(super) const MAX_PARTS_PER_DAY: usize = 16;

/// How many adjacent parts one compaction merges (at most).
const MERGED_PARTS: usize = 8;

/// Smallest row group of a staged-hits file (row groups are cut at visitor-slice boundaries).
const HIT_ROW_GROUP_ROWS: usize = 16 * 1024;

/// Most hits one compaction merges: a merge is part of a pipeline step, and one of a whole
/// day's parts at national traffic (tens of millions of hits) would hold the step, and the
/// counting lag, for a minute. Parts of a large day past this size are left as they are, so a
/// day holds about one part per this many hits, plus the recent small ones.
const MAX_MERGED_HITS: u64 = 4 * 1024 * 1024;

/// Hits a compaction holds in memory at once (about: it merges a range of slices at a time).
const COMPACTION_HITS: u64 = 256 * 1024;

/// A staged-hits file and the log offsets it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) path: PathBuf,
}

impl Files {
    pub(super) fn day_dir(&self, day: NaiveDate) -> PathBuf {
        self.root.join("hits").join(day.to_string())
    }

    /// The parts of a day, those covered by another part left out.
    pub(super) fn parts(&self, day: NaiveDate) -> Result<Vec<Part>, PipelineError> {
        let dir = self.day_dir(day);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(PipelineError::io(format!("listing {}", dir.display()), e)),
        };
        let mut parts = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(format!("listing {}", dir.display())))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let range = name.strip_prefix("part-").and_then(|n| n.strip_suffix(".parquet")).and_then(|n| n.split_once('-'));
            let Some((Ok(first), Ok(last))) = range.map(|(a, b)| (a.parse(), b.parse())) else {
                return Err(PipelineError::Store(format!("unexpected file {}", path.display())));
            };
            parts.push(Part { first, last, path });
        }
        let covered = |p: &Part| parts.iter().any(|q| q != p && q.first <= p.first && p.last <= q.last && (q.first, q.last) != (p.first, p.last));
        let mut kept: Vec<Part> = parts.iter().filter(|p| !covered(p)).cloned().collect();
        kept.sort_by_key(|p| p.first);
        Ok(kept)
    }

    /// Writes staged hits as a part file at `path`, atomically, ordered by visitor slice.
    pub(super) fn write_hits_atomically(&self, path: &Path, hits: &RecordBatch) -> Result<(), PipelineError> {
        let mut file = self.create(&hits_schema())?;
        file.write_by_slice(hits, HIT_ROW_GROUP_ROWS)?;
        file.finish(path)
    }

    /// When the parts of one log partition of a day pile up, merges the adjacent run of
    /// [`MERGED_PARTS`] of them holding the fewest hits into one (so each hit is rewritten a
    /// few times over the day, not at every compaction), unless that run holds over
    /// [`MAX_MERGED_HITS`]. The merge goes a range of visitor
    /// slices at a time, so its memory stays bounded. Parts of different log partitions stay
    /// apart, so each partition's staged position stays known.
    pub(super) fn compact(&self, day: NaiveDate, partition: Partition) -> Result<(), PipelineError> {
        let parts: Vec<Part> = self.parts(day)?.into_iter().filter(|p| partition_of(p.first) == partition).collect();
        if parts.len() <= MAX_PARTS_PER_DAY {
            return Ok(());
        }
        let sizes = parts.iter().map(|p| row_count(&p.path)).collect::<Result<Vec<_>, _>>()?;
        let Some((run, total)) = run_to_merge(&sizes, MAX_MERGED_HITS) else { return Ok(()) };
        let run = &parts[run];
        let mut merged = self.create(&hits_schema())?;
        for slices in VisitorSlices::plan(total, COMPACTION_HITS) {
            let mut batches = Vec::new();
            for part in run {
                batches.extend(read_slices(&part.path, slices)?);
            }
            merged.write_by_slice(&concat_batches(&hits_schema(), &batches)?, HIT_ROW_GROUP_ROWS)?;
        }
        let (first, last) = (run[0].first, run.iter().map(|p| p.last).max().expect("parts"));
        merged.finish(&self.part_path(day, first, last))?;
        for part in run {
            fs::remove_file(&part.path).map_err(io(format!("removing {}", part.path.display())))?;
        }
        sync_dir(&self.day_dir(day))
    }

    pub(super) fn part_path(&self, day: NaiveDate, first: u64, last: u64) -> PathBuf {
        self.day_dir(day).join(format!("part-{first:020}-{last:020}.parquet"))
    }
}

/// Which adjacent run of [`MERGED_PARTS`] parts (of these sizes, in order) to merge, and its
/// hits: the run holding the fewest, unless even that one holds over `most`.
fn run_to_merge(sizes: &[u64], most: u64) -> Option<(std::ops::Range<usize>, u64)> {
    let width = MERGED_PARTS.min(sizes.len());
    if width < 2 {
        return None;
    }
    let total = |i: usize| sizes[i..i + width].iter().sum::<u64>();
    let start = (0..=sizes.len().checked_sub(width)?).min_by_key(|&i| total(i))?;
    (total(start) <= most).then(|| (start..start + width, total(start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_run_is_merged_unless_it_is_too_large() {
        let mut sizes = vec![5_000_000, 4_000_000, 3_000_000];
        sizes.extend([10; 14]);
        assert_eq!(run_to_merge(&sizes, MAX_MERGED_HITS), Some((3..11, 80)), "the eight small parts first");
        let big = vec![5_000_000_u64; 17];
        assert_eq!(run_to_merge(&big, MAX_MERGED_HITS), None, "parts of a large day stay as they are");
        assert_eq!(run_to_merge(&big, u64::MAX), Some((0..8, 40_000_000)));
        assert_eq!(run_to_merge(&[], MAX_MERGED_HITS), None);
    }
}
