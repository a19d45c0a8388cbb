//! Tests of the live feed over a real embedded log: filtering by platform, both topics, a slow
//! subscriber losing the oldest events, the tail stopping with its last subscriber.

use std::sync::Arc;
use std::time::Duration;

use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use tokio::sync::broadcast::error::RecvError;

use super::event::tests::{hit, letter};
use super::event::Outcome;
use super::*;

fn log() -> (tempfile::TempDir, Arc<EmbeddedHitLog>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(dir.path(), EmbeddedLogConfig::default()).unwrap());
    (dir, log)
}

fn record(payload: Vec<u8>) -> LogRecord {
    LogRecord { key: vec![1], payload }
}

async fn next_event(receiver: &mut broadcast::Receiver<Notice>) -> Arc<LiveEvent> {
    match tokio::time::timeout(Duration::from_secs(2), receiver.recv()).await {
        Ok(Ok(Notice::Event(event))) => event,
        other => panic!("no event: {other:?}"),
    }
}

#[tokio::test]
async fn a_subscriber_gets_its_platforms_hits_and_refusals_from_now_on_only() {
    let (_dir, log) = log();
    log.append(Topic::Hits, vec![record(hit("ONE").encode())]).await.unwrap();
    let feed = LiveFeed::with_poll(log.clone() as Arc<dyn HitLog>, Duration::from_millis(20));
    let mut one = feed.subscribe("ONE").await.unwrap();
    let mut mbn = feed.subscribe("MBN").await.unwrap();
    assert_eq!(feed.watched(), 2);
    log.append(Topic::Hits, vec![record(hit("MBN").encode()), record(hit("ONE").encode())]).await.unwrap();
    log.append(Topic::DeadLetters, vec![record(letter(Some("ONE")).encode()), record(letter(None).encode())]).await.unwrap();
    let accepted = next_event(&mut one).await;
    assert!(matches!(accepted.outcome, Outcome::Accepted(_)) && accepted.plateforme == "ONE");
    let refused = next_event(&mut one).await;
    assert!(matches!(&refused.outcome, Outcome::Refused { reasons, .. } if reasons[0].code == "unknown_profile"));
    assert_eq!(next_event(&mut mbn).await.plateforme, "MBN");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(one.try_recv().is_err(), "the hit before the subscription and the letter without platform are not sent");
    assert!(mbn.try_recv().is_err());
}

#[tokio::test]
async fn a_slow_subscriber_loses_the_oldest_events_and_is_told_and_the_tail_stops_with_the_last() {
    let (_dir, log) = log();
    let feed = LiveFeed::with_poll(log.clone() as Arc<dyn HitLog>, Duration::from_millis(20));
    let mut slow = feed.subscribe("ONE").await.unwrap();
    let total = CHANNEL_CAPACITY + 100;
    log.append(Topic::Hits, (0..total).map(|_| record(hit("ONE").encode())).collect()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    match slow.recv().await {
        Err(RecvError::Lagged(lost)) => assert_eq!(lost, 100),
        other => panic!("expected a lag: {other:?}"),
    }
    assert!(matches!(slow.recv().await, Ok(Notice::Event(_))), "then the newest events");
    drop(slow);
    for _ in 0..100 {
        if !feed.fanout.lock().unwrap().running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!feed.fanout.lock().unwrap().running, "the tail stopped");
    // It starts again with the next subscriber, at the log's end.
    let mut again = feed.subscribe("ONE").await.unwrap();
    log.append(Topic::DeadLetters, vec![record(letter(Some("ONE")).encode())]).await.unwrap();
    assert!(matches!(next_event(&mut again).await.outcome, Outcome::Refused { .. }));
}
