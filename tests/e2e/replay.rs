//! `dnma dead-letters replay` with the real binary: hits refused for a service the plan did not
//! know are replayed with a plan that knows it, counted by the pipeline on the day they were
//! received, and shown as recovered on the editor's conformance page (API, page, CSV of
//! `dnma dashboards`) while still counted refused as received; a replay run again adds nothing; at rest, beside a running `dnma serve` (which
//! replays in the log it holds), and on a Kafka log of several partitions when
//! `DNMA_KAFKA_BROKERS` names a broker; bad input named.

use std::fmt::Write as _;

use chrono::{Duration, Utc};
use pipeline::Period;
use tagging_plan::plan::SHIPPED_PLAN;

use super::collector::Collector;
use super::{dnma, json_lines};

const UA: &str = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";

fn xiti(user: &str, service: &str) -> String {
    format!("/hit.xiti?s=1&p=accueil&at={user}&ac=1&service={service}&type=NATIF&uai=0940176F&projet=ENT_94&exploitant=ODE&plateforme=MBN")
}

/// The shipped plan with the service JEUX (what the editor asked the plan's owners for).
fn plan_with_jeux(dir: &std::path::Path) -> String {
    let path = dir.join("plan-jeux.toml");
    let text = SHIPPED_PLAN
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace("  { code = \"PAGE_ENT\",", "  { code = \"JEUX\", label = \"Jeux\", column = \"\" },\n  { code = \"PAGE_ENT\",");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn nation_day(data_dir: &str, day: &str) -> (u64, u64) {
    let out = dnma(&["query", "--data-dir", data_dir, "--level", "nation", "--period", "day", "--from", day, "--to", day, "--format", "json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json_lines(&out);
    (rows.iter().map(|r| r["visitors"].as_u64().unwrap()).sum(), rows.iter().map(|r| r["page_views"].as_u64().unwrap()).sum())
}

fn replay(data_dir: &str, plan: Option<&str>, from: &str, to: &str, json: bool) -> std::process::Output {
    replay_with(&[], data_dir, plan, from, to, json)
}

fn replay_with(extra: &[&str], data_dir: &str, plan: Option<&str>, from: &str, to: &str, json: bool) -> std::process::Output {
    let mut args = Vec::new();
    if let Some(plan) = plan {
        args.extend(["--plan", plan]);
    }
    args.extend(["dead-letters", "replay", "--data-dir", data_dir, "--plateforme", "MBN", "--from", from, "--to", to]);
    if json {
        args.push("--json");
    }
    args.extend(extra);
    dnma(&args, None)
}

const EDITOR_TOKEN: &str = "jeton-editeur-mbn";

/// `dnma dashboards` over the data directory, MBN's editor configured, no view cache.
fn dashboards(dir: &std::path::Path) -> Collector {
    let config = dir.join("dashboards.toml");
    std::fs::write(
        &config,
        format!("[dashboards]\ncache_seconds = 0\n\n[[dashboards.editors]]\nname = \"Éditeur MBN\"\ntoken = \"{EDITOR_TOKEN}\"\nplateformes = [\"MBN\"]\n"),
    )
    .unwrap();
    Collector::spawn(&["dashboards", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap(), "--config", config.to_str().unwrap()])
}

/// The body of a dashboards page, read with the editor's token.
fn editor_get(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let answer = reqwest::Client::new().get(url).header("authorization", format!("Bearer {EDITOR_TOKEN}")).send().await.unwrap();
        assert!(answer.status().is_success(), "{url}: {}", answer.status());
        answer.text().await.unwrap()
    })
}

/// MBN's refused and recovered events of the week holding `day`, and the recovered ones by code,
/// from the conformance API.
fn refused_and_recovered(url: &str, day: &str) -> (u64, u64, serde_json::Value) {
    let view: serde_json::Value = serde_json::from_str(&editor_get(&format!("{url}/api/v1/conformite/MBN?debut={day}"))).unwrap();
    let monday = Period::Week.start_of(day.parse().unwrap()).to_string();
    let week = view["weeks"].as_array().unwrap().iter().find(|w| w["week"] == monday.as_str()).unwrap_or_else(|| panic!("no week {monday}: {view}"));
    (week["refused"].as_u64().unwrap(), week["recovered"].as_u64().unwrap(), week["recovered_by_code"].clone())
}

fn summary(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    json_lines(output).remove(0)
}

fn reason<'a>(summary: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    summary["by_reason"].as_array().unwrap().iter().find(|r| r["code"] == code).unwrap_or_else(|| panic!("no {code} in {summary}"))
}

/// On `day`: eleve-a's NOTES and JEUX, eleve-b's JEUX twice, eleve-c's CASINO.
fn recorded(day: &str) -> String {
    let mut lines = String::new();
    for (minute, user, service) in
        [(0, "eleve-a", "NOTES"), (2, "eleve-a", "JEUX"), (4, "eleve-b", "JEUX"), (6, "eleve-b", "JEUX"), (8, "eleve-c", "CASINO")]
    {
        let _ = writeln!(lines, "{day}T09:{minute:02}:00Z\t{}", xiti(user, service));
    }
    lines
}

#[test]
fn refused_hits_replayed_with_a_new_plan_count_on_their_day_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let day = (Utc::now() - Duration::days(3)).format("%Y-%m-%d").to_string();
    let imported = dnma(&["import", "--data-dir", data_dir, "-"], Some(recorded(&day).as_bytes()));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(nation_day(data_dir, &day), (1, 1), "only the NOTES hit was accepted");
    let dashboards = dashboards(dir.path());
    assert_eq!(refused_and_recovered(&dashboards.url, &day), (4, 0, serde_json::json!({})), "four refused, none recovered yet");

    // The shipped plan still refuses them: nothing replayed.
    let shipped = summary(&replay(data_dir, None, &day, &day, true));
    assert_eq!((shipped["dead_letters"].as_u64(), shipped["replayed"].as_u64(), shipped["still_refused"].as_u64()), (Some(4), Some(0), Some(4)));

    let plan = plan_with_jeux(dir.path());
    let first = summary(&replay(data_dir, Some(&plan), &day, &day, true));
    assert_eq!(first["plan_version"], "1.1.0");
    assert_eq!((first["dead_letters"].as_u64(), first["replayed"].as_u64(), first["still_refused"].as_u64()), (Some(4), Some(3), Some(1)), "{first}");
    let unknown = reason(&first, "unknown_service");
    assert_eq!((unknown["replayed"].as_u64(), unknown["still_refused"].as_u64()), (Some(3), Some(1)), "{first}");
    assert_eq!(first["refused_now"], serde_json::json!([["unknown_service", 1]]), "CASINO is still unknown");

    // Counted on the day they were received, with the pseudonyms they would have had.
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(nation_day(data_dir, &day), (2, 4), "eleve-a (NOTES and JEUX) and eleve-b");
    let hits = json_lines(&dnma(&["log", "tail", "--data-dir", data_dir, "-n", "100"], None));
    assert_eq!(hits.len(), 4);
    assert_eq!(hits[1]["record"]["visitor"], hits[0]["record"]["visitor"], "eleve-a's replayed hit has eleve-a's pseudonym");
    assert!(hits[1..].iter().all(|h| h["replayed_from"].is_u64() && h["record"]["plan_version"] == "1.1.0"), "{hits:?}");

    // The editor's page still counts the four refused as received, and says three were recovered.
    assert_eq!(refused_and_recovered(&dashboards.url, &day), (4, 3, serde_json::json!({"unknown_service": 3})));
    let page = editor_get(&format!("{}/conformite/MBN?debut={day}", dashboards.url));
    assert!(page.contains("Les refus sont comptés tels que reçus") && page.contains("unknown_service</code> : 4 (dont 3 récupérés)"), "{page}");
    let csv = editor_get(&format!("{}/conformite/MBN/rejets.csv?debut={day}", dashboards.url));
    assert!(csv.lines().next().unwrap().contains(";evenements_recuperes;") && csv.lines().any(|l| l.ends_with(";unknown_service;4;3")), "{csv}");

    // Again: nothing added, the figures unchanged; the table says so.
    let again = replay(data_dir, Some(&plan), &day, &day, false);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let table = String::from_utf8_lossy(&again.stdout);
    assert!(table.contains("4 dead letters: 0 replayed now, 1 still refused, 3 replayed before"), "{table}");
    assert!(table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["unknown_service", "4", "0", "1", "3"]), "{table}");
    assert_eq!(json_lines(&dnma(&["log", "tail", "--data-dir", data_dir, "-n", "100"], None)).len(), 4);
    assert!(dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None).status.success());
    assert_eq!(nation_day(data_dir, &day), (2, 4));
    assert_eq!(refused_and_recovered(&dashboards.url, &day).1, 3, "recovered once");
    drop(dashboards);

    // Bad input is named.
    let unknown_platform = dnma(&["dead-letters", "replay", "--data-dir", data_dir, "--plateforme", "ATLAS", "--from", &day, "--to", &day], None);
    let stderr = String::from_utf8_lossy(&unknown_platform.stderr);
    assert!(!unknown_platform.status.success() && stderr.contains("unknown platform \"ATLAS\"") && stderr.contains("MBN"), "{stderr}");
    let bad_date = dnma(&["dead-letters", "replay", "--data-dir", data_dir, "--plateforme", "MBN", "--from", "2026-13-01", "--to", &day], None);
    let stderr = String::from_utf8_lossy(&bad_date.stderr);
    assert!(!bad_date.status.success() && stderr.contains("--from"), "{stderr}");
    let reversed = dnma(&["dead-letters", "replay", "--data-dir", data_dir, "--plateforme", "MBN", "--from", &day, "--to", "2000-01-01"], None);
    assert!(String::from_utf8_lossy(&reversed.stderr).contains("is after --to 2000-01-01"));
    let missing_plan = replay(data_dir, Some("/nonexistent/plan.toml"), &day, &day, true);
    let stderr = String::from_utf8_lossy(&missing_plan.stderr);
    assert!(!missing_plan.status.success() && stderr.contains("loading plan /nonexistent/plan.toml"), "{stderr}");
    let no_log = dnma(
        &["dead-letters", "replay", "--data-dir", dir.path().join("empty").to_str().unwrap(), "--plateforme", "MBN", "--from", &day, "--to", &day],
        None,
    );
    assert!(String::from_utf8_lossy(&no_log.stderr).contains("no log in"), "{}", String::from_utf8_lossy(&no_log.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_replays_in_the_log_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[pipeline]\npoll_interval = \"200ms\"\n").unwrap();
    let server = Collector::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_dir, "--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    for (user, service) in [("eleve-a", "NOTES"), ("eleve-a", "JEUX"), ("eleve-b", "JEUX")] {
        let answer = client.get(format!("{}{}", server.url, xiti(user, service))).header("user-agent", UA).send().await.unwrap();
        assert!(answer.status().is_success());
    }
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive().to_string();
    let plan = plan_with_jeux(dir.path());
    let args =
        ["--plan", &plan, "dead-letters", "replay", "--data-dir", &data_dir, "--plateforme", "mbn", "--from", &today, "--to", &today, "--json"]
            .map(str::to_owned);
    let run = move || {
        let args = args.clone();
        tokio::task::spawn_blocking(move || dnma(&args.iter().map(String::as_str).collect::<Vec<_>>(), None))
    };
    let first = run().await.unwrap();
    assert!(String::from_utf8_lossy(&first.stderr).contains("the running server holds the log"), "{}", String::from_utf8_lossy(&first.stderr));
    let first = summary(&first);
    assert_eq!((first["replayed"].as_u64(), first["still_refused"].as_u64()), (Some(2), Some(0)), "{first}");
    let again = summary(&run().await.unwrap());
    assert_eq!((again["replayed"].as_u64(), again["already_replayed"].as_u64()), (Some(0), Some(2)), "{again}");

    // Its pipeline counts them; the replayed hits keep the client class of their request.
    let mut figures = (0, 0);
    for _ in 0..100 {
        figures = nation_day(&data_dir, &today);
        if figures == (2, 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(figures, (2, 3));
    let hits = json_lines(&dnma(&["log", "tail", "--data-dir", &data_dir, "-n", "100"], None));
    assert_eq!(hits.len(), 3);
    assert!(
        hits[1..].iter().all(|h| h["record"]["client"] == serde_json::json!({"device": "tablette", "os": "ios", "browser": "safari"})),
        "{hits:?}"
    );
    drop(server);
    assert_eq!(
        std::fs::read_dir(dir.path().join("replay-requests"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
            .count(),
        0
    );
}

#[test]
fn the_same_replay_on_a_kafka_log() {
    let brokers = match std::env::var("DNMA_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => brokers,
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the Kafka tests: DNMA_KAFKA_BROKERS is not set");
            eprintln!("skipped: set DNMA_KAFKA_BROKERS (scripts/kafka.sh)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("e2e-replay-{}-{nanos}", std::process::id());
    let config = dir.path().join("dnma.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic_prefix = \"{prefix}.\"\npartitions = 3\nsession_timeout = \"6s\"\n\n[pipeline]\nconsumer = \"{prefix}-pipeline\"\npoll_interval = \"1s\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let day = (Utc::now() - Duration::days(3)).format("%Y-%m-%d").to_string();
    let imported = dnma(&["import", "--data-dir", data_dir, "--config", config, "-"], Some(recorded(&day).as_bytes()));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));

    let plan = plan_with_jeux(dir.path());
    let first = summary(&replay_with(&["--config", config], data_dir, Some(&plan), &day, &day, true));
    assert_eq!((first["dead_letters"].as_u64(), first["replayed"].as_u64(), first["still_refused"].as_u64()), (Some(4), Some(3), Some(1)), "{first}");
    let again = summary(&replay_with(&["--config", config], data_dir, Some(&plan), &day, &day, true));
    assert_eq!((again["replayed"].as_u64(), again["already_replayed"].as_u64()), (Some(0), Some(3)), "{again}");

    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir, "--config", config], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(nation_day(data_dir, &day), (2, 4), "the NOTES hit and the three replayed ones, once");
    let dashboards = dashboards(dir.path());
    assert_eq!(refused_and_recovered(&dashboards.url, &day), (4, 3, serde_json::json!({"unknown_service": 3})), "the marks, from a Kafka partition");
}
