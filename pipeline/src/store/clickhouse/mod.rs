//! [`ClickHouseRollupStore`]: the distributed store, the same facts as the embedded one in
//! ClickHouse tables, spoken to with ClickHouse's official client (the `clickhouse` crate) over
//! the HTTP interface: typed rows ([`rows`], and `records` for the bookkeeping tables) inserted
//! as LZ4-compressed `RowBinary` and read back the same way, converted from and to the Arrow
//! batches the rest of dnma uses. The crate checks every row against the server's column names
//! and types where the server can say them (from ClickHouse 21.10 on, see `validates_rows`);
//! the ClickHouse 18.16 of Debian's packages cannot, and gets plain `RowBinary`, whose rows the
//! store's tests check on both kinds of server.
//!
//! ```text
//! hits         staged hits          ReplacingMergeTree, by month, ordered by (day, offset): a hit staged twice is one hit
//! visits       visit facts          MergeTree, one partition per (day, generation)
//! usages       usage facts          same
//! tagging      tagging counts       same
//! part_generations  current generation of each (day, log partition), and its version (`parts.rs`)
//! facts_stamps  what each generation of a day was computed from (staged positions, visit definition)
//! changed_visitors  the visitors a step re-cuts, one partition per step, dropped after it
//! dirty_parts, forced_parts  (day, log partition) to recompute: marks ordered by positions and epochs (`parts.rs`)
//! generations, dirty  whole-day generations and marks of versions before 8, read once to divide them
//! rejects      refusals, recoveries ReplacingMergeTree, by month, ordered by (day, offset, code, field)
//! erasure_holds  erased visitors held out of staging (digests, until a day)
//! frozen_cells, frozen_generations  cells kept for closed periods, under a generation per freeze
//! frozen_thaws  periods whose kept cells a change to their facts made stale
//! ytd_visits, ytd_usages, years_to_date  the open school year's facts summed per visitor, under a generation per keeping
//! migrations   schema versions applied
//! ```
//!
//! The facts are divided by log partition: the hit log is keyed by visitor, so the visitors of
//! one (day, partition) are computed apart from the others, by the member of the consumer group
//! that owns the partition (`parts.rs`). Replacing a part writes its facts under a new
//! generation, then switches the part's generation in one insert: a reader sees the old facts
//! or the new ones, never half of each. The generation a computation replaced is kept for
//! readers still on it; older ones are dropped as whole partitions. A step with few new hits copies the other visitors' rows of the current
//! generation into the new one on the server and inserts the changed visitors' new facts
//! (`steps.rs`, [`crate::day_changes`]). Unique visitors stay exact: visits keep their pseudonymous visitor and every
//! query counts `count(DISTINCT visitor)` over the cells it asks for, as in the embedded store.

mod lifecycle;
mod parts;
mod records;
pub mod rows;
pub mod schema;
mod year_to_date;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::clickhouse::query::Query;
use ::clickhouse::{Client, Compression, Row, RowOwned, RowRead, RowWrite};
use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::UInt64Type;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::sync::OnceCell;

use collector::log::{partition_of, partition_positions, Partition};

use self::records::{Day, Highest, Migration};
use self::rows::{
    HitColumns, HitRow, IndicatorAnswer, IndicatorColumns, RejectCountAnswer, RejectCountColumns, RejectRow, RejectSampleColumns, RejectSampleRow,
    RejectedEventsAnswer, RejectedEventsColumns, TaggingAnswer, TaggingAnswerColumns,
};
use super::{sql, DayFactsWriter, DoomedVisitors, ErasedFacts, HeldVisitors, RollupStore};
use crate::day_changes::{DayStep, FactsStamp, VisitorSet};
use crate::day_part::DayPart;
use crate::error::PipelineError;
use crate::model::Period;
use crate::query::{indicator_sql_in, Dialect, IndicatorQuery, IndicatorRow};
use crate::tagging::{tagging_rows, RefusedDay, RejectCount, RejectSample, TaggingRow};
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

/// Longest wait for one request to the server (a statement, an insert, a whole answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether the `clickhouse` crate can check rows against the schema on a server of `version`
/// (`SELECT version()`, e.g. `18.16.1` or `26.3.1.1`). Its checks read answers as
/// `RowBinaryWithNamesAndTypes` (ClickHouse 19.1 on) and, before an insert, the table's columns
/// by a `DESCRIBE TABLE` sent with the setting `describe_include_subcolumns` (21.10 on; an older
/// server refuses the unknown setting) and send inserts as `RowBinaryWithNamesAndTypes` too. So
/// rows are checked from 21.10 on; older servers, Debian's 18.16 among them, get plain
/// `RowBinary`, where the row types alone must match the columns (the store's tests check that
/// on both kinds of server).
fn validates_rows(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (21, 10)
}

/// The connector of the HTTP client under the crate's, with Nagle's algorithm off. The crate's
/// default connector leaves it on, and a request written in pieces (an insert's headers, then
/// its body) then waits for the server's delayed acknowledgement, tens of milliseconds a
/// request: a pipeline staging from Kafka (five small requests per day and partition of a poll)
/// took 26,400–26,700 hits/s that way against 41,600–45,400 with the earlier reqwest client,
/// which turns it off (`benches/distributed.rs`, interleaved runs of 2026-12-06). Keep-alive and
/// the pool's idle timeout are the crate's defaults (the server closes idle connections after 3 s).
fn connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(60)));
    connector
}

/// Reads an answer of row type `$row` into one batch with the builder `$columns`.
macro_rules! read_batch {
    ($store:expr, $query:expr, $row:ident, $columns:ident) => {{
        let store = $store;
        let query = $query;
        store
            .within(async {
                let mut cursor = query.fetch::<$row<'_>>().map_err(|e| store.error(&e))?;
                let mut columns = $columns::default();
                while let Some(row) = cursor.next().await.map_err(|e| store.error(&e))? {
                    columns.push(row)?;
                }
                columns.finish()
            })
            .await
    }};
}

/// The crate's clients, made once the server's version is known.
struct Clients {
    /// Statements on the server (the database may not exist yet).
    server: Client,
    /// Inserts into the store's database.
    database: Client,
}

/// The ClickHouse rollup store (see the module header for its tables).
pub struct ClickHouseRollupStore {
    config: ClickHouseConfig,
    clients: OnceCell<Clients>,
    last_version: AtomicU64,
    /// Staged hits read back per request (a day is read in slices of offsets).
    day_hits_slice: usize,
}

impl ClickHouseRollupStore {
    /// A store on the server and database of `config`; run [`Self::migrate`] before first use.
    /// Nothing is sent before the first operation, which asks the server's version.
    pub fn new(config: ClickHouseConfig) -> Result<Self, PipelineError> {
        if !config.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || config.database.is_empty() {
            return Err(PipelineError::Store(format!("ClickHouse database name {:?} is not letters, digits and _", config.database)));
        }
        Ok(ClickHouseRollupStore { config, clients: OnceCell::new(), last_version: AtomicU64::new(0), day_hits_slice: 100_000 })
    }

    /// The same store reading a day's staged hits `rows` at a time (default 100,000).
    #[must_use]
    pub fn with_day_hits_slice(mut self, rows: usize) -> Self {
        self.day_hits_slice = rows.max(1);
        self
    }

    /// Creates the database and its tables where they are missing, and records the schema version.
    pub async fn migrate(&self) -> Result<u32, PipelineError> {
        self.execute(self.sql(&format!("CREATE DATABASE IF NOT EXISTS {}", self.config.database)).await?).await?;
        for statement in schema::statements(&self.config.database)? {
            self.execute(self.sql(&statement).await?).await?;
        }
        for (table, layout) in schema::layout_columns()? {
            let query = self.sql("SELECT name FROM system.columns WHERE database = ? AND table = ?").await?;
            let present: Vec<String> = self.fetch_all(query.bind(&self.config.database).bind(table)).await?;
            if let Some(statement) = schema::missing_columns_statement(&self.config.database, table, &layout, &present) {
                tracing::info!(table, %statement, "adding the columns of a newer schema");
                self.execute(self.sql(&statement).await?).await?;
            }
        }
        let current: u32 = self.fetch_one(self.sql(&format!("SELECT max(version) FROM {}", self.table("migrations"))).await?).await?;
        if current < 8 {
            let divided = self.split_day_generations().await?;
            if divided > 0 {
                tracing::info!(days = divided, "whole-day generations divided by log partition");
            }
        }
        if current < schema::VERSION {
            self.insert::<Migration>("migrations", [Ok(Migration { version: schema::VERSION })].into_iter()).await?;
        }
        Ok(schema::VERSION)
    }

    /// The schema version the database is at (0 before [`Self::migrate`]).
    pub async fn schema_version(&self) -> Result<u32, PipelineError> {
        let query = self.sql("SELECT count() FROM system.tables WHERE database = ? AND name = 'migrations'").await?;
        if self.fetch_one::<u64>(query.bind(&self.config.database)).await? != 1 {
            return Ok(0);
        }
        self.fetch_one(self.sql(&format!("SELECT max(version) FROM {}", self.table("migrations"))).await?).await
    }

    /// Drops the database and everything in it (tests and `dnma clickhouse migrate --reset`).
    pub async fn drop_database(&self) -> Result<(), PipelineError> {
        self.execute(self.sql(&format!("DROP DATABASE IF EXISTS {}", self.config.database)).await?).await
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

    /// The clients, made on first use: the server's version decides whether rows are checked
    /// against the schema (`validates_rows`).
    async fn clients(&self) -> Result<&Clients, PipelineError> {
        self.clients
            .get_or_try_init(|| async {
                let http = HyperClient::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(2)).build(connector());
                let mut base =
                    Client::with_http_client(http).with_url(&self.config.url).with_user(&self.config.user).with_compression(Compression::Lz4);
                if let Some(password) = &self.config.password {
                    base = base.with_password(secrecy::ExposeSecret::expose_secret(password));
                }
                // Asked without checks: an old server cannot answer with names and types.
                let probe = base.clone().with_validation(false).query("SELECT version()");
                let version: String = self.within(async { probe.fetch_one().await.map_err(|e| self.error(&e)) }).await?;
                let validation = validates_rows(&version);
                tracing::debug!(url = %self.config.url, %version, validation, "ClickHouse server");
                let server = base.with_validation(validation);
                Ok(Clients { database: server.clone().with_database(&self.config.database), server })
            })
            .await
    }

    fn error(&self, e: &::clickhouse::error::Error) -> PipelineError {
        PipelineError::Store(format!("ClickHouse at {}: {e}", self.config.url))
    }

    /// Runs `work` (a request to the server) within [`REQUEST_TIMEOUT`].
    async fn within<T>(&self, work: impl Future<Output = Result<T, PipelineError>>) -> Result<T, PipelineError> {
        tokio::time::timeout(REQUEST_TIMEOUT, work)
            .await
            .map_err(|_| PipelineError::Store(format!("ClickHouse at {}: no answer within {REQUEST_TIMEOUT:?}", self.config.url)))?
    }

    /// A statement or query of the store's own text: each `?` takes a value (`.bind(…)`),
    /// `?fields` the columns of the row type read.
    async fn sql(&self, template: &str) -> Result<Query, PipelineError> {
        Ok(self.clients().await?.server.query(template))
    }

    /// A query written elsewhere (SQL shared with the embedded store, with values written in):
    /// its question marks are text, not places for values.
    async fn prebuilt(&self, sql: &str) -> Result<Query, PipelineError> {
        self.sql(&sql.replace('?', "??")).await
    }

    /// Runs a statement.
    async fn execute(&self, query: Query) -> Result<(), PipelineError> {
        self.within(async { query.execute().await.map_err(|e| self.error(&e)) }).await
    }

    /// Every row of an answer.
    async fn fetch_all<T: RowOwned + RowRead>(&self, query: Query) -> Result<Vec<T>, PipelineError> {
        self.within(async { query.fetch_all::<T>().await.map_err(|e| self.error(&e)) }).await
    }

    /// The one row of an answer (a count, a maximum).
    async fn fetch_one<T: RowOwned + RowRead>(&self, query: Query) -> Result<T, PipelineError> {
        self.within(async { query.fetch_one::<T>().await.map_err(|e| self.error(&e)) }).await
    }

    /// The days an answer holds (a column `day`).
    async fn days_of(&self, query: Query) -> Result<Vec<NaiveDate>, PipelineError> {
        Ok(self.fetch_all::<Day>(query).await?.into_iter().map(|d| d.day).collect())
    }

    /// Inserts rows into a table of the database as LZ4-compressed `RowBinary` (checked against
    /// the table's columns where the server says them).
    async fn insert<'r, R>(&self, table: &str, rows: impl Iterator<Item = Result<R::Value<'r>, PipelineError>> + Send) -> Result<(), PipelineError>
    where
        R: Row + RowWrite,
        R::Value<'r>: Send + Sync,
    {
        let client = &self.clients().await?.database;
        self.within(async {
            let mut insert = client.insert::<R>(table).await.map_err(|e| self.error(&e))?;
            for row in rows {
                insert.write(&row?).await.map_err(|e| self.error(&e))?;
            }
            insert.end().await.map_err(|e| self.error(&e))
        })
        .await
    }

    fn rejects_within(&self, first: NaiveDate, last: NaiveDate) -> String {
        format!("(SELECT * FROM {} FINAL WHERE day >= toDate('{first}') AND day <= toDate('{last}')) AS rejects", self.table("rejects"))
    }

    /// The recovery rows staged from `first` on, under the name `recoveries` (rows of the
    /// refusals table, [`crate::tagging::Recovery`]).
    fn recoveries_since(&self, first: NaiveDate) -> String {
        format!(
            "(SELECT * FROM {} FINAL WHERE day >= toDate('{first}') AND code = {}) AS recoveries",
            self.table("rejects"),
            crate::query::sql_literal(crate::tagging::RECOVERED_CODE)
        )
    }

    /// The cells of an indicator query answered by `sql` (columns of [`IndicatorAnswer`]).
    async fn indicator_rows(&self, query: &IndicatorQuery, sql: &str) -> Result<Vec<IndicatorRow>, PipelineError> {
        let answer = self.prebuilt(&IndicatorAnswer::select_from(sql)).await?;
        let batch = read_batch!(self, answer, IndicatorAnswer, IndicatorColumns)?;
        sql::indicator_rows_of(query, &[batch])
    }

    /// The highest offset of the rows of `table` for a day within a log partition.
    async fn highest_offset(&self, table: &str, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        let positions = partition_positions(partition);
        let query = self
            .sql(&format!(
                "SELECT count() AS n, max(`offset`) AS m FROM {} WHERE day = toDate(?) AND `offset` >= ? AND `offset` < ?",
                self.table(table)
            ))
            .await?
            .bind(day)
            .bind(positions.start)
            .bind(positions.end);
        Ok(self.fetch_one::<Highest>(query).await?.offset())
    }
}

#[async_trait]
impl RollupStore for ClickHouseRollupStore {
    async fn staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        self.highest_offset("hits", day, partition).await
    }

    async fn stage_hits(&self, day: NaiveDate, hits: RecordBatch) -> Result<(), PipelineError> {
        if super::guard_staging(self, day, &hits).await?.is_none() {
            return Ok(());
        }
        self.stage_hits_batches(vec![(day, hits)]).await
    }

    async fn stage_hits_batches(&self, batches: Vec<(NaiveDate, RecordBatch)>) -> Result<(), PipelineError> {
        // Each batch within one partition; hits staged again are one hit in the table anyway
        // (ReplacingMergeTree on day and position), and the pipeline passes only fresh ones.
        let mut staged = std::collections::BTreeMap::new();
        for (day, hits) in &batches {
            if let Some((_, last)) = super::batch_partition(*day, hits)? {
                let highest = staged.entry((*day, partition_of(last))).or_insert(last);
                *highest = (*highest).max(last);
            }
        }
        if staged.is_empty() {
            return Ok(());
        }
        // Dirty first, as of the positions staged (`parts.rs`): a crash after it only computes
        // the parts again, and a computation that does not cover these hits cannot clear it.
        self.mark_staged(&staged).await?;
        let mut rows = Vec::new();
        for (_, hits) in &batches {
            rows.push(HitRow::rows(hits)?);
        }
        self.insert::<HitRow<'_>>("hits", rows.into_iter().flatten()).await
    }

    async fn day_hit_count(&self, part: DayPart) -> Result<u64, PipelineError> {
        let query = self.sql(&format!("SELECT count() FROM {} WHERE day = toDate(?){}", self.table("hits"), parts::and_within(part))).await?;
        self.fetch_one(query.bind(part.day)).await
    }

    async fn day_hits_in(&self, part: DayPart, slices: VisitorSlices) -> Result<Vec<RecordBatch>, PipelineError> {
        // The slice of a visitor is its pseudonym's first byte (the column holds it in hex).
        let mut in_slices = parts::and_within(part);
        if !slices.is_all() {
            let _ = write!(in_slices, " AND reinterpretAsUInt8(unhex(substring(visitor, 1, 2))) BETWEEN {} AND {}", slices.first, slices.last);
        }
        let day = part.day;
        // In slices of offsets, so a large day never sits in memory as one answer.
        let mut batches = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let from = after.map_or_else(String::new, |o| format!(" AND `offset` > {o}"));
            let query = self
                .sql(&format!(
                    "SELECT ?fields FROM {} FINAL WHERE day = toDate(?){in_slices}{from} ORDER BY `offset` LIMIT {}",
                    self.table("hits"),
                    self.day_hits_slice
                ))
                .await?
                .bind(day);
            let batch = read_batch!(self, query, HitRow, HitColumns)?;
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
        self.days_of(self.sql(&format!("SELECT DISTINCT day FROM {} ORDER BY day", self.table("hits"))).await?).await
    }

    async fn dirty_days(&self) -> Result<Vec<NaiveDate>, PipelineError> {
        self.dirty_day_list().await
    }

    async fn dirty_parts(&self) -> Result<Vec<DayPart>, PipelineError> {
        self.dirty_part_list().await
    }

    async fn mark_dirty(&self, days: &[NaiveDate]) -> Result<(), PipelineError> {
        self.force(&self.parts_of_days(days).await?).await
    }

    async fn begin_day<'a>(&'a self, part: DayPart, definition: &str) -> Result<Box<dyn DayFactsWriter + 'a>, PipelineError> {
        let day = part.day;
        let partition = if let Some(partition) = part.partition {
            partition
        } else {
            let partitions = self.partitions_of_day(day).await?;
            if partitions.len() > 1 {
                return Err(PipelineError::Store(format!(
                    "{day}: the ClickHouse store computes a day one log partition at a time (it holds hits of partitions {partitions:?})"
                )));
            }
            partitions.first().copied().unwrap_or(0)
        };
        // The generation is numbered from the time the computation began; which one stands is
        // decided by what each covers (`parts.rs`), never by comparing clocks.
        let generation = parts::generation_number(self.next_version(), partition)?;
        let epoch = self.epoch(day, partition).await?;
        let mut through = self.staged_positions(DayPart::of_partition(day, partition)).await?;
        let replaced = self.listed(day, partition).await?;
        let stamp = match replaced {
            Some(listed) => self.stamp_of(day, listed).await?,
            None => None,
        };
        // What a computation covers never goes back (an erasure may remove the highest hit).
        if let Some(covered) = stamp.as_ref().and_then(|s| s.through.get(&partition).copied()) {
            let at = through.entry(partition).or_insert(covered);
            *at = (*at).max(covered);
        }
        let changes = match stamp.filter(|s| s.definition == definition) {
            Some(stamp) => Some(self.day_changes(day, stamp, &through).await?),
            None => None,
        };
        let previous = replaced.filter(|_| changes.is_some());
        let step = DayStep::new(FactsStamp { through, definition: definition.to_owned() }, changes);
        Ok(Box::new(ClickHouseDayWriter { store: self, day, partition, generation, epoch, replaced, previous, step }))
    }

    async fn day_hits_of(&self, part: DayPart, slices: VisitorSlices, visitors: &VisitorSet) -> Result<Vec<RecordBatch>, PipelineError> {
        self.hits_of_visitors(part, slices, visitors).await
    }

    async fn query_facts(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorRow>, PipelineError> {
        if let Some(year) = crate::year_to_date::year_of(query) {
            if let Some(standing) = self.standing_year_to_date().await?.filter(|s| s.year == year) {
                return self.query_year_to_date(query, &standing).await;
            }
        }
        let (first, last) = query.days();
        let sql = indicator_sql_in(query, Dialect::ClickHouse, &|table| self.current(table, first, last)).map_err(|e| PipelineError::Query(e.0))?;
        self.indicator_rows(query, &sql).await
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
        self.highest_offset("rejects", day, partition).await
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
        if fresh.num_rows() == 0 {
            return Ok(());
        }
        let rows = RejectRow::rows(&fresh)?;
        self.insert::<RejectRow<'_>>("rejects", rows).await
    }

    async fn tagging(&self, from: NaiveDate, to: NaiveDate, plateforme: Option<&str>) -> Result<Vec<TaggingRow>, PipelineError> {
        let query = self.prebuilt(&TaggingAnswer::select_from(&sql::tagging(&self.current("tagging", from, to), plateforme))).await?;
        Ok(tagging_rows(&[read_batch!(self, query, TaggingAnswer, TaggingAnswerColumns)?]))
    }

    async fn reject_counts(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RejectCount>, PipelineError> {
        let query =
            self.prebuilt(&RejectCountAnswer::select_from(&sql::reject_counts(&self.rejects_within(from, to), &self.recoveries_since(from)))).await?;
        sql::reject_counts_of(&[read_batch!(self, query, RejectCountAnswer, RejectCountColumns)?])
    }

    async fn rejected_events(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<RefusedDay>, PipelineError> {
        let query = self
            .prebuilt(&RejectedEventsAnswer::select_from(&sql::rejected_events(&self.rejects_within(from, to), &self.recoveries_since(from))))
            .await?;
        sql::rejected_events_of(&[read_batch!(self, query, RejectedEventsAnswer, RejectedEventsColumns)?])
    }

    async fn reject_sample(&self, plateforme: &str, from: NaiveDate, to: NaiveDate, limit: usize) -> Result<Vec<RejectSample>, PipelineError> {
        // Not cast in a subquery, which could lose the answer's order: its columns are the
        // table's, of the row's types already.
        let query = self.prebuilt(&sql::reject_sample(&self.rejects_within(from, to), plateforme, limit)).await?;
        Ok(sql::reject_samples_of(&[read_batch!(self, query, RejectSampleRow, RejectSampleColumns)?], limit))
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

mod steps;

#[cfg(test)]
mod tests;

mod writer;

use self::writer::ClickHouseDayWriter;
