//! The ClickHouse store's small typed rows: its bookkeeping tables (generations, dirty marks,
//! thaws, holds, retirements, years to date, migrations) and the short answers it reads that are more than
//! one number or text (days, highest offsets). Field names are column names; `Date` columns are
//! `NaiveDate`s through the `clickhouse` crate's chrono support.

use chrono::NaiveDate;
use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// `SELECT count() AS n, max(`offset`) AS m …`: the highest offset of some rows, if any.
#[derive(Debug, Row, Deserialize)]
pub(super) struct Highest {
    pub(super) n: u64,
    pub(super) m: u64,
}

impl Highest {
    /// The highest offset, `None` when there is no row.
    pub(super) fn offset(&self) -> Option<u64> {
        (self.n > 0).then_some(self.m)
    }
}

/// A day answered (`SELECT … AS day`).
#[derive(Debug, Row, Deserialize)]
pub(super) struct Day {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
}

/// A day and how many rows it holds.
#[derive(Debug, Row, Deserialize)]
pub(super) struct DayCount {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
    pub(super) n: u64,
}

/// A schema version of `migrations`.
#[derive(Debug, Row, Serialize)]
pub(super) struct Migration {
    pub(super) version: u32,
}

/// Table `generations` (before version 8): the generation of a whole day's facts.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct DayGeneration {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
    pub(super) generation: u64,
}

/// Tables `frozen_generations` and `frozen_thaws`: a period and a generation.
#[derive(Debug, Row, Serialize)]
pub(super) struct PeriodGeneration {
    pub(super) period_kind: &'static str,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) period_start: NaiveDate,
    pub(super) generation: u64,
}

/// Table `erasure_holds`: an erased visitor's digest (hex) held out of staging until a day.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct Hold {
    pub(super) digest: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) until: NaiveDate,
}

/// Table `facts_retired`: the last day whose facts were retired (`at` defaults to now).
#[derive(Debug, Row, Serialize)]
pub(super) struct Retired {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) through: NaiveDate,
}

/// Table `years_to_date`: which generation of year-to-date rows stands, through which day.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct YearToDate {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) school_year: NaiveDate,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) through: NaiveDate,
    pub(super) generation: u64,
}

/// Table `part_generations`: the generation of a (day, log partition)'s facts that readers
/// read, with the version that orders two listings of it (`parts`).
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct PartGeneration {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
    pub(super) partition: u32,
    pub(super) generation: u64,
    pub(super) version: u64,
}

/// Tables `dirty_parts` and `forced_parts`: a (day, log partition) to compute again, or
/// computed, as of a version (`parts`).
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct PartMark {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
    pub(super) partition: u32,
    pub(super) version: u64,
    pub(super) dirty: bool,
}

/// A (day, log partition) answered.
#[derive(Debug, Row, Deserialize)]
pub(super) struct DayPartition {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
    pub(super) partition: u32,
}

/// A (day, log partition) and the highest version of its marks.
#[derive(Debug, Row, Deserialize)]
pub(super) struct PartVersion {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
    pub(super) partition: u32,
    pub(super) version: u64,
}
