//! The Kafka log against a real broker: the `HitLog` conformance suite, and an append to a
//! broker that does not answer failing as unavailable within the bounded wait. The broker is
//! the one at `DNMA_KAFKA_BROKERS` (`.ci/run` starts `tansu` with `scripts/kafka.sh`); without
//! it the tests say so and pass, except under `CI=true` where a missing broker is a failure.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::log::conformance;

static TOPICS: AtomicU32 = AtomicU32::new(0);

fn broker() -> Option<String> {
    match std::env::var("DNMA_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => Some(brokers),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the Kafka tests: DNMA_KAFKA_BROKERS is not set");
            eprintln!("skipped: set DNMA_KAFKA_BROKERS to a Kafka-compatible broker (scripts/kafka.sh DIR PORT starts tansu)");
            None
        }
    }
}

/// Topics of their own for one test.
fn fresh_config(brokers: &str, partitions: u32) -> KafkaLogConfig {
    let n = TOPICS.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    KafkaLogConfig { topic_prefix: format!("test-{}-{nanos}-{n}.", std::process::id()), partitions, ..KafkaLogConfig::new(brokers) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_hit_log_conformance_suite_on_several_partitions() {
    let Some(brokers) = broker() else { return };
    let config = fresh_config(&brokers, 3);
    conformance::run(|| {
        let config = config.clone();
        async move { Arc::new(KafkaHitLog::open(config).await.unwrap()) as Arc<dyn HitLog> }
    })
    .await;
    let log = KafkaHitLog::open(config).await.unwrap();
    assert_eq!(log.partitions(Topic::Hits).await.unwrap(), 3);
    assert_eq!(log.stats(Topic::Hits).await.unwrap().partitions, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_fails_appends_as_unavailable_within_the_send_timeout() {
    // A port nothing listens on: the producer never gets an acknowledgement.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let Some(brokers) = broker() else { return };
    let log = KafkaHitLog::open(fresh_config(&brokers, 1)).await.unwrap();
    // Same topics, producer pointed at the dead port.
    let dead = KafkaLogConfig { brokers: format!("127.0.0.1:{port}"), send_timeout: Duration::from_millis(800), ..log.config().clone() };
    let producer = dead.producer().unwrap();
    let unreachable = KafkaHitLog { config: dead, producer: std::sync::RwLock::new(Arc::new(producer)), partitions: log.partitions };
    let started = Instant::now();
    let error = unreachable.append(Topic::Hits, vec![LogRecord { key: b"v".to_vec(), payload: b"hit".to_vec() }]).await.unwrap_err();
    assert!(matches!(error, LogError::Unavailable(_)) && error.is_retryable(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "the wait is bounded: {:?}", started.elapsed());
}
