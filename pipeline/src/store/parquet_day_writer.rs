//! [`ParquetDayWriter`]: a day's new facts in the embedded store, written in `tmp/` a piece at a
//! time and renamed into place on commit.

use std::fs;

use async_trait::async_trait;
use chrono::NaiveDate;

use super::{blocking, ParquetRollupStore};
use crate::error::PipelineError;
use crate::sessionize::Sessionized;
use crate::store::atomic_parquet::{sync_dir, AtomicParquet};
use crate::store::DayFactsWriter;

/// A day's new facts being written in `tmp/` (visits, usages, tagging counts), one row group
/// per appended piece; renamed into place on commit.
pub(super) struct ParquetDayWriter<'a> {
    pub(super) store: &'a ParquetRollupStore,
    pub(super) day: NaiveDate,
    pub(super) begun: u64,
    /// Visits, usages, tagging counts; `None` once committed.
    pub(super) files: Option<[AtomicParquet; 3]>,
}

#[async_trait]
impl DayFactsWriter for ParquetDayWriter<'_> {
    async fn append(&mut self, facts: Sessionized) -> Result<(), PipelineError> {
        let mut files = self.files.take().ok_or_else(|| PipelineError::Store("facts appended after commit".into()))?;
        let files = blocking(move || {
            files[0].write_row_group(&facts.visits)?;
            files[1].write_row_group(&facts.usages)?;
            files[2].write_row_group(&facts.tagging)?;
            Ok(files)
        })
        .await?;
        self.files = Some(files);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), PipelineError> {
        let [visits, usages, tagging] = self.files.take().ok_or_else(|| PipelineError::Store("facts committed twice".into()))?;
        let (this, day) = (self.store.files.clone(), self.day);
        let store = self.store;
        // The cells kept for the day's periods are dropped first: a crash between the two
        // leaves the day dirty and no stale cell.
        let _cells = store.cells.lock().await;
        blocking(move || {
            this.thaw(&std::collections::BTreeSet::from([day]))?;
            usages.finish(&this.root.join("usages").join(format!("{day}.parquet")))?;
            tagging.finish(&this.root.join("tagging").join(format!("{day}.parquet")))?;
            visits.finish(&this.root.join("visits").join(format!("{day}.parquet")))
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
