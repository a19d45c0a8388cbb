//! `dnma erase` with the real binary: a pupil's hits and dead letters leave the log and their
//! facts leave the store, the figures are recomputed without them and stay so after the
//! pipeline runs again, the other pupil is untouched, the audit line holds no id, and a data
//! directory in use is refused.

use std::fmt::Write as _;

use chrono::{Duration, Utc};

use super::collector::Collector;
use super::{dnma, json_lines};

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

    // Not while a collector holds the data directory.
    {
        let _collector = Collector::start(dir.path());
        let refused = dnma(&["erase", "--data-dir", data_dir, "--plateforme", "MBN", "--user-id", "eleve-a"], None);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("stop the collector first"), "{}", String::from_utf8_lossy(&refused.stderr));
    }

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
