//! Year to date in the ClickHouse store (see [`crate::year_to_date`]): rows in `ytd_visits` and
//! `ytd_usages` under a generation per keeping, and `years_to_date` naming the latest. The rows
//! of a generation stand while no day up to their `through` was thawed after it (the day
//! entries of `frozen_thaws`, written before and after every change to a day's facts), and
//! while their school year holds no retired day.

use chrono::NaiveDate;

use super::records::YearToDate;
use super::ClickHouseRollupStore;
use crate::error::PipelineError;
use crate::model::Period;
use crate::query::{indicator_sql_counting, Dialect, IndicatorQuery, IndicatorRow};
use crate::year_to_date::{extend_sql, keep_sql, schema, union_source, TABLES, VISIT_COUNT};

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
        let latest = self.sql(&format!("SELECT ?fields FROM {} FINAL ORDER BY through DESC LIMIT 1", self.table("years_to_date"))).await?;
        let Some(YearToDate { school_year: year, through, generation }) = self.fetch_all::<YearToDate>(latest).await?.into_iter().next() else {
            return Ok(None);
        };
        if self.retired_through().await?.is_some_and(|r| year <= r) {
            return Ok(None);
        }
        let thaws = self
            .sql(&format!(
                "SELECT count() FROM {} FINAL WHERE period_kind = ? AND period_start >= toDate(?) AND period_start <= toDate(?) AND generation > ?",
                self.table("frozen_thaws"),
            ))
            .await?
            .bind(Period::Day.name())
            .bind(year)
            .bind(through)
            .bind(generation);
        let thawed: u64 = self.fetch_one(thaws).await?;
        Ok((thawed == 0).then_some(Standing { year, through, generation }))
    }

    /// Computes the rows server-side (`INSERT … SELECT`) under a new generation, names it, then
    /// deletes older generations: by extending the standing rows of an earlier `through` of the
    /// same year with the facts of the days since ([`extend_sql`]), or else from the facts of
    /// the whole span. Returns the rows kept.
    pub(super) async fn keep_rows_to_date(&self, year: NaiveDate, through: NaiveDate) -> Result<u64, PipelineError> {
        // Taken before anything is read, the standing rows' check included: a thaw written
        // after (a change to a day's facts that this reading may have missed, a day of the
        // standing rows included) outranks these rows.
        let generation = self.next_version();
        let standing = self.standing_year_to_date().await?.filter(|s| s.year == year && s.through < through);
        for table in TABLES {
            let columns: Vec<String> = schema(table).fields().iter().map(|f| format!("`{}`", f.name())).collect();
            let select = match &standing {
                Some(Standing { through: kept_through, generation: kept, .. }) => {
                    let rows = format!("(SELECT * FROM {} WHERE generation = {kept})", self.table(&format!("ytd_{table}")));
                    let since = kept_through.succ_opt().unwrap_or(*kept_through);
                    extend_sql(table, year, *kept_through, through, Dialect::ClickHouse, &rows, &self.current(table, since, through))
                }
                None => keep_sql(table, year, through, Dialect::ClickHouse, &|t| self.current(t, year, through)),
            };
            let insert = format!(
                "INSERT INTO {} ({}, generation) SELECT *, {generation} FROM ({select})",
                self.table(&format!("ytd_{table}")),
                columns.join(", ")
            );
            self.execute(self.prebuilt(&insert).await?).await?;
        }
        self.insert::<YearToDate>("years_to_date", [Ok(YearToDate { school_year: year, through, generation })].into_iter()).await?;
        let mut kept = 0;
        for table in TABLES {
            let ytd = self.table(&format!("ytd_{table}"));
            kept += self.fetch_one::<u64>(self.sql(&format!("SELECT count() FROM {ytd} WHERE generation = ?")).await?.bind(generation)).await?;
            self.execute(self.sql(&format!("ALTER TABLE {ytd} DELETE WHERE generation < ?")).await?.bind(generation)).await?;
        }
        tracing::debug!(%year, %through, extended_from = ?standing.map(|s| s.through), rows = kept, "year-to-date rows kept");
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
        self.indicator_rows(query, &sql).await
    }
}
