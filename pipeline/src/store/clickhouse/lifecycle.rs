//! The lifecycle of the ClickHouse store's per-visitor facts: frozen cells of closed periods
//! (`frozen_cells`, `frozen_generations`), retirement of facts past the retention of identifiers
//! (`facts_retired`, `ALTER … DELETE`), and erasure of a person's facts (`erasure_holds`).
//! See [`crate::frozen`], [`crate::fact_retention`] and [`crate::store::erase`].

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::NaiveDate;

use super::records::{DayCount, Hold, PeriodGeneration, Retired};
use super::ClickHouseRollupStore;
use crate::error::PipelineError;
use crate::frozen;
use crate::model::Period;
use crate::query::{sql_literal, Dialect, IndicatorQuery, IndicatorRow};
use crate::store::{DoomedVisitors, ErasedFacts, HeldVisitors};

impl ClickHouseRollupStore {
    /// The starts of the frozen periods of a kind: those whose latest generation of cells is
    /// above their latest thaw.
    pub(super) async fn frozen_period_starts(&self, period: Period) -> Result<BTreeSet<NaiveDate>, PipelineError> {
        let query = self
            .sql(&format!(
                "SELECT period_start AS day FROM \
                 (SELECT period_start, generation FROM {generations} FINAL WHERE period_kind = ?) AS kept \
                 ANY LEFT JOIN (SELECT period_start, generation AS thawed FROM {thaws} FINAL WHERE period_kind = ?) AS thaws \
                 USING period_start \
                 WHERE generation > thawed",
                generations = self.table("frozen_generations"),
                thaws = self.table("frozen_thaws"),
            ))
            .await?
            .bind(period.name())
            .bind(period.name());
        Ok(self.days_of(query).await?.into_iter().collect())
    }

    /// Marks stale the cells kept for the periods that a change to the facts of these days
    /// touches ([`frozen::thawed_by`]; periods holding a retired day are final and stay).
    pub(super) async fn thaw(&self, days: &BTreeSet<NaiveDate>) -> Result<(), PipelineError> {
        let retired = self.retired_through().await?;
        let periods: BTreeSet<(Period, NaiveDate)> = days.iter().flat_map(|d| frozen::thawed_by(*d, retired)).collect();
        if periods.is_empty() {
            return Ok(());
        }
        let generation = self.next_version();
        let rows = periods.iter().map(|&(p, s)| Ok(PeriodGeneration { period_kind: p.name(), period_start: s, generation }));
        self.insert::<PeriodGeneration>("frozen_thaws", rows).await
    }

    /// The cells a query asks for from the current generation of the frozen cells.
    pub(super) async fn frozen_cells_of(
        &self,
        query: &IndicatorQuery,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<IndicatorRow>, PipelineError> {
        let kind = sql_literal(query.period.name());
        let current = format!(
            "(SELECT * FROM {cells} WHERE period_kind = {kind} AND period_start >= toDate('{first}') AND period_start <= toDate('{last}') \
             AND (period_kind, period_start, generation) IN (SELECT period_kind, period_start, generation FROM {generations} FINAL WHERE period_kind = {kind})) AS frozen",
            cells = self.table("frozen_cells"),
            generations = self.table("frozen_generations"),
        );
        let sql = frozen::lookup_sql(query, first, last, Dialect::ClickHouse, &|_| current.clone()).map_err(|e| PipelineError::Query(e.0))?;
        self.indicator_rows(query, &sql).await
    }

    /// Computes the cells of periods server-side (`INSERT … SELECT`) under a new generation,
    /// then makes it current. Returns the cells kept.
    pub(super) async fn freeze_periods(&self, period: Period, starts: &BTreeSet<NaiveDate>) -> Result<u64, PipelineError> {
        let generation = self.next_version();
        let columns: Vec<String> = frozen::frozen_schema().fields().iter().map(|f| format!("`{}`", f.name())).collect();
        for (first, last, members) in frozen::chunks(period, starts) {
            let members = members.iter().map(|s| format!("toDate('{s}')")).collect::<Vec<_>>().join(", ");
            for set in frozen::cell_sets() {
                let sql = frozen::freeze_sql(&set, period, first, last, Dialect::ClickHouse, &|table| self.current(table, first, last));
                let insert = format!(
                    "INSERT INTO {} ({}, generation) SELECT *, {generation} FROM ({sql}) WHERE period_start IN ({members})",
                    self.table("frozen_cells"),
                    columns.join(", ")
                );
                self.execute(self.prebuilt(&insert).await?).await?;
            }
        }
        if !starts.is_empty() {
            let rows = starts.iter().map(|&s| Ok(PeriodGeneration { period_kind: period.name(), period_start: s, generation }));
            self.insert::<PeriodGeneration>("frozen_generations", rows).await?;
        }
        self.fetch_one(self.sql(&format!("SELECT count() FROM {} WHERE generation = ?", self.table("frozen_cells"))).await?.bind(generation)).await
    }

    /// The last day whose facts were retired.
    pub(super) async fn retired_through(&self) -> Result<Option<NaiveDate>, PipelineError> {
        let query = self.sql(&format!("SELECT through AS day FROM {} ORDER BY through DESC LIMIT 1", self.table("facts_retired"))).await?;
        Ok(self.days_of(query).await?.first().copied())
    }

    /// Notes `through` as the last day retired (never moving it back). Returns the last day
    /// retired.
    pub(super) async fn note_retired(&self, through: NaiveDate) -> Result<NaiveDate, PipelineError> {
        let through = self.retired_through().await?.map_or(through, |t| t.max(through));
        self.insert::<Retired>("facts_retired", [Ok(Retired { through })].into_iter()).await?;
        Ok(through)
    }

    /// Notes `through`, then deletes the per-visitor facts up to it.
    pub(super) async fn retire_days(&self, through: NaiveDate) -> Result<Vec<NaiveDate>, PipelineError> {
        let through = self.note_retired(through).await?;
        let mut days = BTreeSet::new();
        for table in ["hits", "visits", "usages", "rejects", "dirty", "dirty_parts", "forced_parts", "facts_stamps"] {
            let query = self.sql(&format!("SELECT DISTINCT day FROM {} WHERE day <= toDate(?)", self.table(table))).await?.bind(through);
            let retired = self.days_of(query).await?;
            if matches!(table, "hits" | "visits" | "usages" | "rejects") {
                days.extend(retired.iter().copied());
            }
            if !retired.is_empty() {
                self.execute(self.sql(&format!("ALTER TABLE {} DELETE WHERE day <= toDate(?)", self.table(table))).await?.bind(through)).await?;
            }
        }
        // Year-to-date rows holding a retired day no longer stand (see `standing_year_to_date`);
        // their pseudonyms go with the facts.
        for table in ["ytd_visits", "ytd_usages"] {
            self.execute(self.sql(&format!("ALTER TABLE {} DELETE WHERE school_year <= toDate(?)", self.table(table))).await?.bind(through)).await?;
        }
        self.await_mutations().await?;
        Ok(days.into_iter().collect())
    }

    /// Deletes a person's facts and marks their days for recomputation.
    pub(super) async fn erase(&self, visitors: &DoomedVisitors) -> Result<ErasedFacts, PipelineError> {
        let hex = visitors.hex();
        if hex.is_empty() {
            return Ok(ErasedFacts::default());
        }
        let by_visitor = format!("visitor IN ({})", hex.iter().map(|h| sql_literal(h)).collect::<Vec<_>>().join(", "));
        let by_properties =
            visitors.quoted_properties().iter().map(|q| format!("position(properties, {}) > 0", sql_literal(q))).collect::<Vec<_>>().join(" OR ");
        let current = format!("(day, generation) IN (SELECT day, generation FROM {} FINAL)", self.table("part_generations"));
        let mut erased = ErasedFacts::default();
        for (table, condition, counted) in [
            ("hits", by_visitor.clone(), format!("{} FINAL WHERE {by_visitor}", self.table("hits"))),
            ("visits", by_visitor.clone(), format!("{} WHERE {by_visitor} AND {current}", self.table("visits"))),
            ("usages", by_visitor.clone(), format!("{} WHERE {by_visitor} AND {current}", self.table("usages"))),
            ("rejects", by_properties.clone(), format!("{} WHERE {by_properties}", self.table("rejects"))),
        ] {
            let rows: Vec<DayCount> = self.fetch_all(self.prebuilt(&format!("SELECT day, count() AS n FROM {counted} GROUP BY day")).await?).await?;
            let mut removed = 0;
            for row in rows {
                removed += row.n;
                erased.days.insert(row.day);
            }
            *match table {
                "hits" => &mut erased.hits,
                "visits" => &mut erased.visits,
                "usages" => &mut erased.usages,
                _ => &mut erased.rejects,
            } += removed;
            if table != "rejects" {
                // The cells kept for those days' periods would still count the visitors.
                self.thaw(&erased.days).await?;
            }
            self.execute(self.prebuilt(&format!("ALTER TABLE {} DELETE WHERE {condition}", self.table(table))).await?).await?;
        }
        // The year-to-date rows hold the pseudonyms too (those of the days touched no longer
        // stand: they were thawed above).
        for table in ["ytd_visits", "ytd_usages"] {
            self.execute(self.prebuilt(&format!("ALTER TABLE {} DELETE WHERE {by_visitor}", self.table(table))).await?).await?;
        }
        self.await_mutations().await?;
        // Again: a freeze elsewhere may have read the facts before the deletion.
        self.thaw(&erased.days).await?;
        // Visits another instance computes from a reading older than the deletion must not
        // stand: the days are computed again.
        let days: Vec<NaiveDate> = erased.days.iter().copied().collect();
        self.force(&self.parts_of_days(&days).await?).await?;
        Ok(erased)
    }

    /// Holds erased visitors out of staging until a day.
    pub(super) async fn hold(&self, visitors: &DoomedVisitors, until: NaiveDate) -> Result<(), PipelineError> {
        let digests = visitors.hold_digests();
        if digests.is_empty() {
            return Ok(());
        }
        self.insert::<Hold>("erasure_holds", digests.iter().map(|d| Ok(Hold { digest: hex::encode(d), until }))).await
    }

    /// The visitors held out of staging on `today`.
    pub(super) async fn held(&self, today: NaiveDate) -> Result<HeldVisitors, PipelineError> {
        let query = self.sql(&format!("SELECT ?fields FROM {} FINAL WHERE until >= toDate(?)", self.table("erasure_holds"))).await?.bind(today);
        let holds: Vec<Hold> = self.fetch_all(query).await?;
        Ok(HeldVisitors::from_hex(holds.iter().map(|h| h.digest.as_str())))
    }
    /// Waits until every mutation (`ALTER … DELETE`) of the store's tables is applied: ClickHouse
    /// runs them in the background (18.16 has no `mutations_sync`).
    async fn await_mutations(&self) -> Result<(), PipelineError> {
        let deadline = std::time::Instant::now() + MUTATION_WAIT;
        loop {
            let query = self.sql("SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0").await?.bind(&self.config.database);
            let pending: u64 = self.fetch_one(query).await?;
            if pending == 0 {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(PipelineError::Store(format!(
                    "{pending} ClickHouse mutations still running after {MUTATION_WAIT:?}; they go on in the background"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Longest wait for an erasure's mutations.
const MUTATION_WAIT: Duration = Duration::from_secs(300);
