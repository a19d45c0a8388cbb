//! The Kafka log against a real broker: the `HitLog` conformance suite, an append to a broker
//! that does not answer failing as unavailable within the bounded wait, a million idempotent
//! appends giving exactly a million records, a producer in a fatal state replaced, and a tail
//! that reads beside a pipeline's group member without joining a group or committing. The
//! broker is the one at `DNMA_KAFKA_BROKERS` (`.ci/run` starts Apache Kafka with
//! `scripts/kafka.sh`); without it the tests say so and pass, except under `CI=true` where a
//! missing broker is a failure.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::log::conformance;

static TOPICS: AtomicU32 = AtomicU32::new(0);

fn broker() -> Option<String> {
    match std::env::var("DNMA_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => Some(brokers),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the Kafka tests: DNMA_KAFKA_BROKERS is not set");
            eprintln!("skipped: set DNMA_KAFKA_BROKERS to a Kafka broker (scripts/kafka.sh DIR PORT starts one)");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_idempotent_appends_give_exactly_a_million_records() {
    let Some(brokers) = broker() else { return };
    let log = Arc::new(KafkaHitLog::open(fresh_config(&brokers, 4)).await.unwrap());
    let (appends, batch, writers) = (1_000_000_usize, 500_usize, 16_usize);
    let batches = appends / batch;
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                for b in (writer..batches).step_by(writers) {
                    let records = (0..batch)
                        .map(|i| {
                            let n = b * batch + i;
                            LogRecord { key: format!("visitor-{}", n % 9_973).into_bytes(), payload: format!("hit-{n:07}").into_bytes() }
                        })
                        .collect();
                    log.append(Topic::Hits, records).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let stats = log.stats(Topic::Hits).await.unwrap();
    assert_eq!(stats.end_offset - stats.start_offset, appends as u64, "one record per acknowledged append, no duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_producer_is_replaced_and_appends_go_on() {
    let Some(brokers) = broker() else { return };
    let log = KafkaHitLog::open(fresh_config(&brokers, 1)).await.unwrap();
    // A producer put in a fatal state by a real broker: a second producer with its transactional
    // id fences it, and its next send learns so.
    let id = format!("dnma-fenced-{}", log.config().topic_prefix);
    let transactional = |config: &KafkaLogConfig| -> FutureProducer { config.client().set("transactional.id", &id).create().unwrap() };
    let doomed = transactional(log.config());
    doomed.init_transactions(Duration::from_secs(30)).unwrap();
    let fencer = transactional(log.config());
    fencer.init_transactions(Duration::from_secs(30)).unwrap();
    doomed.begin_transaction().unwrap();
    let log = KafkaHitLog { producer: std::sync::RwLock::new(Arc::new(doomed)), ..log };
    let record = || vec![LogRecord { key: b"v".to_vec(), payload: b"hit".to_vec() }];
    let error = log.append(Topic::Hits, record()).await.unwrap_err();
    assert!(matches!(error, LogError::Unavailable(_)), "{error:?}");
    // The fenced producer was replaced: the next append is written.
    let before = log.stats(Topic::Hits).await.unwrap().end_offset;
    log.append(Topic::Hits, record()).await.unwrap();
    assert_eq!(log.stats(Topic::Hits).await.unwrap().end_offset, before + 1);
    drop(fencer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_joins_no_group_commits_nothing_and_leaves_the_pipelines_member_its_partitions() {
    let Some(brokers) = broker() else { return };
    let log = Arc::new(KafkaHitLog::open(fresh_config(&brokers, 3)).await.unwrap());
    let group = format!("{}pipeline", log.config().topic_prefix);
    let mut member = Arc::clone(&log).subscribe(&group, Topic::Hits).await.unwrap();
    let records =
        |tag: &str, n: usize| (0..n).map(|i| LogRecord { key: format!("v{i}").into_bytes(), payload: format!("{tag}-{i}").into_bytes() }).collect();
    log.append(Topic::Hits, records("before", 30)).await.unwrap();
    let mut pipeline = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pipeline.len() < 30 && Instant::now() < deadline {
        pipeline.extend(member.poll(30, Duration::from_millis(500)).await.unwrap());
    }
    assert_eq!(pipeline.len(), 30, "the group's member reads the topic");

    let mut tail = Arc::clone(&log).tail(Topic::Hits, 100).await.unwrap();
    let mut watched = Vec::new();
    while !tail.caught_up() && Instant::now() < deadline {
        watched.extend(tail.poll(100, Duration::from_millis(500)).await.unwrap());
    }
    assert_eq!(watched.len(), 30, "the backlog: every record, the topic holding fewer than asked");
    log.append(Topic::Hits, records("after", 5)).await.unwrap();
    let (mut seen_by_tail, mut seen_by_member) = (Vec::new(), Vec::new());
    while (seen_by_tail.len() < 5 || seen_by_member.len() < 5) && Instant::now() < deadline {
        seen_by_tail.extend(tail.poll(5, Duration::from_millis(200)).await.unwrap());
        seen_by_member.extend(member.poll(5, Duration::from_millis(200)).await.unwrap());
    }
    assert_eq!((seen_by_tail.len(), seen_by_member.len()), (5, 5), "both read the new records: the member kept every partition");

    // The broker's view: the pipelines' group has its one member, the tail's group none, and
    // nothing is committed under the tail's group id.
    let admin = log.config().plain_consumer("dnma-metadata").unwrap();
    let (wanted, tail_group) = (group.clone(), TAIL_GROUP.to_owned());
    let (members, tail_members) = tokio::task::spawn_blocking(move || {
        let count =
            |id: &str| admin.fetch_group_list(Some(id), Duration::from_secs(10)).unwrap().groups().iter().map(|g| g.members().len()).sum::<usize>();
        (count(&wanted), count(&tail_group))
    })
    .await
    .unwrap();
    assert_eq!((members, tail_members), (1, 0));
    for partition in 0..3 {
        assert_eq!(log.committed(TAIL_GROUP, Topic::Hits, partition).await.unwrap(), 0, "partition {partition}");
    }
    drop(tail);
}
