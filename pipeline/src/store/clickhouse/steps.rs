//! The ClickHouse store's side of a step that re-cuts only the visitors with new hits
//! ([`crate::day_changes`]): each generation of a day's facts is stamped (table
//! `facts_stamps`) with the staged positions and the visit definition it was computed from; a
//! step reads the hits above the current generation's stamp, and its new generation holds the
//! changed visitors' new facts plus the other visitors' rows copied on the server
//! (`INSERT … SELECT`) from the current generation. The changed visitors travel through table
//! `changed_visitors`, one partition per generation, dropped once the step is done.

use chrono::NaiveDate;
use clickhouse::Row;
use collector::log::partition_positions;
use serde::{Deserialize, Serialize};

use super::parts::and_within;
use super::rows::{HitColumns, HitRow, UsageColumns, UsageRow, VisitColumns, VisitRow};
use super::ClickHouseRollupStore;
use crate::day_changes::{DayChanges, FactsStamp, Positions, VisitorSet};
use crate::day_part::DayPart;
use crate::error::PipelineError;
use crate::facts::{core_usages_schema, core_visits_schema, in_layout, usages_schema, visits_schema};
use crate::sessionize::CoreFacts;
use crate::tagging::tagging_schema;
use crate::visitor_slices::VisitorSlices;

/// Table `facts_stamps`: what a generation of a day's facts was computed from.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(super) struct StampRow {
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub(super) day: NaiveDate,
    pub(super) generation: u64,
    pub(super) stamp: String,
}

/// Table `changed_visitors`: a visitor (hex) re-cut by the step of a generation.
#[derive(Debug, Row, Serialize)]
struct ChangedVisitor {
    generation: u64,
    visitor: String,
}

/// A partition's highest staged position.
#[derive(Debug, Row, Deserialize)]
struct PartitionHighest {
    partition: u32,
    highest: u64,
}

impl ClickHouseRollupStore {
    /// The staged positions of a part of a day now, per log partition.
    pub(super) async fn staged_positions(&self, part: DayPart) -> Result<Positions, PipelineError> {
        let query = self
            .sql(&format!(
                "SELECT toUInt32(bitShiftRight(`offset`, 48)) AS partition, max(`offset`) AS highest FROM {} WHERE day = toDate(?){} GROUP BY partition",
                self.table("hits"),
                and_within(part)
            ))
            .await?
            .bind(part.day);
        Ok(self.fetch_all::<PartitionHighest>(query).await?.into_iter().map(|r| (r.partition, r.highest)).collect())
    }

    /// The stamp of one generation of a day's facts, if it has one.
    pub(super) async fn stamp_of(&self, day: NaiveDate, generation: u64) -> Result<Option<FactsStamp>, PipelineError> {
        let query = self
            .sql(&format!("SELECT ?fields FROM {} WHERE day = toDate(?) AND generation = ?", self.table("facts_stamps")))
            .await?
            .bind(day)
            .bind(generation);
        Ok(self.fetch_all::<StampRow>(query).await?.first().and_then(|row| FactsStamp::decode(&row.stamp)))
    }

    /// Notes what a generation of a day's facts was computed from.
    pub(super) async fn note_stamp(&self, day: NaiveDate, generation: u64, stamp: &FactsStamp) -> Result<(), PipelineError> {
        self.insert::<StampRow>("facts_stamps", [Ok(StampRow { day, generation, stamp: stamp.encode() })].into_iter()).await
    }

    /// What a day received since facts stamped `stamp` were computed: the hits in
    /// `(stamp, through]`.
    pub(super) async fn day_changes(&self, day: NaiveDate, stamp: FactsStamp, through: &Positions) -> Result<DayChanges, PipelineError> {
        let ranges: Vec<String> = through
            .iter()
            .map(|(&partition, &last)| {
                let first = stamp.through.get(&partition).map_or(partition_positions(partition).start, |t| t + 1);
                format!("(`offset` >= {first} AND `offset` <= {last})")
            })
            .collect();
        let new_hits = if ranges.is_empty() {
            Vec::new()
        } else {
            let query = self
                .sql(&format!(
                    "SELECT ?fields FROM {} FINAL WHERE day = toDate(?) AND ({}) ORDER BY `offset`",
                    self.table("hits"),
                    ranges.join(" OR ")
                ))
                .await?
                .bind(day);
            vec![read_batch!(self, query, HitRow, HitColumns)?]
        };
        DayChanges::from_new_hits(stamp, through.clone(), new_hits)
    }

    /// Notes the visitors a generation's step re-cuts.
    pub(super) async fn note_changed_visitors(&self, generation: u64, visitors: &VisitorSet) -> Result<(), PipelineError> {
        if visitors.is_empty() {
            return Ok(());
        }
        self.insert::<ChangedVisitor>("changed_visitors", visitors.iter().map(|v| Ok(ChangedVisitor { generation, visitor: hex::encode(v) }))).await
    }

    /// Forgets the visitors of a generation's step.
    pub(super) async fn forget_changed_visitors(&self, generation: u64) -> Result<(), PipelineError> {
        self.execute(self.sql(&format!("ALTER TABLE {} DROP PARTITION {generation}", self.table("changed_visitors"))).await?).await
    }

    /// The staged hits of a part of a day within `slices` whose visitors are in `visitors`:
    /// those visitors are noted under a version of their own for the query to join them.
    pub(super) async fn hits_of_visitors(
        &self,
        part: DayPart,
        slices: VisitorSlices,
        visitors: &VisitorSet,
    ) -> Result<Vec<datafusion::arrow::array::RecordBatch>, PipelineError> {
        let within: VisitorSet = visitors.iter().filter(|v| slices.contains(VisitorSlices::of(v.as_slice()))).copied().collect();
        if within.is_empty() {
            return Ok(Vec::new());
        }
        let generation = self.next_version();
        self.note_changed_visitors(generation, &within).await?;
        let hits = self.changed_visitors_hits(part, slices, generation).await;
        self.forget_changed_visitors(generation).await?;
        hits
    }

    /// The staged hits of a part of a day within `slices` whose visitors are noted for
    /// `generation`.
    async fn changed_visitors_hits(
        &self,
        part: DayPart,
        slices: VisitorSlices,
        generation: u64,
    ) -> Result<Vec<datafusion::arrow::array::RecordBatch>, PipelineError> {
        let query = self
            .sql(&format!(
                "SELECT ?fields FROM {hits} FINAL WHERE day = toDate(?){within} AND reinterpretAsUInt8(unhex(substring(visitor, 1, 2))) BETWEEN {first} AND {last} \
                 AND visitor IN (SELECT visitor FROM {changed} WHERE generation = ?) ORDER BY `offset`",
                hits = self.table("hits"),
                changed = self.table("changed_visitors"),
                within = and_within(part),
                first = slices.first,
                last = slices.last,
            ))
            .await?
            .bind(part.day)
            .bind(generation);
        Ok(vec![read_batch!(self, query, HitRow, HitColumns)?])
    }

    /// The visits and usages of some visitors in a generation of a day's facts, in their core
    /// layouts: the visitors are noted under a version of their own for the queries to join
    /// them.
    pub(super) async fn facts_of_visitors(&self, day: NaiveDate, generation: u64, visitors: &VisitorSet) -> Result<CoreFacts, PipelineError> {
        let noted = self.next_version();
        self.note_changed_visitors(noted, visitors).await?;
        let query = |table: &str| {
            format!(
                "SELECT ?fields FROM {} WHERE day = toDate(?) AND generation = ? AND visitor IN (SELECT visitor FROM {} WHERE generation = ?)",
                self.table(table),
                self.table("changed_visitors")
            )
        };
        let visits = async { read_batch!(self, self.sql(&query("visits")).await?.bind(day).bind(generation).bind(noted), VisitRow, VisitColumns) };
        let usages = async { read_batch!(self, self.sql(&query("usages")).await?.bind(day).bind(generation).bind(noted), UsageRow, UsageColumns) };
        let read = tokio::try_join!(visits, usages);
        if !visitors.is_empty() {
            self.forget_changed_visitors(noted).await?;
        }
        let (visits, usages) = read?;
        Ok(CoreFacts { visits: in_layout(&[visits], &core_visits_schema())?, usages: in_layout(&[usages], &core_usages_schema())? })
    }

    /// Copies into generation `to` the rows of a day's generation `from` whose visitors the step
    /// of `to` does not re-cut (all the tagging counts: they have no visitor).
    pub(super) async fn copy_unchanged(&self, day: NaiveDate, from: u64, to: u64) -> Result<(), PipelineError> {
        let changed = format!("SELECT visitor FROM {} WHERE generation = {to}", self.table("changed_visitors"));
        for (table, schema, keep) in [
            ("visits", visits_schema(), format!(" AND visitor NOT IN ({changed})")),
            ("usages", usages_schema(), format!(" AND visitor NOT IN ({changed})")),
            ("tagging", tagging_schema(), String::new()),
        ] {
            let columns: Vec<String> = schema.fields().iter().map(|f| format!("`{}`", f.name())).collect();
            let columns = columns.join(", ");
            let sql = format!(
                "INSERT INTO {table} ({columns}, generation) SELECT {columns}, toUInt64({to}) FROM {table} WHERE day = toDate('{day}') AND generation = {from}{keep}",
                table = self.table(table)
            );
            self.execute(self.sql(&sql).await?).await?;
        }
        Ok(())
    }
}
