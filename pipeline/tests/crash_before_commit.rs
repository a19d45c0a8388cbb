//! Fault: the pipeline dies after a batch's hits are durable in the store but before its log
//! offset is committed (the window between the two writes). On restart it reads that batch
//! again; the store's guard (a day never takes an offset it already holds) keeps every figure
//! as it was, equal to the brute-force reference: no hit is counted twice, none is lost. The
//! crash is reproduced exactly by putting the committed offsets back where they were before
//! the run, with the store's files left as the run wrote them.

use std::sync::Arc;

use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use pipeline::hit_row::Placer;
use pipeline::reference;
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::{Breakdown, IndicatorQuery, Level, ParquetRollupStore, Period, Pipeline, PipelineConfig, RollupStore};
use tagging_plan::{Plan, Referential};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_killed_before_committing_its_offset_counts_nothing_twice() {
    let plan = Plan::shipped();
    let spec = TrafficSpec { seed: 7, hits: 2_000, schools: 8, visitors_per_school: 10, days: 5, late_percent: 10, ..TrafficSpec::default() };
    let hits = stored_hits(&spec, &plan, Referential::shipped());
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
    let records = hits.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect();
    log.append(Topic::Hits, records).await.unwrap();
    let store = Arc::new(ParquetRollupStore::open(&dir.path().join("rollups")).unwrap());
    let config = PipelineConfig { batch_records: 300, ..PipelineConfig::default() };
    let pipeline = Pipeline::new(log.clone(), store.clone(), Arc::new(plan.clone()), Arc::new(Referential::shipped().clone()), config.clone());

    // A run stages and computes everything; then the state a kill leaves when it strikes after
    // the second half's batches reached the store but before their offsets were committed: the
    // committed offset back at the half. The restart reads the second half again.
    let half = u64::try_from(hits.len() / 2).unwrap();
    pipeline.run_once().await.unwrap();
    log.commit(&config.consumer, Topic::Hits, 0, half).await.unwrap();
    // The restarted process: a new pipeline, whose member of the group starts from the commit.
    let restarted = Pipeline::new(log.clone(), store.clone(), Arc::new(plan.clone()), Arc::new(Referential::shipped().clone()), config.clone());
    restarted.run_once().await.unwrap();
    assert_eq!(log.committed(&config.consumer, Topic::Hits, 0).await.unwrap(), hits.len() as u64, "the restart read the rest of the log again");

    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows: Vec<_> = hits.iter().enumerate().map(|(i, h)| placer.row(i as u64, h.clone()).unwrap()).collect();
    let (first, last) = (rows.iter().map(|r| r.day).min().unwrap(), rows.iter().map(|r| r.day).max().unwrap());
    let visits = reference::visits(&rows, 30 * 60 * 1000);
    for query in [
        IndicatorQuery::new(Level::Nation, Period::Day, first, last),
        IndicatorQuery::new(Level::Ecole, Period::Week, first, last).by(Breakdown::Service),
        IndicatorQuery::new(Level::Academie, Period::Month, first, last).by(Breakdown::Profil),
    ] {
        assert_eq!(store.query(&query).await.unwrap(), reference::answer(&visits, &query), "{query:?}");
    }
    let staged: u64 = {
        let mut n = 0;
        for day in store.days().await.unwrap() {
            n += store.day_hits(day).await.unwrap().iter().map(|b| b.num_rows() as u64).sum::<u64>();
        }
        n
    };
    assert_eq!(staged, hits.len() as u64, "every hit staged once");
    log.close();
}
