//! Retention in the embedded store's files: the frozen cells of closed periods
//! (`ROOT/frozen/<kind>/<start>.parquet`, one file per period, replaced whole, removed when a
//! change to the facts of a period not retired makes them stale) and the retirement
//! of per-visitor facts (`ROOT/facts-retired-through` notes the last day retired, then the day
//! files go). See [`crate::frozen`] and [`crate::fact_retention`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{AsArray, Date32Array, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::Date32Type;
use datafusion::datasource::TableProvider;

use super::delta::DELTA_TABLES;
use super::{io, Files};
use crate::error::PipelineError;
use crate::facts::date32;
use crate::frozen::frozen_schema;
use crate::model::Period;
use crate::store::atomic_parquet::{sync_dir, AtomicParquet};

/// The directories of the per-visitor facts kept one file (or directory) per day.
const DAY_FACTS: [&str; 5] = ["hits", "visits", "usages", "rejects", "dirty"];

impl Files {
    fn frozen_dir(&self, period: Period) -> PathBuf {
        self.root.join("frozen").join(period.name())
    }

    pub(super) fn frozen_path(&self, period: Period, start: NaiveDate) -> PathBuf {
        self.frozen_dir(period).join(format!("{start}.parquet"))
    }

    /// The starts of the frozen periods of a kind.
    pub(super) fn frozen_starts(&self, period: Period) -> Result<BTreeSet<NaiveDate>, PipelineError> {
        self.listed_days(&format!("frozen/{}", period.name()))
    }

    /// A table over the frozen cells of the periods of a kind starting within `first..=last`.
    pub(super) fn frozen_table(&self, period: Period, first: NaiveDate, last: NaiveDate) -> Result<Arc<dyn TableProvider>, PipelineError> {
        let starts = self.frozen_starts(period)?;
        super::parquet_table(starts.range(first..=last).map(|start| self.frozen_path(period, *start)), &frozen_schema())
    }

    /// Starts the files of the cells of some periods of a kind, one per period.
    pub(super) fn frozen_writers(&self, period: Period, starts: &[NaiveDate]) -> Result<FrozenWriters, PipelineError> {
        let dir = self.frozen_dir(period);
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let files = starts.iter().map(|s| Ok((date32(*s), (*s, self.create_compact(&frozen_schema())?)))).collect::<Result<_, PipelineError>>()?;
        Ok(FrozenWriters { files })
    }

    /// Puts the files of [`Self::frozen_writers`] in place, each replacing its period's cells
    /// atomically.
    pub(super) fn finish_frozen(&self, period: Period, writers: FrozenWriters) -> Result<(), PipelineError> {
        for (_, (start, file)) in writers.files {
            file.finish(&self.frozen_path(period, start))?;
        }
        sync_dir(&self.frozen_dir(period))
    }

    /// Drops the kept cells that a change to the facts of these days makes stale
    /// ([`crate::frozen::thawed_by`]), and the year-to-date rows holding one of these days;
    /// called before the change, so that a crash between the two leaves no stale cell. Returns
    /// the periods dropped.
    pub(super) fn thaw(&self, days: &BTreeSet<NaiveDate>) -> Result<Vec<(Period, NaiveDate)>, PipelineError> {
        self.drop_years_to_date(|year, through| days.iter().any(|d| crate::year_to_date::staled_by(year, through, *d)))?;
        let retired = self.facts_retired_through()?;
        let periods: BTreeSet<(Period, NaiveDate)> = days.iter().flat_map(|d| crate::frozen::thawed_by(*d, retired)).collect();
        let mut thawed = Vec::new();
        for (period, start) in periods {
            let path = self.frozen_path(period, start);
            match fs::remove_file(&path) {
                Ok(()) => thawed.push((period, start)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(PipelineError::io(format!("removing {}", path.display()), e)),
            }
        }
        for period in thawed.iter().map(|(p, _)| *p).collect::<BTreeSet<_>>() {
            sync_dir(&self.frozen_dir(period))?;
        }
        if !thawed.is_empty() {
            tracing::debug!(?thawed, "kept cells dropped: their facts change");
        }
        Ok(thawed)
    }

    fn retired_mark(&self) -> PathBuf {
        self.root.join("facts-retired-through")
    }

    /// The last day whose facts were retired.
    pub(super) fn facts_retired_through(&self) -> Result<Option<NaiveDate>, PipelineError> {
        let path = self.retired_mark();
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map(Some).map_err(|e| PipelineError::Store(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PipelineError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Durably notes `through` as the last day retired (never moving it back). Returns the
    /// last day retired.
    pub(super) fn note_retired(&self, through: NaiveDate) -> Result<NaiveDate, PipelineError> {
        let through = self.facts_retired_through()?.map_or(through, |t| t.max(through));
        let (path, tmp) = (self.retired_mark(), self.root.join("tmp").join("facts-retired-through"));
        let mut file = fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        file.write_all(through.to_string().as_bytes()).and_then(|()| file.sync_all()).map_err(io(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, &path).map_err(io(format!("renaming {}", path.display())))?;
        sync_dir(&self.root)?;
        Ok(through)
    }

    /// Notes `through` (never moving it back), then deletes the per-visitor facts of every day
    /// up to it. Returns the days whose facts went.
    pub(super) fn retire_facts(&self, through: NaiveDate) -> Result<Vec<NaiveDate>, PipelineError> {
        let through = self.note_retired(through)?;
        self.drop_years_to_date(|year, _| year <= through)?;
        let mut retired = BTreeSet::new();
        for kind in DAY_FACTS {
            for day in self.listed_days(kind)?.into_iter().filter(|d| *d <= through) {
                let base = self.root.join(kind);
                let (dir, file) = (base.join(day.to_string()), base.join(format!("{day}.parquet")));
                if dir.is_dir() {
                    fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
                } else if file.exists() {
                    fs::remove_file(&file).map_err(io(format!("removing {}", file.display())))?;
                } else {
                    fs::remove_file(&dir).map_err(io(format!("removing {}", dir.display())))?;
                }
                if DELTA_TABLES.contains(&kind) {
                    let delta = self.delta_path(kind, day);
                    if delta.exists() {
                        fs::remove_file(&delta).map_err(io(format!("removing {}", delta.display())))?;
                    }
                }
                retired.insert(day);
            }
            sync_dir(&self.root.join(kind))?;
        }
        Ok(retired.into_iter().collect())
    }
}

/// The files of the cells of some periods being written.
pub(super) struct FrozenWriters {
    /// By period start (as `Date32`).
    files: BTreeMap<i32, (NaiveDate, AtomicParquet)>,
}

impl FrozenWriters {
    /// Adds cells (frozen layout) to the current row group of the files of their periods; cells
    /// of other periods are left out. Returns the cells written.
    pub(super) fn write(&mut self, cells: &RecordBatch) -> Result<u64, PipelineError> {
        let starts = cells.column(1).as_primitive::<Date32Type>();
        let mut written = 0;
        for start in starts.values().iter().copied().collect::<BTreeSet<i32>>() {
            let Some((_, file)) = self.files.get_mut(&start) else { continue };
            let mine = eq(starts, &Date32Array::new_scalar(start))?;
            let rows = filter_record_batch(cells, &mine)?;
            written += rows.num_rows() as u64;
            file.write(&rows)?;
        }
        Ok(written)
    }

    /// Ends the row group of every file: called after each cell set, so that a lookup skips the
    /// row groups of other sets by their statistics, and a file holds a row group per set (a
    /// small footer for the many files a page's lookups open).
    pub(super) fn end_set(&mut self) -> Result<(), PipelineError> {
        self.files.values_mut().try_for_each(|(_, file)| file.end_row_group())
    }
}
