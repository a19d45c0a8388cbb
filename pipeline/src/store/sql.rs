//! The SQL that every SQL store (DataFusion over Parquet, ClickHouse) runs for the editors'
//! views, and the decoding of query results into rows. The statements are written in the part
//! of SQL both engines read the same way (double-quoted identifiers, `count(DISTINCT …)`); each
//! store says what a table name stands for (a registered table, or a subquery).

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type, UInt64Type};

use crate::error::PipelineError;
use crate::facts::from_date32;
use crate::query::{sql_literal, IndicatorQuery, IndicatorRow};
use crate::tagging::{RefusedDay, RejectCount, RejectSample, RECOVERED_CODE};

/// Accepted hits per day, platform, project, service, tool and plan version (layout of
/// [`crate::tagging::tagging_schema`]) from the tagging facts in `table`, of one platform when
/// `plateforme` is given.
pub fn tagging(table: &str, plateforme: Option<&str>) -> String {
    let only = plateforme.map_or_else(String::new, |p| format!("WHERE plateforme = {}", sql_literal(p)));
    format!(
        "SELECT day, plateforme, projet, service, outil, plan_version, sum(hits) AS hits, sum(page_views) AS page_views, sum(clicks) AS clicks \
         FROM {table} {only} GROUP BY day, plateforme, projet, service, outil, plan_version"
    )
}

/// Refused events in `refusals` per `keys` (recovery rows left out), and how many of them a
/// recovery row of `recoveries` names (`recoveries`: the same table over the days from the first
/// of `refusals` on, since a replay comes after what it recovers, maybe after the last day read).
/// Both counts come from one `UNION ALL` of two groupings, the second over the recovered events
/// only: both engines take an `IN` subquery in a `WHERE` (not DataFusion in a `CASE`), and
/// `sum(0)` has the type of a count in each (`UInt64` in ClickHouse, `Int64` in DataFusion).
fn counted_with_recoveries(refusals: &str, recoveries: &str, keys: &str) -> String {
    let recovered = sql_literal(RECOVERED_CODE);
    format!(
        "SELECT {keys}, sum(events) AS events, sum(recovered) AS recovered FROM (\
         SELECT {keys}, count(DISTINCT \"offset\") AS events, sum(0) AS recovered FROM {refusals} WHERE code <> {recovered} GROUP BY {keys} \
         UNION ALL \
         SELECT {keys}, sum(0) AS events, count(DISTINCT \"offset\") AS recovered FROM {refusals} WHERE code <> {recovered} \
         AND CAST(\"offset\" AS String) IN (SELECT field FROM {recoveries} WHERE code = {recovered}) GROUP BY {keys}\
         ) AS counted GROUP BY {keys}"
    )
}

/// Refused events per day, platform and reason from the refusals in `refusals`, and how many
/// of them a replay recovered since (recovery rows in `recoveries`, see
/// [`counted_with_recoveries`]).
pub fn reject_counts(refusals: &str, recoveries: &str) -> String {
    counted_with_recoveries(refusals, recoveries, "day, plateforme, code, field, value")
}

/// Refused events per day and platform, and how many of them a replay recovered since (as
/// [`reject_counts`]).
pub fn rejected_events(refusals: &str, recoveries: &str) -> String {
    counted_with_recoveries(refusals, recoveries, "day, plateforme")
}

/// The columns of a [`reject_sample`] answer, in order (all columns of the refusals' layout).
pub const REJECT_SAMPLE_COLUMNS: [&str; 10] = ["offset", "day", "received_ms", "site", "plateforme", "event", "code", "field", "value", "properties"];

/// The reasons of the latest `limit` refused events of a platform, newest first.
pub fn reject_sample(table: &str, plateforme: &str, limit: usize) -> String {
    let columns: Vec<String> = REJECT_SAMPLE_COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "SELECT {columns} FROM {table} \
         WHERE \"offset\" IN (SELECT DISTINCT \"offset\" FROM {table} WHERE plateforme = {p} ORDER BY \"offset\" DESC LIMIT {limit}) \
         AND plateforme = {p} ORDER BY received_ms DESC, \"offset\" DESC, code",
        columns = columns.join(", "),
        p = sql_literal(plateforme)
    )
}

/// Rows of an indicator query result (columns of [`crate::query::indicator_sql`]).
pub fn indicator_rows_of(query: &IndicatorQuery, batches: &[RecordBatch]) -> Result<Vec<IndicatorRow>, PipelineError> {
    let mut rows = Vec::new();
    for batch in batches {
        let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
        let number = |i: usize| cast(batch.column(i), &DataType::Int64);
        let (code, value) = (text(0)?, text(2)?);
        let start = cast(batch.column(1), &DataType::Date32)?;
        let counts = (3..8).map(number).collect::<Result<Vec<_>, _>>()?;
        let (code, value, start) = (code.as_string::<i32>(), value.as_string::<i32>(), start.as_primitive::<Date32Type>());
        let count = |c: usize, row: usize| u64::try_from(counts[c].as_primitive::<Int64Type>().value(row)).unwrap_or(0);
        for row in 0..batch.num_rows() {
            rows.push(IndicatorRow {
                level: query.level,
                code: code.value(row).to_owned(),
                period: query.period,
                start: from_date32(start.value(row)),
                breakdown: query.breakdown.map(|b| (b, if value.is_null(row) { String::new() } else { value.value(row).to_owned() })),
                visits: count(0, row),
                visitors: count(1, row),
                page_views: count(2, row),
                clicks: count(3, row),
                duration_s: count(4, row),
            });
        }
    }
    rows.sort_unstable(); // a total order: the same as a stable sort
    Ok(rows)
}

fn count_column(batch: &RecordBatch, i: usize) -> Result<Vec<u64>, PipelineError> {
    let counts = cast(batch.column(i), &DataType::Int64)?;
    Ok(counts.as_primitive::<Int64Type>().values().iter().map(|&n| u64::try_from(n).unwrap_or(0)).collect())
}

fn day_column(batch: &RecordBatch, i: usize) -> Result<Vec<NaiveDate>, PipelineError> {
    let days = cast(batch.column(i), &DataType::Date32)?;
    Ok(days.as_primitive::<Date32Type>().values().iter().map(|&d| from_date32(d)).collect())
}

fn optional_text(batch: &RecordBatch, i: usize, row: usize) -> Option<String> {
    let text = batch.column(i).as_string::<i32>();
    text.is_valid(row).then(|| text.value(row).to_owned())
}

fn text(batch: &RecordBatch, i: usize, row: usize) -> String {
    batch.column(i).as_string::<i32>().value(row).to_owned()
}

/// Rows of a [`reject_counts`] result, sorted.
pub fn reject_counts_of(batches: &[RecordBatch]) -> Result<Vec<RejectCount>, PipelineError> {
    let mut rows = Vec::new();
    for batch in batches {
        let (days, events, recovered) = (day_column(batch, 0)?, count_column(batch, 5)?, count_column(batch, 6)?);
        for row in 0..batch.num_rows() {
            rows.push(RejectCount {
                day: days[row],
                plateforme: optional_text(batch, 1, row),
                code: text(batch, 2, row),
                field: text(batch, 3, row),
                value: optional_text(batch, 4, row),
                events: events[row],
                recovered: recovered[row],
            });
        }
    }
    rows.sort();
    Ok(rows)
}

/// Rows of a [`rejected_events`] result, sorted.
pub fn rejected_events_of(batches: &[RecordBatch]) -> Result<Vec<RefusedDay>, PipelineError> {
    let mut rows = Vec::new();
    for batch in batches {
        let (days, events, recovered) = (day_column(batch, 0)?, count_column(batch, 2)?, count_column(batch, 3)?);
        for row in 0..batch.num_rows() {
            rows.push(RefusedDay { day: days[row], plateforme: optional_text(batch, 1, row), events: events[row], recovered: recovered[row] });
        }
    }
    rows.sort();
    Ok(rows)
}

/// The events of a [`reject_sample`] result, their reasons gathered, at most `limit`.
pub fn reject_samples_of(batches: &[RecordBatch], limit: usize) -> Vec<RejectSample> {
    let mut samples: Vec<RejectSample> = Vec::new();
    let mut last: Option<(i32, u64)> = None;
    for batch in batches {
        let offset = batch.column(0).as_primitive::<UInt64Type>();
        let day = batch.column(1).as_primitive::<Date32Type>();
        let received = batch.column(2).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let reason = (text(batch, 6, row), text(batch, 7, row), optional_text(batch, 8, row));
            let key = (day.value(row), offset.value(row));
            match samples.last_mut() {
                Some(sample) if last == Some(key) => sample.reasons.push(reason),
                _ => samples.push(RejectSample {
                    received_ms: received.value(row),
                    site: optional_text(batch, 3, row),
                    plateforme: optional_text(batch, 4, row),
                    event: text(batch, 5, row),
                    reasons: vec![reason],
                    properties: text(batch, 9, row),
                }),
            }
            last = Some(key);
        }
    }
    samples.truncate(limit);
    samples
}
