//! `dnma demo` as a newcomer runs it: its history of the school year so far deploys each ENT
//! project over its perimeter school after school, so the project page's cumulative deployment
//! rate rises week by week, below its target, with no school outside the perimeter; and its live
//! traffic continues that history: today's hits come from the same projects on the same
//! platforms, from schools inside their perimeters.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use serde_json::Value;

use super::{dnma, json_lines};

/// The demo's projects and their platforms, as its history writes them.
const DEMO_ENTS: [(&str, &str); 4] = [("ONE", "ONE_1D"), ("TOUTATICE", "ENT_BZH"), ("MBN", "MON_BUREAU_NUMERIQUE"), ("MONLYCEE", "MONLYCEE_NET")];

/// A running `dnma demo`, killed when dropped.
struct Demo {
    child: Child,
    url: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo(data_dir: &std::path::Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dnma"))
        .args(["demo", "--listen", "127.0.0.1:0", "--rate", "5", "--data-dir", data_dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnma demo starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Its progress lines go on: read them so that the pipe never fills.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Demo { child, url: first.trim().to_owned() }
}

#[tokio::test]
async fn the_demo_projects_ramp_up_over_their_perimeters() {
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive();
    let year_start = pipeline::Period::SchoolYear.start_of(today);
    let complete_weeks = (today - year_start).num_days() / 7;
    if complete_weeks < 4 {
        eprintln!("skipped: {today} is too early in the school year for the demo's history to show a ramp-up");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path());
    assert!(demo.url.starts_with("http://127.0.0.1:"), "the address first: {}", demo.url);
    // The history is in the log before the demo serves: what comes after is live traffic.
    let history = hits_in_log(dir.path());
    let client = reqwest::Client::new();
    let last_week = pipeline::Period::Week.start_of(today - Days::new(7));
    let url = format!("{}/api/v1/projets/ONE?periode=semaine&debut={last_week}", demo.url);
    // The in-process pipeline computes the history first.
    let deadline = Instant::now() + Duration::from_secs(600);
    let project = loop {
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let counted = answer["deployment"]
            .as_array()
            .is_some_and(|weeks| weeks.iter().any(|w| w["week"] == last_week.to_string() && w["perimeter_adopted"].as_u64().unwrap_or(0) > 0));
        if counted {
            break answer;
        }
        assert!(Instant::now() < deadline, "the demo's history was not counted in 10 minutes: {answer:#}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let perimeter = &project["perimeter"];
    assert_eq!(perimeter["description"], "écoles publiques du département 94 (Val-de-Marne)", "{perimeter:#}");
    assert_eq!(perimeter["active_outside"], 0, "ONE deploys on its perimeter only: {perimeter:#}");
    let weeks: Vec<&Value> = project["deployment"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["incomplete"] == false && w["week"].as_str().unwrap() <= last_week.to_string().as_str())
        .collect();
    let cumulative: Vec<f64> = weeks.iter().map(|w| w["cumulative_rate"].as_f64().unwrap()).collect();
    assert!(cumulative.windows(2).all(|p| p[0] <= p[1]), "the cumulative rate never falls: {cumulative:?}");
    let (first, last) = (cumulative[0], *cumulative.last().unwrap());
    assert!(first > 0.0 && first < last, "schools join week after week: {cumulative:?}");
    assert!(last <= 0.7, "the demo opens ONE in 70 % of its perimeter at most: {cumulative:?}");
    assert!(perimeter["target"]["rate"].as_f64().is_some(), "a target to steer by: {perimeter:#}");

    live_traffic_continues_the_history(&demo, dir.path(), history).await;
}

/// The hits in the demo's log (`dnma log stats` beside it).
fn hits_in_log(data_dir: &std::path::Path) -> u64 {
    let stats = dnma(&["log", "stats", "--data-dir", data_dir.to_str().unwrap()], None);
    assert!(stats.status.success(), "{}", String::from_utf8_lossy(&stats.stderr));
    json_lines(&stats)[0]["hits"].as_u64().unwrap()
}

/// The live hits (those after the first `history` of the log) name the history's projects and
/// platforms; today's figures name them only; no project has a school outside its perimeter.
async fn live_traffic_continues_the_history(demo: &Demo, data_dir: &std::path::Path, history: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut hits = hits_in_log(data_dir);
    while hits < history + 30 {
        assert!(Instant::now() < deadline, "no 30 live hits in 2 minutes");
        tokio::time::sleep(Duration::from_secs(1)).await;
        hits = hits_in_log(data_dir);
    }
    let data_dir = data_dir.to_str().unwrap();
    let live = json_lines(&dnma(&["log", "tail", "--data-dir", data_dir, "-n", &(hits - history).to_string()], None));
    assert!(live.len() >= 30);
    for hit in &live {
        let ent = (hit["record"]["projet"].as_str().unwrap(), hit["record"]["plateforme"].as_str().unwrap());
        assert!(DEMO_ENTS.contains(&ent), "a live hit of {ent:?}, not one of the history's ENTs");
    }

    // Counted by the in-process pipeline: today's platforms are the history's.
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive().to_string();
    let of_today = |level: &str| {
        let out =
            dnma(&["query", "--data-dir", data_dir, "--level", level, "--period", "day", "--from", &today, "--to", &today, "--format", "json"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        json_lines(&out).iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let platforms = loop {
        let platforms = of_today("plateforme");
        if !platforms.is_empty() {
            break platforms;
        }
        assert!(Instant::now() < deadline, "today's hits were not counted in 2 minutes");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(platforms.iter().all(|p| DEMO_ENTS.iter().any(|(_, platform)| platform == p)), "today's platforms: {platforms:?}");
    let projects = of_today("projet");
    assert!(!projects.is_empty() && projects.iter().all(|p| DEMO_ENTS.iter().any(|(projet, _)| projet == p)), "today's projects: {projects:?}");
    let client = reqwest::Client::new();
    for (projet, _) in DEMO_ENTS {
        let url = format!("{}/api/v1/projets/{projet}?periode=semaine&debut={today}", demo.url);
        let answer: Value = serde_json::from_str(&client.get(&url).send().await.unwrap().text().await.unwrap()).unwrap();
        assert_eq!(answer["perimeter"]["active_outside"], 0, "{projet}: no school outside its perimeter, today included: {:#}", answer["perimeter"]);
    }
}
