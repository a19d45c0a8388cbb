//! Property: the rollups do not depend on how hits are batched or in which order they arrive.
//! Random traffic, shuffled, appended to a real embedded log in random chunks, each chunk
//! followed by a pipeline run with a random batch size: every figure equals the brute-force
//! reference, and equals the figures of the same hits arriving in time order in one go.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::NaiveDate;
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use collector::record::StoredHit;
use pipeline::hit_row::Placer;
use pipeline::reference;
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::{Breakdown, IndicatorQuery, IndicatorRow, Level, ParquetRollupStore, Period, Pipeline, PipelineConfig, RollupStore};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tagging_plan::{Plan, Referential};

fn queries(first: NaiveDate, last: NaiveDate) -> Vec<IndicatorQuery> {
    vec![
        IndicatorQuery::new(Level::Ecole, Period::Day, first, last),
        IndicatorQuery::new(Level::Academie, Period::Week, first, last).by(Breakdown::Service),
        IndicatorQuery::new(Level::Nation, Period::Month, first, last).by(Breakdown::Profil),
        IndicatorQuery::new(Level::Plateforme, Period::SchoolYear, first, last).by(Breakdown::Outil),
    ]
}

/// Runs the pipeline over `hits` appended in `chunks`, each followed by a run with `batch`
/// records per read; returns the answers to [`queries`].
fn figures(hits: &[StoredHit], chunks: &[usize], batch: usize, first: NaiveDate, last: NaiveDate) -> Vec<Vec<IndicatorRow>> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
        let store = Arc::new(ParquetRollupStore::open(&dir.path().join("rollups")).unwrap());
        let config = PipelineConfig { batch_records: batch, ..PipelineConfig::default() };
        let pipeline = Pipeline::new(log.clone(), store.clone(), Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config);
        let mut rest = hits;
        for &size in chunks.iter().chain(std::iter::once(&usize::MAX)) {
            let (now, later) = rest.split_at(size.min(rest.len()));
            rest = later;
            if !now.is_empty() {
                let records = now.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect();
                log.append(Topic::Hits, records).await.unwrap();
            }
            pipeline.run_once().await.unwrap();
        }
        let mut answers = Vec::new();
        for query in queries(first, last) {
            answers.push(store.query(&query).await.unwrap());
        }
        log.close();
        answers
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn figures_do_not_depend_on_batches_or_arrival_order(
        seed in 0u64..1000,
        chunks in proptest::collection::vec(1usize..150, 0..5),
        batch in 1usize..120,
    ) {
        let plan = Plan::shipped();
        let spec = TrafficSpec { seed, hits: 300, schools: 6, visitors_per_school: 4, days: 10, late_percent: 0, ..TrafficSpec::default() };
        let in_time_order = stored_hits(&spec, &plan, Referential::shipped());
        // Ties (one visitor, two hits in the same millisecond) would make the first hit depend
        // on arrival order; the generator makes none.
        let instants: HashSet<(i64, [u8; 16])> = in_time_order.iter().map(|h| (h.received_ms, h.visitor.0)).collect();
        prop_assume!(instants.len() == in_time_order.len());
        let mut shuffled = in_time_order.clone();
        shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));

        let mut placer = Placer::new(&plan, Referential::shipped());
        let rows: Vec<_> = shuffled.iter().enumerate().map(|(i, h)| placer.row(i as u64, h.clone()).unwrap()).collect();
        let first = rows.iter().map(|r| r.day).min().unwrap();
        let last = rows.iter().map(|r| r.day).max().unwrap();
        let visits = reference::visits(&rows, 30 * 60 * 1000);
        let expected: Vec<Vec<IndicatorRow>> = queries(first, last).iter().map(|q| reference::answer(&visits, q)).collect();

        let got = figures(&shuffled, &chunks, batch, first, last);
        prop_assert_eq!(&got, &expected);
        let in_one_go = figures(&in_time_order, &[], 100_000, first, last);
        prop_assert_eq!(&in_one_go, &expected);
    }
}
