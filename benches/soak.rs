//! Soak harness: the real `dnma serve` (collector + in-process pipeline + dashboards, embedded
//! default, bench profile) under a steady open-loop load for a long time, then checks that
//! every acknowledged hit is counted exactly once in the rollups.
//!
//! Load: `SOAK_RATE` bodies of 20 SDK events per second (default 1,000, i.e. 20,000 hits/s),
//! each event a unique page view of one of 50,000 pupils, for `SOAK_SECONDS` (default 1,800).
//! With `SOAK_COHORT_SECONDS=N` the 50,000 pupils are replaced by 50,000 others every N seconds
//! (pupils come and go, as in a school day) instead of staying all along.
//! Every minute it prints the server's RSS, the requests acknowledged and refused, and the
//! counting lag (`dnma_counting_lag_seconds` of `/metrics`, the newest acknowledged hit's
//! receive time minus the newest counted one's), which it samples every 5 s; at the end it
//! prints the lag's p50 / p95 / max over the first 5 minutes, 5 to 15 and 15 to 30. At the end
//! it stops the server with SIGTERM (graceful: requests in flight finish, the pipeline stops,
//! the log closes), runs `dnma pipeline run --once` on the data directory, and compares the
//! nation's page views for the school year with the events acknowledged: they must be equal.
//!
//! Run: `SOAK_SECONDS=1800 cargo bench --bench soak` (figures in docs/RELIABILITY.md).
#![allow(missing_docs, clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

#[allow(dead_code)] // shared with the distributed bench, which counts CPU seconds
mod support;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{env_or, measuring, memory_kib, spawn_dnma};

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const EVENTS_PER_BODY: u64 = 20;

fn body(request: u64, cohort: u64) -> String {
    let event = |i: u64| {
        format!(
            r#"{{"name":"page.display","data":{{"service":"CAHIER_TEXTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"u{}","page":"cahier_textes","pageview_id":"soak-{request}-{i}","event_collection_platform":"js","event_collection_version":"6.17.0"}}}}"#,
            cohort * 50_000 + (request * EVENTS_PER_BODY + i) % 50_000
        )
    };
    format!(r#"{{"events":[{}]}}"#, (0..EVENTS_PER_BODY).map(event).collect::<Vec<_>>().join(","))
}

fn rss_mib(pid: u32) -> u64 {
    memory_kib(pid, "VmRSS:") / 1024
}

fn dnma(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dnma")).args(args).output().expect("dnma runs")
}

fn main() {
    if !measuring("SOAK_SECONDS=1800 cargo bench --bench soak") {
        return;
    }
    let seconds = env_or("SOAK_SECONDS", 1800);
    let rate = env_or("SOAK_RATE", 1000);
    let cohort_requests = env_or("SOAK_COHORT_SECONDS", 0) * rate;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[pipeline]\npoll_interval = \"10s\"\n").unwrap();
    let (mut server, base) = spawn_dnma(&["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_dir, "--config", config.to_str().unwrap()]);
    let url = format!("{base}/event?s=612345");
    let pid = server.id();
    println!(
        "soak: {} hits/s ({rate} bodies of {EVENTS_PER_BODY}) for {seconds} s on `dnma serve` (pid {pid}), start RSS {} MiB",
        rate * EVENTS_PER_BODY,
        rss_mib(pid)
    );

    let lags = Arc::new(std::sync::Mutex::new(Vec::<(f64, f64)>::new()));
    let ok = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        // Idle connections are dropped before the server's keep-alive timeout (10 s) closes
        // them, as browsers do: reusing a connection the server is closing fails the request.
        let client = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5)).build().unwrap();
        let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut in_flight = tokio::task::JoinSet::new();
        let mut next_report = Instant::now() + Duration::from_secs(60);
        let mut rss = Vec::new();
        let sampler = tokio::spawn(sample_lag(client.clone(), format!("{base}/metrics"), started, Arc::clone(&lags)));
        for n in 0..rate * seconds {
            tick.tick().await;
            let (client, url, acknowledged, failed) = (client.clone(), url.clone(), Arc::clone(&ok), Arc::clone(&refused));
            in_flight.spawn(async move {
                let answer = client
                    .post(&url)
                    .header("content-type", "text/plain;charset=UTF-8")
                    .header("user-agent", UA)
                    .body(body(n, n.checked_div(cohort_requests).unwrap_or(0)))
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status() == 200 => {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("  refused: HTTP {}", r.status());
                    }
                    Err(error) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("  failed: {error:?}");
                    }
                }
            });
            while in_flight.try_join_next().is_some() {}
            if Instant::now() >= next_report {
                next_report += Duration::from_secs(60);
                let now = rss_mib(pid);
                rss.push(now);
                let lag = lags.lock().unwrap().last().map_or_else(|| "none yet".to_owned(), |(_, lag)| format!("{lag:.1} s"));
                println!(
                    "  {:>5.0} s: RSS {now} MiB, {} bodies acknowledged, {} refused or failed, {} in flight, counting lag {lag}",
                    started.elapsed().as_secs_f64(),
                    ok.load(Ordering::Relaxed),
                    refused.load(Ordering::Relaxed),
                    in_flight.len()
                );
            }
        }
        while in_flight.join_next().await.is_some() {}
        sampler.abort();
        if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
            println!("  RSS after 1 min {first} MiB, at the end {last} MiB, max {} MiB", rss.iter().max().unwrap());
        }
        report_lag(&lags.lock().unwrap());
    });
    let elapsed = started.elapsed();
    let acknowledged = ok.load(Ordering::Relaxed) * EVENTS_PER_BODY;
    println!(
        "load done in {:.0} s: {acknowledged} hits acknowledged ({:.0} hits/s), {} bodies refused or failed",
        elapsed.as_secs_f64(),
        acknowledged as f64 / elapsed.as_secs_f64(),
        refused.load(Ordering::Relaxed)
    );

    let stop = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let status = server.wait().unwrap();
    println!("graceful stop: {status} in {:.1} s", stop.elapsed().as_secs_f64());
    check_counted(&data_dir, acknowledged);
    println!("soak OK");
}

/// Samples the server's counting lag every 5 s into `lags` (seconds since `started`, lag in
/// seconds); a sample without a lag (nothing counted yet) is left out.
async fn sample_lag(client: reqwest::Client, url: String, started: Instant, lags: Arc<std::sync::Mutex<Vec<(f64, f64)>>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let Ok(answer) = client.get(&url).send().await else { continue };
        let text = answer.text().await.unwrap_or_default();
        let lag = text.lines().find_map(|l| l.strip_prefix("dnma_counting_lag_seconds ")).and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(lag) = lag {
            lags.lock().unwrap().push((started.elapsed().as_secs_f64(), lag));
        }
    }
}

/// Prints the counting lag's p50 / p95 / max over the first 5 minutes, 5 to 15 and 15 to 30
/// (and after 30 in a longer run).
fn report_lag(lags: &[(f64, f64)]) {
    for (from, to) in [(0.0, Some(300.0)), (300.0, Some(900.0)), (900.0, Some(1800.0)), (1800.0, None)] {
        let mut window: Vec<f64> = lags.iter().filter(|(at, _)| *at >= from && to.is_none_or(|to| *at < to)).map(|(_, lag)| *lag).collect();
        if window.is_empty() {
            continue;
        }
        window.sort_by(f64::total_cmp);
        let at = |q: f64| window[((window.len() - 1) as f64 * q).round() as usize];
        let until = to.map_or_else(|| "end".to_owned(), |to| format!("{:.0} min", to / 60.0));
        println!(
            "  counting lag {:.0} min to {until}: p50 {:.1} s, p95 {:.1} s, max {:.1} s ({} samples)",
            from / 60.0,
            at(0.5),
            at(0.95),
            window[window.len() - 1],
            window.len()
        );
    }
}

/// Catches the pipeline up, then checks the rollups count exactly the acknowledged hits.
fn check_counted(data_dir: &str, acknowledged: u64) {
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive().to_string();
    let query = dnma(&[
        "query",
        "--data-dir",
        data_dir,
        "--level",
        "nation",
        "--period",
        "school_year",
        "--from",
        &today,
        "--to",
        &today,
        "--format",
        "json",
    ]);
    assert!(query.status.success(), "{}", String::from_utf8_lossy(&query.stderr));
    let counted: u64 = String::from_utf8_lossy(&query.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["page_views"].as_u64().unwrap())
        .sum();
    println!("counted in the rollups: {counted} page views; acknowledged: {acknowledged}");
    assert_eq!(counted, acknowledged, "every acknowledged hit is counted exactly once");
}
