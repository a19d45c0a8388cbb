//! Unit tests of [`super::ParquetRollupStore`]'s files: parts, compaction, covered parts.

use super::hits::MAX_PARTS_PER_DAY;
use super::*;
use crate::facts::hits_batch;
use crate::store::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_rollup_store_conformance_suite() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = ParquetRollupStore::open(dir.path()).unwrap();
        dirs.lock().unwrap().push(dir);
        store
    })
    .await;
}

#[test]
fn a_second_writer_is_refused_and_readers_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let _writer = ParquetRollupStore::open(dir.path()).unwrap();
    let err = ParquetRollupStore::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("locked"), "{err}");
    let reader = ParquetRollupStore::open_read_only(dir.path()).unwrap();
    assert!(reader.files.writable().is_err());
    assert!(ParquetRollupStore::open_read_only(&dir.path().join("nowhere")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_survive_day_files_replaced_under_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ParquetRollupStore::open(dir.path()).unwrap());
    conformance::replaced_day_reads_old_or_new(store, &conformance::one_day_of_hits(3_000), 40).await;
}

#[tokio::test]
async fn parts_are_compacted_and_covered_parts_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetRollupStore::open(dir.path()).unwrap();
    let day: NaiveDate = "2026-11-23".parse().unwrap();
    let plan = tagging_plan::Plan::shipped();
    let mut placer = crate::hit_row::Placer::new(&plan, tagging_plan::Referential::shipped());
    let place = placer.place(0, "0350122T").unwrap();
    let row = |offset: u64| crate::hit_row::HitRow {
        offset,
        time_ms: 1_795_420_800_000 + i64::try_from(offset).unwrap() * 1000,
        day,
        visitor: [7; 16],
        plateforme: "P".into(),
        projet: "J".into(),
        exploitant: "E".into(),
        uai: "0350122T".into(),
        place: place.clone(),
        profil: "ELEVE".into(),
        service: "MESSAGERIE".into(),
        outil: None,
        page_view: true,
        click: false,
        device: "ordinateur".into(),
        os: "linux".into(),
        browser: "firefox".into(),
        plan_version: "2024.1".into(),
    };
    let staged = 3 * MAX_PARTS_PER_DAY as u64;
    for offset in 0..staged {
        store.stage_hits(day, hits_batch(&[row(offset)])).await.unwrap();
        assert!(store.files.parts(day).unwrap().len() <= MAX_PARTS_PER_DAY, "parts pile up no higher");
    }
    let parts = store.files.parts(day).unwrap();
    assert!(parts.len() < MAX_PARTS_PER_DAY && parts[0].first == 0, "{parts:?}");
    // A leftover of an interrupted compaction (a part the merged one covers) is not read.
    let covered = store.files.part_path(day, 3, 3);
    store.files.write_atomically(&covered, &hits_schema(), &hits_batch(&[row(3)])).unwrap();
    let rows: usize = store.day_hits(day).await.unwrap().iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows as u64, staged);
    assert_eq!(store.day_hit_count(day.into()).await.unwrap(), staged);
    assert_eq!(store.staged_through(day, 0).await.unwrap(), Some(staged - 1));
}

/// A step after a few new hits re-cuts only their visitors: its facts are those of the day
/// computed at once, and it read a fraction of the day's hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_new_hits_recompute_only_their_visitors() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (stepwise, at_once) = (ParquetRollupStore::open(a.path()).unwrap(), ParquetRollupStore::open(b.path()).unwrap());
    let rows = conformance::one_day_of_hits(4_000);
    let order: Vec<usize> = (0..rows.len()).collect();
    let steps = conformance::steps::arrivals(&rows, &order, &[rows.len() - 40]);
    let computed = conformance::steps::steps_give_the_figures_of_one(&stepwise, &at_once, &steps, u64::MAX).await;
    assert!(!computed[0].partial, "the first step computes the day whole");
    assert!(computed[1].partial, "40 new hits re-cut only their visitors");
    assert!(computed[1].hits < 1_000, "the second step read {} of {} hits", computed[1].hits, rows.len());
}

/// A few re-cut visitors go to the day's delta, read instead of their rows in the base; folding
/// the delta into the base, erasing a visitor or computing the day whole leaves no delta and
/// the figures of one step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_cut_visitors_go_to_a_delta_that_reads_as_one_day() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (stepwise, at_once) = (ParquetRollupStore::open(a.path()).unwrap(), ParquetRollupStore::open(b.path()).unwrap());
    let rows = conformance::one_day_of_hits(4_000);
    let n = rows.len();
    let steps = conformance::steps::arrivals(&rows, &(0..n).collect::<Vec<_>>(), &[n - 60, n - 40, n - 20]);
    let computed = conformance::steps::steps_give_the_figures_of_one(&stepwise, &at_once, &steps, u64::MAX).await;
    assert!(computed[1..].iter().all(|c| c.partial), "{computed:?}");
    let day = rows[0].day;
    let files = &stepwise.files;
    for table in ["visits", "usages"] {
        assert!(files.delta_path(table, day).exists(), "{table}: the re-cut visitors' facts are in a delta");
        let (base, delta) = (row_count(&files.fact_path(table, day)).unwrap(), row_count(&files.delta_path(table, day)).unwrap());
        assert!(delta * delta::COMPACT_SHARE <= base, "{table}: the base was not rewritten ({delta} rows in the delta, {base} in the base)");
    }
    let replaced = files.replaced_visitors("visits", day).unwrap();
    assert!(steps[1..].iter().flatten().all(|hit| replaced.contains(&hit.visitor)), "every visitor of a later step is replaced");
    let figures = conformance::steps::day_figures(&at_once, day).await;

    // Folded into the base (as a freeze does first), the day reads the same.
    assert_eq!(files.compact_days(day, day).unwrap(), 1);
    assert!(!files.delta_path("visits", day).exists() && !files.delta_path("usages", day).exists());
    assert_eq!(conformance::steps::day_figures(&stepwise, day).await, figures);
    assert_eq!(files.compact_days(day, day).unwrap(), 0, "nothing left to fold");

    // A new delta, then an erasure: the visitor's rows go from the base and the delta alike.
    let more = conformance::steps::arrivals(&rows, &(0..n).collect::<Vec<_>>(), &[]);
    let again: Vec<crate::hit_row::HitRow> =
        more[0][..10].iter().map(|r| crate::hit_row::HitRow { offset: r.offset + n as u64, ..r.clone() }).collect();
    stepwise.stage_hits(day, hits_batch(&again)).await.unwrap();
    let computed = crate::engine::compute_day(&stepwise, crate::sessionize::Sessionizer::default(), day, u64::MAX).await.unwrap();
    assert!(computed.partial && files.delta_path("visits", day).exists(), "{computed:?}");
    let doomed = again[0].visitor;
    let erased = stepwise.erase_visitors(&DoomedVisitors::new(&[doomed])).await.unwrap();
    assert!(erased.visits > 0 && !files.delta_path("visits", day).exists(), "{erased:?}");
    let nation = IndicatorQuery::new(crate::model::Level::Nation, Period::Day, day, day);
    let (after, before) = (stepwise.query(&nation).await.unwrap(), at_once.query(&nation).await.unwrap());
    assert_eq!(after[0].visitors + 1, before[0].visitors, "one visitor fewer: {after:?} against {before:?}");
}

/// A day whose facts were rewritten by an erasure, or cut with another visit timeout, is
/// computed whole at its next step, with the figures of one step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_without_a_matching_stamp_are_computed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetRollupStore::open(dir.path()).unwrap();
    let rows = conformance::one_day_of_hits(2_000);
    let d = rows[0].day;
    let steps = conformance::steps::arrivals(&rows, &(0..rows.len()).collect::<Vec<_>>(), &[rows.len() - 100, rows.len() - 50]);
    store.stage_hits(d, hits_batch(&steps[0])).await.unwrap();
    crate::engine::compute_day(&store, crate::sessionize::Sessionizer::default(), d, u64::MAX).await.unwrap();
    store.stage_hits(d, hits_batch(&steps[1])).await.unwrap();
    let longer = crate::sessionize::Sessionizer { timeout: std::time::Duration::from_secs(3600), ..Default::default() };
    let computed = crate::engine::compute_day(&store, longer, d, u64::MAX).await.unwrap();
    assert!(!computed.partial, "facts cut with another timeout are not kept");
    let visitor = rows[0].visitor;
    store.erase_visitors(&DoomedVisitors::new(&[visitor])).await.unwrap();
    store.stage_hits(d, hits_batch(&steps[2])).await.unwrap();
    let computed = crate::engine::compute_day(&store, longer, d, u64::MAX).await.unwrap();
    assert!(!computed.partial, "facts rewritten by an erasure are computed whole");
}

mod steps_property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]
        /// Any split of the same hits into steps, in any arrival order, computed with any bound
        /// on the hits in memory, gives the figures of one step.
        #[test]
        fn any_split_in_any_order_gives_the_figures_of_one_step(
            seed in any::<u64>(),
            cuts in proptest::collection::vec(0usize..1_500, 0..8),
            most in prop_oneof![Just(u64::MAX), 50u64..400],
        ) {
            let rows = conformance::one_day_of_hits(1_500);
            let mut order: Vec<usize> = (0..rows.len()).collect();
            // A permutation from the seed (Fisher-Yates on a small xorshift).
            let mut state = seed | 1;
            for i in (1..order.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                order.swap(i, usize::try_from(state % (i as u64 + 1)).expect("an index"));
            }
            let mut cuts = cuts;
            cuts.sort_unstable();
            let steps = conformance::steps::arrivals(&rows, &order, &cuts);
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async {
                let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
                let (stepwise, at_once) = (ParquetRollupStore::open(a.path()).unwrap(), ParquetRollupStore::open(b.path()).unwrap());
                conformance::steps::steps_give_the_figures_of_one(&stepwise, &at_once, &steps, most).await;
            });
        }
    }
}

/// Keeping the year to date again extends the standing rows with the days since: the days they
/// hold are not read again (here their fact files are gone, and the rows still count them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn year_to_date_rows_are_extended_not_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetRollupStore::open(dir.path()).unwrap();
    let rows = conformance::one_day_of_hits(2_000);
    let day = rows[0].day;
    conformance::stage_and_compute(&store, &rows, crate::sessionize::Method::SortScan).await;
    let year = Period::SchoolYear.start_of(day);
    let kept = store.keep_year_to_date(year, day).await.unwrap();
    assert!(kept > 100, "{kept} rows");
    for table in ["visits", "usages"] {
        fs::rename(store.files.fact_path(table, day), dir.path().join(format!("{table}.aside"))).unwrap();
    }
    let next = day.succ_opt().unwrap();
    assert_eq!(store.keep_year_to_date(year, next).await.unwrap(), kept, "the day's rows carried over from the kept ones");
    assert_eq!(store.year_to_date().await.unwrap(), Some((year, next)));
}
