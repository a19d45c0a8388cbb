//! Dead letters replayed (`collector::replay`) in the log the pipeline reads: the replayed hits
//! are counted on the day they were first received, and the replay marks beside the letters
//! are not taken for refusals by the editors' view, which counts the letters as refused and
//! recovered.

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use collector::pseudonym::Pseudonym;
use collector::record::{pseudonym_property, DeadLetter, StoredReason};
use collector::replay::{replay, ReplayScope};
use collector::useragent::ClientClass;
use pipeline::{IndicatorQuery, Level, ParquetRollupStore, Period, Pipeline, PipelineConfig, RollupStore};
use tagging_plan::plan::SHIPPED_PLAN;
use tagging_plan::{Plan, Referential, Validator, WireFormat};

fn refused_jeux(visitor: u8, received_ms: i64) -> DeadLetter {
    let at = pseudonym_property(&Pseudonym([visitor; 16]));
    let properties = [
        ("s", "1"),
        ("p", "jeux"),
        ("at", at.as_str()),
        ("ac", "1"),
        ("service", "JEUX"),
        ("type", "NATIF"),
        ("uai", "0940176F"),
        ("projet", "ENT_94"),
        ("exploitant", "ODE"),
        ("plateforme", "MBN"),
    ];
    DeadLetter {
        received_ms,
        format: WireFormat::Xiti,
        site: Some("1".into()),
        plateforme: Some("MBN".into()),
        event: "page.display".into(),
        reasons: vec![StoredReason { code: "unknown_service".into(), field: "service".into(), value: Some("JEUX".into()), message: String::new() }],
        properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_hits_count_on_their_day_and_marks_say_the_refusals_were_recovered() {
    let day = NaiveDate::from_ymd_opt(2026, 10, 5).unwrap();
    let at = |minute| Utc.with_ymd_and_hms(2026, 10, 5, 8, minute, 0).unwrap().timestamp_millis();
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
    let client = ClientClass { device: "tablette".into(), os: "ios".into(), browser: "safari".into() };
    let letters = [refused_jeux(1, at(0)), refused_jeux(1, at(3)), refused_jeux(2, at(5))];
    log.append(Topic::DeadLetters, letters.iter().map(|l| LogRecord { key: Vec::new(), payload: l.encode_with_client(&client) }).collect())
        .await
        .unwrap();

    let plan = Plan::from_toml(
        &SHIPPED_PLAN.replace("  { code = \"PAGE_ENT\",", "  { code = \"JEUX\", label = \"Jeux\", column = \"\" },\n  { code = \"PAGE_ENT\","),
    )
    .unwrap();
    let scope = ReplayScope { plateforme: "MBN".into(), from: day, to: day };
    let summary = replay(&*log, &Validator::new(&plan), &scope, Utc::now()).await.unwrap();
    assert_eq!(summary.replayed, 3);

    let store = Arc::new(ParquetRollupStore::open(&dir.path().join("rollups")).unwrap());
    let pipeline =
        Pipeline::new(log.clone(), store.clone(), Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), PipelineConfig::default());
    let (staged, days) = pipeline.run_once().await.unwrap();
    assert_eq!((staged.hits, days), (3, vec![day.into()]), "the replayed hits are staged on their own day");
    let rows = store.query(&IndicatorQuery::new(Level::Nation, Period::Day, day, day)).await.unwrap();
    assert_eq!((rows.iter().map(|r| r.page_views).sum::<u64>(), rows.iter().map(|r| r.visitors).sum::<u64>()), (3, 2));
    let counts = store.reject_counts(day, day).await.unwrap();
    let (refusals, recovered) = (counts.iter().map(|r| r.events).sum::<u64>(), counts.iter().map(|r| r.recovered).sum::<u64>());
    assert_eq!(refusals, 3, "the three letters, not the marks, are refusals of that day");
    assert_eq!(recovered, 3, "the Done mark says all three were recovered");
    let days = store.rejected_events(day, day).await.unwrap();
    assert_eq!(days.iter().map(|d| (d.day, d.events, d.recovered)).collect::<Vec<_>>(), vec![(day, 3, 3)]);
    log.close();
}
