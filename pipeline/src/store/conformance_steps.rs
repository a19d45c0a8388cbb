//! Conformance scenario of a day computed step by step ([`crate::day_changes`]): whatever the
//! steps its hits arrive in, and in whatever order, the day's figures are those of one step
//! over all of them.

use chrono::NaiveDate;

use super::RollupStore;
use crate::engine::{compute_day, DayComputed};
use crate::facts::hits_batch;
use crate::hit_row::HitRow;
use crate::model::{Breakdown, Level, Period};
use crate::query::{IndicatorQuery, IndicatorRow};
use crate::sessionize::Sessionizer;
use crate::tagging::TaggingRow;

/// Every figure of one day: each level with and without each breakdown, and its tagging counts.
pub async fn day_figures<S: RollupStore + ?Sized>(store: &S, day: NaiveDate) -> (Vec<Vec<IndicatorRow>>, Vec<TaggingRow>) {
    let mut figures = Vec::new();
    for level in Level::ALL {
        figures.push(store.query(&IndicatorQuery::new(level, Period::Day, day, day)).await.expect("query"));
        for breakdown in Breakdown::ALL {
            figures.push(store.query(&IndicatorQuery::new(level, Period::Day, day, day).by(breakdown)).await.expect("query"));
        }
    }
    (figures, store.tagging(day, day, None).await.expect("tagging"))
}

/// The hits of one day as they arrive: in `order` (indexes into `rows`), each given the next
/// log position, cut into steps at `cuts` (ascending indexes into the arrival order).
pub fn arrivals(rows: &[HitRow], order: &[usize], cuts: &[usize]) -> Vec<Vec<HitRow>> {
    let arrived: Vec<HitRow> = order.iter().enumerate().map(|(i, &row)| HitRow { offset: i as u64 + 1, ..rows[row].clone() }).collect();
    let mut steps = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([&arrived.len()]) {
        let cut = cut.clamp(start, arrived.len());
        if cut > start {
            steps.push(arrived[start..cut].to_vec());
        }
        start = cut;
    }
    steps
}

/// The same arrivals with each visitor's hits in one of `partitions` log partitions (by the last
/// byte of its pseudonym, as a log keyed by visitor would), positions rising within each.
pub fn in_partitions(steps: Vec<Vec<HitRow>>, partitions: u32) -> Vec<Vec<HitRow>> {
    let mut next = vec![0u64; partitions as usize];
    steps
        .into_iter()
        .map(|step| {
            step.into_iter()
                .map(|row| {
                    let partition = u32::from(row.visitor[15]) % partitions;
                    next[partition as usize] += 1;
                    HitRow { offset: collector::log::position(partition, next[partition as usize]), ..row }
                })
                .collect()
        })
        .collect()
}

/// Stages hits, one batch per log partition.
async fn stage<S: RollupStore>(store: &S, day: NaiveDate, hits: &[HitRow]) {
    let mut by_partition = std::collections::BTreeMap::<u32, Vec<HitRow>>::new();
    for row in hits {
        by_partition.entry(collector::log::partition_of(row.offset)).or_default().push(row.clone());
    }
    for rows in by_partition.values() {
        store.stage_hits(day, hits_batch(rows)).await.expect("stage");
    }
}

/// Computes every dirty part of a day (each (day, partition) where the store divides by log
/// partition, the whole day otherwise).
async fn compute_parts<S: RollupStore>(store: &S, most: u64) -> Vec<DayComputed> {
    let mut computed = Vec::new();
    for part in store.dirty_parts().await.expect("dirty parts") {
        computed.push(compute_day(store, Sessionizer::default(), part, most).await.expect("compute a part"));
    }
    assert!(store.dirty_days().await.expect("dirty").is_empty(), "a computed day is clean");
    computed
}

/// Stages each step's hits then computes the day's dirty parts (at most `most` hits at once),
/// in `stepwise`; stages them all at once then computes the day in `at_once`. Both stores must
/// then give the same figures. Returns what each computation did, step after step.
pub async fn steps_give_the_figures_of_one<S: RollupStore>(stepwise: &S, at_once: &S, steps: &[Vec<HitRow>], most: u64) -> Vec<DayComputed> {
    let day = steps[0][0].day;
    let mut computed = Vec::new();
    for step in steps {
        stage(stepwise, day, step).await;
        computed.extend(compute_parts(stepwise, most).await);
    }
    let all: Vec<HitRow> = steps.concat();
    stage(at_once, day, &all).await;
    let whole = compute_parts(at_once, u64::MAX).await;
    assert!(whole.iter().all(|w| !w.partial), "a day computed for the first time is computed whole");
    assert_eq!(whole.iter().map(|w| w.hits).sum::<u64>(), all.len() as u64);
    assert_eq!(day_figures(stepwise, day).await, day_figures(at_once, day).await, "{} steps: {computed:?}", steps.len());
    computed
}

/// A day of 3,000 hits arriving shuffled in steps of decreasing size: the figures match those of
/// one step.
pub(super) async fn a_day_computed_in_steps_has_the_figures_of_one_step<S: RollupStore>(stepwise: &S, at_once: &S) {
    let rows = super::one_day_of_hits(3_000);
    // A fixed shuffle: every 7th row of the day in turn, so hits arrive far out of time order.
    let order: Vec<usize> = (0..7).flat_map(|start| (start..rows.len()).step_by(7)).collect();
    let n = rows.len();
    let cuts = [n - 1_000, n - 600, n - 400, n - 300, n - 250, n - 10];
    let computed = steps_give_the_figures_of_one(stepwise, at_once, &arrivals(&rows, &order, &cuts), 700).await;
    assert_eq!(computed.len(), 7);
    assert!(computed[1..].iter().all(|c| c.partial), "each later step re-cuts only its visitors: {computed:?}");
    let sessionized: Vec<u64> = computed[1..].iter().map(|c| c.hits).collect();
    assert_eq!(sessionized, [400, 200, 100, 50, 240, 10], "each later step extends its visitors' visits with its new hits only: {computed:?}");
}

/// The same day with its visitors in three log partitions: whether the store computes it a
/// partition at a time (ClickHouse) or whole, step by step it has the figures of one step.
pub(super) async fn a_day_in_three_partitions_computed_in_steps_has_the_figures_of_one_step<S: RollupStore>(stepwise: &S, at_once: &S) {
    let rows = super::one_day_of_hits(3_000);
    let order: Vec<usize> = (0..5).flat_map(|start| (start..rows.len()).step_by(5)).collect();
    let n = rows.len();
    let steps = in_partitions(arrivals(&rows, &order, &[n - 800, n - 300, n - 20]), 3);
    let computed = steps_give_the_figures_of_one(stepwise, at_once, &steps, 500).await;
    assert!(computed.len() >= 4, "{computed:?}");
    assert!(computed.last().is_some_and(|c| c.partial && c.hits < 1_000), "the last steps re-cut only their visitors: {computed:?}");
}
