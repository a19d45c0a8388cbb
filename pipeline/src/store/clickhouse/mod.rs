//! [`ClickHouseRollupStore`]: the distributed store, the same facts as the embedded one in
//! ClickHouse tables, spoken to over ClickHouse's HTTP interface with `JSONEachRow` (which the
//! ClickHouse 18.16 of Debian's packages reads and writes, like current servers).
//!
//! ```text
//! hits         staged hits          ReplacingMergeTree, by month, ordered by (day, offset): a hit staged twice is one hit
//! visits       visit facts          MergeTree, one partition per (day, generation)
//! usages       usage facts          same
//! tagging      tagging counts       same
//! generations  current generation   ReplacingMergeTree(generation) by day: which generation of a day is read
//! dirty        days to recompute    ReplacingMergeTree(version) by day: the latest mark wins
//! rejects      refusals             ReplacingMergeTree, by month, ordered by (day, offset, code, field)
//! erasure_holds  erased visitors held out of staging (digests, until a day)
//! frozen_cells, frozen_generations  cells kept for closed periods, under a generation per freeze
//! frozen_thaws  periods whose kept cells a change to their facts made stale
//! ytd_visits, ytd_usages, years_to_date  the open school year's facts summed per visitor, under a generation per keeping
//! migrations   schema versions applied
//! ```
//!
//! Replacing a day writes its facts under a new generation, then switches the day's generation
//! in one insert: a reader sees the old facts or the new ones, never half of each. The
//! generation before the current one is kept for readers still on it; older ones are dropped as
//! whole partitions. Unique visitors stay exact: visits keep their pseudonymous visitor and every
//! query counts `count(DISTINCT visitor)` over the cells it asks for, as in the embedded store.

mod lifecycle;
pub mod rows;
pub mod schema;
mod year_to_date;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use serde::Deserialize;

use collector::log::{partition_of, partition_positions, Partition};

use self::rows::{from_json_each_row, to_json_each_row};
use super::{sql, DayFactsWriter, DoomedVisitors, ErasedFacts, HeldVisitors, RollupStore};
use crate::error::PipelineError;
use crate::facts::hits_schema;
use crate::model::Period;
use crate::query::{indicator_sql_in, Dialect, IndicatorQuery, IndicatorRow};
use crate::sessionize::Sessionized;
use crate::tagging::{rejects_schema, tagging_rows, tagging_schema, RejectCount, RejectSample, TaggingRow};
use crate::visitor_slices::VisitorSlices;

/// Where the ClickHouse server is and which database holds dnma's tables (the
/// `[store.clickhouse]` table of the configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database (created by `dnma clickhouse migrate`).
    #[serde(default = "default_database")]
    pub database: String,
    /// User (default `default`).
    #[serde(default = "default_user")]
    pub user: String,
    /// Password, if the user has one.
    #[serde(default)]
    pub password: Option<secrecy::SecretString>,
}

fn default_database() -> String {
    "dnma".to_owned()
}

fn default_user() -> String {
    "default".to_owned()
}

/// The ClickHouse rollup store (see the module header for its tables).
pub struct ClickHouseRollupStore {
    http: reqwest::Client,
    config: ClickHouseConfig,
    last_version: AtomicU64,
    /// Staged hits read back per request (a day is read in slices of offsets).
    day_hits_slice: usize,
}

impl ClickHouseRollupStore {
    /// A store on the server and database of `config`; run [`Self::migrate`] before first use.
    pub fn new(config: ClickHouseConfig) -> Result<Self, PipelineError> {
        if !config.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || config.database.is_empty() {
            return Err(PipelineError::Store(format!("ClickHouse database name {:?} is not letters, digits and _", config.database)));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| PipelineError::Store(format!("ClickHouse client: {e}")))?;
        Ok(ClickHouseRollupStore { http, config, last_version: AtomicU64::new(0), day_hits_slice: 100_000 })
    }

    /// The same store reading a day's staged hits `rows` at a time (default 100,000).
    #[must_use]
    pub fn with_day_hits_slice(mut self, rows: usize) -> Self {
        self.day_hits_slice = rows.max(1);
        self
    }

    /// Creates the database and its tables where they are missing, and records the schema version.
    pub async fn migrate(&self) -> Result<u32, PipelineError> {
        self.execute(&format!("CREATE DATABASE IF NOT EXISTS {}", self.config.database)).await?;
        for statement in schema::statements(&self.config.database)? {
            self.execute(&statement).await?;
        }
        let applied = self.select_json(&format!("SELECT max(version) AS v FROM {}.migrations", self.config.database)).await?;
        let current = applied.first().and_then(|r| r.get("v")).and_then(serde_json::Value::as_u64).unwrap_or(0);
        if current < u64::from(schema::VERSION) {
            self.execute(&format!("INSERT INTO {}.migrations (version) VALUES ({})", self.config.database, schema::VERSION)).await?;
        }
        Ok(schema::VERSION)
    }

    /// The schema version the database is at (0 before [`Self::migrate`]).
    pub async fn schema_version(&self) -> Result<u32, PipelineError> {
        let exists = self
            .select_json(&format!(
                "SELECT count() AS n FROM system.tables WHERE database = {} AND name = 'migrations'",
                crate::query::sql_literal(&self.config.database)
            ))
            .await?;
        if exists.first().and_then(|r| r.get("n")).and_then(serde_json::Value::as_u64) != Some(1) {
            return Ok(0);
        }
        let applied = self.select_json(&format!("SELECT max(version) AS v FROM {}.migrations", self.config.database)).await?;
        Ok(applied.first().and_then(|r| r.get("v")).and_then(serde_json::Value::as_u64).and_then(|v| u32::try_from(v).ok()).unwrap_or(0))
    }

    /// Drops the database and everything in it (tests and `dnma clickhouse migrate --reset`).
    pub async fn drop_database(&self) -> Result<(), PipelineError> {
        self.execute(&format!("DROP DATABASE IF EXISTS {}", self.config.database)).await.map(drop)
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.config.database)
    }

    /// A version above every earlier one of this process, and from the wall clock across processes.
    fn next_version(&self) -> u64 {
        let now = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros()).unwrap_or(u64::MAX);
        let mut last = self.last_version.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_version.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    async fn post(&self, query: Option<&str>, body: Vec<u8>) -> Result<String, PipelineError> {
        let mut request = self
            .http
            .post(&self.config.url)
            .query(&[("output_format_json_quote_64bit_integers", "0")])
            .basic_auth(&self.config.user, self.config.password.as_ref().map(secrecy::ExposeSecret::expose_secret));
        if let Some(query) = query {
            request = request.query(&[("query", query)]);
        }
        let response = request.body(body).send().await.map_err(|e| PipelineError::Store(format!("ClickHouse at {}: {e}", self.config.url)))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| PipelineError::Store(format!("ClickHouse answer: {e}")))?;
        if !status.is_success() {
            let first_line = text.lines().next().unwrap_or_default();
            return Err(PipelineError::Store(format!("ClickHouse refused ({status}): {first_line}")));
        }
        Ok(text)
    }

    /// Runs a statement.
    async fn execute(&self, sql: &str) -> Result<String, PipelineError> {
        self.post(None, sql.as_bytes().to_vec()).await
    }

    async fn select_json(&self, sql: &str) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, PipelineError> {
        let text = self.execute(&format!("{sql} FORMAT JSONEachRow")).await?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| PipelineError::Store(format!("ClickHouse JSON: {e}"))))
            .collect()
    }

    /// The `n` of the first row a `SELECT count() AS n …` answers (0 when none).
    async fn count(&self, sql: &str) -> Result<u64, PipelineError> {
        Ok(self.select_json(sql).await?.first().and_then(|r| r.get("n")).and_then(serde_json::Value::as_u64).unwrap_or(0))
    }

    async fn select(&self, sql: &str, schema: &SchemaRef) -> Result<RecordBatch, PipelineError> {
        let text = self.execute(&format!("{sql} FORMAT JSONEachRow")).await?;
        from_json_each_row(&text, schema)
    }

    async fn insert(&self, table: &str, batch: &RecordBatch, extra: &[(&str, u64)]) -> Result<(), PipelineError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let body = to_json_each_row(batch, extra)?;
        self.post(Some(&format!("INSERT INTO {} FORMAT JSONEachRow", self.table(table))), body).await.map(drop)
    }

    async fn set_dirty(&self, days: &[NaiveDate], dirty: bool) -> Result<(), PipelineError> {
        self.set_dirty_at(days, dirty, self.next_version()).await
    }

    /// Marks days dirty or clean as of `version` (the latest version of a day wins).
    async fn set_dirty_at(&self, days: &[NaiveDate], dirty: bool, version: u64) -> Result<(), PipelineError> {
        if days.is_empty() {
            return Ok(());
        }
        let values: Vec<String> = days.iter().map(|d| format!("('{d}', {version}, {})", u8::from(dirty))).collect();
        self.execute(&format!("INSERT INTO {} (day, version, dirty) VALUES {}", self.table("dirty"), values.join(", "))).await.map(drop)
    }

    /// The current facts of `name` (visits, usages or tagging) over `first..=last`, as a subquery.
    fn current(&self, name: &str, first: NaiveDate, last: NaiveDate) -> String {
        let within = format!("day >= toDate('{first}') AND day <= toDate('{last}')");
        format!(
            "(SELECT * FROM {table} WHERE {within} AND (day, generation) IN (SELECT day, generation FROM {generations} FINAL WHERE {within})) AS {name}",
            table = self.table(name),
            generations = self.table("generations"),
        )
    }

    fn rejects_within(&self, first: NaiveDate, last: NaiveDate) -> String {
        format!("(SELECT * FROM {} FINAL WHERE day >= toDate('{first}') AND day <= toDate('{last}')) AS rejects", self.table("rejects"))
    }

    /// Drops the partitions of a day's facts older than the generation before `current`.
    async fn drop_old_generations(&self, day: NaiveDate, current: u64) -> Result<(), PipelineError> {
        let kept = self
            .select_json(&format!(
                "SELECT generation FROM {} WHERE day = toDate('{day}') AND generation < {current} GROUP BY generation ORDER BY generation DESC LIMIT 1",
                self.table("generations")
            ))
            .await?;
        let previous = kept.first().and_then(|r| r.get("generation")).and_then(serde_json::Value::as_u64).unwrap_or(current);
        let day_key = day.format("%Y%m%d").to_string();
        for table in ["visits", "usages", "tagging"] {
            let parts = self
                .select_json(&format!(
                    "SELECT DISTINCT partition FROM system.parts WHERE database = {} AND table = '{table}' AND active AND partition LIKE '({day_key},%'",
                    crate::query::sql_literal(&self.config.database)
                ))
                .await?;
            for part in parts {
                let Some(partition) = part.get("partition").and_then(serde_json::Value::as_str) else { continue };
                let Some((key, generation)) = partition.trim_matches(|c| c == '(' || c == ')').split_once(',') else { continue };
                let Ok(generation) = generation.trim().parse::<u64>() else { continue };
                if key == day_key && generation < previous {
                    self.execute(&format!("ALTER TABLE {} DROP PARTITION ({day_key}, {generation})", self.table(table))).await?;
                }
            }
        }
        self.execute(&format!("OPTIMIZE TABLE {} FINAL", self.table("generations"))).await.map(drop)
    }
}

/// The rows of one day whose record positions lie in one log partition.
fn in_partition(day: NaiveDate, partition: Partition) -> String {
    let positions = partition_positions(partition);
    format!("day = toDate('{day}') AND `offset` >= {} AND `offset` < {}", positions.start, positions.end)
}

fn day_list(rows: &[serde_json::Map<String, serde_json::Value>]) -> Vec<NaiveDate> {
    rows.iter().filter_map(|r| day_at(r, "day")).collect()
}

/// The day a row holds as text under `key`.
fn day_at(row: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<NaiveDate> {
    row.get(key).and_then(serde_json::Value::as_str).and_then(|d| d.parse().ok())
}

/// Columns of an indicator query answer.
fn indicator_schema() -> SchemaRef {
    let count = |name: &str| Field::new(name, DataType::Int64, false);
    std::sync::Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("start", DataType::Date32, false),
        Field::new("cell_value", DataType::Utf8, true),
        count("visits"),
        count("visitors"),
        count("page_views"),
        count("clicks"),
        count("duration_s"),
    ]))
}

/// Columns of the refusals' layout ([`rejects_schema`]) in the order given, then an `events`
/// count when asked.
fn refusal_columns(names: &[&str], with_events: bool) -> SchemaRef {
    let rejects = rejects_schema();
    let mut fields: Vec<Field> = names.iter().map(|name| rejects.field_with_name(name).expect("a refusals column").clone()).collect();
    if with_events {
        fields.push(Field::new("events", DataType::Int64, false));
    }
    std::sync::Arc::new(Schema::new(fields))
}

fn highest_offset(rows: &[serde_json::Map<String, serde_json::Value>]) -> Option<u64> {
    let row = rows.first()?;
    if row.get("n").and_then(serde_json::Value::as_u64).unwrap_or(0) == 0 {
        return None;
    }
    row.get("m").and_then(serde_json::Value::as_u64)
}

#[async_trait]
impl RollupStore for ClickHouseRollupStore {
    async fn staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        let rows = self
            .select_json(&format!("SELECT count() AS n, max(`offset`) AS m FROM {} WHERE {}", self.table("hits"), in_partition(day, partition)))
            .await?;
        Ok(highest_offset(&rows))
    }

    async fn stage_hits(&self, day: NaiveDate, hits: RecordBatch) -> Result<(), PipelineError> {
        if super::guard_staging(self, day, &hits).await?.is_none() {
            return Ok(());
        }
        // Dirty first: a crash after it only recomputes the day; the other order could leave
        // staged hits that are never computed. Dirty again after: another instance may have
        // read the day's hits between the first mark and the insert, and its clean mark (stamped
        // with the time of its reading) must lose to this one.
        self.set_dirty(&[day], true).await?;
        self.insert("hits", &hits, &[]).await?;
        self.set_dirty(&[day], true).await
    }

    async fn day_hit_count(&self, day: NaiveDate) -> Result<u64, PipelineError> {
        self.count(&format!("SELECT count() AS n FROM {} WHERE day = toDate('{day}')", self.table("hits"))).await
    }

    async fn day_hits_in(&self, day: NaiveDate, slices: VisitorSlices) -> Result<Vec<RecordBatch>, PipelineError> {
        // The slice of a visitor is its pseudonym's first byte (the column holds it in hex).
        let in_slices = if slices.is_all() {
            String::new()
        } else {
            format!(" AND reinterpretAsUInt8(unhex(substring(visitor, 1, 2))) BETWEEN {} AND {}", slices.first, slices.last)
        };
        let schema = hits_schema();
        let columns: Vec<String> = schema.fields().iter().map(|f| format!("`{}`", f.name())).collect();
        // In slices of offsets, so a large day never sits in memory as one JSON answer.
        let mut batches = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let from = after.map_or_else(String::new, |o| format!(" AND `offset` > {o}"));
            let batch = self
                .select(
                    &format!(
                        "SELECT {} FROM {} FINAL WHERE day = toDate('{day}'){in_slices}{from} ORDER BY `offset` LIMIT {}",
                        columns.join(", "),
                        self.table("hits"),
                        self.day_hits_slice
                    ),
                    &schema,
                )
                .await?;
            let rows = batch.num_rows();
            if rows == 0 {
                break;
            }
            after = batch.column(0).as_primitive::<UInt64Type>().values().last().copied();
            batches.push(batch);
            if rows < self.day_hits_slice {
                break;
            }
        }
        Ok(batches)
    }

    async fn days(&self) -> Result<Vec<NaiveDate>, PipelineError> {
        Ok(day_list(&self.select_json(&format!("SELECT DISTINCT day FROM {} ORDER BY day", self.table("hits"))).await?))
    }

    async fn dirty_days(&self) -> Result<Vec<NaiveDate>, PipelineError> {
        Ok(day_list(&self.select_json(&format!("SELECT day FROM {} FINAL WHERE dirty = 1 ORDER BY day", self.table("dirty"))).await?))
    }

    async fn mark_dirty(&self, days: &[NaiveDate]) -> Result<(), PipelineError> {
        self.set_dirty(days, true).await
    }

    async fn begin_day<'a>(&'a self, day: NaiveDate) -> Result<Box<dyn DayFactsWriter + 'a>, PipelineError> {
        // The generation is the time the computation began, before it read any hit: of two
        // instances computing a day at once, the one that began later (and so saw every hit
        // the other saw) wins, and a dirty mark given after that beginning outlives the clean
        // mark.
        Ok(Box::new(ClickHouseDayWriter { store: self, day, generation: self.next_version() }))
    }

    async fn query_facts(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorRow>, PipelineError> {
        if let Some(year) = crate::year_to_date::year_of(query) {
            if let Some(standing) = self.standing_year_to_date().await?.filter(|s| s.year == year) {
                return self.query_year_to_date(query, &standing).await;
            }
        }
        let (first, last) = query.days();
        let sql = indicator_sql_in(query, Dialect::ClickHouse, &|table| self.current(table, first, last)).map_err(|e| PipelineError::Query(e.0))?;
        let batch = self.select(&sql, &indicator_schema()).await?;
        sql::indicator_rows_of(query, &[batch])
    }

    async fn frozen_starts(&self, period: Period) -> Result<BTreeSet<NaiveDate>, PipelineError> {
        self.frozen_period_starts(period).await
    }

    async fn query_frozen(&self, query: &IndicatorQuery, first: NaiveDate, last: NaiveDate) -> Result<Vec<IndicatorRow>, PipelineError> {
        self.frozen_cells_of(query, first, last).await
    }

    async fn freeze(&self, period: Period, starts: &BTreeSet<NaiveDate>) -> Result<u64, PipelineError> {
        self.freeze_periods(period, starts).await
    }

    async fn facts_retired_through(&self) -> Result<Option<NaiveDate>, PipelineError> {
        self.retired_through().await
    }

    async fn year_to_date(&self) -> Result<Option<(NaiveDate, NaiveDate)>, PipelineError> {
        Ok(self.standing_year_to_date().await?.map(|s| (s.year, s.through)))
    }

    async fn keep_year_to_date(&self, year: NaiveDate, through: NaiveDate) -> Result<u64, PipelineError> {
        crate::year_to_date::check_span(year, through)?;
        self.keep_rows_to_date(year, through).await
    }

    async fn note_facts_retired(&self, through: NaiveDate) -> Result<(), PipelineError> {
        self.note_retired(through).await.map(drop)
    }

    async fn retire_facts(&self, through: NaiveDate) -> Result<Vec<NaiveDate>, PipelineError> {
        self.retire_days(through).await
    }

    async fn rejects_staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        let rows = self
            .select_json(&format!("SELECT count() AS n, max(`offset`) AS m FROM {} WHERE {}", self.table("rejects"), in_partition(day, partition)))
            .await?;
        Ok(highest_offset(&rows))
    }

    async fn stage_rejects(&self, day: NaiveDate, rejects: RecordBatch) -> Result<(), PipelineError> {
        let offsets = rejects.column(0).as_primitive::<UInt64Type>();
        let mut through = std::collections::BTreeMap::new();
        for partition in offsets.values().iter().map(|o| partition_of(*o)).collect::<std::collections::BTreeSet<_>>() {
            through.insert(partition, self.rejects_staged_through(day, partition).await?);
        }
        let fresh: BooleanArray = offsets
            .iter()
            .map(|o| {
                let o = o.unwrap_or(0);
                Some(through.get(&partition_of(o)).copied().flatten().is_none_or(|t| o > t))
            })
            .collect();
        let fresh = filter_record_batch(&rejects, &fresh)?;
        self.insert("rejects", &fresh, &[]).await
    }

    async fn tagging(&self, from: NaiveDate, to: NaiveDate, plateforme: Option<&str>) -> Result<Vec<TaggingRow>, PipelineError> {
        let batch = self.select(&sql::tagging(&self.current("tagging", from, to), plateforme), &tagging_schema()).await?;
        Ok(tagging_rows(&[batch]))
    }

    async fn reject_counts(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RejectCount>, PipelineError> {
        let schema = refusal_columns(&["day", "plateforme", "code", "field", "value"], true);
        let batch = self.select(&sql::reject_counts(&self.rejects_within(from, to)), &schema).await?;
        sql::reject_counts_of(&[batch])
    }

    async fn rejected_events(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<(NaiveDate, Option<String>, u64)>, PipelineError> {
        let schema = refusal_columns(&["day", "plateforme"], true);
        let batch = self.select(&sql::rejected_events(&self.rejects_within(from, to)), &schema).await?;
        sql::rejected_events_of(&[batch])
    }

    async fn reject_sample(&self, plateforme: &str, from: NaiveDate, to: NaiveDate, limit: usize) -> Result<Vec<RejectSample>, PipelineError> {
        let schema = refusal_columns(&sql::REJECT_SAMPLE_COLUMNS, false);
        let batch = self.select(&sql::reject_sample(&self.rejects_within(from, to), plateforme, limit), &schema).await?;
        Ok(sql::reject_samples_of(&[batch], limit))
    }

    async fn erase_visitors(&self, visitors: &DoomedVisitors) -> Result<ErasedFacts, PipelineError> {
        self.erase(visitors).await
    }

    async fn hold_erased(&self, visitors: &DoomedVisitors, until: NaiveDate) -> Result<(), PipelineError> {
        self.hold(visitors, until).await
    }

    async fn held_visitors(&self, today: NaiveDate) -> Result<HeldVisitors, PipelineError> {
        self.held(today).await
    }
}

#[cfg(test)]
mod tests;

/// A day's new facts inserted under a new generation, which becomes the day's current one on
/// commit (until then queries read the previous generation).
struct ClickHouseDayWriter<'a> {
    store: &'a ClickHouseRollupStore,
    day: NaiveDate,
    generation: u64,
}

#[async_trait]
impl DayFactsWriter for ClickHouseDayWriter<'_> {
    async fn append(&mut self, facts: Sessionized) -> Result<(), PipelineError> {
        let tag = [("generation", self.generation)];
        self.store.insert("visits", &facts.visits, &tag).await?;
        self.store.insert("usages", &facts.usages, &tag).await?;
        self.store.insert("tagging", &facts.tagging, &tag).await
    }

    async fn commit(self: Box<Self>) -> Result<(), PipelineError> {
        let (store, day, generation) = (self.store, self.day, self.generation);
        // The cells kept for the day's periods go before the facts change (a crash between the
        // two leaves the day dirty and no stale cell) and again after (a freeze elsewhere that
        // read the old facts meanwhile gets a generation below this second thaw).
        store.thaw(&BTreeSet::from([day])).await?;
        store.execute(&format!("INSERT INTO {} (day, generation) VALUES ('{day}', {generation})", store.table("generations"))).await?;
        store.set_dirty_at(&[day], false, generation).await?;
        store.thaw(&BTreeSet::from([day])).await?;
        if let Err(e) = store.drop_old_generations(day, generation).await {
            tracing::warn!(%day, error = %e, "old generations of a day not dropped yet");
        }
        Ok(())
    }
}
