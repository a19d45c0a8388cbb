//! Retention of the per-visitor facts: after `months` (13 by default, the CNIL's limit for
//! identifiers), the days' staged hits, visits, usages and refusals go, and the figures of
//! every period holding such a day are kept as frozen cells ([`crate::frozen`]) first.
//!
//! A day goes once it is more than `months` old, so every period holding it (at most a school
//! year, twelve months) has ended: its figures are final and are computed once, exactly, from
//! all its facts, before any of them goes. Hits for a retired day met later (an old import)
//! are not staged ([`crate::Staged::retired`]); hits for a later day of a frozen period change
//! that day's figures but not the frozen period's.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, Months, NaiveDate};
use serde::Serialize;

use crate::error::PipelineError;
use crate::model::Period;
use crate::store::RollupStore;

/// Fewest months accepted: a school year must have ended before any of its days goes.
pub const MIN_MONTHS: u32 = 12;
/// Most months accepted: the CNIL's limit for identifiers.
pub const MAX_MONTHS: u32 = 13;
/// The default.
pub const DEFAULT_MONTHS: u32 = 13;

/// Why a retention cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the retention of per-visitor facts must be between {MIN_MONTHS} and {MAX_MONTHS} months, not {0}")]
pub struct InvalidMonths(pub u32);

/// The last day whose facts go on `today` when they are kept `months`.
pub fn retired_through(today: NaiveDate, months: u32) -> Result<NaiveDate, InvalidMonths> {
    if !(MIN_MONTHS..=MAX_MONTHS).contains(&months) {
        return Err(InvalidMonths(months));
    }
    Ok(today.checked_sub_months(Months::new(months)).and_then(|d| d.checked_sub_days(Days::new(1))).expect("a date well within chrono's range"))
}

/// What a retention pass does (or would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactRetirement {
    /// Facts of days up to this one go.
    pub through: NaiveDate,
    /// Days whose facts go.
    pub days: Vec<NaiveDate>,
    /// Periods frozen first, by kind (`day`, `week`, `month`, `school_year`).
    pub frozen: BTreeMap<&'static str, Vec<NaiveDate>>,
    /// Cells kept (0 in a plan).
    pub cells: u64,
}

/// What a pass on `today` would do, without doing it.
pub async fn plan(store: &dyn RollupStore, today: NaiveDate, months: u32) -> Result<FactRetirement, PipelineError> {
    let through = retired_through(today, months).map_err(|e| PipelineError::Query(e.to_string()))?;
    let days: Vec<NaiveDate> = store.days().await?.into_iter().filter(|d| *d <= through).collect();
    let frozen = unkept_periods(store, &days).await?;
    for period in Period::ALL {
        if let Some(open) = frozen.get(period.name()).and_then(|starts| starts.iter().find(|s| period.end_of(**s) >= today)) {
            return Err(PipelineError::Query(format!("the {} starting {open} has not ended: its facts cannot be retired yet", period.name())));
        }
    }
    Ok(FactRetirement { through, days, frozen, cells: 0 })
}

/// The periods holding one of `days` whose cells are not kept, by kind.
async fn unkept_periods(store: &dyn RollupStore, days: &[NaiveDate]) -> Result<BTreeMap<&'static str, Vec<NaiveDate>>, PipelineError> {
    let mut unkept = BTreeMap::new();
    for period in Period::ALL {
        let already = store.frozen_starts(period).await?;
        let starts: BTreeSet<NaiveDate> = days.iter().map(|d| period.start_of(*d)).filter(|s| !already.contains(s)).collect();
        if !starts.is_empty() {
            unkept.insert(period.name(), starts.into_iter().collect());
        }
    }
    Ok(unkept)
}

/// Applies retention on `today`: freezes the periods holding a day that goes, notes the
/// retirement, freezes what a change dropped meanwhile, then deletes the facts. Safe to run
/// again after a crash at any point (freezing again replaces; retiring again deletes what is
/// left).
///
/// Cells kept for speed ([`crate::materialize`]) count as frozen, but a change to a later day
/// of their period (a late hit, an erasure, by this process or another) drops them until the
/// retirement is noted; after that nothing drops them. So the periods are checked again
/// between the note and the deletion, while every fact they need is still there.
pub async fn apply(store: &dyn RollupStore, today: NaiveDate, months: u32) -> Result<FactRetirement, PipelineError> {
    let mut pass = plan(store, today, months).await?;
    if pass.days.is_empty() {
        return Ok(pass);
    }
    pass.cells += freeze_all(store, &pass.frozen).await?;
    store.note_facts_retired(pass.through).await?;
    let dropped = unkept_periods(store, &pass.days).await?;
    if !dropped.is_empty() {
        tracing::info!(?dropped, "kept cells dropped by a change before the retirement was noted: frozen again");
        pass.cells += freeze_all(store, &dropped).await?;
        for (kind, starts) in dropped {
            let frozen = pass.frozen.entry(kind).or_default();
            frozen.extend(starts);
            frozen.sort_unstable();
            frozen.dedup();
        }
    }
    store.retire_facts(pass.through).await?;
    Ok(pass)
}

async fn freeze_all(store: &dyn RollupStore, periods: &BTreeMap<&'static str, Vec<NaiveDate>>) -> Result<u64, PipelineError> {
    let mut cells = 0;
    for period in Period::ALL {
        if let Some(starts) = periods.get(period.name()) {
            cells += store.freeze(period, &starts.iter().copied().collect()).await?;
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_goes_once_it_is_more_than_the_retention_old() {
        let today: NaiveDate = "2026-11-23".parse().unwrap();
        assert_eq!(retired_through(today, 13).unwrap().to_string(), "2025-10-22");
        assert_eq!(retired_through(today, 12).unwrap().to_string(), "2025-11-22");
        assert_eq!(retired_through(today, 14), Err(InvalidMonths(14)));
        assert_eq!(retired_through(today, 6), Err(InvalidMonths(6)));
    }

    #[test]
    fn every_period_holding_a_retired_day_has_ended() {
        for today in ["2026-08-31", "2026-09-01", "2027-02-28", "2028-03-01"] {
            let today: NaiveDate = today.parse().unwrap();
            let through = retired_through(today, MIN_MONTHS).unwrap();
            for period in Period::ALL {
                assert!(period.end_of(through) < today, "{period:?} holding {through} ends after {today}");
            }
        }
    }
}
