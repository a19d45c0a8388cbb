//! Sessionization + rollup throughput.
//!
//! `cargo bench --bench rollup` runs criterion on one week of synthetic traffic (200,000 hits):
//! sessionization with each method, and an exact académie × week rollup with DataFusion.
//!
//! `DNMA_ROLLUP_HITS=50000000 cargo bench --bench rollup` runs the big one-shot measurement
//! instead: it stages that many synthetic hits over 28 days into a Parquet store (not timed),
//! then times the pipeline computing every day (visits and usages written as Parquet) and two
//! rollups (académie × week, school × week × profile), reports peak RSS, times keeping the
//! school year to date over all days but the last from their facts, then extending it by the
//! last day (a day's keeping: the year so far, or the rows and one day), and runs the same
//! work in `DuckDB` on the same Parquet input (`tools/rollup_duckdb.py`, when Python's `duckdb`
//! module is installed). `DNMA_ROLLUP_DIR` keeps the data in a directory of your choice;
//! `DNMA_ROLLUP_COMPUTE_HITS` sets `[pipeline] compute_hits` (default 500,000).

#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use pipeline::facts::hits_batch;
use pipeline::hit_row::{HitRow, Placer};
use pipeline::sessionize::{Method, Sessionizer};
use pipeline::synthetic::{stored_hits, Population, TrafficSpec};
use pipeline::{Breakdown, IndicatorQuery, Level, ParquetRollupStore, Period, Pipeline, PipelineConfig, RollupStore};
use tagging_plan::{Plan, Referential};

const FIRST_DAY: &str = "2026-09-07";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn rows(hits: Vec<collector::record::StoredHit>, plan: &Plan, first_offset: u64) -> Vec<HitRow> {
    let mut placer = Placer::new(plan, Referential::shipped());
    hits.into_iter().enumerate().map(|(i, hit)| placer.row(first_offset + i as u64, hit).unwrap()).collect()
}

fn criterion_benches(c: &mut Criterion) {
    let plan = Plan::shipped();
    let spec = TrafficSpec { hits: 200_000, days: 7, first_day: FIRST_DAY.parse().unwrap(), late_percent: 0, ..TrafficSpec::default() };
    let rows = rows(stored_hits(&spec, &plan, Referential::shipped()), &plan, 0);
    let batch = hits_batch(&rows);
    let rt = runtime();
    let mut group = c.benchmark_group("sessionize");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.sample_size(10);
    for method in [Method::SortScan, Method::Sql] {
        let sessionizer = Sessionizer { method, ..Sessionizer::default() };
        group.bench_with_input(BenchmarkId::new(format!("{method:?}"), rows.len()), &batch, |b, batch| {
            b.iter(|| rt.block_on(sessionizer.run(vec![batch.clone()])).unwrap());
        });
    }
    group.finish();

    let dir = tempfile::tempdir().unwrap();
    let store = ParquetRollupStore::open(dir.path()).unwrap();
    rt.block_on(async {
        let mut days: Vec<NaiveDate> = rows.iter().map(|r| r.day).collect();
        days.sort();
        days.dedup();
        for day in days {
            let of_day: Vec<HitRow> = rows.iter().filter(|r| r.day == day).cloned().collect();
            store.stage_hits(day, hits_batch(&of_day)).await.unwrap();
            let facts = Sessionizer::default().run(store.day_hits(day).await.unwrap()).await.unwrap();
            store.replace_day(day, facts).await.unwrap();
        }
    });
    let first: NaiveDate = FIRST_DAY.parse().unwrap();
    let mut group = c.benchmark_group("rollup");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.sample_size(10);
    for (name, query) in [
        ("academie_week", IndicatorQuery::new(Level::Academie, Period::Week, first, first + Days::new(6))),
        ("ecole_week_profil", IndicatorQuery::new(Level::Ecole, Period::Week, first, first + Days::new(6)).by(Breakdown::Profil)),
        ("ecole_week_service", IndicatorQuery::new(Level::Ecole, Period::Week, first, first + Days::new(6)).by(Breakdown::Service)),
    ] {
        group.bench_function(name, |b| b.iter(|| rt.block_on(store.query(&query)).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, criterion_benches);

/// Peak resident set size of this process, MiB (`VmHWM`).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib / 1024)
}

fn big_run(hits: usize, dir: &Path) {
    const DAYS: u32 = 28;
    let plan = Arc::new(Plan::shipped());
    let rt = runtime();
    let store = Arc::new(ParquetRollupStore::open(&dir.join("rollups")).unwrap());
    let first: NaiveDate = FIRST_DAY.parse().unwrap();
    let staged_already = rt.block_on(store.days()).unwrap().len() == DAYS as usize;
    let started = Instant::now();
    if !staged_already {
        let spec = TrafficSpec { schools: 2000, visitors_per_school: 300, ..TrafficSpec::default() };
        let population = Population::new(&spec, &plan, Referential::shipped());
        let per_day = hits / DAYS as usize;
        let mut offset = 0u64;
        for d in 0..DAYS {
            let day = first + Days::new(u64::from(d));
            let generated = population.hits(u64::from(d) + 1, per_day, day, 1, 0);
            let day_rows = rows(generated, &plan, offset);
            offset += day_rows.len() as u64;
            let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<HitRow>> = std::collections::BTreeMap::new();
            for row in day_rows {
                by_day.entry(row.day).or_default().push(row);
            }
            for (day, rows) in by_day {
                let through = rt.block_on(store.staged_through(day, 0)).unwrap();
                let fresh: Vec<HitRow> = rows.into_iter().filter(|r| through.is_none_or(|t| r.offset > t)).collect();
                rt.block_on(store.stage_hits(day, hits_batch(&fresh))).unwrap();
            }
            eprint!("\rstaged day {}/{DAYS}", d + 1);
        }
        eprintln!("\rstaged {offset} hits over {DAYS} days in {:.1?} (not timed below)", started.elapsed());
    }
    let total_hits: usize = rt
        .block_on(async {
            let mut n = 0;
            for day in store.days().await.unwrap() {
                n += store.day_hits(day).await.unwrap().iter().map(datafusion::arrow::array::RecordBatch::num_rows).sum::<usize>();
            }
            Ok::<_, pipeline::PipelineError>(n)
        })
        .unwrap();
    // Reset the peak RSS so that it measures the timed part only.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let days = rt.block_on(store.days()).unwrap();
    rt.block_on(store.mark_dirty(&days)).unwrap();
    let log_dir = dir.join("empty-log");
    let log = Arc::new(EmbeddedHitLog::open(&log_dir, EmbeddedLogConfig::default()).unwrap());
    // `DNMA_ROLLUP_COMPUTE_HITS`: most hits sessionized at once (default: the pipeline's, 500,000;
    // a larger day is computed a range of visitor slices at a time).
    let defaults = PipelineConfig::default();
    let compute_hits = std::env::var("DNMA_ROLLUP_COMPUTE_HITS").ok().and_then(|v| v.parse().ok()).unwrap_or(defaults.compute_hits);
    let config = PipelineConfig { compute_hits, ..defaults };
    let pipeline = Pipeline::new(log, store.clone(), plan, Arc::new(Referential::shipped().clone()), config);
    let t = Instant::now();
    rt.block_on(pipeline.compute(|_, _, _| {})).unwrap();
    let sessionize = t.elapsed();
    let last = first + Days::new(u64::from(DAYS) - 1);
    let t = Instant::now();
    let academies = rt.block_on(store.query(&IndicatorQuery::new(Level::Academie, Period::Week, first, last))).unwrap();
    let rollup_academie = t.elapsed();
    let t = Instant::now();
    let schools = rt.block_on(store.query(&IndicatorQuery::new(Level::Ecole, Period::Week, first, last).by(Breakdown::Profil))).unwrap();
    let rollup_ecole = t.elapsed();
    // The open school year's rows to date: kept from the facts of every day but the last
    // (what each day's keeping cost before it extended), then extended by the last day.
    let year = Period::SchoolYear.start_of(first);
    let t = Instant::now();
    let from_facts = rt.block_on(store.keep_year_to_date(year, last - Days::new(1))).unwrap();
    let ytd_from_facts = t.elapsed();
    let t = Instant::now();
    let extended = rt.block_on(store.keep_year_to_date(year, last)).unwrap();
    let ytd_extended = t.elapsed();
    let total = sessionize + rollup_academie + rollup_ecole;
    let secs = |d: Duration| d.as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // a throughput figure
    let hits_f64 = total_hits as f64;
    println!("dnma: {total_hits} hits, {} cores", std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    println!("dnma: sessionize + write visits/usages: {:.2} s ({:.0} hits/s)", secs(sessionize), hits_f64 / secs(sessionize));
    println!("dnma: rollup académie × week: {:.2} s ({} cells)", secs(rollup_academie), academies.len());
    println!("dnma: rollup école × week × profil: {:.2} s ({} cells)", secs(rollup_ecole), schools.len());
    println!("dnma: total {:.2} s ({:.0} hits/s), peak RSS {} MiB", secs(total), hits_f64 / secs(total), peak_rss_mib().unwrap_or(0));
    println!(
        "dnma: year to date over {} days from their facts: {:.2} s ({from_facts} rows); extended by day {DAYS}: {:.2} s ({extended} rows, {:.0} %)",
        DAYS - 1,
        secs(ytd_from_facts),
        secs(ytd_extended),
        100.0 * secs(ytd_extended) / secs(ytd_from_facts)
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/rollup_duckdb.py");
    match std::process::Command::new("python3").arg(&script).arg(dir.join("rollups")).status() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("duckdb comparison failed ({status}); `pip install duckdb` to run it"),
        Err(e) => eprintln!("duckdb comparison not run: {e}"),
    }
}

fn main() {
    if let Some(hits) = std::env::var("DNMA_ROLLUP_HITS").ok().and_then(|v| v.parse().ok()) {
        let kept = std::env::var_os("DNMA_ROLLUP_DIR").map(PathBuf::from);
        let temp = tempfile::tempdir().unwrap();
        let dir = kept.unwrap_or_else(|| temp.path().to_owned());
        std::fs::create_dir_all(&dir).unwrap();
        big_run(hits, &dir);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
