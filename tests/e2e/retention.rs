//! Retention with the real binary. The raw log: old hits imported into small segments are kept
//! while the pipeline has not counted them, reported by `--dry-run` without being touched, then
//! deleted by `dnma retention`; recent hits and the figures already computed stay; and a data
//! directory in use by a collector is refused with a message saying why. The per-visitor
//! facts: past 13 months they go, the figures of every period holding them stay.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{Datelike, Duration, Utc};

use super::collector::Collector;
use super::{dnma, json_lines};

fn xiti(user: u32) -> String {
    format!("/hit.xiti?s=1&p=accueil&at=user-{user}&ac=1&service=NOTES&type=NATIF&uai=0350122T&projet=ENT_35&exploitant=ODE&plateforme=ONE")
}

/// 10 hits of 2025-10-07 from user `first` on.
fn old_hits(first: u32) -> String {
    let mut lines = String::new();
    for user in first..first + 10 {
        let _ = writeln!(lines, "2025-10-07T10:{:02}:00+02:00\t{}", user % 60, xiti(user));
    }
    lines
}

/// 10 hits of yesterday and a refused one.
fn recent_hits() -> String {
    let mut lines = String::new();
    let yesterday = (Utc::now() - Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    for user in 40..50 {
        let _ = writeln!(lines, "{yesterday}\t{}", xiti(user));
    }
    // One refused hit (unknown service), recent: a dead letter that must stay.
    let _ = writeln!(lines, "{yesterday}\t/hit.xiti?s=1&p=x&at=u&service=JEUX");
    lines
}

fn summary(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    json_lines(output).into_iter().find(|l| l["summary"] == true).expect("a summary line")
}

/// What the log holds, per `dnma log stats` (without how far the pipeline is behind it).
fn log_stats(data_dir: &str) -> serde_json::Value {
    let out = dnma(&["log", "stats", "--data-dir", data_dir], None);
    assert!(out.status.success());
    let mut stats = json_lines(&out).remove(0);
    stats.as_object_mut().expect("an object").remove("pipeline");
    stats
}

fn academie_visits(data_dir: &str, day: &str) -> u64 {
    let out =
        dnma(&["query", "--data-dir", data_dir, "--level", "academie", "--period", "day", "--from", day, "--to", day, "--format", "json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out).iter().map(|r| r["visits"].as_u64().unwrap()).sum()
}

#[test]
fn old_counted_log_segments_go_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[collector]\nsegment_bytes = 2048\n\n[retention]\nlog_days = 31\n").unwrap();
    let config = config.to_str().unwrap();
    // One import is one append, and segments roll between appends: 4 old segments, then the
    // recent one.
    for input in [old_hits(0), old_hits(10), old_hits(20), old_hits(30), recent_hits()] {
        let imported = dnma(&["import", "--data-dir", data_dir, "--config", config, "-"], Some(input.as_bytes()));
        assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    }
    let before = log_stats(data_dir);
    assert!(before["topics"]["hits"]["segments"].as_u64().unwrap() >= 3, "{before}");

    // Not counted yet: nothing may go.
    let uncounted = summary(&dnma(&["retention", "--data-dir", data_dir, "--config", config, "--dry-run"], None));
    assert_eq!(uncounted["would_remove"]["segments"], 0, "{uncounted}");
    assert!(uncounted["unconsumed_past_retention"].as_u64().unwrap() > 0, "{uncounted}");

    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(academie_visits(data_dir, "2025-10-07"), 40);

    // A dry run says what would go and touches nothing.
    let dry = dnma(&["retention", "--data-dir", data_dir, "--config", config, "--dry-run"], None);
    let dry_summary = summary(&dry);
    let would = dry_summary["would_remove"]["records"].as_u64().unwrap();
    assert!(would > 0 && would <= 40, "{dry_summary}");
    assert!(dry_summary["removed"].is_null());
    assert!(String::from_utf8_lossy(&dry.stderr).contains("would remove"), "{}", String::from_utf8_lossy(&dry.stderr));
    assert_eq!(log_stats(data_dir), before, "a dry run deletes nothing");
    for segment in json_lines(&dry).iter().filter(|l| l.get("decision").is_some()) {
        let old = segment["newest"].as_str().unwrap() < "2026";
        assert_eq!(segment["decision"] == "delete", old, "{segment}");
    }

    // A data directory in use by a collector is refused, and left as it was. (This collector
    // answers to another pipeline consumer, which counted nothing: its own retention waits.)
    {
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "[collector]\nsegment_bytes = 2048\n\n[pipeline]\nconsumer = \"other\"\n").unwrap();
        let _collector = Collector::spawn(&["collector", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--config", other.to_str().unwrap()]);
        let refused = dnma(&["retention", "--data-dir", data_dir, "--config", config], None);
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("in use by another dnma process") && stderr.contains("--dry-run"), "{stderr}");
    }

    let applied = summary(&dnma(&["retention", "--data-dir", data_dir, "--config", config], None));
    assert_eq!(applied["removed"], dry_summary["would_remove"], "{applied}");
    let after = log_stats(data_dir);
    assert_eq!(after["topics"]["hits"]["start_offset"].as_u64().unwrap(), would, "{after}");
    assert_eq!(after["topics"]["hits"]["end_offset"], before["topics"]["hits"]["end_offset"]);
    assert_eq!(after["topics"]["dead_letters"], before["topics"]["dead_letters"], "the recent dead letter stays");
    let tail = dnma(&["log", "tail", "--data-dir", data_dir, "-n", "10"], None);
    let recent = json_lines(&tail);
    assert_eq!(recent.len(), 10);
    let yesterday_ms = (Utc::now() - Duration::days(2)).timestamp_millis();
    assert!(recent.iter().all(|r| r["record"]["received_ms"].as_i64().unwrap() > yesterday_ms), "recent hits stay");

    // The figures computed from what went stay; a second run has nothing left to do.
    assert_eq!(academie_visits(data_dir, "2025-10-07"), 40);
    let again = summary(&dnma(&["retention", "--data-dir", data_dir, "--config", config], None));
    assert_eq!(again["removed"]["segments"], 0, "{again}");
    assert!(Path::new(data_dir).join("log").is_dir());
}

#[test]
fn a_running_collector_applies_retention_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[collector]\nsegment_bytes = 2048\n").unwrap();
    let config = config.to_str().unwrap();
    // Old hits, counted: a collector deletes them as soon as it starts.
    for input in [old_hits(100), old_hits(110), old_hits(120), old_hits(130)] {
        assert!(dnma(&["import", "--data-dir", data_dir, "--config", config, "-"], Some(input.as_bytes())).status.success());
    }
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    let start = log_stats(data_dir)["topics"]["hits"]["start_offset"].as_u64().unwrap();
    let _collector = Collector::spawn(&["collector", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--config", config]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while log_stats(data_dir)["topics"]["hits"]["start_offset"].as_u64().unwrap() == start {
        assert!(std::time::Instant::now() < deadline, "the collector applied no retention");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(academie_visits(data_dir, "2025-10-07"), 40);
}

#[test]
fn bad_retention_settings_are_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[retention]\nlog_days = 0\n").unwrap();
    let out = dnma(&["retention", "--data-dir", dir.path().to_str().unwrap(), "--config", config.to_str().unwrap(), "--dry-run"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[retention] log_days must be between 1 and 400"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&config, "[retention]\nlog_dayz = 10\n").unwrap();
    let out = dnma(&["retention", "--data-dir", dir.path().to_str().unwrap(), "--config", config.to_str().unwrap(), "--dry-run"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("log_dayz"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// One day's indicators at every period holding it (academie level, JSON lines as printed).
fn figures_of(data_dir: &str, day: &str) -> Vec<serde_json::Value> {
    let mut figures = Vec::new();
    for period in ["day", "week", "month", "school_year"] {
        for extra in [&[][..], &["--breakdown", "profil"][..]] {
            let mut args =
                vec!["query", "--data-dir", data_dir, "--level", "ecole", "--period", period, "--from", day, "--to", day, "--format", "json"];
            args.extend_from_slice(extra);
            let out = dnma(&args, None);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            figures.extend(json_lines(&out));
        }
    }
    figures
}

fn facts_line(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    json_lines(output).into_iter().find(|l| l["facts"] == true).expect("a line for the facts")
}

#[test]
fn per_visitor_facts_past_thirteen_months_go_and_their_figures_stay() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let old = (Utc::now() - Duration::days(14 * 31)).date_naive();
    let mut input = String::new();
    for user in 0..12 {
        let _ = writeln!(input, "{old}T10:{:02}:00+02:00\t{}", user, xiti(200 + user % 8));
    }
    input.push_str(&recent_hits());
    assert!(dnma(&["import", "--data-dir", data_dir, "-"], Some(input.as_bytes())).status.success());
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    let old = old.to_string();
    let before = figures_of(data_dir, &old);
    assert_eq!(before[0]["visitors"], 8, "{before:?}");
    let rollups = Path::new(data_dir).join("rollups");

    let dry = facts_line(&dnma(&["retention", "--data-dir", data_dir, "--dry-run"], None));
    assert_eq!(dry["days"], serde_json::json!([old]), "{dry}");
    for kind in ["day", "week", "month", "school_year"] {
        assert_eq!(dry["frozen"][kind].as_array().map(Vec::len), Some(1), "{dry}");
    }
    assert!(rollups.join("hits").join(&old).is_dir(), "a dry run deletes nothing");

    let applied = dnma(&["retention", "--data-dir", data_dir], None);
    let facts = facts_line(&applied);
    assert_eq!((&facts["days"], &facts["frozen"]), (&dry["days"], &dry["frozen"]), "{facts}");
    assert!(facts["cells_kept"].as_u64().unwrap() > 0, "{facts}");
    assert!(String::from_utf8_lossy(&applied.stderr).contains("retired the facts of 1 days"), "{}", String::from_utf8_lossy(&applied.stderr));
    assert!(!rollups.join("hits").join(&old).exists() && !rollups.join("visits").join(format!("{old}.parquet")).exists());
    assert_eq!(figures_of(data_dir, &old), before, "the figures of the periods holding the retired day stay");

    // A hit of the retired day met later is not staged: no fact of that day comes back.
    let late = format!("{old}T11:00:00+02:00\t{}\n", xiti(300));
    assert!(dnma(&["import", "--data-dir", data_dir, "-"], Some(late.as_bytes())).status.success());
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None);
    assert!(String::from_utf8_lossy(&run.stderr).contains("1 of days already retired"), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!rollups.join("hits").join(&old).exists());
    assert_eq!(figures_of(data_dir, &old), before);
    let again = facts_line(&dnma(&["retention", "--data-dir", data_dir], None));
    assert_eq!(again["days"], serde_json::json!([]), "{again}");
}

/// Materialized periods with the real binary: `dnma pipeline materialize` keeps the cells of a
/// closed week, month and school year; `dnma query` gives the same figures from them; a late
/// hit of that week, once computed, drops the cells of its periods (the files go) and is
/// counted; materializing again keeps them again.
#[test]
fn materialized_periods_give_the_facts_figures_and_go_when_a_late_hit_comes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // A Wednesday of the school year before last: its week, month and school year have ended.
    let old = (Utc::now() - Duration::days(380)).date_naive();
    let old = old - Duration::days(i64::from(old.weekday().num_days_from_monday()) - 2);
    let mut input = String::new();
    for user in 0..12 {
        let _ = writeln!(input, "{old}T10:{:02}:00+02:00\t{}", user, xiti(200 + user % 8));
    }
    assert!(dnma(&["import", "--data-dir", data_dir, "-"], Some(input.as_bytes())).status.success());
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    let old = old.to_string();
    let before = figures_of(data_dir, &old);
    assert_eq!(before[0]["visitors"], 8, "{before:?}");

    let out = dnma(&["pipeline", "materialize", "--data-dir", data_dir], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = json_lines(&out);
    let mut kinds: Vec<&str> = kept.iter().map(|l| l["period"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "school_year", "newest end first: {kept:?}");
    kinds.sort_unstable();
    assert_eq!(kinds, ["month", "school_year", "week"], "{kept:?}");
    assert!(kept.iter().all(|l| l["cells"].as_u64().unwrap() > 0), "{kept:?}");
    let week_start = kept.iter().find(|l| l["period"] == "week").unwrap()["start"].as_str().unwrap().to_owned();
    let week_file = Path::new(data_dir).join("rollups").join("frozen").join("week").join(format!("{week_start}.parquet"));
    assert!(week_file.exists());
    assert_eq!(figures_of(data_dir, &old), before, "the kept cells give the facts' figures");
    let again = dnma(&["pipeline", "materialize", "--data-dir", data_dir], None);
    assert!(again.status.success() && json_lines(&again).is_empty(), "nothing left to keep");

    // A late hit of a new visitor that day.
    let late = format!("{old}T11:00:00+02:00\t{}\n", xiti(300));
    assert!(dnma(&["import", "--data-dir", data_dir, "-"], Some(late.as_bytes())).status.success());
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    assert!(!week_file.exists(), "the late hit's week is no longer kept");
    let with_late = figures_of(data_dir, &old);
    assert!(with_late.iter().all(|f| f["visitors"] == 9), "every period counts the late visitor: {with_late:?}");
    let kept = json_lines(&dnma(&["pipeline", "materialize", "--data-dir", data_dir], None));
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(week_file.exists());
    assert_eq!(figures_of(data_dir, &old), with_late);
}

/// The open school year's rows to date with the real binary: `dnma pipeline materialize` keeps
/// them up to the latest settled day (and says so), `dnma query` gives the same school-year
/// figures, a day after them is read from the facts, and a late hit on a kept day drops them.
#[test]
fn year_to_date_rows_give_the_facts_figures_and_go_when_a_late_hit_comes() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // A day of a school year with two more days of it after (not in July or August).
    let mut kept_day = (Utc::now() - Duration::days(20)).date_naive();
    if matches!(kept_day.month(), 7 | 8) {
        kept_day = kept_day.with_month(6).unwrap().with_day(15).unwrap();
    }
    let later_day = kept_day + Duration::days(2);
    let today = (kept_day + Duration::days(3)).to_string();
    let mut input = String::new();
    for user in 0..10 {
        let _ = writeln!(input, "{kept_day}T10:{:02}:00+02:00\t{}", user, xiti(400 + user % 8));
    }
    // After the settled days: one visitor seen before, one new.
    for user in [400, 500] {
        let _ = writeln!(input, "{later_day}T09:00:00+02:00\t{}", xiti(user));
    }
    assert!(dnma(&["import", "--data-dir", data_dir, "-"], Some(input.as_bytes())).status.success());
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    let day = kept_day.to_string();
    let year_figures = || {
        let mut figures = Vec::new();
        for (level, extra) in [("ecole", &[][..]), ("academie", &["--breakdown", "profil"][..]), ("nation", &["--breakdown", "service"][..])] {
            let mut args =
                vec!["query", "--data-dir", data_dir, "--level", level, "--period", "school_year", "--from", &day, "--to", &day, "--format", "json"];
            args.extend_from_slice(extra);
            let out = dnma(&args, None);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            figures.extend(json_lines(&out));
        }
        figures
    };
    let before = year_figures();
    assert_eq!(before[0]["visitors"], 9, "{before:?}");

    let out = dnma(&["pipeline", "materialize", "--data-dir", data_dir, "--today", &today], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = json_lines(&out);
    assert_eq!(kept[0]["period"], "school_year", "{kept:?}");
    assert_eq!(kept[0]["through"], day.as_str(), "the year to date first, up to the latest settled day: {kept:?}");
    let year = kept[0]["start"].as_str().unwrap().to_owned();
    let rows = Path::new(data_dir).join("rollups").join("year-to-date").join(format!("{year}_{day}.visits.parquet"));
    assert!(rows.exists(), "{}", rows.display());
    assert_eq!(year_figures(), before, "the rows to date and the later facts give the facts' figures");

    // A late hit of a new visitor on the kept day: once computed, the rows go; it is counted.
    let late = format!("{kept_day}T11:00:00+02:00\t{}\n", xiti(600));
    assert!(dnma(&["import", "--data-dir", data_dir, "-"], Some(late.as_bytes())).status.success());
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    assert!(!rows.exists(), "a change to a kept day drops the rows");
    let with_late = year_figures();
    assert_eq!(with_late[0]["visitors"], 10, "{with_late:?}");
    let again = json_lines(&dnma(&["pipeline", "materialize", "--data-dir", data_dir, "--today", &today], None));
    assert_eq!(again[0]["through"], day.as_str(), "{again:?}");
    assert!(rows.exists());
    assert_eq!(year_figures(), with_late);
}
