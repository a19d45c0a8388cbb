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

/// Stages each step's hits then computes the day (at most `most` hits at once), in `stepwise`;
/// stages them all at once then computes the day in `at_once`. Both stores must then give the
/// same figures. Returns what each step's computation did.
pub async fn steps_give_the_figures_of_one<S: RollupStore>(stepwise: &S, at_once: &S, steps: &[Vec<HitRow>], most: u64) -> Vec<DayComputed> {
    let day = steps[0][0].day;
    let sessionizer = Sessionizer::default();
    let mut computed = Vec::new();
    for step in steps {
        stepwise.stage_hits(day, hits_batch(step)).await.expect("stage a step");
        computed.push(compute_day(stepwise, sessionizer, day, most).await.expect("compute a step"));
        assert!(stepwise.dirty_days().await.expect("dirty").is_empty(), "a computed day is clean");
    }
    let all: Vec<HitRow> = steps.concat();
    at_once.stage_hits(day, hits_batch(&all)).await.expect("stage all");
    let whole = compute_day(at_once, sessionizer, day, u64::MAX).await.expect("compute all");
    assert!(!whole.partial, "a day computed for the first time is computed whole");
    assert_eq!(whole.hits, all.len() as u64);
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
    assert!(computed[6].hits < computed[1].hits, "ten new hits read fewer hits than 400: {computed:?}");
}
