//! Year to date in the ClickHouse store (see [`crate::year_to_date`]): rows in `ytd_visits` and
//! `ytd_usages` under a generation per keeping, and `years_to_date` naming the latest. The rows
//! of a generation stand while no day up to their `through` was thawed after it (the day
//! entries of `frozen_thaws`, written before and after every change to a day's facts), and
//! while their school year holds no retired day.

use chrono::NaiveDate;

use super::{day_at, indicator_schema, ClickHouseRollupStore};
use crate::error::PipelineError;
use crate::model::Period;
use crate::query::{indicator_sql_counting, sql_literal, Dialect, IndicatorQuery, IndicatorRow};
use crate::store::sql;
use crate::year_to_date::{keep_sql, schema, union_source, TABLES, VISIT_COUNT};

/// The year-to-date rows that stand.
pub(super) struct Standing {
    /// First day of their school year.
    pub(super) year: NaiveDate,
    /// Last day they hold.
    pub(super) through: NaiveDate,
    /// Their generation.
    generation: u64,
}

impl ClickHouseRollupStore {
    /// The latest year-to-date rows kept, if they stand.
    pub(super) async fn standing_year_to_date(&self) -> Result<Option<Standing>, PipelineError> {
        let rows = self
            .select_json(&format!(
                "SELECT toString(school_year) AS year, toString(through) AS through, generation FROM {} FINAL ORDER BY through DESC LIMIT 1",
                self.table("years_to_date")
            ))
            .await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let (Some(year), Some(through), Some(generation)) =
            (day_at(row, "year"), day_at(row, "through"), row.get("generation").and_then(serde_json::Value::as_u64))
        else {
            return Err(PipelineError::Store(format!("unexpected years_to_date row {row:?}")));
        };
        if self.retired_through().await?.is_some_and(|r| year <= r) {
            return Ok(None);
        }
        let thawed = self
            .count(&format!(
                "SELECT count() AS n FROM {} FINAL WHERE period_kind = {} AND period_start >= toDate('{year}') AND period_start <= toDate('{through}') \
                 AND generation > {generation}",
                self.table("frozen_thaws"),
                sql_literal(Period::Day.name()),
            ))
            .await?;
        Ok((thawed == 0).then_some(Standing { year, through, generation }))
    }

    /// Computes the rows server-side (`INSERT … SELECT`) under a new generation, names it, then
    /// deletes older generations. Returns the rows kept.
    pub(super) async fn keep_rows_to_date(&self, year: NaiveDate, through: NaiveDate) -> Result<u64, PipelineError> {
        // Taken before the facts are read: a thaw written after (a change to a day's facts
        // that this reading may have missed) outranks these rows.
        let generation = self.next_version();
        for table in TABLES {
            let columns: Vec<String> = schema(table).fields().iter().map(|f| format!("`{}`", f.name())).collect();
            let select = keep_sql(table, year, through, Dialect::ClickHouse, &|t| self.current(t, year, through));
            self.execute(&format!(
                "INSERT INTO {} ({}, generation) SELECT *, {generation} FROM ({select})",
                self.table(&format!("ytd_{table}")),
                columns.join(", ")
            ))
            .await?;
        }
        self.execute(&format!(
            "INSERT INTO {} (school_year, through, generation) VALUES (toDate('{year}'), toDate('{through}'), {generation})",
            self.table("years_to_date")
        ))
        .await?;
        let mut kept = 0;
        for table in TABLES {
            let ytd = self.table(&format!("ytd_{table}"));
            kept += self.count(&format!("SELECT count() AS n FROM {ytd} WHERE generation = {generation}")).await?;
            self.execute(&format!("ALTER TABLE {ytd} DELETE WHERE generation < {generation}")).await?;
        }
        Ok(kept)
    }

    /// A whole school year's cells from the standing rows and the facts of its later days.
    pub(super) async fn query_year_to_date(&self, query: &IndicatorQuery, standing: &Standing) -> Result<Vec<IndicatorRow>, PipelineError> {
        let Standing { year, through, generation } = *standing;
        let after = through.succ_opt().unwrap_or(through);
        let end = Period::SchoolYear.end_of(year);
        let source = |table: &str| {
            let kept = format!("(SELECT * FROM {} WHERE generation = {generation})", self.table(&format!("ytd_{table}")));
            union_source(table, &kept, &self.current(table, after, end), through, Dialect::ClickHouse)
        };
        let sql =
            indicator_sql_counting(query, Dialect::ClickHouse, &source, &format!("sum({VISIT_COUNT})")).map_err(|e| PipelineError::Query(e.0))?;
        let batch = self.select(&sql, &indicator_schema()).await?;
        sql::indicator_rows_of(query, &[batch])
    }
}
