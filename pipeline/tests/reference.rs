//! The pipeline against the brute-force reference: synthetic hits go through a real embedded hit
//! log, the pipeline and the Parquet store (and, on a real server, the ClickHouse store); every
//! level × period × breakdown the store answers must equal what plain Rust computes over the same
//! hits.
//!
//! `DNMA_REFERENCE_HITS` sets the size of the large run (default 1,000,000).

use std::sync::Arc;

use chrono::NaiveDate;
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use collector::record::StoredHit;
use pipeline::hit_row::{HitRow, Placer};
use pipeline::reference;
use pipeline::sessionize::{Method, Sessionizer};
use pipeline::store::{ClickHouseConfig, ClickHouseRollupStore};
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::{Breakdown, IndicatorQuery, Level, ParquetRollupStore, Period, Pipeline, PipelineConfig, RollupStore};
use tagging_plan::{Plan, Referential};

const TIMEOUT_MS: i64 = 30 * 60 * 1000;

async fn append(log: &EmbeddedHitLog, hits: &[StoredHit]) {
    for chunk in hits.chunks(20_000) {
        let records = chunk.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect();
        log.append(Topic::Hits, records).await.unwrap();
    }
}

fn rows(hits: &[StoredHit], plan: &Plan) -> Vec<HitRow> {
    let mut placer = Placer::new(plan, Referential::shipped());
    hits.iter().enumerate().map(|(offset, hit)| placer.row(offset as u64, hit.clone()).unwrap()).collect()
}

/// Feeds `hits` through log → pipeline → store in two rounds (the second brings late hits to days
/// already computed) and returns the store.
async fn pipeline_over(hits: &[StoredHit], method: Method, batch_records: usize, dir: &std::path::Path) -> Arc<ParquetRollupStore> {
    let store = Arc::new(ParquetRollupStore::open(&dir.join("rollups")).unwrap());
    pipeline_into(store.clone(), hits, method, batch_records, dir).await;
    store
}

/// [`pipeline_over`] into any store.
async fn pipeline_into(store: Arc<dyn RollupStore>, hits: &[StoredHit], method: Method, batch_records: usize, dir: &std::path::Path) {
    let plan = Arc::new(Plan::shipped());
    let log = Arc::new(EmbeddedHitLog::open(&dir.join("log"), EmbeddedLogConfig::default()).unwrap());
    // At most 5,000 hits sessionized at once: the larger days are computed in visitor slices.
    let config = PipelineConfig {
        batch_records,
        sessionizer: Sessionizer { method, ..Sessionizer::default() },
        compute_hits: 5_000,
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::new(log.clone(), store.clone(), plan, Arc::new(Referential::shipped().clone()), config);
    let split = hits.len() * 4 / 5;
    append(&log, &hits[..split]).await;
    pipeline.run_once().await.unwrap();
    append(&log, &hits[split..]).await;
    let (staged, _) = pipeline.run_once().await.unwrap();
    assert_eq!(staged.next_offset, hits.len() as u64);
    log.close();
}

fn span(rows: &[HitRow]) -> (NaiveDate, NaiveDate) {
    (rows.iter().map(|r| r.day).min().unwrap(), rows.iter().map(|r| r.day).max().unwrap())
}

/// Compares every level × period × breakdown; returns the number of cells compared.
async fn compare_everything(store: &dyn RollupStore, rows: &[HitRow]) -> usize {
    let visits = reference::visits(rows, TIMEOUT_MS);
    let (first, last) = span(rows);
    let mut cells = 0;
    for level in Level::ALL {
        for period in Period::ALL {
            for breakdown in std::iter::once(None).chain(Breakdown::ALL.map(Some)) {
                let mut query = IndicatorQuery::new(level, period, first, last);
                query.breakdown = breakdown;
                let expected = reference::answer(&visits, &query);
                let got = store.query(&query).await.unwrap();
                assert!(!expected.is_empty() || level == Level::Circonscription, "{query:?}: the reference has no cell");
                assert_eq!(got.len(), expected.len(), "{query:?}: number of cells");
                for (g, e) in got.iter().zip(&expected) {
                    assert_eq!(g, e, "{query:?}");
                }
                cells += got.len();
            }
        }
    }
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_hits_match_the_reference_at_every_level_period_and_breakdown() {
    let n = std::env::var("DNMA_REFERENCE_HITS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let plan = Plan::shipped();
    // Four weeks across the end of August: two months, two school years.
    let spec = TrafficSpec { hits: n, schools: 400, visitors_per_school: 50, days: 28, ..TrafficSpec::default() };
    let hits = stored_hits(&spec, &plan, Referential::shipped());
    let rows = rows(&hits, &plan);
    let academies: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.place.academie.as_str()).collect();
    let departements: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.place.departement.as_str()).collect();
    assert!(academies.len() >= 10 && departements.len() >= 30, "spread: {} académies, {} départements", academies.len(), departements.len());

    let dir = tempfile::tempdir().unwrap();
    let store = pipeline_over(&hits, Method::SortScan, 250_000, dir.path()).await;
    let cells = compare_everything(store.as_ref(), &rows).await;
    assert!(cells > 10_000, "only {cells} cells compared");

    // Filters, as the dashboards use them.
    let visits = reference::visits(&rows, TIMEOUT_MS);
    let (first, last) = span(&rows);
    let academie = rows[0].place.academie.clone();
    for period in [Period::Week, Period::SchoolYear] {
        let mut query = IndicatorQuery::new(Level::Departement, period, first, last).by(Breakdown::Profil);
        query.within = Some((Level::Academie, academie.clone()));
        query.service = Some("MESSAGERIE".into());
        assert_eq!(store.query(&query).await.unwrap(), reference::answer(&visits, &query), "{query:?}");
        let mut query = IndicatorQuery::new(Level::Ecole, period, first, last).by(Breakdown::Service);
        query.profil = Some("ENSEIGNANT".into());
        assert_eq!(store.query(&query).await.unwrap(), reference::answer(&visits, &query), "{query:?}");
        // Without unique visitors (the dashboards' adoption curve).
        let mut query = IndicatorQuery::new(Level::Ecole, period, first, last).without_unique_visitors();
        query.within = Some((Level::Projet, rows[0].projet.clone()));
        assert_eq!(store.query(&query).await.unwrap(), reference::answer(&visits, &query), "{query:?}");
    }
}

/// The distributed store through the same pipeline and the same comparison, on every ClickHouse
/// server given: `DNMA_CLICKHOUSE_URL` (Debian's 18.16 in CI) and, when set, `DNMA_CHDB_URL`
/// (the current engine, 26.x, behind the chDB test adapter). Skipped without a server, except
/// under `CI=true`, where `DNMA_CLICKHOUSE_URL` is required, and `DNMA_CHDB_URL` too when
/// `DNMA_CHDB_REQUIRED=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clickhouse_store_matches_the_reference_at_every_level_period_and_breakdown() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let plan = Plan::shipped();
    let spec = TrafficSpec { hits: 30_000, schools: 400, visitors_per_school: 20, days: 28, seed: 11, ..TrafficSpec::default() };
    let hits = stored_hits(&spec, &plan, Referential::shipped());
    let rows = rows(&hits, &plan);
    for (n, (variable, required)) in
        [("DNMA_CLICKHOUSE_URL", ci), ("DNMA_CHDB_URL", ci && std::env::var("DNMA_CHDB_REQUIRED").as_deref() == Ok("1"))].into_iter().enumerate()
    {
        let url = match std::env::var(variable) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(!required, "CI must run the ClickHouse tests on this server: {variable} is not set");
                eprintln!("not tested on {variable}: set it to a ClickHouse server (scripts/clickhouse.sh DIR PORT starts one)");
                continue;
            }
        };
        let server = format!("{variable}={url}");
        let config = ClickHouseConfig { url, database: format!("dnma_reference_{}_{n}", std::process::id()), user: "default".into(), password: None };
        let store = Arc::new(ClickHouseRollupStore::new(config).unwrap());
        store.drop_database().await.unwrap();
        store.migrate().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        eprintln!("comparing with the reference on {server}");
        pipeline_into(store.clone(), &hits, Method::SortScan, 7_000, dir.path()).await;
        let cells = compare_everything(store.as_ref(), &rows).await;
        assert!(cells > 1_000, "on {server}: only {cells} cells compared");
        store.drop_database().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sessionizers_give_the_same_figures_and_recomputing_changes_nothing() {
    let plan = Plan::shipped();
    let spec = TrafficSpec { hits: 40_000, seed: 7, ..TrafficSpec::default() };
    let hits = stored_hits(&spec, &plan, Referential::shipped());
    let rows = rows(&hits, &plan);
    let sql_dir = tempfile::tempdir().unwrap();
    let store = pipeline_over(&hits, Method::Sql, 7_000, sql_dir.path()).await;
    compare_everything(store.as_ref(), &rows).await;

    // Recompute every day: same figures.
    let days = store.days().await.unwrap();
    store.mark_dirty(&days).await.unwrap();
    drop(store);
    let log = Arc::new(EmbeddedHitLog::open(&sql_dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
    let store = Arc::new(ParquetRollupStore::open(&sql_dir.path().join("rollups")).unwrap());
    let pipeline = Pipeline::new(log, store.clone(), Arc::new(plan), Arc::new(Referential::shipped().clone()), PipelineConfig::default());
    let (staged, recomputed) = pipeline.run_once().await.unwrap();
    assert_eq!((staged.records, recomputed.len()), (0, days.len()));
    compare_everything(store.as_ref(), &rows).await;
}
