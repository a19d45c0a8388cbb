//! `dnma pipeline run|backfill`, `dnma query` and `dnma export opendata`: the pipeline over the
//! embedded log of a data directory (`DATA_DIR/log`) into its Parquet store
//! (`DATA_DIR/rollups`), and what reads the store.
//!
//! `pipeline run` may run beside a collector on the same data directory: it opens the log
//! read-only (the collector holds the writer lock) and reopens it at each poll to see new
//! segments; `dnma serve` and `dnma demo` run the pipeline in-process on the collector's log.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use collector::log::HitLog;

use super::config_file::ConfigFile;
use super::log_file::LogFile;
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::names::display_name;
use pipeline::sessionize::{Method, Sessionizer};
use pipeline::store::{ClickHouseConfig, ClickHouseRollupStore};
use pipeline::{Breakdown, IndicatorQuery, IndicatorRow, Level, ParquetRollupStore, Period, Pipeline, PipelineConfig, RollupStore};
use serde::Deserialize;
use tagging_plan::{Plan, Referential};

/// The `[pipeline]` table of the config file; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// Longest gap inside a visit, e.g. "30m" (default 30 minutes).
    #[serde(default, with = "humantime_serde")]
    visit_timeout: Option<Duration>,
    /// `sort_scan` (default) or `sql`.
    sessionization: Option<Method>,
    /// Log records per batch (default 200000).
    batch_records: Option<usize>,
    /// Most staged hits sessionized at once (default 500000): a larger day is computed in
    /// ranges of visitors, so memory stays bounded.
    compute_hits: Option<u64>,
    /// Day parts computed at once (default: the machine's cores). With ClickHouse on other
    /// machines a part's computation mostly waits for the server, so more than the cores may
    /// help; each holds up to `compute_hits` hits in memory.
    parallel_parts: Option<usize>,
    /// How often a following pipeline looks for new hits, e.g. "10s".
    #[serde(default, with = "humantime_serde")]
    poll_interval: Option<Duration>,
    /// Name under which the pipeline commits its log offsets (default "pipeline"): pipelines
    /// writing to different stores from one log need different names.
    consumer: Option<String>,
    /// Whether a following pipeline keeps the cells of closed weeks, months and school years,
    /// one period after each step, so dashboards read them instead of counting their
    /// visitors again (default true; costs disk: see the README).
    materialize_closed_periods: Option<bool>,
}

impl PipelineFile {
    /// The pipeline configuration, defaults filled in.
    pub fn config(&self) -> anyhow::Result<PipelineConfig> {
        let defaults = PipelineConfig::default();
        let timeout = self.visit_timeout.unwrap_or(defaults.sessionizer.timeout);
        anyhow::ensure!(timeout > Duration::ZERO, "[pipeline] visit_timeout must be positive");
        let batch_records = self.batch_records.unwrap_or(defaults.batch_records);
        anyhow::ensure!(batch_records > 0, "[pipeline] batch_records must be positive");
        let compute_hits = self.compute_hits.unwrap_or(defaults.compute_hits);
        anyhow::ensure!(compute_hits > 0, "[pipeline] compute_hits must be positive");
        let parallelism = self.parallel_parts.unwrap_or(defaults.parallelism);
        anyhow::ensure!(parallelism > 0, "[pipeline] parallel_parts must be positive");
        Ok(PipelineConfig {
            batch_records,
            compute_hits,
            parallelism,
            sessionizer: Sessionizer { method: self.sessionization.unwrap_or_default(), timeout },
            poll_interval: self.poll_interval.unwrap_or(defaults.poll_interval),
            consumer: self.consumer.clone().unwrap_or(defaults.consumer.clone()),
            materialize: self.materialize_closed_periods.unwrap_or(defaults.materialize),
            ..defaults
        })
    }
}

/// The `[store]` table of the config file: where the pipeline keeps its facts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StoreFile {
    /// Parquet files in `DATA_DIR/rollups`, queried by DataFusion (the default).
    #[default]
    Parquet,
    /// A ClickHouse server (`url`, `database`, `user`, `password`), migrated with
    /// `dnma clickhouse migrate`.
    Clickhouse(ClickHouseConfig),
}

/// Opens the configured store for writing.
pub async fn open_store(data_dir: &Path, store: &StoreFile) -> anyhow::Result<Arc<dyn RollupStore>> {
    match store {
        StoreFile::Parquet => {
            let dir = data_dir.join("rollups");
            Ok(Arc::new(ParquetRollupStore::open(&dir).with_context(|| format!("opening the rollup store in {}", dir.display()))?))
        }
        StoreFile::Clickhouse(config) => {
            let store = ClickHouseRollupStore::new(config.clone())?;
            let version = store.schema_version().await.with_context(|| format!("reaching ClickHouse at {}", config.url))?;
            anyhow::ensure!(
                version == pipeline::store::clickhouse::schema::VERSION,
                "the ClickHouse database {} is at schema version {version}, this dnma needs {}: run `dnma clickhouse migrate --config FILE`",
                config.database,
                pipeline::store::clickhouse::schema::VERSION
            );
            Ok(Arc::new(store))
        }
    }
}

/// `dnma clickhouse migrate`: creates or upgrades the ClickHouse tables of the configured store.
pub async fn clickhouse_migrate(store: &StoreFile) -> anyhow::Result<ExitCode> {
    let StoreFile::Clickhouse(config) = store else {
        anyhow::bail!("the config file's [store] is not kind = \"clickhouse\"");
    };
    let version = ClickHouseRollupStore::new(config.clone())?.migrate().await.with_context(|| format!("migrating ClickHouse at {}", config.url))?;
    eprintln!("clickhouse: database {} at {} is at schema version {version}", config.database, config.url);
    Ok(ExitCode::SUCCESS)
}

/// `dnma pipeline run`: stages and computes until stopped (or once with `once`). On the
/// embedded log the log is opened again (read-only) for each step, to see what the collector
/// appended since; on Kafka the pipeline stays one member of its consumer group.
pub async fn run(
    plan: Arc<Plan>,
    referential: Arc<Referential>,
    data_dir: &Path,
    config: PipelineConfig,
    file: &ConfigFile,
    once: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_store(data_dir, &file.store).await?;
    let mut stop = std::pin::pin!(super::collector_cmd::shutdown_signal());
    let mut member: Option<Pipeline> = None;
    let mut retention_due = std::time::Instant::now();
    // Following, erasures asked meanwhile (`dnma erase`) run on the store between two steps.
    let steps = Arc::new(tokio::sync::Mutex::new(()));
    let erasures = (!once).then(|| super::erasure_spool::spawn_store_worker(data_dir, store.clone(), Arc::clone(&steps)));
    let _stop_erasures = erasures.map(AbortOnDrop);
    loop {
        let no_erasure = steps.lock().await;
        // Following, a failed step (broker or store unreachable, log not there yet) is reported
        // and tried again after the poll interval; once, it is the command's error.
        let pipeline = if let (LogFile::Kafka(_), Some(pipeline)) = (&file.log, member.take()) {
            Some(pipeline)
        } else {
            match file.log.open_for_reading(data_dir).await {
                Ok(log) => Some(Pipeline::new(log.shared(), store.clone(), plan.clone(), referential.clone(), config.clone())),
                Err(e) if !once => {
                    eprintln!("pipeline: {e:#}; trying again in {:?}", config.poll_interval);
                    None
                }
                Err(e) => return Err(e),
            }
        };
        if let Some(pipeline) = pipeline {
            // Following, the per-visitor facts past their retention go (their periods' figures
            // frozen first); once, that is `dnma retention`'s job.
            if !once && std::time::Instant::now() >= retention_due {
                pipeline.apply_fact_retention().await;
                retention_due = std::time::Instant::now() + config.retention_every;
            }
            match pipeline.run_once().await {
                Ok((staged, days)) => {
                    if once || staged.records > 0 || !days.is_empty() {
                        // A store dividing its facts by log partition names the partitions computed.
                        let partitions: std::collections::BTreeSet<u32> = days.iter().filter_map(|part| part.partition).collect();
                        let of_partitions = if partitions.is_empty() { String::new() } else { format!(" (log partitions {partitions:?})") };
                        eprintln!(
                            "pipeline: {} log records read ({} hits staged, {} unplaceable, {} held out by an erasure, {} of days already retired), {} day part(s) computed{of_partitions}; next offset {}",
                            staged.records,
                            staged.hits,
                            staged.unplaceable,
                            staged.held,
                            staged.retired,
                            days.len(),
                            staged.next_offset
                        );
                    }
                    if once {
                        return Ok(ExitCode::SUCCESS);
                    }
                    if let Some(done) = pipeline.materialize_next().await {
                        eprintln!("pipeline: cells of the {} starting {} kept ({} cells)", done.period.name(), done.start, done.cells);
                    }
                }
                Err(e) if !once => eprintln!("pipeline: step failed: {e}; trying again in {:?}", config.poll_interval),
                Err(e) => return Err(e.into()),
            }
            member = Some(pipeline);
        }
        drop(no_erasure);
        tokio::select! {
            () = &mut stop => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(config.poll_interval) => {}
        }
    }
}

/// Aborts a background task when dropped (the command returns).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(&format!("{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} ({{eta}} left)"))
        .expect("valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// `dnma pipeline backfill`: stages what the log holds, then recomputes every day of
/// `from..=to` that has hits, with progress bars.
pub async fn backfill(
    plan: Arc<Plan>,
    referential: Arc<Referential>,
    data_dir: &Path,
    config: PipelineConfig,
    file: &ConfigFile,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    let store = open_store(data_dir, &file.store).await?;
    let log = file.log.open_for_reading(data_dir).await?.shared();
    let pipeline = Pipeline::new(Arc::clone(&log), store.clone(), plan, referential, config.clone());
    let stats = log.stats(collector::log::Topic::Hits).await?;
    let staging = bar(stats.end_offset, "staging log records");
    let staged = pipeline.stage(|s| staging.set_position(s.next_offset)).await?;
    staging.finish_and_clear();
    let days: Vec<NaiveDate> = store.days().await?.into_iter().filter(|d| (from..=to).contains(d)).collect();
    store.mark_dirty(&days).await?;
    let computing = bar(0, "computing days");
    let computed = pipeline
        .compute(|_, done, total| {
            computing.set_length(total as u64);
            computing.set_position(done as u64);
        })
        .await?;
    computing.finish_and_clear();
    eprintln!("backfill: {} log records staged, {} day part(s) recomputed ({} day(s) in {from}..{to})", staged.records, computed.len(), days.len());
    Ok(ExitCode::SUCCESS)
}

/// `dnma pipeline materialize`: keeps the cells of every pending closed period now
/// ([`pipeline::materialize`]), printing one JSON line per period.
pub async fn materialize(data_dir: &Path, file: &ConfigFile, today: Option<NaiveDate>) -> anyhow::Result<ExitCode> {
    let store = open_store(data_dir, &file.store).await?;
    let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let started = std::time::Instant::now();
    let mut stdout = std::io::stdout().lock();
    let mut printed = Ok(());
    let done = pipeline::materialize::materialize_all(store.as_ref(), today, |m| {
        let mut line = serde_json::json!({"period": m.period.name(), "start": m.start.to_string(), "cells": m.cells});
        if let Some(through) = m.through {
            line["through"] = through.to_string().into();
        }
        if printed.is_ok() {
            printed = writeln!(stdout, "{line}");
        }
    })
    .await?;
    printed?;
    eprintln!(
        "materialize: cells of {} closed period(s) kept ({} cells) in {:.1?}",
        done.len(),
        done.iter().map(|m| m.cells).sum::<u64>(),
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

/// Output formats of `dnma query`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum QueryFormat {
    /// Aligned columns for people.
    Table,
    /// `;`-separated, with a header.
    Csv,
    /// One JSON object per line.
    Json,
}

/// `dnma query`.
pub struct QueryArgs<'a> {
    /// The data directory.
    pub data_dir: &'a Path,
    /// The query.
    pub query: IndicatorQuery,
    /// Output format.
    pub format: QueryFormat,
    /// Where the rollups are.
    pub store: &'a StoreFile,
}

/// Opens the configured store to read it (Parquet: read-only, beside a running pipeline).
pub async fn open_store_for_reading(data_dir: &Path, store: &StoreFile) -> anyhow::Result<Arc<dyn RollupStore>> {
    Ok(match store {
        StoreFile::Parquet => Arc::new(ParquetRollupStore::open_read_only(&data_dir.join("rollups"))?),
        StoreFile::Clickhouse(_) => open_store(data_dir, store).await?,
    })
}

/// `dnma query`: exact figures (no small-cell suppression: an operator tool).
pub async fn query(plan: &Plan, referential: &Referential, args: QueryArgs<'_>) -> anyhow::Result<ExitCode> {
    let store = open_store_for_reading(args.data_dir, args.store).await?;
    let rows = store.query(&args.query).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        QueryFormat::Json => {
            for row in &rows {
                serde_json::to_writer(&mut out, &json_row(plan, referential, row))?;
                writeln!(out)?;
            }
        }
        QueryFormat::Csv | QueryFormat::Table => {
            let mut header = vec!["level", "code", "name", "period", "start"];
            if args.query.breakdown.is_some() {
                header.extend(["breakdown", "value"]);
            }
            header.extend(["visits", "visitors", "page_views", "clicks", "duration_s"]);
            let lines: Vec<Vec<String>> = rows.iter().map(|r| text_row(plan, referential, r)).collect();
            if matches!(args.format, QueryFormat::Csv) {
                let mut csv = csv::WriterBuilder::new().delimiter(b';').from_writer(&mut out);
                csv.write_record(&header)?;
                for line in &lines {
                    csv.write_record(line)?;
                }
                csv.flush()?;
            } else {
                write_table(&mut out, &header, &lines)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn json_row(plan: &Plan, referential: &Referential, row: &IndicatorRow) -> serde_json::Value {
    let mut object = serde_json::json!({
        "level": row.level,
        "code": row.code,
        "name": display_name(plan, referential, row.level, &row.code),
        "period": row.period,
        "start": row.start,
    });
    if let Some((dimension, value)) = &row.breakdown {
        object["breakdown"] = serde_json::json!(dimension);
        object["value"] = serde_json::json!(value);
    }
    for (key, value) in
        [("visits", row.visits), ("visitors", row.visitors), ("page_views", row.page_views), ("clicks", row.clicks), ("duration_s", row.duration_s)]
    {
        object[key] = serde_json::json!(value);
    }
    object
}

fn text_row(plan: &Plan, referential: &Referential, row: &IndicatorRow) -> Vec<String> {
    let mut line = vec![
        row.level.to_string(),
        row.code.clone(),
        display_name(plan, referential, row.level, &row.code),
        row.period.to_string(),
        row.start.to_string(),
    ];
    if let Some((dimension, value)) = &row.breakdown {
        line.extend([dimension.to_string(), value.clone()]);
    }
    line.extend([row.visits, row.visitors, row.page_views, row.clicks, row.duration_s].map(|n| n.to_string()));
    line
}

fn write_table(out: &mut impl Write, header: &[&str], lines: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let print = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> std::io::Result<()> {
        let padded: Vec<String> = cells.zip(&widths).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    print(out, &mut header.iter().copied())?;
    for line in lines {
        print(out, &mut line.iter().map(String::as_str))?;
    }
    Ok(())
}

/// `dnma export opendata`.
pub async fn export_opendata(
    plan: &Plan,
    referential: &Referential,
    data_dir: &Path,
    week: NaiveDate,
    by: Breakdown,
    k: u64,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let store = ParquetRollupStore::open_read_only(&data_dir.join("rollups"))?;
    let tmp = out.with_extension("csv.tmp");
    let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let rows = pipeline::export::write_opendata(&store, plan, referential, week, by, k, std::io::BufWriter::new(file)).await?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("export: {rows} school(s) for the week of {week} by {by} in {} (figures under {k} visitors, and those hidden with them, shown as \"{hidden}\")", out.display(), hidden = pipeline::suppression::HIDDEN);
    Ok(ExitCode::SUCCESS)
}

/// Parses the query flags into a query.
pub fn indicator_query(
    level: Level,
    period: Period,
    from: NaiveDate,
    to: NaiveDate,
    breakdown: Option<Breakdown>,
    filters: &QueryFilters,
) -> anyhow::Result<IndicatorQuery> {
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    let mut query = IndicatorQuery::new(level, period, from, to);
    query.breakdown = breakdown;
    query.profil.clone_from(&filters.profil);
    query.service.clone_from(&filters.service);
    for (dimension, value, slot) in [(Breakdown::Degre, &filters.degre, &mut query.degre), (Breakdown::Secteur, &filters.secteur, &mut query.secteur)]
    {
        if let Some(value) = value {
            let known = dimension.school_value(value).map_err(|e| anyhow::anyhow!("--{dimension} {value}: {e}"))?;
            *slot = Some(known.to_owned());
        }
    }
    Ok(query)
}

/// The filters of `dnma query`.
#[derive(Debug, Default, clap::Args)]
pub struct QueryFilters {
    /// Only visits whose first hit has this profile (ELEVE, ENSEIGNANT, PARENT…).
    #[arg(long)]
    pub profil: Option<String>,
    /// Only visits that used this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only visits to schools of this kind: ecole (first degree), college, lycee, autre, inconnu.
    #[arg(long)]
    pub degre: Option<String>,
    /// Only visits to schools of this sector: public, prive, inconnu.
    #[arg(long)]
    pub secteur: Option<String>,
}

/// The pipeline running inside `dnma serve` / `dnma demo`, on the collector's own log.
pub struct InProcessPipeline {
    store: Arc<dyn pipeline::RollupStore>,
    steps: Arc<tokio::sync::Mutex<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), pipeline::PipelineError>>,
}

impl InProcessPipeline {
    /// Starts following `log` into the configured store (embedded: the one of `data_dir`).
    pub async fn spawn(
        plan: Arc<Plan>,
        referential: Arc<Referential>,
        data_dir: &Path,
        log: Arc<dyn HitLog>,
        config: PipelineConfig,
        store: &StoreFile,
        freshness: Arc<collector::freshness::Freshness>,
    ) -> anyhow::Result<Self> {
        let store = open_store(data_dir, store).await?;
        let shared: Arc<dyn pipeline::RollupStore> = store.clone();
        let pipeline = Pipeline::new(log, store, plan, referential, config).with_freshness(freshness);
        let steps = pipeline.step_lock();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            pipeline
                .follow(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(InProcessPipeline { store: shared, steps, stop, task })
    }

    /// The store it writes to (the dashboards read it).
    pub fn store(&self) -> Arc<dyn pipeline::RollupStore> {
        Arc::clone(&self.store)
    }

    /// The lock its steps hold: hold it to keep them out (an erasure of its store).
    pub fn step_lock(&self) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.steps)
    }

    /// Lets the current step finish, then stops (before the log is closed).
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => Ok(result?),
            Err(e) => Err(anyhow::anyhow!("pipeline task failed: {e}")),
        }
    }
}
