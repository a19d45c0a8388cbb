//! The conformance suite of [`HitLog`]: what every implementation must do, written once and run
//! against each (the embedded log in its unit tests; the Kafka log against a real broker).
//!
//! `open` must return the same log each time it is called (same directory or topics), as a
//! process restart would: the suite drops the log and opens it again to check durability. The
//! checks hold for any number of partitions: records of one key stay in one partition, in order.
//! A [`super::LogTail`] reads from the end (or a bounded backlog before it), follows appends,
//! skips ahead when asked, and leaves every consumer's committed offsets as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{HitLog, LogRecord, LogTail, Partition, StoredRecord, Topic};

fn record(key: &str, text: &str) -> LogRecord {
    LogRecord { key: key.as_bytes().to_vec(), payload: text.as_bytes().to_vec() }
}

fn text(record: &StoredRecord) -> String {
    String::from_utf8(record.payload.clone()).expect("the suite writes UTF-8")
}

/// Every record a topic holds, partition by partition, in offset order.
async fn everything(log: &dyn HitLog, topic: Topic) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    for partition in 0..log.partitions(topic).await.unwrap() {
        let mut from = 0;
        loop {
            let records = log.read(topic, partition, from, 500).await.unwrap();
            let Some(last) = records.last() else { break };
            from = last.offset + 1;
            out.extend(records);
        }
    }
    out
}

/// The records appended since `before` was taken.
async fn since(log: &dyn HitLog, topic: Topic, before: &[StoredRecord]) -> Vec<StoredRecord> {
    let seen: BTreeSet<(Partition, u64)> = before.iter().map(|r| (r.partition, r.offset)).collect();
    everything(log, topic).await.into_iter().filter(|r| !seen.contains(&(r.partition, r.offset))).collect()
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
    a_tail_follows_the_end_reads_a_backlog_skips_ahead_and_commits_nothing(open().await).await;
    a_group_member_resumes_after_its_commit(&open).await;
}

async fn appends_get_dense_offsets_and_read_back(log: Arc<dyn HitLog>) {
    let before = everything(&*log, Topic::Hits).await;
    let end = log.stats(Topic::Hits).await.unwrap().end_offset;
    let first = log.append(Topic::Hits, vec![record("k", "a"), record("k", "b")]).await.unwrap();
    let second = log.append(Topic::Hits, vec![record("k", "c")]).await.unwrap();
    assert_eq!(second, first + 2, "offsets of a partition are dense");
    let new = since(&*log, Topic::Hits, &before).await;
    assert_eq!(new.iter().map(text).collect::<Vec<_>>(), ["a", "b", "c"]);
    let partition = new[0].partition;
    assert!(new.iter().all(|r| r.partition == partition), "one key, one partition");
    assert_eq!(new.iter().map(|r| r.offset).collect::<Vec<_>>(), [first, first + 1, first + 2]);
    let middle = log.read(Topic::Hits, partition, first + 1, 1).await.unwrap();
    assert_eq!((middle.len(), text(&middle[0])), (1, "b".to_owned()), "read honours from and max");
    assert!(log.read(Topic::Hits, partition, first + 3, 10).await.unwrap().is_empty(), "nothing past the end");
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, end + 3);
    let ends = log.end_offsets(Topic::Hits).await.unwrap();
    assert_eq!(ends.len(), log.partitions(Topic::Hits).await.unwrap() as usize, "one end per partition");
    assert_eq!(ends[partition as usize], first + 3, "a partition ends after its last record");
    assert_eq!(ends.iter().sum::<u64>(), end + 3);
}

async fn concurrent_appends_lose_nothing(log: Arc<dyn HitLog>) {
    let before = everything(&*log, Topic::Hits).await;
    let tasks: Vec<_> = (0..40)
        .map(|t| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let records = (0..25).map(|i| record(&format!("t{t}"), &format!("t{t}-{i}"))).collect();
                log.append(Topic::Hits, records).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let new = since(&*log, Topic::Hits, &before).await;
    assert_eq!(new.len(), 1000, "every record once");
    let mut by_task: BTreeMap<String, Vec<(Partition, u64, usize)>> = BTreeMap::new();
    for r in &new {
        let text = text(r);
        let (task, i) = text.split_once('-').unwrap();
        by_task.entry(task.to_owned()).or_default().push((r.partition, r.offset, i.parse().unwrap()));
    }
    assert_eq!(by_task.len(), 40);
    for (task, mut records) in by_task {
        records.sort_unstable();
        assert!(records.iter().all(|r| r.0 == records[0].0), "{task}: one key, one partition");
        assert_eq!(records.iter().map(|r| r.2).collect::<Vec<_>>(), (0..25).collect::<Vec<_>>(), "{task}: a key's records stay in order");
    }
}

async fn topics_are_independent(log: Arc<dyn HitLog>) {
    let hits = log.stats(Topic::Hits).await.unwrap().end_offset;
    let before = everything(&*log, Topic::DeadLetters).await;
    log.append(Topic::DeadLetters, vec![record("r", "refused")]).await.unwrap();
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, hits);
    let read = since(&*log, Topic::DeadLetters, &before).await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].payload, b"refused");
}

async fn commits_and_records_survive_a_restart<F, Fut>(open: &F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn HitLog>>,
{
    let log = open().await;
    let before = everything(&*log, Topic::Hits).await;
    let offset = log.append(Topic::Hits, vec![record("durable", "durable")]).await.unwrap();
    let partition = since(&*log, Topic::Hits, &before).await[0].partition;
    assert_eq!(log.committed("conformance", Topic::Hits, partition).await.unwrap(), 0, "no commit yet");
    log.commit("conformance", Topic::Hits, partition, offset + 1).await.unwrap();
    log.commit("conformance", Topic::DeadLetters, 0, 1).await.unwrap();
    let end = log.stats(Topic::Hits).await.unwrap().end_offset;
    drop(log);
    let log = open().await;
    assert_eq!(log.committed("conformance", Topic::Hits, partition).await.unwrap(), offset + 1);
    assert_eq!(log.committed("conformance", Topic::DeadLetters, 0).await.unwrap(), 1);
    assert_eq!(log.committed("other", Topic::Hits, partition).await.unwrap(), 0, "offsets are per consumer");
    let last = log.read(Topic::Hits, partition, offset, 1).await.unwrap();
    assert_eq!(last[0].payload, b"durable");
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, end);
}

/// Polls until `want` records came or a deadline passed (a broker's group needs a moment to
/// give a new member its partitions).
async fn poll_for(consumer: &mut dyn super::LogConsumer, want: usize) -> Vec<StoredRecord> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(consumer.poll(want - got.len(), Duration::from_millis(500)).await.unwrap());
    }
    got
}

async fn a_group_member_resumes_after_its_commit<F, Fut>(open: &F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn HitLog>>,
{
    let log = open().await;
    let held = usize::try_from(log.stats(Topic::Hits).await.unwrap().end_offset).unwrap();
    let mut member = Arc::clone(&log).subscribe("conformance-group", Topic::Hits).await.unwrap();
    let first = poll_for(&mut *member, held).await;
    assert_eq!(first.len(), held, "a new group reads the topic from its start");
    let mut next = BTreeMap::new();
    for r in &first {
        let n = next.entry(r.partition).or_insert(0);
        *n = (*n).max(r.offset + 1);
    }
    member.commit(&next).await.unwrap();
    drop(member);
    log.append(Topic::Hits, vec![record("late", "after the commit")]).await.unwrap();
    drop(log);
    let log = open().await;
    let mut member = Arc::clone(&log).subscribe("conformance-group", Topic::Hits).await.unwrap();
    let again = poll_for(&mut *member, 1).await;
    assert_eq!(again.iter().map(text).collect::<Vec<_>>(), ["after the commit"], "a member resumes after the group's commit");
    assert!(member.poll(10, Duration::from_millis(500)).await.unwrap().is_empty(), "and reads nothing twice");
}

/// Polls a tail until `want` records came or a deadline passed (a broker's consumer needs a
/// moment to fetch).
async fn poll_tail_for(tail: &mut dyn LogTail, want: usize) -> Vec<StoredRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(tail.poll(want - got.len(), Duration::from_millis(500)).await.unwrap());
    }
    got
}

fn places(records: &[StoredRecord]) -> BTreeSet<(Partition, u64, Vec<u8>)> {
    records.iter().map(|r| (r.partition, r.offset, r.payload.clone())).collect()
}

async fn a_tail_follows_the_end_reads_a_backlog_skips_ahead_and_commits_nothing(log: Arc<dyn HitLog>) {
    let partitions = log.partitions(Topic::Hits).await.unwrap();
    let mut committed = Vec::new();
    for partition in 0..partitions {
        committed.push(log.committed("conformance", Topic::Hits, partition).await.unwrap());
    }

    // From the end: nothing the topic held, then what is appended, each record once.
    let mut tail = Arc::clone(&log).tail(Topic::Hits, 0).await.unwrap();
    assert!(tail.caught_up(), "opened at the end: no backlog to read");
    assert!(tail.poll(100, Duration::from_millis(300)).await.unwrap().is_empty(), "nothing from before it was opened");
    let before = everything(&*log, Topic::Hits).await;
    log.append(Topic::Hits, vec![record("t1", "tail-1"), record("t2", "tail-2"), record("t1", "tail-3")]).await.unwrap();
    let got = poll_tail_for(&mut *tail, 3).await;
    let new = since(&*log, Topic::Hits, &before).await;
    assert_eq!(places(&got), places(&new), "a tail reads what is appended, with its partition and offset");
    let ones: Vec<String> = got.iter().map(text).filter(|t| t != "tail-2").collect();
    assert_eq!(ones, ["tail-1", "tail-3"], "a partition's records in order");
    assert!(tail.poll(10, Duration::from_millis(300)).await.unwrap().is_empty(), "each record once");

    // A backlog: the last two records of each partition, then caught up.
    let all = everything(&*log, Topic::Hits).await;
    let mut expected = Vec::new();
    for partition in 0..partitions {
        let of: Vec<&StoredRecord> = all.iter().filter(|r| r.partition == partition).collect();
        expected.extend(of[of.len().saturating_sub(2)..].iter().map(|r| (*r).clone()));
    }
    let mut backlog = Arc::clone(&log).tail(Topic::Hits, 2).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = Vec::new();
    while !backlog.caught_up() && Instant::now() < deadline {
        read.extend(backlog.poll(100, Duration::from_millis(500)).await.unwrap());
    }
    assert!(backlog.caught_up(), "the backlog is read");
    assert_eq!(places(&read), places(&expected), "a backlog is the last records of each partition");
    drop(backlog);

    // Skipping ahead: ten records behind, three kept.
    log.append(Topic::Hits, (0..10).map(|i| record("skip", &format!("skip-{i}"))).collect()).await.unwrap();
    assert_eq!(tail.skip_ahead(3).await.unwrap(), 7);
    let kept = poll_tail_for(&mut *tail, 3).await;
    assert_eq!(kept.iter().map(text).collect::<Vec<_>>(), ["skip-7", "skip-8", "skip-9"], "the newest records past the skip");
    assert_eq!(tail.skip_ahead(3).await.unwrap(), 0, "nothing to skip when caught up");
    drop(tail);

    for partition in 0..partitions {
        let now = log.committed("conformance", Topic::Hits, partition).await.unwrap();
        assert_eq!(now, committed[partition as usize], "a tail commits nothing");
    }
}
