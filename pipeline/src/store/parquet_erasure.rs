//! Erasure in the embedded store's files: rewriting a fact file without some visitors' rows, and
//! the erasure holds kept in `ROOT/erasure-holds.json` (see [`crate::store::erasure_hold`]).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;

use super::{io, Files};
use crate::error::PipelineError;
use crate::facts::hits_schema;
use crate::store::atomic_parquet::{read_all, sync_dir};
use crate::store::{DoomedVisitors, HeldVisitors};
use crate::tagging::rejects_schema;

/// One erased visitor held out of staging (`ROOT/erasure-holds.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ErasureHold {
    /// Hex of [`crate::store::erasure_hold::hold_digest`].
    digest: String,
    /// Last day of the hold.
    until: NaiveDate,
}

impl Files {
    /// Adds holds of these digests until `until`, forgetting the holds that ended.
    pub(super) fn add_erasure_holds(&self, digests: &[[u8; 32]], until: NaiveDate) -> Result<(), PipelineError> {
        let today = chrono::Utc::now().date_naive();
        let mut holds: Vec<ErasureHold> = self.erasure_holds()?.into_iter().filter(|h| h.until >= today).collect();
        holds.extend(digests.iter().map(|d| ErasureHold { digest: hex::encode(d), until }));
        let path = self.root.join("erasure-holds.json");
        let tmp = self.root.join("tmp").join("erasure-holds.json");
        let text = serde_json::to_vec_pretty(&holds).map_err(|e| PipelineError::Store(format!("erasure holds: {e}")))?;
        let mut file = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(io(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, &path).map_err(io(format!("renaming {}", path.display())))?;
        sync_dir(&self.root)
    }

    /// The visitors held on `today`.
    pub(super) fn held_visitors(&self, today: NaiveDate) -> Result<HeldVisitors, PipelineError> {
        let holds = self.erasure_holds()?;
        Ok(HeldVisitors::from_hex(holds.iter().filter(|h| h.until >= today).map(|h| h.digest.as_str())))
    }

    /// The erasure holds on file (none when there is no file).
    fn erasure_holds(&self) -> Result<Vec<ErasureHold>, PipelineError> {
        let path = self.root.join("erasure-holds.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PipelineError::Store(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(PipelineError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Rewrites one fact file without the visitors' rows (atomically, only if it had any), after
    /// dropping the cells kept for the day's periods ([`Files::thaw`]); returns how many went.
    pub(super) fn erase_rows(
        &self,
        day: NaiveDate,
        path: &Path,
        schema: &SchemaRef,
        visitors: &DoomedVisitors,
        days: &mut BTreeSet<NaiveDate>,
    ) -> Result<u64, PipelineError> {
        let all = concat_batches(schema, &read_all(path)?)?;
        let survivors = visitors.survivors(&all)?;
        let removed = (all.num_rows() - survivors.true_count()) as u64;
        if removed > 0 {
            if schema != &rejects_schema() {
                // Cells kept for the day's periods would still count the visitors.
                self.thaw(&BTreeSet::from([day]))?;
            }
            let kept = datafusion::arrow::compute::filter_record_batch(&all, &survivors)?;
            if schema == &hits_schema() {
                self.write_hits_atomically(path, &kept)?;
            } else {
                self.write_atomically(path, schema, &kept)?;
            }
            days.insert(day);
        }
        Ok(removed)
    }
}
