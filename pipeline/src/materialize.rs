//! Materialized periods: the cells of closed weeks, months and school years kept while their
//! facts are still there, so that dashboards read a closed period's figures instead of counting
//! its distinct visitors again at every request.
//!
//! The cells are those a retention freeze keeps ([`crate::frozen::cell_sets`], computed by
//! [`RollupStore::freeze`]), exact, with no pseudonym. They are a copy of what the facts say:
//! a store drops them ("thaws" the period) before any change to the facts of one of its days
//! (late hits recomputed, an erasure), and the period is materialized again once its days are
//! computed. A combination the cells do not keep is read from the facts. When the facts of a
//! materialized period are retired, the retention keeps its cells as they are.
//!
//! One period is materialized per pipeline step ([`materialize_next`]), newest first: the
//! latest closed week soon after it ends, a backlog a period at a time between computations.
//! Days are not materialized (a day's facts are small; its figures are quick to compute).

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use serde::Serialize;

use crate::error::PipelineError;
use crate::model::Period;
use crate::store::RollupStore;

/// The kinds of periods materialized.
pub const KINDS: [Period; 3] = [Period::Week, Period::Month, Period::SchoolYear];

/// Days after its end before a period is materialized: hits of its last day may still be on
/// their way (a day's computation follows its hits by a poll interval).
pub const SETTLE_DAYS: u64 = 1;

/// One period whose cells were kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Materialized {
    /// Kind of period.
    pub period: Period,
    /// Its first day.
    pub start: NaiveDate,
    /// Cells kept.
    pub cells: u64,
}

/// The closed periods to materialize on `today`, newest first (by end, then shortest first):
/// periods of [`KINDS`] that ended at least [`SETTLE_DAYS`] before `today`, hold facts, none of
/// whose days is dirty or retired, and whose cells are not kept.
pub async fn pending(store: &dyn RollupStore, today: NaiveDate) -> Result<Vec<(Period, NaiveDate)>, PipelineError> {
    let days = store.days().await?;
    let dirty: BTreeSet<NaiveDate> = store.dirty_days().await?.into_iter().collect();
    let retired = store.facts_retired_through().await?;
    let settled = today.checked_sub_days(Days::new(SETTLE_DAYS)).unwrap_or(today);
    let mut pending = Vec::new();
    for period in KINDS {
        let kept = store.frozen_starts(period).await?;
        let starts: BTreeSet<NaiveDate> = days.iter().map(|d| period.start_of(*d)).collect();
        for start in starts {
            let end = period.end_of(start);
            let closed = end < settled;
            let live = retired.is_none_or(|r| start > r);
            if closed && live && !kept.contains(&start) && dirty.range(start..=end).next().is_none() {
                pending.push((period, start));
            }
        }
    }
    pending.sort_by_key(|(period, start)| (std::cmp::Reverse(period.end_of(*start)), KINDS.iter().position(|k| k == period)));
    Ok(pending)
}

/// Materializes the newest pending period ([`pending`]), if any.
pub async fn materialize_next(store: &dyn RollupStore, today: NaiveDate) -> Result<Option<Materialized>, PipelineError> {
    let Some(&(period, start)) = pending(store, today).await?.first() else { return Ok(None) };
    let cells = store.freeze(period, &BTreeSet::from([start])).await?;
    Ok(Some(Materialized { period, start, cells }))
}

/// Materializes every pending period, one after the other (a backlog at once, e.g. after an
/// import, or for a benchmark); `on_done` sees each. Returns them.
pub async fn materialize_all(
    store: &dyn RollupStore,
    today: NaiveDate,
    mut on_done: impl FnMut(&Materialized),
) -> Result<Vec<Materialized>, PipelineError> {
    let mut done = Vec::new();
    while let Some(materialized) = materialize_next(store, today).await? {
        on_done(&materialized);
        done.push(materialized);
    }
    Ok(done)
}
