//! Load harness of the collector: starts the real `dnma collector` (bench profile) on loopback
//! with a temp data dir and drives it from this process over HTTP/1.1 keep-alive connections.
//! Every request carries unique events (so none is dropped as a retry) and is answered only
//! once durable (group-commit fsync), so the figures are accepted-and-durable hits.
//!
//! Scenarios: (1) closed loop, 20-event SDK bodies; (2) closed loop, 1-event bodies;
//! (3) open loop at a fixed 20,000 hits/s (1,000 bodies of 20 events per second), latency.
//! Then the collector's peak RSS (`VmHWM`). Client and server share the machine's cores.
//!
//! Run: `cargo bench --bench collector_load` (env `LOAD_SECONDS`, default 10; `LOAD_CLIENTS`,
//! default 64; `LOAD_OPEN_RATE` bodies/s, default 1000; `LOAD_ONLY` = closed20|closed1|open;
//! `LOAD_URL` = a collector started by hand instead of one per scenario; `LOAD_CONFIG` = a dnma
//! config file for the collector, e.g. `[log] kind = "kafka"` to measure the Kafka path).
#![allow(missing_docs, clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

#[allow(dead_code)] // shared with the distributed bench, which counts CPU seconds
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{env_or, measuring, memory_kib, spawn_dnma};

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Differs between runs, so a run against a collector started by hand (`LOAD_URL`) that an
/// earlier run already fed sends new bodies, not retries the collector would not store.
fn run_id() -> u128 {
    static RUN: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *RUN.get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default())
}

fn body(events: usize, request: u64) -> String {
    let run = run_id();
    let event = |i: usize| {
        format!(
            r#"{{"name":"page.display","data":{{"service":"CAHIER_TEXTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"u{}","user_category":"ELEVE","page":"cahier_textes","site_level2":"0350122T","pageview_id":"pv-{run}-{request}-{i}","device_timestamp_utc":1763888400.5,"event_collection_platform":"js","event_collection_version":"6.17.0","device_screen_width":1920,"device_screen_height":1080,"visitor_privacy_mode":"exempt"}}}}"#,
            request % 5000
        )
    };
    format!(r#"{{"events":[{}]}}"#, (0..events).map(event).collect::<Vec<_>>().join(","))
}

struct Outcome {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }
}

async fn send(client: &reqwest::Client, url: &str, events: usize, n: u64) -> bool {
    let response = client.post(url).header("content-type", "text/plain;charset=UTF-8").header("user-agent", UA).body(body(events, n)).send().await;
    matches!(response, Ok(r) if r.status() == 200)
}

/// `clients` tasks each sending as fast as answers come.
async fn closed_loop(url: &str, events: usize, clients: u64, seconds: u64, counter: Arc<AtomicU64>) -> Outcome {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, counter) = (client.clone(), url.to_owned(), Arc::clone(&counter));
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    if send(&client, &url, events, n).await {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut outcome = Outcome { requests: 0, errors: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for task in tasks {
        let (latencies, errors) = task.await.unwrap();
        outcome.requests += latencies.len() as u64;
        outcome.errors += errors;
        outcome.latencies.extend(latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// Requests started at a fixed rate whatever the answers (no coordinated omission).
async fn open_loop(url: &str, events: usize, per_second: u64, seconds: u64, counter: Arc<AtomicU64>) -> Outcome {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for _ in 0..per_second * seconds {
        let scheduled = tick.tick().await;
        let (client, url, n) = (client.clone(), url.to_owned(), counter.fetch_add(1, Ordering::Relaxed));
        tasks.push(tokio::spawn(async move { send(&client, &url, events, n).await.then(|| scheduled.elapsed()) }));
    }
    let mut outcome = Outcome { requests: 0, errors: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for task in tasks {
        match task.await.unwrap() {
            Some(latency) => outcome.latencies.push(latency),
            None => outcome.errors += 1,
        }
    }
    outcome.requests = outcome.latencies.len() as u64;
    outcome.elapsed = started.elapsed();
    outcome
}

fn report(name: &str, events: usize, mut o: Outcome) {
    let secs = o.elapsed.as_secs_f64();
    println!(
        "{name}: {:.0} requests/s, {:.0} hits/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        o.requests as f64 / secs,
        (o.requests * events as u64) as f64 / secs,
        o.percentile(0.50).as_secs_f64() * 1e3,
        o.percentile(0.99).as_secs_f64() * 1e3,
        o.errors
    );
}

fn main() {
    if !measuring("cargo bench --bench collector_load") {
        return;
    }
    let seconds = env_or("LOAD_SECONDS", 10);
    let clients = env_or("LOAD_CLIENTS", 64);
    let only = std::env::var("LOAD_ONLY").unwrap_or_default();
    let open_rate = env_or("LOAD_OPEN_RATE", 1000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    // Each scenario gets a fresh collector and data dir, so one's disk backlog does not weigh
    // on the next.
    for scenario in ["closed20", "closed1", "open"] {
        if !only.is_empty() && only != scenario {
            continue;
        }
        if let Ok(external) = std::env::var("LOAD_URL") {
            // A collector started by hand (e.g. pinned to its own core with taskset).
            let url = format!("{}/event?s=612345", external.trim_end_matches('/'));
            let counter = Arc::clone(&counter);
            runtime.block_on(async {
                let name = format!("{scenario} against {external}");
                match scenario {
                    "closed20" => report(&name, 20, closed_loop(&url, 20, clients, seconds, counter).await),
                    "closed1" => report(&name, 1, closed_loop(&url, 1, clients, seconds, counter).await),
                    _ => report(&name, 20, open_loop(&url, 20, open_rate, seconds, counter).await),
                }
            });
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["collector", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()];
        let config = std::env::var("LOAD_CONFIG").unwrap_or_default();
        if !config.is_empty() {
            args.extend(["--config", config.as_str()]);
        }
        let (mut child, base) = spawn_dnma(&args);
        let url = format!("{base}/event?s=612345");
        let counter = Arc::clone(&counter);
        runtime.block_on(async {
            match scenario {
                "closed20" => report(&format!("20-event bodies, {clients} clients"), 20, closed_loop(&url, 20, clients, seconds, counter).await),
                "closed1" => report(&format!("1-event bodies, {clients} clients"), 1, closed_loop(&url, 1, clients, seconds, counter).await),
                _ => {
                    let name = format!("open loop, {} hits/s ({open_rate} bodies of 20 per second)", open_rate * 20);
                    report(&name, 20, open_loop(&url, 20, open_rate, seconds, counter).await);
                }
            }
        });
        println!("  collector RSS: peak {} MiB", memory_kib(child.id(), "VmHWM:") / 1024);
        let _ = child.kill();
        let _ = child.wait();
    }
}
