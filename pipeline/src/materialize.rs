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
//!
//! The open school year cannot be kept whole; its facts up to the latest settled day are kept
//! summed per visitor instead ([`crate::year_to_date`]), again each day, before any closed
//! period: a school-year view of the current year is what most users open.

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
    /// Cells kept (rows, for the year to date).
    pub cells: u64,
    /// For the open school year's year-to-date rows: the last day they hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<NaiveDate>,
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

/// The open school year's days to keep summed per visitor on `today`, `(year, through)`:
/// `through` is the latest day with facts that ended at least [`SETTLE_DAYS`] before `today`,
/// in a school year still open then, none of whose days up to it is dirty or retired, and the
/// rows kept do not already reach it.
pub async fn year_to_date_pending(store: &dyn RollupStore, today: NaiveDate) -> Result<Option<(NaiveDate, NaiveDate)>, PipelineError> {
    let settled = today.checked_sub_days(Days::new(SETTLE_DAYS)).unwrap_or(today);
    let Some(through) = store.days().await?.into_iter().rev().find(|d| *d < settled) else { return Ok(None) };
    let year = Period::SchoolYear.start_of(through);
    let open = Period::SchoolYear.end_of(year) >= settled;
    let live = store.facts_retired_through().await?.is_none_or(|r| year > r);
    let clean = store.dirty_days().await?.iter().all(|d| !(year..=through).contains(d));
    if !(open && live && clean) || store.year_to_date().await? == Some((year, through)) {
        return Ok(None);
    }
    Ok(Some((year, through)))
}

/// Keeps the open school year's rows to date if they are due ([`year_to_date_pending`]), or
/// else materializes the newest pending period ([`pending`]), if any.
pub async fn materialize_next(store: &dyn RollupStore, today: NaiveDate) -> Result<Option<Materialized>, PipelineError> {
    if let Some((year, through)) = year_to_date_pending(store, today).await? {
        let cells = store.keep_year_to_date(year, through).await?;
        return Ok(Some(Materialized { period: Period::SchoolYear, start: year, cells, through: Some(through) }));
    }
    let Some(&(period, start)) = pending(store, today).await?.first() else { return Ok(None) };
    let cells = store.freeze(period, &BTreeSet::from([start])).await?;
    Ok(Some(Materialized { period, start, cells, through: None }))
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
