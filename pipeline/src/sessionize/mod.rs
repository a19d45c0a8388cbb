//! Sessionization: the hits of one visitor on one platform, in time order, form a visit until a
//! gap exceeds the visit timeout (30 minutes by default; a gap of exactly the timeout continues
//! the visit) or the local day changes (visits are cut at midnight, as Piano Analytics does). A
//! visit takes the day, school, profile, project, platform and device of its first hit; its
//! duration is its last hit's time minus its first hit's, in whole seconds (truncated).
//!
//! Two interchangeable implementations give identical facts: [`sort_scan`] (an Arrow sort and a
//! linear scan, the default) and [`sql`] (DataFusion window functions). `benches/rollup.rs`
//! measures both.

pub mod extend;
pub mod sort_scan;
pub mod sql;

use std::str::FromStr;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::PipelineError;
use crate::facts::with_periods;
use crate::tagging::tagging_batch;

/// Visits and usages in their core layout (no period columns).
#[derive(Debug, Clone)]
pub struct Sessionized {
    /// One row per visit.
    pub visits: RecordBatch,
    /// One row per visit and service or tool it used.
    pub usages: RecordBatch,
    /// Hits counted per platform, project, service, tool and plan version
    /// ([`crate::tagging::tagging_batch`]).
    pub tagging: RecordBatch,
}

/// Visits and usages as a sessionizer cuts them, before the period columns.
#[derive(Debug, Clone)]
pub struct CoreFacts {
    /// One row per visit ([`crate::facts::core_visits_schema`]).
    pub visits: RecordBatch,
    /// One row per visit and service or tool ([`crate::facts::core_usages_schema`]).
    pub usages: RecordBatch,
}

/// Which implementation cuts visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Arrow sort + linear scan.
    #[default]
    SortScan,
    /// DataFusion SQL window functions.
    Sql,
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sort_scan" => Ok(Method::SortScan),
            "sql" => Ok(Method::Sql),
            other => Err(format!("unknown sessionization method `{other}` (expected sort_scan or sql)")),
        }
    }
}

/// Cuts hits into visits with a method and a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessionizer {
    /// The implementation.
    pub method: Method,
    /// The longest gap inside one visit.
    pub timeout: Duration,
}

impl Default for Sessionizer {
    fn default() -> Self {
        Sessionizer { method: Method::SortScan, timeout: Duration::from_secs(30 * 60) }
    }
}

impl Sessionizer {
    /// What the cut of a visit depends on, as text: facts cut with another definition are not
    /// kept when a day is computed again ([`crate::day_changes`]). Both methods give the same
    /// facts, so only the timeout counts.
    pub fn definition(&self) -> String {
        format!("visit_timeout_ms={}", self.timeout.as_millis())
    }

    /// The visits and usages of `old` (some visitors' facts, core layouts) extended with new
    /// hits of those visitors ([`extend`]), with their period columns and no tagging counts
    /// (the new hits' counts are added to the day's apart). `None` when `old` was written
    /// before visits kept their last hit: cut those visitors from their hits instead.
    pub async fn extend(&self, old: CoreFacts, new_hits: Vec<RecordBatch>) -> Result<Option<Sessionized>, PipelineError> {
        let timeout_ms = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        let core = tokio::task::spawn_blocking(move || extend::extend(&old, &new_hits, timeout_ms))
            .await
            .map_err(|e| PipelineError::Store(format!("extension task failed: {e}")))??;
        let Some(core) = core else { return Ok(None) };
        Ok(Some(Sessionized {
            visits: with_periods(&core.visits)?,
            usages: with_periods(&core.usages)?,
            tagging: RecordBatch::new_empty(crate::tagging::tagging_schema()),
        }))
    }

    /// Visits and usages of some staged hits, with their period columns.
    pub async fn run(&self, hits: Vec<RecordBatch>) -> Result<Sessionized, PipelineError> {
        let timeout_ms = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        let tagging = tagging_batch(&hits)?;
        let core = match self.method {
            Method::SortScan => tokio::task::spawn_blocking(move || sort_scan::sessionize(&hits, timeout_ms))
                .await
                .map_err(|e| PipelineError::Store(format!("sessionization task failed: {e}")))??,
            Method::Sql => sql::sessionize(hits, timeout_ms).await?,
        };
        Ok(Sessionized { visits: with_periods(&core.visits)?, usages: with_periods(&core.usages)?, tagging })
    }
}
