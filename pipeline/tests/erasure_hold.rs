//! An erasure in a log that cannot be rewritten (Kafka): the person's records are still in the
//! log when the pipeline reads them, and none of them reaches the store while the erasure
//! holds them; everyone else's hits are staged and counted as usual.

use std::sync::Arc;

use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use pipeline::store::DoomedVisitors;
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::{IndicatorQuery, Level, ParquetRollupStore, Period, Pipeline, PipelineConfig, RollupStore};
use tagging_plan::{Plan, Referential};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_of_a_held_visitor_read_from_the_log_are_not_staged() {
    let plan = Plan::shipped();
    let spec = TrafficSpec { seed: 11, hits: 1_500, schools: 4, visitors_per_school: 5, days: 2, late_percent: 0, ..TrafficSpec::default() };
    let hits = stored_hits(&spec, &plan, Referential::shipped());
    let erased = hits[0].visitor;
    let theirs = hits.iter().filter(|h| h.visitor == erased).count() as u64;
    assert!(theirs > 1 && theirs < hits.len() as u64);

    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
    log.append(Topic::Hits, hits.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect()).await.unwrap();
    let store = Arc::new(ParquetRollupStore::open(&dir.path().join("rollups")).unwrap());
    store.hold_erased(&DoomedVisitors::new(&[erased.0]), chrono::Utc::now().date_naive() + chrono::Days::new(32)).await.unwrap();

    let config = PipelineConfig { batch_records: 400, ..PipelineConfig::default() };
    let pipeline = Pipeline::new(log.clone(), store.clone(), Arc::new(plan), Arc::new(Referential::shipped().clone()), config);
    let (staged, _) = pipeline.run_once().await.unwrap();
    assert_eq!(staged.held, theirs, "every hit of the erased visitor skipped");
    assert_eq!(staged.hits + staged.held + staged.unplaceable, hits.len() as u64);

    let mut visitors_staged = std::collections::HashSet::new();
    let mut page_views = 0;
    for day in store.days().await.unwrap() {
        for batch in store.day_hits(day).await.unwrap() {
            let column = datafusion::arrow::array::AsArray::as_binary::<i32>(batch.column_by_name("visitor").unwrap());
            visitors_staged.extend(column.iter().map(|v| v.unwrap().to_vec()));
        }
        let q = IndicatorQuery::new(Level::Nation, Period::Day, day, day);
        page_views += store.query(&q).await.unwrap().iter().map(|r| r.page_views + r.clicks).sum::<u64>();
    }
    assert!(!visitors_staged.contains(erased.0.as_slice()), "the erased visitor has no staged hit");
    assert_eq!(page_views, staged.hits, "the others are counted");
    log.close();
}
