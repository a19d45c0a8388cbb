//! `dnma demo-traffic` (and the traffic half of `dnma demo`): realistic ENT requests sent over
//! real HTTP, both wire formats, from the shipped schools: visits of several pages with think
//! times (`dnma::sessions`), users in proportion to enrolment, a daily and weekly rhythm (the
//! rate is the peak; at night it falls to [`RHYTHM_FLOOR`] of it so a demo always shows
//! traffic), by a few concurrent clients with browser User-Agents of every device class.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Timelike};
use dnma::sample::SampleGenerator;
use dnma::sessions::{rhythm, SessionTraffic};

/// User-Agents of the devices seen in ENT audiences.
const USER_AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
];

/// Least share of the peak rate sent, whatever the hour.
pub const RHYTHM_FLOOR: f64 = 0.25;

/// Clients sending at once.
const CLIENTS: u64 = 8;

/// What was sent.
#[derive(Default)]
pub struct TrafficCounts {
    /// Requests answered 2xx.
    pub ok: AtomicU64,
    /// Requests answered 4xx (the deliberately broken ones).
    pub refused: AtomicU64,
    /// Requests that failed (5xx, connection errors).
    pub failed: AtomicU64,
}

/// Sends `rate` requests per second for `duration` (forever when `None`) to `url`.
pub async fn run(
    url: &str,
    schools: Option<usize>,
    rate: u64,
    duration: Option<Duration>,
    seed: u64,
    counts: Arc<TrafficCounts>,
) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().context("building the HTTP client")?;
    let deadline = duration.map(|d| Instant::now() + d);
    let per_client = Duration::from_nanos(CLIENTS * 1_000_000_000 / rate.max(1));
    let mut tasks = Vec::new();
    for worker in 0..CLIENTS {
        let (client, base, counts) = (client.clone(), base.clone(), Arc::clone(&counts));
        let mut lines = SessionTraffic::new(SampleGenerator::new(seed.wrapping_add(worker)).limit_schools(schools));
        let started = Instant::now();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(per_client);
            let mut n = 0usize;
            while deadline.is_none_or(|d| Instant::now() < d) {
                tick.tick().await;
                let paris = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris);
                let share = rhythm(paris.hour(), paris.weekday().number_from_monday()).max(RHYTHM_FLOOR);
                if thinned_out(n, share) {
                    n += 1;
                    continue;
                }
                let line = lines.next_line(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
                let user_agent = USER_AGENTS[(n + usize::try_from(worker).unwrap_or(0)) % USER_AGENTS.len()];
                n += 1;
                let request = match line.split_once('\t') {
                    Some((path, body)) => {
                        client.post(format!("{base}{path}")).header("content-type", "text/plain;charset=UTF-8").body(body.to_owned())
                    }
                    None => client.get(format!("{base}{line}")),
                };
                match request.header("user-agent", user_agent).send().await {
                    Ok(r) if r.status().is_success() => counts.ok.fetch_add(1, Ordering::Relaxed),
                    Ok(r) if r.status().is_client_error() => counts.refused.fetch_add(1, Ordering::Relaxed),
                    _ => counts.failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(())
}

/// Deterministic thinning: tick `n` is skipped so that about `share` of the ticks are kept,
/// spread evenly.
fn thinned_out(n: usize, share: f64) -> bool {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let permille = (share.clamp(0.0, 1.0) * 1000.0).round() as usize;
    (n + 1) * permille / 1000 == n * permille / 1000
}
