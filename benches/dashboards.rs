//! Dashboard latency: p50 / p95 of each page and API call over one school year of rollups for
//! every shipped school (≥ 8,000 schools, generated traffic), through the real router.
//!
//! `cargo bench --bench dashboards` stages and computes the school year (2025-09-01 to
//! 2026-07-03, 40,000 hits a school day; not timed) in `DNMA_DASHBOARD_DIR` (kept between runs)
//! or a temporary directory, then requests each URL 30 times one after the other, with the
//! view cache off (every request computes its view). With `DNMA_DASHBOARD_RETIRE=1` it then
//! applies the retention of per-visitor facts as of 13 months after the school year (every
//! day's facts go, every period's figures are frozen first), reports how long that took, the
//! cells kept and their size, and measures the same requests again, now answered from the
//! frozen cells (`DNMA_DASHBOARD_RETIRE_TODAY=YYYY-MM-DD` applies it as of another day, e.g.
//! `2026-10-09` retires the first week only, which freezes its days, weeks, month and the whole
//! school year). With `DNMA_DASHBOARD_MATERIALIZE=1` it keeps the cells of the closed periods
//! as a following pipeline does (`pipeline::materialize`), as of the day after the last one
//! (weeks and months closed, the school year open), then as of the school year's end, and
//! measures the requests after each (`DNMA_DASHBOARD_SKIP_COLD=1` skips the first, cold
//! measurement; `DNMA_DASHBOARD_ONLY=TEXT` measures only the URLs holding TEXT, e.g. to
//! profile one page; `DNMA_DASHBOARD_SIZE=SCHOOLS,HITS_A_DAY,LAST_DAY,RUNS`, e.g.
//! `2000,10000,2025-11-28,10`, stages a smaller year and requests each URL fewer times). Under `cargo test` (no `--bench` argument) it runs a small smoke version so the harness stays tested.

#![allow(missing_docs)]

/// The allocator of the `dnma` binary, which serves these pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use dashboards::{DashboardConfig, Dashboards, EditorAccess};
use pipeline::facts::hits_batch;
use pipeline::hit_row::{HitRow, Placer};
use pipeline::sessionize::Sessionizer;
use pipeline::synthetic::{Population, TrafficSpec};
use pipeline::{ParquetRollupStore, Period, RollupStore};
use tagging_plan::{Plan, Referential};
use tower::ServiceExt;

const FIRST_DAY: &str = "2025-09-01";
const LAST_DAY: &str = "2026-07-03";

fn fill(store: &ParquetRollupStore, rt: &tokio::runtime::Runtime, schools: usize, hits_per_day: usize, last: NaiveDate) {
    let plan = Plan::shipped();
    let spec = TrafficSpec { schools, visitors_per_school: 12, ..TrafficSpec::default() };
    let population = Population::new(&spec, &plan, Referential::shipped());
    let mut placer = Placer::new(&plan, Referential::shipped());
    let mut offset = 0u64;
    let mut day: NaiveDate = FIRST_DAY.parse().unwrap();
    let started = Instant::now();
    while day <= last {
        if !matches!(day.weekday(), Weekday::Sun) {
            let rows: Vec<HitRow> = population
                .hits(offset + 1, hits_per_day, day, 1, 0)
                .into_iter()
                .map(|h| {
                    offset += 1;
                    placer.row(offset, h).unwrap()
                })
                .collect();
            let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<HitRow>> = std::collections::BTreeMap::new();
            for row in rows {
                by_day.entry(row.day).or_default().push(row);
            }
            rt.block_on(async {
                for (d, rows) in by_day {
                    store.stage_hits(d, hits_batch(&rows)).await.unwrap();
                }
            });
        }
        day = day + Days::new(1);
    }
    rt.block_on(async {
        for d in store.dirty_days().await.unwrap() {
            let facts = Sessionizer::default().run(store.day_hits(d).await.unwrap()).await.unwrap();
            store.replace_day(d, facts).await.unwrap();
        }
    });
    eprintln!("staged and computed {offset} hits in {:.1?} (not timed below)", started.elapsed());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)] // an index
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (schools, hits_per_day, last, runs) =
        if full { (9_000, 40_000, LAST_DAY.parse().unwrap(), 30) } else { (40, 500, "2025-09-20".parse().unwrap(), 2) };
    // A smaller school year when asked (a quicker run): DNMA_DASHBOARD_SIZE=SCHOOLS,HITS_A_DAY,LAST_DAY,RUNS.
    let (schools, hits_per_day, last, runs) = match std::env::var("DNMA_DASHBOARD_SIZE").ok().filter(|_| full) {
        Some(size) => {
            let parts: Vec<&str> = size.split(',').collect();
            assert_eq!(parts.len(), 4, "DNMA_DASHBOARD_SIZE=SCHOOLS,HITS_A_DAY,LAST_DAY,RUNS");
            (parts[0].parse().unwrap(), parts[1].parse().unwrap(), parts[2].parse().unwrap(), parts[3].parse().unwrap())
        }
        None => (schools, hits_per_day, last, runs),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let dir: PathBuf = std::env::var_os("DNMA_DASHBOARD_DIR").filter(|_| full).map_or_else(|| temp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(ParquetRollupStore::open(Path::new(&dir)).unwrap());
    if rt.block_on(store.days()).unwrap().is_empty() {
        fill(&store, &rt, schools, hits_per_day, last);
    }
    // No view cache: every request computes its view from the store (the cold case).
    let config = DashboardConfig {
        open_views: true,
        cache_seconds: 0,
        editors: vec![EditorAccess { name: "bench".into(), token: "t".into(), plateformes: vec!["ENT-BZH".into()] }],
        ..DashboardConfig::default()
    };
    let plan = Arc::new(Plan::shipped());
    let referential = Arc::new(Referential::shipped().clone());
    let retiring = Arc::clone(&store);
    let materializing = Arc::clone(&store);
    let app = dashboards::router(Arc::new(
        Dashboards::new(store, Arc::clone(&plan), Arc::clone(&referential), config.clone()).with_today(last + Days::new(1)),
    ));
    let week = Days::new(7);
    let debut = (last - week).to_string();
    let urls = requests(&debut);
    if std::env::var_os("DNMA_DASHBOARD_SKIP_COLD").is_none() {
        measure(&rt, &app, &urls, runs);
    }
    if std::env::var_os("DNMA_DASHBOARD_MATERIALIZE").is_some() || !full {
        // What a following pipeline keeps as periods close (one per step): first as of the
        // day after the last one (every week and month closed but the last; the school year
        // still open), then as of its end (the school year closed too).
        let year_end = Period::SchoolYear.end_of(last);
        for (today, what) in [(last + Days::new(1), "the school year still open"), (year_end + Days::new(2), "the school year closed")] {
            let started = Instant::now();
            let done = rt.block_on(pipeline::materialize::materialize_all(materializing.as_ref(), today, |m| {
                eprintln!("materialized the {} starting {}: {} cells", m.period.name(), m.start, m.cells);
            }));
            let done = done.unwrap();
            #[allow(clippy::cast_precision_loss)] // a size for display
            let kept_mib = walkdir(&dir.join("frozen")) as f64 / (1024.0 * 1024.0);
            println!(
                "\nmaterialized as of {today} ({what}): {} periods ({} weeks, {} months, {} school years), {} cells, in {:.1} s; {:.1} MiB of cells kept in all\n",
                done.len(),
                done.iter().filter(|m| m.period == Period::Week).count(),
                done.iter().filter(|m| m.period == Period::Month).count(),
                done.iter().filter(|m| m.period == Period::SchoolYear).count(),
                done.iter().map(|m| m.cells).sum::<u64>(),
                started.elapsed().as_secs_f64(),
                kept_mib
            );
            let dashboards =
                Dashboards::new(Arc::clone(&materializing) as Arc<dyn RollupStore>, Arc::clone(&plan), Arc::clone(&referential), config.clone());
            let app = dashboards::router(Arc::new(dashboards.with_today(today)));
            measure(&rt, &app, &urls, runs);
        }
    }
    if std::env::var_os("DNMA_DASHBOARD_RETIRE").is_some() || !full {
        let today = std::env::var("DNMA_DASHBOARD_RETIRE_TODAY").ok().map_or_else(
            || last.checked_add_months(chrono::Months::new(13)).unwrap() + Days::new(2),
            |d| d.parse().expect("DNMA_DASHBOARD_RETIRE_TODAY: a date"),
        );
        let started = Instant::now();
        let pass = rt.block_on(pipeline::fact_retention::apply(retiring.as_ref(), today, 13)).unwrap();
        let took = started.elapsed();
        #[allow(clippy::cast_precision_loss)] // a size for display
        let frozen_mib = walkdir(&dir.join("frozen")) as f64 / (1024.0 * 1024.0);
        println!(
            "\nretention as of {today}: {} days retired, {} periods frozen ({}), {} cells kept in {:.1} MiB, in {:.1} s",
            pass.days.len(),
            pass.frozen.values().map(Vec::len).sum::<usize>(),
            pass.frozen.iter().map(|(k, v)| format!("{} {k}", v.len())).collect::<Vec<_>>().join(", "),
            pass.cells,
            frozen_mib,
            took.as_secs_f64()
        );
        assert!(rt.block_on(retiring.days()).unwrap().iter().all(|d| *d > pass.through), "every retired day's facts went");
        println!("\nthe same requests over the frozen cells:\n");
        measure(&rt, &app, &urls, runs);
    }
}

/// The requests measured, about the week holding `debut`.
fn requests(debut: &str) -> Vec<String> {
    vec![
        format!("/territoires?debut={debut}"),
        format!("/territoires?niveau=academie&code=Rennes&debut={debut}"),
        format!("/territoires?niveau=departement&code=35&periode=annee&debut={debut}"),
        format!("/territoires?niveau=academie&code=Rennes&periode=mois&profil=ELEVE&debut={debut}"),
        format!("/api/v1/territoires?debut={debut}"),
        format!("/territoires?degre=college&debut={debut}"),
        format!("/api/v1/territoires?niveau=academie&code=Rennes&periode=annee&secteur=prive&debut={debut}"),
        format!("/territoires.csv?niveau=region&code=Bretagne&debut={debut}"),
        format!("/graphiques/territoire.svg?debut={debut}"),
        format!("/graphiques/carte.svg?debut={debut}"),
        format!("/projets/TOUTATICE?debut={debut}"),
        format!("/api/v1/projets/TOUTATICE?debut={debut}"),
        format!("/conformite/ENT-BZH?debut={debut}"),
        format!("/api/v1/conformite/ENT-BZH?debut={debut}"),
    ]
}

/// Bytes of the files under a directory.
fn walkdir(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.filter_map(Result::ok).map(|e| if e.path().is_dir() { walkdir(&e.path()) } else { e.metadata().map_or(0, |m| m.len()) }).sum()
    })
}

/// Requests each URL `runs` times and prints a table of p50 and p95.
fn measure(rt: &tokio::runtime::Runtime, app: &axum::Router, urls: &[String], runs: usize) {
    // The first request of a page reads footers no earlier request cached: shown apart, and
    // the percentiles are over the `runs` requests after it.
    println!("| request | first | p50 | p95 |");
    println!("|---|---|---|---|");
    let only = std::env::var("DNMA_DASHBOARD_ONLY").unwrap_or_default();
    for url in urls.iter().filter(|u| u.contains(&only)) {
        let mut times = Vec::with_capacity(runs + 1);
        for _ in 0..=runs {
            let request = Request::get(url.as_str()).header("authorization", "Bearer t").body(Body::empty()).unwrap();
            let t = Instant::now();
            let response = rt.block_on(app.clone().oneshot(request)).unwrap();
            let status = response.status();
            let _ = rt.block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
            times.push(t.elapsed());
            assert!(status.is_success(), "{url}: {status}");
        }
        let first = times.remove(0);
        times.sort();
        println!(
            "| `{url}` | {:.0} ms | {:.0} ms | {:.0} ms |",
            first.as_secs_f64() * 1000.0,
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.95).as_secs_f64() * 1000.0
        );
    }
}
