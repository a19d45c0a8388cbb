//! Retention, enforced by dnma itself: `dnma collector`, `serve` and `demo` apply it when they
//! start and then periodically (`[retention] every`, default one hour); `dnma retention` shows
//! (`--dry-run`, safe beside a running collector) or applies it on a data directory at rest.
//! What goes and why the rest stays is in `collector::retention`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig};
use collector::retention::{self, Decision, Removed, SegmentVerdict};
use serde::Deserialize;

/// Longest raw-log retention accepted: the CNIL's exemption allows 25 months of data, and the
/// raw log is only a buffer before the pipeline.
const MAX_LOG_DAYS: u32 = 400;

/// The `[retention]` table of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionFile {
    /// Days the raw hit log and the dead letters are kept (default 31).
    pub log_days: u32,
    /// How often a running dnma applies retention, e.g. "1h" (default one hour).
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// Months the per-visitor facts (hits, visits, usages, refusals) are kept before the
    /// figures of their periods are frozen and they are deleted (12 or 13, default 13).
    pub facts_months: u32,
}

impl Default for RetentionFile {
    fn default() -> Self {
        RetentionFile { log_days: 31, every: Duration::from_secs(3600), facts_months: pipeline::fact_retention::DEFAULT_MONTHS }
    }
}

impl RetentionFile {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_LOG_DAYS).contains(&self.log_days),
            "[retention] log_days must be between 1 and {MAX_LOG_DAYS}, not {}",
            self.log_days
        );
        anyhow::ensure!(self.every >= Duration::from_secs(1), "[retention] every must be at least 1s");
        pipeline::fact_retention::retired_through(chrono::Utc::now().date_naive(), self.facts_months)
            .map_err(|e| anyhow::anyhow!("[retention] facts_months: {e}"))?;
        Ok(())
    }

    /// Records received before this instant may go.
    pub fn horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::days(i64::from(self.log_days))
    }
}

/// Applies retention to a running collector's log now, then every `every`, until aborted.
pub fn spawn(log: Arc<EmbeddedHitLog>, policy: RetentionFile, consumer: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(policy.every);
        loop {
            tick.tick().await;
            let horizon = policy.horizon(Utc::now());
            match apply_once(&log, &consumer, horizon).await {
                Ok((removed, verdicts)) => {
                    let waiting = verdicts.iter().filter(|v| v.decision == Decision::Unconsumed).count();
                    if removed.segments > 0 || waiting > 0 {
                        tracing::info!(
                            segments = removed.segments,
                            records = removed.records,
                            bytes = removed.bytes,
                            unconsumed_past_retention = waiting,
                            %horizon,
                            "retention applied to the log"
                        );
                    }
                }
                Err(error) => tracing::error!(%error, "retention failed; will try again"),
            }
        }
    })
}

async fn apply_once(log: &EmbeddedHitLog, consumer: &str, horizon: DateTime<Utc>) -> anyhow::Result<(Removed, Vec<SegmentVerdict>)> {
    let verdicts = retention::plan(log, consumer, horizon, retention::Scope::Deletable).await?;
    let removed = retention::apply(log, &verdicts)?;
    Ok((removed, verdicts))
}

/// `dnma retention`: prints the fate of every sealed log segment (one JSON line each, then a
/// summary line) and, unless `dry_run`, deletes what is past retention.
pub async fn run(data_dir: &Path, policy: &RetentionFile, consumer: &str, dry_run: bool, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let dir = data_dir.join("log");
    let config = EmbeddedLogConfig { read_only: dry_run, ..EmbeddedLogConfig::default() };
    let log = EmbeddedHitLog::open(&dir, config).with_context(|| {
        if dry_run {
            format!("no readable log in {}", dir.display())
        } else {
            format!("opening {} to apply retention (a running dnma applies it itself; use --dry-run to look beside it)", dir.display())
        }
    })?;
    let horizon = policy.horizon(now);
    let verdicts = retention::plan(&log, consumer, horizon, retention::Scope::Report).await?;
    for verdict in &verdicts {
        println!("{}", serde_json::to_string(verdict)?);
    }
    let doomed = verdicts.iter().filter(|v| v.decision == Decision::Delete);
    let would = Removed {
        segments: doomed.clone().count(),
        records: doomed.clone().map(|v| v.span.end - v.span.base).sum(),
        bytes: doomed.map(|v| v.span.bytes).sum(),
    };
    let removed = if dry_run { None } else { Some(retention::apply(&log, &verdicts)?) };
    let unconsumed = verdicts.iter().filter(|v| v.decision == Decision::Unconsumed).count();
    println!(
        "{}",
        serde_json::json!({
            "summary": true,
            "dry_run": dry_run,
            "log_days": policy.log_days,
            "horizon": horizon,
            "would_remove": would,
            "removed": removed,
            "unconsumed_past_retention": unconsumed,
        })
    );
    log.close();
    let verb = if dry_run { "would remove" } else { "removed" };
    eprintln!(
        "retention ({} days, before {}): {verb} {} segments, {} records, {} bytes{}",
        policy.log_days,
        horizon.format("%Y-%m-%d %H:%M UTC"),
        would.segments,
        would.records,
        would.bytes,
        if unconsumed > 0 { format!("; {unconsumed} segments past retention wait for the pipeline (consumer `{consumer}`)") } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}

/// `dnma retention`: the log (embedded only; Kafka topics are kept by the broker's retention),
/// then the per-visitor facts of the store.
pub async fn run_all(data_dir: &Path, file: &super::config_file::ConfigFile, dry_run: bool) -> anyhow::Result<ExitCode> {
    let upkeep = file.upkeep(data_dir)?;
    let now = Utc::now();
    let code = if file.log.require_embedded("retention").is_ok() {
        run(data_dir, &upkeep.retention, &upkeep.consumer, dry_run, now).await?
    } else {
        eprintln!("log: kept by the broker's topic retention ([log] kind = \"kafka\")");
        ExitCode::SUCCESS
    };
    run_facts(data_dir, &file.store, upkeep.retention.facts_months, dry_run, now.date_naive()).await?;
    Ok(code)
}

/// `dnma retention`, second part: the per-visitor facts of the configured store older than
/// `[retention] facts_months` (the figures of their periods frozen first). Prints one JSON line
/// (`"facts": true`, the last day that goes, the days, the periods frozen by kind) and a
/// sentence on stderr.
pub async fn run_facts(
    data_dir: &Path,
    store: &super::pipeline_cmd::StoreFile,
    months: u32,
    dry_run: bool,
    today: chrono::NaiveDate,
) -> anyhow::Result<()> {
    let is_parquet = matches!(store, super::pipeline_cmd::StoreFile::Parquet);
    if is_parquet && !data_dir.join("rollups").join("visits").is_dir() {
        eprintln!("facts: no rollup store in {} yet, nothing to retire", data_dir.join("rollups").display());
        return Ok(());
    }
    let store = if dry_run {
        super::pipeline_cmd::open_store_for_reading(data_dir, store).await?
    } else {
        super::pipeline_cmd::open_store(data_dir, store)
            .await
            .context("applying the retention of per-visitor facts (a running pipeline applies it itself; use --dry-run to look beside it)")?
    };
    let pass = if dry_run {
        pipeline::fact_retention::plan(store.as_ref(), today, months).await?
    } else {
        pipeline::fact_retention::apply(store.as_ref(), today, months).await?
    };
    println!(
        "{}",
        serde_json::json!({
            "facts": true,
            "dry_run": dry_run,
            "facts_months": months,
            "through": pass.through,
            "days": pass.days,
            "frozen": pass.frozen,
            "cells_kept": pass.cells,
        })
    );
    let frozen: Vec<String> = pass.frozen.iter().map(|(kind, starts)| format!("{} {kind}", starts.len())).collect();
    eprintln!(
        "per-visitor facts ({months} months, up to {}): {} the facts of {} days{}",
        pass.through,
        if dry_run { "would retire" } else { "retired" },
        pass.days.len(),
        if frozen.is_empty() {
            String::new()
        } else {
            format!(", {} the figures of {}", if dry_run { "freezing first" } else { "after freezing" }, frozen.join(", "))
        }
    );
    Ok(())
}
