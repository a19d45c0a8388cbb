//! Tests of the live feed over a real embedded log: filtering by platform, both topics, the
//! recent events a new stream gets (once, from a bounded window), a slow subscriber losing the
//! oldest events, the tail stopping with its last subscriber.

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

fn feed(log: &Arc<EmbeddedHitLog>) -> LiveFeed {
    LiveFeed::with_poll(log.clone() as Arc<dyn HitLog>, ["ONE".to_owned(), "MBN".to_owned()], Duration::from_millis(20))
}

#[tokio::test]
async fn a_subscriber_gets_its_platforms_recent_events_then_its_new_hits_and_refusals_and_nothing_else() {
    let (_dir, log) = log();
    log.append(Topic::Hits, vec![record(hit("ONE").encode()), record(hit("MBN").encode())]).await.unwrap();
    log.append(Topic::DeadLetters, vec![record(letter(None).encode())]).await.unwrap();
    let feed = feed(&log);
    let mut one = feed.subscribe("ONE").await.unwrap();
    assert_eq!(one.recent.iter().map(|e| e.plateforme.as_str()).collect::<Vec<_>>(), ["ONE"], "the hit sent before, of its platform only");
    let mut mbn = feed.subscribe("MBN").await.unwrap();
    assert_eq!(mbn.recent.len(), 1);
    assert_eq!(feed.watched(), 2);
    assert!(matches!(feed.subscribe("MONLYCEE").await, Err(SubscribeError::NotServed(_))), "no editor has it");
    log.append(Topic::Hits, vec![record(hit("MBN").encode()), record(hit("ONE").encode())]).await.unwrap();
    log.append(Topic::DeadLetters, vec![record(letter(Some("ONE")).encode()), record(letter(None).encode())]).await.unwrap();
    let accepted = next_event(&mut one.receiver).await;
    assert!(matches!(accepted.outcome, Outcome::Accepted(_)) && accepted.plateforme == "ONE");
    let refused = next_event(&mut one.receiver).await;
    assert!(matches!(&refused.outcome, Outcome::Refused { reasons, .. } if reasons[0].code == "unknown_profile"));
    assert_eq!(next_event(&mut mbn.receiver).await.plateforme, "MBN");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(one.receiver.try_recv().is_err(), "the letter without platform is not sent");
    assert!(mbn.receiver.try_recv().is_err());

    // A later stream of the running tail: the platform's events so far, oldest first, once.
    let mut later = feed.subscribe("ONE").await.unwrap();
    let statuses: Vec<bool> = later.recent.iter().map(|e| matches!(e.outcome, Outcome::Accepted(_))).collect();
    assert_eq!(statuses, [true, true, false], "both hits then the refusal (received later)");
    assert!(later.recent.iter().all(|e| e.plateforme == "ONE"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(later.receiver.try_recv().is_err(), "what it got as recent does not come again");
}

#[tokio::test]
async fn the_recent_events_come_from_a_bounded_window_of_the_log() {
    let (_dir, log) = log();
    log.append(Topic::Hits, vec![record(hit("ONE").encode())]).await.unwrap();
    let window = usize::try_from(BACKLOG_WINDOW).unwrap();
    log.append(Topic::Hits, (0..window).map(|_| record(hit("MBN").encode())).collect()).await.unwrap();
    let feed = feed(&log);
    let one = feed.subscribe("ONE").await.unwrap();
    assert!(one.recent.is_empty(), "ONE's hit is older than the window read back");
    let mbn = feed.subscribe("MBN").await.unwrap();
    assert_eq!(mbn.recent.len(), recent::RECENT_EVENTS, "a platform's latest events, no more");
}

#[tokio::test]
async fn a_slow_subscriber_loses_the_oldest_events_and_is_told_and_the_tail_stops_with_the_last() {
    let (_dir, log) = log();
    let feed = feed(&log);
    let Subscription { recent, receiver: mut slow } = feed.subscribe("ONE").await.unwrap();
    assert!(recent.is_empty());
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
    // It starts again with the next subscriber, reading the window back for its recent events.
    let mut again = feed.subscribe("ONE").await.unwrap();
    assert_eq!(again.recent.len(), recent::RECENT_EVENTS);
    log.append(Topic::DeadLetters, vec![record(letter(Some("ONE")).encode())]).await.unwrap();
    assert!(matches!(next_event(&mut again.receiver).await.outcome, Outcome::Refused { .. }));
}
