//! Replays on the embedded log: hits appended once with their receive time, the summary per
//! reason, a second replay adding nothing, an unfinished batch settled without duplicates, a
//! batch under way left alone, the scope and the platform checked. The same replay on a Kafka
//! log of several partitions, when `DNMA_KAFKA_BROKERS` names a broker.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use tagging_plan::plan::SHIPPED_PLAN;
use tagging_plan::{Plan, Validator, WireFormat};

use super::*;
use crate::log::{EmbeddedHitLog, EmbeddedLogConfig, KafkaHitLog, KafkaLogConfig};
use crate::pseudonym::Pseudonym;
use crate::record::{pseudonym_property, HitTrailer, StoredHit, StoredReason};

/// The shipped plan with the service JEUX added (what an editor asked for).
fn plan_with_jeux() -> Plan {
    let text = SHIPPED_PLAN
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace("  { code = \"PAGE_ENT\",", "  { code = \"JEUX\", label = \"Jeux\", column = \"\" },\n  { code = \"PAGE_ENT\",");
    Plan::from_toml(&text).unwrap()
}

fn received(day: u32, minute: u32) -> i64 {
    Utc.with_ymd_and_hms(2026, 10, day, 9, minute, 0).unwrap().timestamp_millis()
}

/// A SmartTag hit of `plateforme` refused for its service, as the collector stores it.
fn letter(visitor: u8, service: &str, plateforme: &str, received_ms: i64) -> DeadLetter {
    let at = pseudonym_property(&Pseudonym([visitor; 16]));
    let properties = [
        ("s", "1"),
        ("p", "accueil"),
        ("at", at.as_str()),
        ("ac", "1"),
        ("service", service),
        ("type", "NATIF"),
        ("uai", "0940176F"),
        ("projet", "ENT_94"),
        ("exploitant", "ODE"),
        ("plateforme", plateforme),
    ];
    let reason = |code: &str, field: &str| StoredReason { code: code.into(), field: field.into(), value: None, message: String::new() };
    let mut reasons = vec![reason("unknown_service", "service")];
    if service == "BAD ONE!" {
        reasons.push(reason("invalid_page", "page"));
    }
    DeadLetter {
        received_ms,
        format: WireFormat::Xiti,
        site: Some("1".into()),
        plateforme: Some(plateforme.into()),
        event: "page.display".into(),
        reasons,
        properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

fn chrome() -> ClientClass {
    ClientClass { device: "ordinateur".into(), os: "windows".into(), browser: "chrome".into() }
}

async fn log_with(letters: &[DeadLetter]) -> (tempfile::TempDir, Arc<EmbeddedHitLog>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
    let records = letters.iter().map(|l| LogRecord { key: Vec::new(), payload: l.encode_with_client(&chrome()) }).collect();
    log.append(Topic::DeadLetters, records).await.unwrap();
    (dir, log)
}

async fn hits(log: &EmbeddedHitLog) -> Vec<(StoredHit, Option<HitTrailer>)> {
    log.read(Topic::Hits, 0, 0, 10_000).await.unwrap().iter().map(|r| StoredHit::decode_with_trailer(&r.payload).unwrap()).collect()
}

fn scope(plateforme: &str, from: u32, to: u32) -> ReplayScope {
    ReplayScope {
        plateforme: plateforme.into(),
        from: NaiveDate::from_ymd_opt(2026, 10, from).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 10, to).unwrap(),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

/// MBN on 5 and 6 October: JEUX twice (now valid), an unknown service, a letter also refused
/// for its page; a letter of ONE and one of 7 October (out of scope).
fn october() -> Vec<DeadLetter> {
    vec![
        letter(1, "JEUX", "MBN", received(5, 10)),
        letter(2, "JEUX", "MBN", received(6, 11)),
        letter(3, "CASINO", "MBN", received(6, 12)),
        letter(4, "BAD ONE!", "MBN", received(6, 13)),
        letter(5, "JEUX", "ONE", received(6, 14)),
        letter(6, "JEUX", "MBN", received(7, 15)),
    ]
}

#[tokio::test]
async fn hits_now_valid_go_to_the_log_once_with_their_receive_time() {
    let (dir, log) = log_with(&october()).await;
    let plan = plan_with_jeux();
    let validator = Validator::new(&plan);
    let summary = replay(&*log, &validator, &scope("mbn", 5, 6), now()).await.unwrap();
    assert_eq!((summary.dead_letters, summary.replayed, summary.still_refused, summary.already_replayed), (4, 2, 2, 0), "{summary:#?}");
    assert_eq!((summary.plateforme.as_str(), summary.plan_version.as_str()), ("MBN", "1.1.0"));
    let unknown = summary.by_reason.iter().find(|r| r.code == "unknown_service").unwrap();
    assert_eq!((unknown.dead_letters, unknown.replayed, unknown.still_refused), (4, 2, 2));
    let page = summary.by_reason.iter().find(|r| r.code == "invalid_page").unwrap();
    assert_eq!((page.dead_letters, page.replayed, page.still_refused), (1, 0, 1));
    assert_eq!(summary.refused_now, vec![("unknown_service".to_owned(), 2)], "CASINO, and the service of the other one, are still unknown");

    let appended = hits(&log).await;
    assert_eq!(appended.len(), 2);
    for ((hit, trailer), (visitor, at, position)) in appended.iter().zip([(1u8, received(5, 10), 0u64), (2, received(6, 11), 1)]) {
        assert_eq!(hit.visitor, Pseudonym([visitor; 16]), "the pseudonym stored in the letter");
        assert_eq!(hit.received_ms, at, "the original receive time");
        assert_eq!((hit.service.as_str(), hit.plan_version.as_str(), &hit.client), ("JEUX", "1.1.0", &chrome()));
        assert_eq!(*trailer, Some(HitTrailer::Replayed(position)));
    }

    // Again, in this process or another: nothing is added, not even a mark.
    let dead_end = log.stats(Topic::DeadLetters).await.unwrap().end_offset;
    for _ in 0..2 {
        let again = replay(&*log, &validator, &scope("MBN", 5, 6), now()).await.unwrap();
        assert_eq!((again.replayed, again.already_replayed, again.still_refused), (0, 2, 2), "{again:#?}");
    }
    log.close();
    drop(log);
    let reopened = EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap();
    let again = replay(&reopened, &validator, &scope("MBN", 1, 31), now()).await.unwrap();
    assert_eq!((again.replayed, again.already_replayed), (1, 2), "only the 7 October letter is new to this wider scope");
    assert_eq!(hits(&reopened).await.len(), 3);
    assert!(reopened.stats(Topic::DeadLetters).await.unwrap().end_offset > dead_end);
}

#[tokio::test]
async fn the_shipped_plan_replays_nothing_of_an_unknown_service() {
    let (_dir, log) = log_with(&october()).await;
    let plan = Plan::shipped();
    let summary = replay(&*log, &Validator::new(&plan), &scope("MBN", 5, 6), now()).await.unwrap();
    assert_eq!((summary.replayed, summary.still_refused), (0, 4));
    assert!(hits(&log).await.is_empty());
    assert_eq!(log.stats(Topic::DeadLetters).await.unwrap().end_offset, 6, "no batch, no mark");
}

/// Appends the marks and hits of a batch of `letters` as a replay that died before its `Done`
/// mark would have, with only the first `appended` hits written.
async fn unfinished_batch(log: &EmbeddedHitLog, plan: &Plan, positions: &[u64], appended: usize, at: DateTime<Utc>) {
    let letters = october();
    let hits_end = log.end_offsets(Topic::Hits).await.unwrap();
    let begun = ReplayMark::new(at.timestamp_millis(), "dead-run-1", ReplayStage::Begun { positions: positions.to_vec(), hits_end });
    log.append(Topic::DeadLetters, vec![LogRecord { key: MARK_KEY.to_vec(), payload: begun.encode() }]).await.unwrap();
    let validator = Validator::new(plan);
    let records = positions[..appended]
        .iter()
        .map(|&p| {
            let Judgement::Replay(hit) = judge(&validator, &letters[usize::try_from(p).unwrap()], Some(&chrome())) else { panic!() };
            LogRecord { key: hit.visitor.0.to_vec(), payload: hit.encode_replayed(p) }
        })
        .collect();
    log.append(Topic::Hits, records).await.unwrap();
}

#[tokio::test]
async fn a_batch_left_unfinished_is_settled_from_the_hit_log_without_duplicates() {
    let (_dir, log) = log_with(&october()).await;
    let plan = plan_with_jeux();
    // Some live hit in between, as a running collector would append.
    log.append(Topic::Hits, vec![LogRecord { key: vec![9], payload: b"not read before the batch".to_vec() }]).await.unwrap();
    unfinished_batch(&log, &plan, &[0, 1], 1, now() - Duration::minutes(30)).await;
    let summary = replay(&*log, &Validator::new(&plan), &scope("MBN", 5, 6), now()).await.unwrap();
    assert_eq!(summary.settled_batches, 1);
    assert_eq!((summary.replayed, summary.already_replayed), (1, 1), "{summary:#?}");
    let positions: Vec<Option<HitTrailer>> =
        log.read(Topic::Hits, 0, 1, 100).await.unwrap().iter().map(|r| StoredHit::decode_with_trailer(&r.payload).unwrap().1).collect();
    assert_eq!(positions, vec![Some(HitTrailer::Replayed(0)), Some(HitTrailer::Replayed(1))], "each letter's hit once");
}

#[tokio::test]
async fn a_batch_under_way_in_another_process_is_left_to_it() {
    let (_dir, log) = log_with(&october()).await;
    let plan = plan_with_jeux();
    unfinished_batch(&log, &plan, &[0, 1], 0, now() - Duration::minutes(1)).await;
    let summary = replay(&*log, &Validator::new(&plan), &scope("MBN", 5, 6), now()).await.unwrap();
    assert_eq!((summary.settled_batches, summary.under_way, summary.replayed), (0, 2, 0), "{summary:#?}");
    assert!(hits(&log).await.is_empty());
}

#[tokio::test]
async fn a_letter_begun_first_by_another_replay_is_left_to_it() {
    let begun = |batch: &str, positions: Vec<u64>| ReplayMark::new(0, batch, ReplayStage::Begun { positions, hits_end: vec![0] });
    let later = vec![(10, begun("theirs", vec![1, 2])), (11, begun("ours", vec![2, 3])), (12, begun("after", vec![3]))];
    assert_eq!(Ledger::claimed_before(&later, "ours"), BTreeSet::from([1, 2]));
}

#[tokio::test]
async fn a_platform_no_letter_names_is_an_error_naming_those_that_do() {
    let (_dir, log) = log_with(&october()).await;
    let plan = plan_with_jeux();
    let error = replay(&*log, &Validator::new(&plan), &scope("ATLAS", 5, 6), now()).await.unwrap_err();
    assert_eq!(error.to_string(), "unknown platform \"ATLAS\": no dead letter names it (dead letters name MBN, ONE)");
    // A platform the plan knows (an operator) without dead letters is no error: nothing to do.
    let summary = replay(&*log, &Validator::new(&plan), &scope("NEO", 5, 6), now()).await.unwrap();
    assert_eq!(summary.dead_letters, 0);
}

#[tokio::test]
async fn marks_are_skipped_by_what_reads_the_letters() {
    let (_dir, log) = log_with(&october()).await;
    let plan = plan_with_jeux();
    replay(&*log, &Validator::new(&plan), &scope("MBN", 5, 6), now()).await.unwrap();
    let records = log.read(Topic::DeadLetters, 0, 0, 100).await.unwrap();
    assert_eq!(records.len(), 8, "six letters, a Begun and a Done mark");
    let letters: Vec<DeadLetter> = records.iter().filter_map(|r| DeadLetterRecord::decode(&r.payload).unwrap().into_letter()).collect();
    assert_eq!(letters, october());
}

/// Every record of a topic, all partitions.
async fn everything(log: &dyn HitLog, topic: Topic) -> Vec<crate::log::StoredRecord> {
    let mut out = Vec::new();
    for partition in 0..log.partitions(topic).await.unwrap() {
        let mut from = 0;
        loop {
            let records = log.read(topic, partition, from, 1000).await.unwrap();
            let Some(last) = records.last() else { break };
            from = last.offset + 1;
            out.extend(records);
        }
    }
    out
}

/// The replay of [`october`] on any log: two hits appended, each naming its letter, then
/// nothing more however often it runs.
async fn replays_once(log: &dyn HitLog) {
    let records = october().iter().map(|l| LogRecord { key: Vec::new(), payload: l.encode_with_client(&chrome()) }).collect();
    log.append(Topic::DeadLetters, records).await.unwrap();
    let plan = plan_with_jeux();
    let validator = Validator::new(&plan);
    let summary = replay(log, &validator, &scope("MBN", 5, 6), now()).await.unwrap();
    assert_eq!((summary.dead_letters, summary.replayed, summary.still_refused), (4, 2, 2), "{summary:#?}");
    let letters: std::collections::HashMap<u64, DeadLetter> = everything(log, Topic::DeadLetters)
        .await
        .iter()
        .filter_map(|r| DeadLetterRecord::decode(&r.payload).unwrap().into_letter().map(|l| (position(r.partition, r.offset), l)))
        .collect();
    let mut hits: Vec<StoredHit> = Vec::new();
    for record in everything(log, Topic::Hits).await {
        let (hit, trailer) = StoredHit::decode_with_trailer(&record.payload).unwrap();
        let Some(HitTrailer::Replayed(from)) = trailer else { panic!("a replayed hit names its letter") };
        let letter = &letters[&from];
        assert_eq!(
            (hit.received_ms, letter.properties[2].1.clone()),
            (letter.received_ms, pseudonym_property(&hit.visitor)),
            "the hit of its letter"
        );
        hits.push(hit);
    }
    hits.sort_by_key(|h| h.received_ms);
    assert_eq!(
        hits.iter().map(|h| (h.visitor, h.received_ms)).collect::<Vec<_>>(),
        [(Pseudonym([1; 16]), received(5, 10)), (Pseudonym([2; 16]), received(6, 11))]
    );
    let ends = (log.end_offsets(Topic::Hits).await.unwrap(), log.end_offsets(Topic::DeadLetters).await.unwrap());
    let again = replay(log, &validator, &scope("MBN", 5, 6), now()).await.unwrap();
    assert_eq!((again.replayed, again.already_replayed), (0, 2));
    assert_eq!((log.end_offsets(Topic::Hits).await.unwrap(), log.end_offsets(Topic::DeadLetters).await.unwrap()), ends, "nothing appended");
}

#[tokio::test]
async fn the_same_replay_on_the_embedded_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap();
    replays_once(&log).await;
    log.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_replay_on_a_kafka_log_of_several_partitions() {
    let brokers = match std::env::var("DNMA_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => brokers,
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the Kafka tests: DNMA_KAFKA_BROKERS is not set");
            eprintln!("skipped: set DNMA_KAFKA_BROKERS to a Kafka broker (scripts/kafka.sh DIR PORT starts one)");
            return;
        }
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let config =
        KafkaLogConfig { topic_prefix: format!("test-replay-{}-{nanos}.", std::process::id()), partitions: 3, ..KafkaLogConfig::new(brokers) };
    let log = KafkaHitLog::open(config).await.unwrap();
    replays_once(&log).await;
}
