//! `dnma demo-traffic` (and the traffic half of `dnma demo`): realistic ENT requests sent over
//! real HTTP, both wire formats, from the schools where the demo's ENT projects are deployed
//! today, each on its project's platform ([`LiveSchools`]: the same deployments as the demo's
//! history, so today's hits continue it): visits of several pages with think times
//! (`dnma::sessions`), users in proportion to enrolment, a daily and weekly rhythm (the rate is
//! the peak; at night it falls to [`RHYTHM_FLOOR`] of it so a demo always shows traffic), by a
//! few concurrent clients with browser User-Agents of every device class.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Timelike};
use dnma::sample::SampleGenerator;
use dnma::sessions::{rhythm, SessionTraffic};
use pipeline::synthetic::Deployment;
use tagging_plan::{Plan, Referential};

use super::demo_history;

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

/// The schools the traffic comes from: those where a demo project is deployed on a day.
pub struct LiveSchools {
    referential: Arc<Referential>,
    deployments: Vec<Deployment>,
    limit: Option<usize>,
}

impl LiveSchools {
    /// The schools of the demo's deployments ([`demo_history::demo_deployments`]) open on
    /// `day`, at most `limit` of them (spread over them) when given.
    pub fn on(plan: &Plan, referential: Arc<Referential>, day: chrono::NaiveDate, limit: Option<usize>) -> anyhow::Result<Self> {
        let year = pipeline::Period::SchoolYear.start_of(day);
        let deployments: Vec<Deployment> = demo_history::demo_deployments(plan, &referential, year)?.into_iter().filter(|d| d.since <= day).collect();
        anyhow::ensure!(!deployments.is_empty(), "no school of the demo's projects is deployed on {day}");
        Ok(LiveSchools { referential, deployments, limit })
    }

    /// A request generator over these schools.
    fn generator(&self, seed: u64) -> anyhow::Result<SampleGenerator> {
        let generator =
            SampleGenerator::deployed(seed, &self.referential, &self.deployments).context("none of the deployed schools is in the referential")?;
        Ok(generator.limit_schools(self.limit))
    }
}

/// Sends `rate` requests per second for `duration` (forever when `None`) to `url`, from `schools`.
pub async fn run(
    url: &str,
    schools: &LiveSchools,
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
        let mut lines = SessionTraffic::new(schools.generator(seed.wrapping_add(worker))?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tagging_plan::batch::LineValidator;
    use tagging_plan::Validator;

    #[test]
    fn live_hits_come_from_the_schools_deployed_that_day_on_their_projects_platforms() {
        let plan = Plan::shipped();
        let referential = Arc::new(Referential::shipped().clone());
        let (year, day) = (chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(), chrono::NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        let all = demo_history::demo_deployments(&plan, &referential, year).unwrap();
        let live = LiveSchools::on(&plan, Arc::clone(&referential), day, None).unwrap();
        assert!(live.deployments.iter().all(|d| d.since <= day) && live.deployments.len() < all.len(), "only the schools open by then");
        let open: std::collections::HashMap<&str, &Deployment> = live.deployments.iter().map(|d| (d.uai.as_str(), d)).collect();

        let mut lines = LineValidator::new(Validator::new(&plan), None);
        let mut generator = live.generator(3).unwrap();
        let (mut hits, mut platforms) = (0, std::collections::BTreeSet::new());
        for n in 0..3_000 {
            for outcome in lines.line(n + 1, &generator.line()) {
                let Some(hit) = outcome.hit else { continue };
                let deployed = open.get(hit.uai.as_str()).unwrap_or_else(|| panic!("{} is not deployed on {day}", hit.uai));
                assert_eq!(
                    (hit.projet.as_str(), hit.plateforme.as_str(), hit.exploitant.as_str()),
                    (deployed.projet, deployed.plateforme, deployed.exploitant)
                );
                platforms.insert(hit.plateforme);
                hits += 1;
            }
        }
        assert!(hits > 2_000, "{hits} valid hits");
        assert_eq!(
            platforms.into_iter().collect::<Vec<_>>(),
            ["ENT_BZH", "MONLYCEE_NET", "MON_BUREAU_NUMERIQUE", "ONE_1D"],
            "the history's platforms, all of them"
        );

        let few = LiveSchools::on(&plan, Arc::clone(&referential), day, Some(5)).unwrap();
        let mut generator = few.generator(3).unwrap();
        let schools: std::collections::BTreeSet<String> = (0..500).map(|_| generator.visitor().uai().to_owned()).collect();
        assert!(schools.len() <= 5 && schools.iter().all(|uai| open.contains_key(uai.as_str())), "{schools:?}");
        let before = chrono::NaiveDate::from_ymd_opt(2026, 8, 31).unwrap();
        assert!(LiveSchools::on(&plan, referential, before, None).unwrap().deployments.len() > live.deployments.len(), "the year before, all");
    }
}
