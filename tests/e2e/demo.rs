//! `dnma demo` as a newcomer runs it: its history of the school year so far deploys each ENT
//! project over its perimeter school after school, so the project page's cumulative deployment
//! rate rises week by week, below its target, with no school outside the perimeter.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use serde_json::Value;

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
}
