//! Liveness under steady traffic: hits keep arriving while a step stages. The step stops at
//! the log's end as it was when the step began and goes on to compute; what arrived meanwhile
//! is the next step's. (A step that staged until the log gave nothing never finished while a
//! writer kept appending a few records at a time.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::{ParquetRollupStore, Pipeline, PipelineConfig};
use tagging_plan::{Plan, Referential};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_stops_at_the_log_end_it_began_with_while_hits_keep_arriving() {
    let plan = Plan::shipped();
    let spec = TrafficSpec { seed: 11, hits: 4_000, schools: 8, visitors_per_school: 20, days: 1, ..TrafficSpec::default() };
    let hits = stored_hits(&spec, &plan, Referential::shipped());
    let records = |range: std::ops::Range<usize>| -> Vec<LogRecord> {
        hits[range].iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
    let first = 2_000;
    log.append(Topic::Hits, records(0..first)).await.unwrap();
    let store = Arc::new(ParquetRollupStore::open(&dir.path().join("rollups")).unwrap());
    // Batches far smaller than what keeps arriving: each poll finds more at the tail.
    let config = PipelineConfig { batch_records: 50, ..PipelineConfig::default() };
    let consumer = config.consumer.clone();
    let pipeline = Pipeline::new(log.clone(), store, Arc::new(plan.clone()), Arc::new(Referential::shipped().clone()), config);

    // A writer appends a few records at a time, without pause, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        let rest = records(first..hits.len());
        tokio::spawn(async move {
            let mut appended = 0;
            // The same hits again and again: staging counts records, whatever they hold.
            for chunk in rest.chunks(20).cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                log.append(Topic::Hits, chunk.to_vec()).await.unwrap();
                appended += chunk.len();
                tokio::task::yield_now().await;
            }
            appended
        })
    };
    let staged = tokio::time::timeout(Duration::from_secs(60), pipeline.stage(|_| {})).await;
    stop.store(true, Ordering::Relaxed);
    let appended = writer.await.unwrap();
    let staged = staged.expect("the step kept staging the log's growing tail").unwrap();
    assert!(staged.records >= first as u64, "the step staged what the log held when it began: {staged:?}");
    assert!(
        staged.records < (first + appended) as u64,
        "the step stopped before the writer did ({} records staged, {appended} appended meanwhile)",
        staged.records
    );
    // Nothing is lost: the next steps stage the rest, each hit once.
    let mut total = staged.records;
    loop {
        let next = pipeline.stage(|_| {}).await.unwrap();
        if next.records == 0 {
            break;
        }
        total += next.records;
    }
    assert_eq!(total, (first + appended) as u64, "every appended hit staged once");
    assert_eq!(log.committed(&consumer, Topic::Hits, 0).await.unwrap(), total);
    log.close();
}
