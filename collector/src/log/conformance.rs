//! The conformance suite of [`HitLog`]: what every implementation must do, written once and run
//! against each (the embedded log in its unit tests; the Kafka log against a real broker).
//!
//! `open` must return the same log each time it is called (same directory, same topics), as a
//! process restart would: the suite drops the log and opens it again to check durability.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use super::{HitLog, LogRecord, Topic};

fn record(text: &str) -> LogRecord {
    LogRecord { key: text.as_bytes()[..1.min(text.len())].to_vec(), payload: text.as_bytes().to_vec() }
}

/// Runs every check of the suite, in order, on logs opened by `open`.
///
/// # Panics
/// On the first check an implementation fails, with what was expected.
pub async fn run<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn HitLog>>,
{
    appends_get_dense_offsets_and_read_back(open().await).await;
    concurrent_appends_lose_nothing(open().await).await;
    topics_are_independent(open().await).await;
    commits_and_records_survive_a_restart(&open).await;
}

async fn appends_get_dense_offsets_and_read_back(log: Arc<dyn HitLog>) {
    let start = log.stats(Topic::Hits).await.unwrap().end_offset;
    let first = log.append(Topic::Hits, vec![record("a"), record("b")]).await.unwrap();
    let second = log.append(Topic::Hits, vec![record("c")]).await.unwrap();
    assert_eq!((first, second), (start, start + 2), "offsets are dense");
    let all = log.read(Topic::Hits, start, 10).await.unwrap();
    let payloads: Vec<&[u8]> = all.iter().map(|r| r.payload.as_slice()).collect();
    assert_eq!(payloads, [b"a", b"b", b"c"]);
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), [start, start + 1, start + 2]);
    let middle = log.read(Topic::Hits, start + 1, 1).await.unwrap();
    assert_eq!((middle.len(), middle[0].payload.as_slice()), (1, b"b".as_slice()), "read honours from and max");
    assert!(log.read(Topic::Hits, start + 3, 10).await.unwrap().is_empty(), "nothing past the end");
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, start + 3);
}

async fn concurrent_appends_lose_nothing(log: Arc<dyn HitLog>) {
    let start = log.stats(Topic::Hits).await.unwrap().end_offset;
    let tasks: Vec<_> = (0..40)
        .map(|t| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let records = (0..25).map(|i| record(&format!("t{t}-{i}"))).collect();
                log.append(Topic::Hits, records).await.unwrap()
            })
        })
        .collect();
    let mut firsts = BTreeSet::new();
    for task in tasks {
        firsts.insert(task.await.unwrap());
    }
    assert_eq!(firsts.len(), 40, "each append gets its own range");
    let all = log.read(Topic::Hits, start, 10_000).await.unwrap();
    assert_eq!(all.len(), 1000);
    for first in firsts {
        let batch: Vec<String> =
            all[usize::try_from(first - start).unwrap()..][..25].iter().map(|r| String::from_utf8(r.payload.clone()).unwrap()).collect();
        let task = batch[0].split('-').next().unwrap().to_owned();
        assert!(batch.iter().enumerate().all(|(i, p)| *p == format!("{task}-{i}")), "a batch stays contiguous and ordered");
    }
}

async fn topics_are_independent(log: Arc<dyn HitLog>) {
    let hits = log.stats(Topic::Hits).await.unwrap().end_offset;
    let dead = log.stats(Topic::DeadLetters).await.unwrap().end_offset;
    log.append(Topic::DeadLetters, vec![record("refused")]).await.unwrap();
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, hits);
    let read = log.read(Topic::DeadLetters, dead, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].payload, b"refused");
}

async fn commits_and_records_survive_a_restart<F, Fut>(open: &F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn HitLog>>,
{
    let log = open().await;
    let end = log.append(Topic::Hits, vec![record("durable")]).await.unwrap() + 1;
    assert_eq!(log.committed("conformance", Topic::Hits).await.unwrap(), 0, "no commit yet");
    log.commit("conformance", Topic::Hits, end).await.unwrap();
    log.commit("conformance", Topic::DeadLetters, 1).await.unwrap();
    drop(log);
    let log = open().await;
    assert_eq!(log.committed("conformance", Topic::Hits).await.unwrap(), end);
    assert_eq!(log.committed("conformance", Topic::DeadLetters).await.unwrap(), 1);
    assert_eq!(log.committed("other", Topic::Hits).await.unwrap(), 0, "offsets are per consumer");
    let last = log.read(Topic::Hits, end - 1, 1).await.unwrap();
    assert_eq!(last[0].payload, b"durable");
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, end);
}
