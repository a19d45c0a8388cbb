//! A day's facts as a base file and a delta file: a step that re-cuts a few visitors writes
//! only their facts, so its cost follows what is new, not the size of the day.
//!
//! ```text
//! ROOT/visits/YYYY-MM-DD.parquet         base: every visitor's visits, except those in the delta
//! ROOT/visits/YYYY-MM-DD.delta.parquet   delta: the visits of the visitors re-cut since the base
//! ROOT/usages/…                          the same for usages
//! ```
//!
//! The visitors of a table's delta are its *replaced* visitors: their rows in the base are
//! stale and never read; a reader takes the base without them (an anti-join on the pseudonym)
//! and the whole delta ([`Files::table`]). Each table is whole on its own at any moment (every
//! visit has a usage, its service's, so a re-cut visitor is in both deltas). A step rewrites the delta (its rows of visitors not
//! re-cut, then the re-cut visitors' new facts); once the delta would pass
//! [`COMPACT_SHARE`] of the base, the step writes a new base instead and removes the delta.
//! Maintenance that reads fact files directly (freezes, years to date, erasure, retention)
//! compacts the days it covers first ([`Files::compact_days`]), so they only ever see bases.
//!
//! Crash safety: files are replaced by rename. A new base is renamed into place before the
//! delta is removed; a reader in between takes the replaced visitors from the old delta, whose
//! rows the new base holds too (a consistent, slightly older state). The stamp of a table's
//! facts is its delta's when it has one ([`Files::stamped_path`]): after a crash the three
//! tables disagree and the day is computed whole.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{BinaryArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::common::Column;
use datafusion::datasource::{provider_as_source, MemTable, TableProvider};
use datafusion::logical_expr::{JoinType, LogicalPlan, LogicalPlanBuilder};

use super::parquet_table;
use super::Files;
use crate::day_changes::{filter_visitors, visitors_of, VisitorSet, STAMP_KEY};
use crate::error::PipelineError;
use crate::facts::{usages_schema, visits_schema};
use crate::store::atomic_parquet::{noted, read_column, read_visitors, row_count, sync_dir, AtomicParquet};
use crate::visitor_slices::VisitorSlices;

/// The fact tables that take a delta.
pub(super) const DELTA_TABLES: [&str; 2] = ["visits", "usages"];

/// A delta is folded into a new base once its rows would pass this share of the base's (one in
/// eight): a step then writes at most about an eighth of the day, and the base is rewritten
/// once per eighth of the day re-cut.
pub(super) const COMPACT_SHARE: u64 = 8;

/// Suffix of a delta file's name (before `.parquet`).
const DELTA_SUFFIX: &str = ".delta";

/// The files a fact directory holds for one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct DayFiles {
    /// `YYYY-MM-DD.parquet` exists.
    pub(super) base: bool,
    /// `YYYY-MM-DD.delta.parquet` exists.
    pub(super) delta: bool,
}

/// The day a fact file's stem names, and whether it is a delta.
pub(super) fn day_of_stem(stem: &str) -> Option<(NaiveDate, bool)> {
    match stem.strip_suffix(DELTA_SUFFIX) {
        Some(day) => day.parse().ok().map(|d| (d, true)),
        None => stem.parse().ok().map(|d| (d, false)),
    }
}

impl Files {
    /// The base file of a day's facts of `table`.
    pub(super) fn fact_path(&self, table: &str, day: NaiveDate) -> PathBuf {
        self.root.join(table).join(format!("{day}.parquet"))
    }

    /// The delta file of a day's facts of `table`.
    pub(super) fn delta_path(&self, table: &str, day: NaiveDate) -> PathBuf {
        self.root.join(table).join(format!("{day}{DELTA_SUFFIX}.parquet"))
    }

    /// The file whose metadata holds the stamp of a day's facts of `table`: its delta when it
    /// has one.
    pub(super) fn stamped_path(&self, table: &str, day: NaiveDate) -> PathBuf {
        let delta = self.delta_path(table, day);
        if DELTA_TABLES.contains(&table) && delta.exists() {
            delta
        } else {
            self.fact_path(table, day)
        }
    }

    /// The visitors a day's delta of `table` replaces (none without one).
    pub(super) fn replaced_visitors(&self, table: &str, day: NaiveDate) -> Result<VisitorSet, PipelineError> {
        let path = self.delta_path(table, day);
        match read_column(&path, "visitor") {
            Ok(batches) => visitors_of(&batches),
            Err(_) if !path.exists() => Ok(VisitorSet::new()),
            Err(e) => Err(e),
        }
    }

    /// Rows of the base and of the delta of a day's facts (visits and usages together).
    pub(super) fn base_and_delta_rows(&self, day: NaiveDate) -> Result<(u64, u64), PipelineError> {
        let (mut base, mut delta) = (0, 0);
        for table in DELTA_TABLES {
            let (b, d) = (self.fact_path(table, day), self.delta_path(table, day));
            if b.exists() {
                base += row_count(&b)?;
            }
            if d.exists() {
                delta += row_count(&d)?;
            }
        }
        Ok((base, delta))
    }

    /// Copies into `into` the rows of a day's current `table` facts (base without the visitors
    /// its delta replaces, then the delta) whose visitor is not in `recut`, a batch at a time;
    /// `from_base` false copies only the delta's.
    pub(super) fn copy_facts_except(
        &self,
        table: &str,
        day: NaiveDate,
        recut: &VisitorSet,
        from_base: bool,
        into: &mut AtomicParquet,
    ) -> Result<(), PipelineError> {
        let delta = self.delta_path(table, day);
        if from_base {
            let replaced = self.replaced_visitors(table, day)?;
            let base = self.fact_path(table, day);
            if base.exists() {
                copy_rows(&base, |v| !recut.contains(v) && !replaced.contains(v), into)?;
            }
        }
        if delta.exists() {
            copy_rows(&delta, |v| !recut.contains(v), into)?;
        }
        into.end_row_group()
    }

    /// The current rows of some visitors in a day's `table` facts: the delta's for the visitors
    /// it replaces, the base's for the others; only the visitor column is decoded for the
    /// other visitors' rows.
    pub(super) fn facts_of(&self, table: &str, day: NaiveDate, visitors: &VisitorSet) -> Result<Vec<RecordBatch>, PipelineError> {
        let replaced = self.replaced_visitors(table, day)?;
        let (in_delta, in_base): (VisitorSet, VisitorSet) = visitors.iter().partition(|v| replaced.contains(*v));
        let mut batches = Vec::new();
        for (path, wanted) in [(self.fact_path(table, day), in_base), (self.delta_path(table, day), in_delta)] {
            if !wanted.is_empty() && path.exists() {
                batches.extend(read_visitors(&path, VisitorSlices::ALL, Arc::new(wanted))?);
            }
        }
        Ok(batches)
    }

    /// Removes the deltas of a day (after a new base took their rows).
    pub(super) fn remove_deltas(&self, day: NaiveDate) -> Result<(), PipelineError> {
        for table in DELTA_TABLES {
            let path = self.delta_path(table, day);
            match fs::remove_file(&path) {
                Ok(()) => sync_dir(&self.root.join(table))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(PipelineError::io(format!("removing {}", path.display()), e)),
            }
        }
        Ok(())
    }

    /// Folds the delta of every day of `first..=last` that has one into a new base, keeping
    /// its stamp: the facts read the same before and after.
    pub(super) fn compact_days(&self, first: NaiveDate, last: NaiveDate) -> Result<usize, PipelineError> {
        let days: Vec<NaiveDate> = self.listed_files("visits")?.range(first..=last).filter(|(_, files)| files.delta).map(|(day, _)| *day).collect();
        for day in &days {
            self.compact_day(*day)?;
        }
        if !days.is_empty() {
            tracing::debug!(days = days.len(), %first, %last, "fact deltas folded into their bases");
        }
        Ok(days.len())
    }

    fn compact_day(&self, day: NaiveDate) -> Result<(), PipelineError> {
        for (table, schema) in [("usages", usages_schema()), ("visits", visits_schema())] {
            let Some(stamp) = noted(&self.stamped_path(table, day), STAMP_KEY)? else { continue };
            let mut file = self.create(&schema)?;
            self.copy_facts_except(table, day, &VisitorSet::new(), true, &mut file)?;
            file.note(STAMP_KEY, stamp);
            file.finish(&self.fact_path(table, day))?;
        }
        self.remove_deltas(day)
    }

    /// A table over the day files of a fact directory within `first..=last` (an empty table
    /// when none): a day with a delta reads its base without the replaced visitors, then its
    /// delta.
    pub(super) fn table(&self, dir: &str, schema: &SchemaRef, first: NaiveDate, last: NaiveDate) -> Result<Arc<dyn TableProvider>, PipelineError> {
        let files: BTreeMap<NaiveDate, DayFiles> = self.listed_files(dir)?.range(first..=last).map(|(d, f)| (*d, *f)).collect();
        let whole_days = parquet_table(files.iter().filter(|(_, f)| f.base && !f.delta).map(|(day, _)| self.fact_path(dir, *day)), schema)?;
        let with_delta: Vec<NaiveDate> = files.iter().filter(|(_, f)| f.delta).map(|(day, _)| *day).collect();
        if with_delta.is_empty() {
            return Ok(whole_days);
        }
        let mut plan = LogicalPlanBuilder::scan("whole_days", provider_as_source(whole_days), None)?;
        for day in with_delta {
            plan = plan.union(self.day_with_delta(dir, schema, day, files[&day].base)?)?;
        }
        Ok(Arc::new(ViewTable::new(plan.build()?, None)))
    }

    /// One day's facts of `dir` with a delta: its base without the replaced visitors, then the
    /// delta.
    fn day_with_delta(&self, dir: &str, schema: &SchemaRef, day: NaiveDate, has_base: bool) -> Result<LogicalPlan, PipelineError> {
        let delta = parquet_table([self.delta_path(dir, day)], schema)?;
        let delta = LogicalPlanBuilder::scan(format!("delta_{day}"), provider_as_source(delta), None)?;
        if !has_base {
            return Ok(delta.build()?);
        }
        let replaced = self.replaced_visitors(dir, day)?;
        let replaced_schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("replaced_visitor", DataType::Binary, false)]));
        let column = BinaryArray::from_iter_values(replaced.iter().map(<[u8; 16]>::as_slice));
        let replaced = MemTable::try_new(replaced_schema.clone(), vec![vec![RecordBatch::try_new(replaced_schema, vec![Arc::new(column)])?]])?;
        let replaced = LogicalPlanBuilder::scan(format!("replaced_{day}"), provider_as_source(Arc::new(replaced)), None)?.build()?;
        let base = parquet_table([self.fact_path(dir, day)], schema)?;
        let kept = LogicalPlanBuilder::scan(format!("base_{day}"), provider_as_source(base), None)?.join(
            replaced,
            JoinType::LeftAnti,
            (vec![Column::from_name("visitor")], vec![Column::from_name("replaced_visitor")]),
            None,
        )?;
        Ok(kept.union(delta.build()?)?.build()?)
    }
}

/// Copies the rows of a fact file whose visitor `keep` selects into `into`, a batch at a time.
fn copy_rows(path: &Path, keep: impl Fn(&[u8; 16]) -> bool, into: &mut AtomicParquet) -> Result<(), PipelineError> {
    for batch in read_all_streaming(path)? {
        let kept = filter_visitors(&batch?, |v| <[u8; 16]>::try_from(v).is_ok_and(|v| keep(&v)))?;
        if kept.num_rows() > 0 {
            into.write(&kept)?;
        }
    }
    Ok(())
}

/// The batches of a Parquet file, read as they are decoded.
fn read_all_streaming(
    path: &Path,
) -> Result<impl Iterator<Item = Result<datafusion::arrow::array::RecordBatch, datafusion::arrow::error::ArrowError>>, PipelineError> {
    let file = fs::File::open(path).map_err(|e| PipelineError::io(format!("opening {}", path.display()), e))?;
    Ok(datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024).build()?)
}

impl Files {
    /// The days of a directory's day files (a day with a delta or only a delta counts once).
    pub(super) fn listed_days(&self, dir: &str) -> Result<std::collections::BTreeSet<NaiveDate>, PipelineError> {
        Ok(self.listed_files(dir)?.into_keys().collect())
    }

    /// The day files of a directory: per day, whether it has a base file and a delta
    /// (a day directory or marker counts as a base).
    pub(super) fn listed_files(&self, dir: &str) -> Result<std::collections::BTreeMap<NaiveDate, DayFiles>, PipelineError> {
        let dir = self.root.join(dir);
        let mut days: std::collections::BTreeMap<NaiveDate, DayFiles> = std::collections::BTreeMap::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A store written before this kind of fact existed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(days),
            Err(e) => return Err(PipelineError::io(format!("listing {}", dir.display()), e)),
        };
        for entry in entries {
            let path = entry.map_err(super::io(format!("listing {}", dir.display())))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let stem = name.strip_suffix(".parquet").unwrap_or(name);
            match day_of_stem(stem) {
                Some((day, delta)) => {
                    let files = days.entry(day).or_default();
                    if delta {
                        files.delta = true;
                    } else {
                        files.base = true;
                    }
                }
                None => return Err(PipelineError::Store(format!("unexpected file {}", path.display()))),
            }
        }
        Ok(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stem_names_its_day_and_whether_it_is_a_delta() {
        let day: NaiveDate = "2026-09-08".parse().unwrap();
        assert_eq!(day_of_stem("2026-09-08"), Some((day, false)));
        assert_eq!(day_of_stem("2026-09-08.delta"), Some((day, true)));
        assert_eq!(day_of_stem("2026-09-08.other"), None);
        assert_eq!(day_of_stem("notes"), None);
    }
}
