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
    assert_eq!(store.day_hit_count(day).await.unwrap(), staged);
    assert_eq!(store.staged_through(day, 0).await.unwrap(), Some(staged - 1));
}
