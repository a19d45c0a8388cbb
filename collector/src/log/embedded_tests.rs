//! Tests of the embedded log: the conformance suite, then what only a file log has (torn
//! tails, corruption, segment roll, retention).

use std::io::Write;
use std::sync::Arc;

use super::*;

fn record(n: u64) -> LogRecord {
    LogRecord { key: vec![0], payload: format!("record-{n}").into_bytes() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    crate::log::conformance::run(|| {
        let path = path.clone();
        async move { Arc::new(EmbeddedHitLog::open(&path, EmbeddedLogConfig::default()).unwrap()) as Arc<dyn HitLog> }
    })
    .await;
}

#[tokio::test]
async fn a_torn_tail_is_truncated_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).unwrap();
        log.append(Topic::Hits, (0..10).map(record).collect()).await.unwrap();
    }
    let segment = dir.path().join("hits").join(format!("{:020}.seg", 0));
    let good = fs::metadata(&segment).unwrap().len();
    // A crash mid-write: half a frame at the end.
    let mut half = Vec::new();
    frame::encode(b"never acknowledged", &mut half);
    OpenOptions::new().append(true).open(&segment).unwrap().write_all(&half[..11]).unwrap();
    let log = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).unwrap();
    assert_eq!(fs::metadata(&segment).unwrap().len(), good);
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, 10);
    assert_eq!(log.append(Topic::Hits, vec![record(10)]).await.unwrap(), 10, "appends continue after the cut");
    let all = log.read(Topic::Hits, 0, 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(), (0..11).map(|n| record(n).payload).collect::<Vec<_>>());
}

#[tokio::test]
async fn segments_roll_and_old_ones_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedLogConfig { segment_bytes: 100, ..EmbeddedLogConfig::default() };
    let log = EmbeddedHitLog::open(dir.path(), config).unwrap();
    for n in 0..30 {
        log.append(Topic::Hits, vec![record(n)]).await.unwrap();
    }
    let stats = log.stats(Topic::Hits).await.unwrap();
    assert!(stats.segments > 3, "{stats:?}");
    assert_eq!(log.read(Topic::Hits, 0, 0, 100).await.unwrap().len(), 30);
    assert_eq!(log.read(Topic::Hits, 0, 17, 1).await.unwrap()[0].payload, record(17).payload);
    let deleted = log.delete_segments_before(Topic::Hits, 15).unwrap();
    assert!(deleted > 0);
    let after = log.stats(Topic::Hits).await.unwrap();
    assert!(after.start_offset <= 15 && after.start_offset > 0, "{after:?}");
    assert_eq!(log.read(Topic::Hits, 0, 0, 1).await.unwrap()[0].offset, after.start_offset, "reads start at the oldest kept");
    drop(log);
    let log = EmbeddedHitLog::open(dir.path(), config).unwrap();
    assert_eq!(log.stats(Topic::Hits).await.unwrap(), TopicStats { bytes: after.bytes, ..after });
}

#[tokio::test]
async fn corruption_in_a_sealed_segment_is_reported_with_its_position_and_the_rest_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedLogConfig { segment_bytes: 100, ..EmbeddedLogConfig::default() };
    {
        let log = EmbeddedHitLog::open(dir.path(), config).unwrap();
        for n in 0..10 {
            log.append(Topic::Hits, vec![record(n)]).await.unwrap();
        }
        log.commit("pipeline", Topic::Hits, 0, 0).await.unwrap();
    }
    // Flip a byte of the second record of the first segment.
    let first = dir.path().join("hits").join(format!("{:020}.seg", 0));
    let mut bytes = fs::read(&first).unwrap();
    let second = usize::try_from(frame::HEADER).unwrap() + "record-0".len();
    let file_size = bytes.len();
    bytes[second + 10] ^= 0xff;
    fs::write(&first, bytes).unwrap();
    let first_segment_records = {
        let reader = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only: true, ..config }).unwrap();
        reader.damage()[0].first_lost_offset + reader.damage()[0].lost_records
    };
    // Checked at open (a writer, a reader), or when a read first reaches the segment.
    for (read_only, check_sealed_at_open) in [(true, true), (false, true), (true, false)] {
        let log = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only, check_sealed_at_open, ..config }).unwrap();
        if !check_sealed_at_open {
            assert_eq!(log.read(Topic::Hits, 0, 9, 1).await.unwrap()[0].offset, 9, "the last segment is read");
            assert!(log.damage().is_empty(), "no read reached the first segment yet");
            assert_eq!(log.read(Topic::Hits, 0, 0, 1).await.unwrap()[0].offset, 0);
        }
        let damage = log.damage();
        assert_eq!(damage.len(), 1, "{damage:?}");
        assert_eq!((damage[0].topic, damage[0].position, damage[0].first_lost_offset), (Topic::Hits, second as u64, 1));
        assert_eq!(damage[0].first_lost_offset + damage[0].lost_records, first_segment_records);
        assert!(damage[0].segment.ends_with("00000000000000000000.seg") && damage[0].reason.contains("checksum mismatch"), "{damage:?}");
        let records = log.read(Topic::Hits, 0, 0, 100).await.unwrap();
        let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
        let expected: Vec<u64> = std::iter::once(0).chain(first_segment_records..10).collect();
        assert_eq!(offsets, expected, "the record before the damage and every later segment are read");
        assert!(records.iter().all(|r| r.payload == format!("record-{}", r.offset).into_bytes()));
        assert_eq!(log.read(Topic::Hits, 0, 1, 1).await.unwrap()[0].offset, first_segment_records, "a read from the gap skips it");
    }
    assert_eq!(fs::metadata(&first).unwrap().len(), file_size as u64, "the damaged bytes are left for inspection");
}

#[tokio::test]
async fn a_read_only_log_reads_beside_a_writer_and_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).unwrap();
    writer.append(Topic::Hits, (0..5).map(record).collect()).await.unwrap();
    let reader = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() }).unwrap();
    assert_eq!(reader.read(Topic::Hits, 0, 0, 10).await.unwrap().len(), 5);
    assert!(matches!(reader.append(Topic::Hits, vec![record(9)]).await, Err(LogError::Closed)));
    let missing = EmbeddedHitLog::open(&dir.path().join("nope"), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() });
    assert!(missing.is_err() && !dir.path().join("nope").exists());
}

#[tokio::test]
async fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).unwrap();
    let Err(error) = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()) else { panic!("two writers on one log") };
    assert!(error.to_string().contains("in use by another dnma process"), "{error}");
    drop(first);
    assert!(EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).is_ok(), "the lock goes with the writer");
}

#[tokio::test]
async fn closed_logs_refuse_appends_and_bad_consumer_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).unwrap();
    assert!(matches!(log.commit("../etc", Topic::Hits, 0, 1).await, Err(LogError::InvalidConsumer(_))));
    log.close();
    let error = log.append(Topic::Hits, vec![record(0)]).await.unwrap_err();
    assert!(matches!(error, LogError::Closed) && error.is_retryable());
}

#[tokio::test]
async fn erased_records_become_tombstones_that_readers_skip() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedLogConfig { segment_bytes: 100, ..EmbeddedLogConfig::default() };
    {
        let log = EmbeddedHitLog::open(dir.path(), config).unwrap();
        for n in 0..30 {
            log.append(Topic::Hits, vec![record(n)]).await.unwrap();
        }
        log.commit("pipeline", Topic::Hits, 0, 5).await.unwrap();
        let before: Vec<u64> = log.sealed_segments(Topic::Hits).iter().map(|s| s.bytes).collect();
        assert!(before.len() > 2);
        // Every record whose number ends in 7, in sealed segments and in the active one.
        let sevens: RecordFilter = Arc::new(|payload: &[u8]| payload.ends_with(b"7"));
        let erased = log.erase(Topic::Hits, &sevens).unwrap();
        assert_eq!(erased, 3);
        assert_eq!(log.erase(Topic::Hits, &sevens).unwrap(), 0, "tombstones are not erased twice");
        let after: Vec<u64> = log.sealed_segments(Topic::Hits).iter().map(|s| s.bytes).collect();
        assert_eq!(before, after, "segments keep their sizes");
    }
    // Reopened: offsets do not move, readers skip the tombstones, appends go on after them.
    let log = EmbeddedHitLog::open(dir.path(), config).unwrap();
    let stats = log.stats(Topic::Hits).await.unwrap();
    assert_eq!((stats.start_offset, stats.end_offset), (0, 30));
    let records = log.read(Topic::Hits, 0, 0, 100).await.unwrap();
    assert_eq!(records.len(), 27);
    assert!(records.iter().all(|r| r.payload == format!("record-{}", r.offset).into_bytes()));
    assert!(!records.iter().any(|r| [7, 17, 27].contains(&r.offset)));
    // A read's limit counts live records only: a read over tombstones still returns some.
    let from_seven = log.read(Topic::Hits, 0, 7, 1).await.unwrap();
    assert_eq!(from_seven[0].offset, 8);
    assert_eq!(log.committed("pipeline", Topic::Hits, 0).await.unwrap(), 5);
    assert_eq!(log.append(Topic::Hits, vec![record(30)]).await.unwrap(), 30);
    // A crash in the middle of a rewrite leaves a stray file that the next open removes.
    let stray = dir.path().join("hits").join(format!("{:020}.erasing", 0));
    log.close();
    drop(log);
    fs::write(&stray, b"half").unwrap();
    let log = EmbeddedHitLog::open(dir.path(), config).unwrap();
    assert!(!stray.exists());
    assert_eq!(log.read(Topic::Hits, 0, 0, 100).await.unwrap().len(), 28);
}

#[tokio::test]
async fn a_read_only_log_erases_nothing() {
    let dir = tempfile::tempdir().unwrap();
    EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).unwrap().append(Topic::Hits, vec![record(1)]).await.unwrap();
    let reader = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() }).unwrap();
    assert!(reader.erase(Topic::Hits, &(Arc::new(|_: &[u8]| true) as RecordFilter)).is_err());
    assert_eq!(reader.read(Topic::Hits, 0, 0, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erasure_beside_running_appends_loses_none_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedLogConfig { segment_bytes: 4096, ..EmbeddedLogConfig::default() };
    let log = Arc::new(EmbeddedHitLog::open(dir.path(), config).unwrap());
    // The doomed records: in sealed segments and in the active one.
    for n in 0..2000 {
        let payload = if n % 100 == 0 { b"doomed-record-of-one-visitor".to_vec() } else { format!("record-{n}").into_bytes() };
        log.append(Topic::Hits, vec![LogRecord { key: Vec::new(), payload }]).await.unwrap();
    }
    assert!(log.sealed_segments(Topic::Hits).len() > 5);
    // Writers append all along the erasure (and roll segments meanwhile).
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut offsets = Vec::new();
                for n in 0..500 {
                    let payload = format!("late-{w}-{n}").into_bytes();
                    offsets.push((log.append(Topic::Hits, vec![LogRecord { key: Vec::new(), payload: payload.clone() }]).await.unwrap(), payload));
                }
                offsets
            })
        })
        .collect();
    let log_for_erasure = Arc::clone(&log);
    let erased = tokio::task::spawn_blocking(move || {
        log_for_erasure.erase(Topic::Hits, &(Arc::new(|p: &[u8]| p == b"doomed-record-of-one-visitor") as RecordFilter))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(erased, 20);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    // More appends after the erasure go to the (reopened) active segment.
    let last = log.append(Topic::Hits, vec![record(7)]).await.unwrap();
    let read: std::collections::HashMap<u64, Vec<u8>> =
        log.read(Topic::Hits, 0, 0, 100_000).await.unwrap().into_iter().map(|r| (r.offset, r.payload)).collect();
    assert_eq!(read.len(), 2000 - 20 + 2000 + 1);
    for (offset, payload) in &acknowledged {
        assert_eq!(read.get(offset), Some(payload), "acknowledged record {offset} is readable as written");
    }
    assert_eq!(read[&last], b"record-7");
    assert!(!read.values().any(|p| p == b"doomed-record-of-one-visitor"));
    // And the same after a reopen: nothing torn, nothing lost.
    log.close();
    drop(log);
    let log = EmbeddedHitLog::open(dir.path(), config).unwrap();
    assert!(log.damage().is_empty());
    assert_eq!(log.read(Topic::Hits, 0, 0, 100_000).await.unwrap().len(), read.len());
}

#[tokio::test]
async fn a_read_only_log_follows_its_writer_across_rolls_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let writer = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { segment_bytes: 200, ..EmbeddedLogConfig::default() }).unwrap();
    writer.append(Topic::Hits, (0..3).map(record).collect()).await.unwrap();
    let reader = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() }).unwrap();
    assert_eq!(reader.end_offsets(Topic::Hits).await.unwrap(), vec![3]);
    // Enough to roll several segments of 200 bytes (a frame here is about 17 bytes).
    for n in 3..60 {
        writer.append(Topic::Hits, vec![record(n)]).await.unwrap();
    }
    assert!(writer.sealed_segments(Topic::Hits).len() >= 3, "segments rolled");
    assert_eq!(reader.end_offsets(Topic::Hits).await.unwrap(), vec![60], "the reader caught up");
    let read = reader.read(Topic::Hits, 0, 0, 1000).await.unwrap();
    assert_eq!(read.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..60).collect::<Vec<_>>());
    assert_eq!(read[59].payload, b"record-59");
    assert_eq!(reader.end_offsets(Topic::DeadLetters).await.unwrap(), vec![0], "the other topic is still empty");
    // Retention deletes the first segments: the reader forgets them and reads from what is left.
    let deleted = writer.delete_segments_before(Topic::Hits, 40).unwrap();
    assert!(deleted >= 2);
    writer.append(Topic::Hits, vec![record(60)]).await.unwrap();
    assert_eq!(reader.end_offsets(Topic::Hits).await.unwrap(), vec![61]);
    let start = reader.stats(Topic::Hits).await.unwrap().start_offset;
    assert_eq!(start, writer.stats(Topic::Hits).await.unwrap().start_offset);
    let read = reader.read(Topic::Hits, 0, 0, 1000).await.unwrap();
    assert_eq!(read.first().map(|r| r.offset), Some(start));
    assert_eq!(read.last().map(|r| (r.offset, r.payload.clone())), Some((60, b"record-60".to_vec())));
}

#[tokio::test]
async fn a_reader_checking_sealed_segments_when_read_reads_what_one_checking_at_open_reads() {
    let dir = tempfile::tempdir().unwrap();
    let writer = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { segment_bytes: 300, ..EmbeddedLogConfig::default() }).unwrap();
    for n in 0..200 {
        writer.append(Topic::Hits, vec![record(n)]).await.unwrap();
    }
    writer.erase(Topic::Hits, &(Arc::new(|p: &[u8]| p.ends_with(b"7")) as RecordFilter)).unwrap();
    assert!(writer.sealed_segments(Topic::Hits).len() >= 5, "segments rolled");
    let eager = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() }).unwrap();
    let lazy =
        EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only: true, check_sealed_at_open: false, ..EmbeddedLogConfig::default() }).unwrap();
    assert_eq!(lazy.stats(Topic::Hits).await.unwrap(), eager.stats(Topic::Hits).await.unwrap(), "sizes and offsets from the file names");
    assert_eq!(lazy.sealed_segments(Topic::Hits), eager.sealed_segments(Topic::Hits));
    // From the end backwards, then forwards in small batches: every read as the checked log's.
    for from in [199, 150, 120, 64, 63, 0, 1] {
        for max in [1, 7, 1000] {
            let (a, b) = (lazy.read(Topic::Hits, 0, from, max).await.unwrap(), eager.read(Topic::Hits, 0, from, max).await.unwrap());
            assert_eq!(a, b, "from {from}, at most {max}");
        }
    }
    let mut from = 0;
    let mut offsets = Vec::new();
    while let Some(last) = lazy.read(Topic::Hits, 0, from, 9).await.unwrap().last().map(|r| r.offset) {
        offsets.extend(lazy.read(Topic::Hits, 0, from, 9).await.unwrap().iter().map(|r| r.offset));
        from = last + 1;
    }
    assert_eq!(offsets, (0..200).filter(|n| n % 10 != 7).collect::<Vec<_>>(), "tombstones skipped, nothing else");
    assert!(lazy.damage().is_empty() && eager.damage().is_empty());
}
