//! Retention of the embedded log: the raw hits and dead letters are kept a limited number of
//! days (31 by default), then their segments are deleted, whole.
//!
//! A sealed segment goes when its newest record (by the collector's receive time, or the
//! original time of an imported hit) is older than the horizon **and** the pipeline has
//! consumed it (its committed offset is past the segment's end), so retention never loses a hit
//! that was not counted. Segments go in offset order: one that must stay keeps the later ones
//! too. [`plan`] says what would go and why the rest stays (`dnma retention --dry-run`);
//! [`apply`] deletes what the plan says.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::log::{EmbeddedHitLog, HitLog, LogError, SegmentSpan, Topic};

/// Records read at a time while looking for a segment's newest record.
const SCAN_CHUNK: usize = 16_384;

/// What happens to one sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Older than the horizon and consumed: deleted.
    Delete,
    /// Holds a record younger than the horizon.
    Young,
    /// Old enough, but the pipeline has not consumed it yet.
    Unconsumed,
    /// Old enough and consumed, but an earlier segment stays (segments go in order).
    AfterKept,
    /// A record's time could not be read: kept for an operator to look at.
    Unreadable,
}

/// One sealed segment and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentVerdict {
    /// Its topic.
    pub topic: Topic,
    /// Its offsets and size.
    #[serde(flatten)]
    pub span: SegmentSpan,
    /// Time of its newest record.
    pub newest: Option<DateTime<Utc>>,
    /// What happens to it.
    pub decision: Decision,
}

/// What [`apply`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// Segment files deleted.
    pub segments: usize,
    /// Records in them.
    pub records: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// How far [`plan`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every sealed segment gets a verdict (what `dnma retention` prints).
    Report,
    /// Only up to the first segment that stays in each topic: the later ones cannot go anyway,
    /// and finding a segment's newest record reads it whole (what a running collector does
    /// every hour).
    Deletable,
}

/// The fate of the sealed segments of both topics for a horizon: records received before
/// `horizon` may go once `consumer` has committed past them.
pub async fn plan(log: &EmbeddedHitLog, consumer: &str, horizon: DateTime<Utc>, scope: Scope) -> Result<Vec<SegmentVerdict>, LogError> {
    let mut verdicts = Vec::new();
    for topic in Topic::ALL {
        let committed = log.committed(consumer, topic, 0).await?;
        let mut kept_before = false;
        for span in log.sealed_segments(topic) {
            if kept_before && scope == Scope::Deletable {
                break;
            }
            let newest = newest_record(log, topic, span).await?;
            let decision = match newest {
                Err(()) => Decision::Unreadable,
                Ok(Some(t)) if t >= horizon => Decision::Young,
                Ok(_) if span.end > committed => Decision::Unconsumed,
                Ok(_) if kept_before => Decision::AfterKept,
                Ok(_) => Decision::Delete,
            };
            kept_before |= decision != Decision::Delete;
            verdicts.push(SegmentVerdict { topic, span, newest: newest.ok().flatten(), decision });
        }
    }
    Ok(verdicts)
}

/// Deletes the segments a [`plan`] marked [`Decision::Delete`].
pub fn apply(log: &EmbeddedHitLog, verdicts: &[SegmentVerdict]) -> Result<Removed, LogError> {
    let mut removed = Removed::default();
    for topic in Topic::ALL {
        let doomed: Vec<&SegmentVerdict> = verdicts.iter().filter(|v| v.topic == topic && v.decision == Decision::Delete).collect();
        let Some(last) = doomed.last() else { continue };
        removed.segments += log.delete_segments_before(topic, last.span.end)?;
        removed.records += doomed.iter().map(|v| v.span.end - v.span.base).sum::<u64>();
        removed.bytes += doomed.iter().map(|v| v.span.bytes).sum::<u64>();
    }
    Ok(removed)
}

/// The time of a segment's newest record (`Ok(None)` when empty, `Err` when a record's time
/// cannot be read). Both [`crate::record::StoredHit`] and [`crate::record::DeadLetter`] start with
/// their receive time, so only that field is decoded.
async fn newest_record(log: &EmbeddedHitLog, topic: Topic, span: SegmentSpan) -> Result<Result<Option<DateTime<Utc>>, ()>, LogError> {
    let mut newest: Option<i64> = None;
    let mut from = span.base;
    while from < span.end {
        let want = usize::try_from(span.end - from).unwrap_or(usize::MAX).min(SCAN_CHUNK);
        let records = log.read(topic, 0, from, want).await?;
        let Some(last) = records.last() else { break };
        from = last.offset + 1;
        for record in records.iter().filter(|r| r.offset < span.end) {
            let Ok((ms, _)) = postcard::take_from_bytes::<i64>(&record.payload) else { return Ok(Err(())) };
            newest = Some(newest.map_or(ms, |n| n.max(ms)));
        }
    }
    Ok(newest.map(|ms| DateTime::from_timestamp_millis(ms).ok_or(())).transpose())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{EmbeddedLogConfig, LogRecord};
    use crate::record::DeadLetter;
    use tagging_plan::WireFormat;

    fn letter(received_ms: i64) -> LogRecord {
        let letter = DeadLetter {
            received_ms,
            format: WireFormat::Piano,
            site: None,
            plateforme: Some("ONE".into()),
            event: "page.display".into(),
            reasons: Vec::new(),
            properties: Vec::new(),
        };
        LogRecord { key: Vec::new(), payload: letter.encode() }
    }

    const DAY_MS: i64 = 86_400_000;

    /// Five segments of 10 dead letters each, on days 0..5 (ms since the epoch), the last one
    /// still active.
    async fn log_with_days(dir: &std::path::Path) -> EmbeddedHitLog {
        let log = EmbeddedHitLog::open(dir, EmbeddedLogConfig { segment_bytes: 200, ..EmbeddedLogConfig::default() }).unwrap();
        for day in 0..5 {
            for i in 0..10 {
                log.append(Topic::DeadLetters, vec![letter(day * DAY_MS + i)]).await.unwrap();
            }
        }
        log
    }

    #[tokio::test]
    async fn old_consumed_segments_go_in_order_and_nothing_unconsumed_goes() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with_days(dir.path()).await;
        let sealed = log.sealed_segments(Topic::DeadLetters);
        assert!(sealed.len() >= 4, "{sealed:?}");
        let horizon = DateTime::from_timestamp_millis(3 * DAY_MS).unwrap();

        // Nothing consumed: old segments stay.
        let verdicts = plan(&log, "pipeline", horizon, Scope::Report).await.unwrap();
        assert!(verdicts.iter().all(|v| v.decision != Decision::Delete), "{verdicts:?}");
        assert!(verdicts.iter().any(|v| v.decision == Decision::Unconsumed));

        // Consumed up to the middle of day 1's records: only segments wholly before it go.
        log.commit("pipeline", Topic::DeadLetters, 0, 15).await.unwrap();
        let verdicts = plan(&log, "pipeline", horizon, Scope::Report).await.unwrap();
        let deleted: Vec<_> = verdicts.iter().filter(|v| v.decision == Decision::Delete).collect();
        assert!(!deleted.is_empty() && deleted.iter().all(|v| v.span.end <= 15), "{verdicts:?}");
        let prefix = plan(&log, "pipeline", horizon, Scope::Deletable).await.unwrap();
        assert_eq!(prefix.iter().filter(|v| v.decision == Decision::Delete).count(), deleted.len(), "the same segments go");
        assert!(prefix.len() < verdicts.len() && prefix.last().unwrap().decision != Decision::Delete, "it stops at the first kept one");
        let removed = apply(&log, &verdicts).unwrap();
        assert_eq!(removed.segments, deleted.len());
        let stats = log.stats(Topic::DeadLetters).await.unwrap();
        assert_eq!(stats.start_offset, deleted.last().unwrap().span.end);
        assert_eq!(stats.end_offset, 50, "appends are untouched");

        // Everything consumed: every segment of days before the horizon goes, none after.
        log.commit("pipeline", Topic::DeadLetters, 0, 50).await.unwrap();
        let verdicts = plan(&log, "pipeline", horizon, Scope::Report).await.unwrap();
        for v in &verdicts {
            let old = v.newest.unwrap() < horizon;
            assert_eq!(v.decision == Decision::Delete, old, "{v:?}");
        }
        apply(&log, &verdicts).unwrap();
        let remaining = log.read(Topic::DeadLetters, 0, 0, 100).await.unwrap();
        let first = DeadLetter::decode(&remaining[0].payload).unwrap();
        assert!(first.received_ms >= 2 * DAY_MS, "day 2's segment may straddle the horizon: {}", first.received_ms);
        assert!(remaining.iter().all(|r| DeadLetter::decode(&r.payload).is_ok()));
        assert_eq!(remaining.last().unwrap().offset, 49);
    }

    #[tokio::test]
    async fn a_read_only_log_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with_days(dir.path()).await;
        log.commit("pipeline", Topic::DeadLetters, 0, 50).await.unwrap();
        log.close();
        drop(log);
        let reader = EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() }).unwrap();
        let horizon = DateTime::from_timestamp_millis(10 * DAY_MS).unwrap();
        let verdicts = plan(&reader, "pipeline", horizon, Scope::Report).await.unwrap();
        assert!(verdicts.iter().any(|v| v.decision == Decision::Delete));
        assert!(apply(&reader, &verdicts).is_err());
        assert_eq!(reader.stats(Topic::DeadLetters).await.unwrap().start_offset, 0);
    }
}
