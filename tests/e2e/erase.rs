//! `dnma erase` with the real binary: a pupil's hits and dead letters leave the log and their
//! facts leave the store, the figures are recomputed without them and stay so after the
//! pipeline runs again, the other pupil is untouched, the audit line holds no id; at rest, and
//! beside a running server (`dnma serve`, or a collector and a following pipeline) that keeps
//! accepting hits meanwhile.

use std::fmt::Write as _;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};

use super::collector::Collector;
use super::{dnma, json_lines};

/// A browser's User-Agent (hits from bots are dropped).
const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn xiti(user: &str, service: &str) -> String {
    format!("/hit.xiti?s=1&p=accueil&at={user}&ac=1&service={service}&type=NATIF&uai=0940176F&projet=ENT_94&exploitant=ODE&plateforme=MBN")
}

/// Yesterday: 3 hits and 1 refused hit of `eleve-a`, 2 hits of `eleve-b`.
fn recorded_hits() -> String {
    let yesterday = (Utc::now() - Duration::days(1)).format("%Y-%m-%dT10:%M:00Z").to_string();
    let mut lines = String::new();
    for (user, service) in
        [("eleve-a", "NOTES"), ("eleve-b", "NOTES"), ("eleve-a", "CAHIER_TEXTES"), ("eleve-a", "JEUX"), ("eleve-b", "NOTES"), ("eleve-a", "NOTES")]
    {
        let _ = writeln!(lines, "{yesterday}\t{}", xiti(user, service));
    }
    lines
}

fn nation_visitors(data_dir: &str) -> (u64, u64) {
    let day = (Utc::now() - Duration::days(1)).format("%Y-%m-%d").to_string();
    let out =
        dnma(&["query", "--data-dir", data_dir, "--level", "nation", "--period", "day", "--from", &day, "--to", &day, "--format", "json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json_lines(&out);
    (rows.iter().map(|r| r["visitors"].as_u64().unwrap()).sum(), rows.iter().map(|r| r["page_views"].as_u64().unwrap()).sum())
}

fn records(data_dir: &str, dead_letters: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["log", "tail", "--data-dir", data_dir, "-n", "100"];
    if dead_letters {
        args.push("--dead-letters");
    }
    json_lines(&dnma(&args, None))
}

#[test]
fn an_erased_pupil_leaves_the_log_the_facts_and_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let imported = dnma(&["import", "--data-dir", data_dir, "-"], Some(recorded_hits().as_bytes()));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    assert_eq!(nation_visitors(data_dir), (2, 5));
    assert_eq!((records(data_dir, false).len(), records(data_dir, true).len()), (5, 1));

    let erased = dnma(&["erase", "--data-dir", data_dir, "--plateforme", "MBN", "--user-id", "-", "--reference", "DPO-2026-17"], Some(b"eleve-a\n"));
    assert!(erased.status.success(), "{}", String::from_utf8_lossy(&erased.stderr));
    let audit = json_lines(&erased).remove(0);
    assert_eq!(audit["log"], serde_json::json!({"hits": 3, "dead_letters": 1}), "{audit}");
    assert_eq!(
        (audit["facts"]["hits"].as_u64(), audit["facts"]["visits"].as_u64(), audit["facts"]["days"].as_u64()),
        (Some(3), Some(1), Some(1)),
        "{audit}"
    );
    assert_eq!(audit["reference"], "DPO-2026-17");
    let kept = std::fs::read_to_string(dir.path().join("erasures.jsonl")).unwrap();
    assert_eq!(kept.trim(), audit.to_string(), "the audit line is kept");
    assert!(!kept.contains("eleve-a"), "no raw id in the audit: {kept}");

    // Gone from the log and from the figures; the other pupil stays.
    assert_eq!(nation_visitors(data_dir), (1, 2));
    let left = records(data_dir, false);
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|r| r["record"]["visitor"] == left[0]["record"]["visitor"]), "only eleve-b's hits are left");
    assert!(records(data_dir, true).is_empty());
    let stats = json_lines(&dnma(&["log", "stats", "--data-dir", data_dir], None)).remove(0);
    assert_eq!(stats["topics"]["hits"]["end_offset"], 5, "offsets do not move");

    // The pipeline runs again, a collector appends again: nothing comes back.
    {
        let _collector = Collector::start(dir.path());
    }
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    assert_eq!(nation_visitors(data_dir), (1, 2));

    // Erasing again finds nothing; an unknown user finds nothing.
    let again = dnma(&["erase", "--data-dir", data_dir, "--plateforme", "MBN", "--user-id", "eleve-a"], None);
    let again = json_lines(&again).remove(0);
    assert_eq!((again["log"]["hits"].as_u64(), again["facts"]["visits"].as_u64()), (Some(0), Some(0)), "{again}");
    let empty = dnma(&["erase", "--data-dir", data_dir, "--plateforme", "MBN", "--user-id", "-"], Some(b"\n"));
    assert!(!empty.status.success() && String::from_utf8_lossy(&empty.stderr).contains("the user id is empty"));
}

/// The visitor (pseudonym) of the records of a service only `eleve-a` or `eleve-b` used.
fn visitor_of(data_dir: &str, service: &str) -> serde_json::Value {
    records(data_dir, false).into_iter().find(|r| r["record"]["service"] == service).expect("a record of the service")["record"]["visitor"].clone()
}

fn all_records(data_dir: &str) -> Vec<serde_json::Value> {
    json_lines(&dnma(&["log", "tail", "--data-dir", data_dir, "-n", "1000000"], None))
}

/// Sends today's hits of other pupils until `stop`; counts the acknowledged ones.
fn live_traffic(url: String, stop: Arc<AtomicBool>, acknowledged: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let answer = client.get(format!("{url}{}", xiti(&format!("live-{}", n % 50), "NOTES"))).header("user-agent", UA).send().await.unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
            acknowledged.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// Runs `dnma erase` for a user of MBN without blocking the runtime; its audit line.
async fn erase_beside(data_dir: &str, user: &str) -> serde_json::Value {
    let args = ["erase", "--data-dir", data_dir, "--plateforme", "MBN", "--user-id", user, "--wait-seconds", "120"].map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || dnma(&args.iter().map(String::as_str).collect::<Vec<_>>(), None)).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out).remove(0)
}

async fn until_visitors(data_dir: &str, expected: (u64, u64)) {
    for _ in 0..100 {
        if nation_visitors(data_dir) == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(nation_visitors(data_dir), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_beside_a_running_server_needs_no_stop_and_loses_no_hit() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let imported = dnma(&["import", "--data-dir", data_dir, "-"], Some(recorded_hits().as_bytes()));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let (pupil_a, pupil_b) = (
        visitor_of(data_dir, "CAHIER_TEXTES"),
        records(data_dir, false).into_iter().find(|r| r["record"]["visitor"] != visitor_of(data_dir, "CAHIER_TEXTES")).unwrap()["record"]["visitor"]
            .clone(),
    );
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[pipeline]\npoll_interval = \"200ms\"\n").unwrap();
    let config = config.to_str().unwrap();

    // `dnma serve`: the collector holds the log, its pipeline the store.
    let acknowledged = Arc::new(AtomicU64::new(0));
    {
        let server = Collector::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--config", config]);
        until_visitors(data_dir, (2, 5)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let traffic = live_traffic(server.url.clone(), Arc::clone(&stop), Arc::clone(&acknowledged));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let audit = erase_beside(data_dir, "eleve-a").await;
        assert_eq!(audit["carried_out_by_running_server"], "log and store", "{audit}");
        assert_eq!(audit["log"], serde_json::json!({"hits": 3, "dead_letters": 1}), "{audit}");
        assert_eq!((audit["facts"]["hits"].as_u64(), audit["facts"]["visits"].as_u64()), (Some(3), Some(1)), "{audit}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        traffic.await.unwrap();
        assert!(acknowledged.load(Ordering::Relaxed) > 0);
        // Its pipeline goes on; the pupil does not come back.
        until_visitors(data_dir, (1, 2)).await;
        let left = all_records(data_dir);
        assert_eq!(left.len() as u64, 2 + acknowledged.load(Ordering::Relaxed), "every acknowledged live hit is in the log");
        assert!(!left.iter().any(|r| r["record"]["visitor"] == pupil_a), "no record of the erased pupil is left");
        assert!(records(data_dir, true).is_empty(), "their dead letter is gone");
    }

    // A collector and a following pipeline, two processes: each erases in what it holds.
    let collector = Collector::start(dir.path());
    let mut pipeline = Command::new(env!("CARGO_BIN_EXE_dnma"))
        .args(["pipeline", "run", "--data-dir", data_dir, "--config", config])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let before = acknowledged.load(Ordering::Relaxed);
    let traffic = live_traffic(collector.url.clone(), Arc::clone(&stop), Arc::clone(&acknowledged));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let audit = erase_beside(data_dir, "eleve-b").await;
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    assert_eq!(audit["carried_out_by_running_server"], "log and store", "{audit}");
    assert_eq!(
        (audit["log"]["hits"].as_u64(), audit["facts"]["hits"].as_u64(), audit["facts"]["visits"].as_u64()),
        (Some(2), Some(2), Some(1)),
        "{audit}"
    );
    until_visitors(data_dir, (0, 0)).await;
    let left = all_records(data_dir);
    assert_eq!(left.len() as u64, acknowledged.load(Ordering::Relaxed), "live hits before ({before}) and during this erasure are all kept");
    assert!(!left.iter().any(|r| r["record"]["visitor"] == pupil_b));
    let _ = pipeline.kill();
    let _ = pipeline.wait();
    drop(collector);

    // Nothing stays in the spool; the audit lines hold no id.
    assert_eq!(std::fs::read_dir(dir.path().join("erasure-requests")).unwrap().count(), 0);
    let kept = std::fs::read_to_string(dir.path().join("erasures.jsonl")).unwrap();
    assert_eq!(kept.lines().count(), 2);
    assert!(!kept.contains("eleve-"), "no raw id in the audit: {kept}");
}
