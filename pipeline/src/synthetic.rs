//! Deterministic synthetic traffic for the reference tests and the benchmarks: accepted hits as the
//! collector stores them, from real schools of the shipped referential (several académies,
//! overseas ones included, 1st and 2nd degree), visitors with the five profiles, some of them in
//! two schools, sessions of several hits with gaps around the visit timeout, visits across
//! midnight, TIERS tools, clicks, and a share of hits arriving late (out of time order).

use chrono::{DateTime, NaiveDate};
use collector::pseudonym::Pseudonym;
use collector::record::StoredHit;
use collector::useragent::ClientClass;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tagging_plan::{Plan, Referential, WireFormat};

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    /// Random seed (same seed, same hits).
    pub seed: u64,
    /// Hits to generate (at least; the last session is completed).
    pub hits: usize,
    /// Schools drawn from the referential.
    pub schools: usize,
    /// Visitors per school.
    pub visitors_per_school: usize,
    /// First day of traffic.
    pub first_day: NaiveDate,
    /// Number of days.
    pub days: u32,
    /// Share of hits moved to the end of the arrival order (late hits), in percent.
    pub late_percent: u32,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            seed: 42,
            hits: 10_000,
            schools: 60,
            visitors_per_school: 40,
            first_day: NaiveDate::from_ymd_opt(2026, 8, 24).expect("date"),
            days: 21,
            late_percent: 3,
        }
    }
}

struct Visitor {
    id: Pseudonym,
    schools: Vec<usize>,
    profil: &'static str,
    client: ClientClass,
}

const PROFILES: [(&str, u32); 5] = [("ELEVE", 70), ("PARENT", 14), ("ENSEIGNANT", 11), ("ADMIN_VIE_SCOL_TECH", 3), ("AUTRE", 2)];
const CLIENTS: [(&str, &str, &str); 6] = [
    ("ordinateur", "windows", "chrome"),
    ("ordinateur", "windows", "edge"),
    ("smartphone", "android", "chrome mobile"),
    ("smartphone", "ios", "safari"),
    ("tablette", "ios", "safari"),
    ("ordinateur", "linux", "firefox"),
];
const PROJECTS: [(&str, &str, &str); 4] = [
    ("TOUTATICE", "ENT-BZH", "REGION-BRETAGNE"),
    ("MONLYCEE", "MONLYCEE-NET", "OPEN-DIGITAL-EDUCATION"),
    ("ONE", "ONE-1D", "OPEN-DIGITAL-EDUCATION"),
    ("MBN", "MON-BUREAU-NUMERIQUE", "KOSMOS"),
];
const TOOLS: [&str; 3] = ["PEARLTREES", "LALILO", "QWANT-JUNIOR"];

fn weighted<'a>(rng: &mut StdRng, choices: &'a [(&'a str, u32)]) -> &'a str {
    let total: u32 = choices.iter().map(|c| c.1).sum();
    let mut pick = rng.random_range(0..total);
    for (value, weight) in choices {
        if pick < *weight {
            return value;
        }
        pick -= weight;
    }
    choices[0].0
}

/// Schools, visitors and ENT platforms that traffic is drawn from.
pub struct Population {
    schools: Vec<School>,
    visitors: Vec<Visitor>,
    services: Vec<(String, bool)>,
    plan_version: String,
}

/// A school of the population and its ENT.
struct School {
    uai: String,
    ent: (&'static str, &'static str, &'static str),
    /// The first day its ENT is used (none: from the first day of traffic).
    since: Option<NaiveDate>,
}

/// A school that opened an ENT to its users on a day: what a deployment that ramps up over the
/// school year is made of ([`Population::deployed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The school's UAI.
    pub uai: String,
    /// ENT project.
    pub projet: &'static str,
    /// ENT platform.
    pub plateforme: &'static str,
    /// ENT operator.
    pub exploitant: &'static str,
    /// The first day its users visit.
    pub since: NaiveDate,
}

impl Population {
    /// Draws `spec.schools` schools spread over the referential and their visitors.
    pub fn new(spec: &TrafficSpec, plan: &Plan, referential: &Referential) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let mut all: Vec<&tagging_plan::referential::School> = referential.schools().filter(|s| s.ouvert).collect();
        all.sort_by(|a, b| a.uai.cmp(&b.uai));
        let step = (all.len() / spec.schools.max(1)).max(1);
        let schools: Vec<School> = all
            .into_iter()
            .step_by(step)
            .take(spec.schools)
            .map(|s| School { uai: s.uai.clone(), ent: PROJECTS[s.uai.bytes().map(usize::from).sum::<usize>() % PROJECTS.len()], since: None })
            .collect();
        Self::of_schools(spec, plan, schools, &mut rng)
    }

    /// The visitors of schools that each opened an ENT on a day: a school sends no hit before.
    pub fn deployed(spec: &TrafficSpec, plan: &Plan, deployments: Vec<Deployment>) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let schools =
            deployments.into_iter().map(|d| School { uai: d.uai, ent: (d.projet, d.plateforme, d.exploitant), since: Some(d.since) }).collect();
        Self::of_schools(spec, plan, schools, &mut rng)
    }

    fn of_schools(spec: &TrafficSpec, plan: &Plan, schools: Vec<School>, rng: &mut StdRng) -> Self {
        let services = plan.nomenclatures()["services"].values.iter().map(|v| (v.code.clone(), v.code.starts_with("RESSOURCE"))).collect();
        let mut visitors = Vec::with_capacity(schools.len() * spec.visitors_per_school);
        for school in 0..schools.len() {
            for v in 0..spec.visitors_per_school {
                let mut id = [0u8; 16];
                rng.fill(&mut id);
                let mut in_schools = vec![school];
                if v % 17 == 0 {
                    in_schools.push(rng.random_range(0..schools.len()));
                }
                let (device, os, browser) = CLIENTS[rng.random_range(0..CLIENTS.len())];
                visitors.push(Visitor {
                    id: Pseudonym(id),
                    schools: in_schools,
                    profil: weighted(rng, &PROFILES),
                    client: ClientClass { device: device.into(), os: os.into(), browser: browser.into() },
                });
            }
        }
        Population { schools, visitors, services, plan_version: plan.version().to_owned() }
    }

    /// Sessions of this population's visitors over `days` days from `first_day`, at least `hits`
    /// hits, in arrival order: mostly in time order, `late_percent` of them at the end.
    pub fn hits(&self, seed: u64, hits: usize, first_day: NaiveDate, days: u32, late_percent: u32) -> Vec<StoredHit> {
        let mut rng = StdRng::seed_from_u64(seed);
        let midnight_ms = first_day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
        let mut out: Vec<StoredHit> = Vec::with_capacity(hits + 32);
        // Draws that fall before a school's ENT opened are dropped; give up on days when (almost)
        // no school is open yet.
        let mut draws_left = hits.saturating_mul(50).max(1_000);
        while out.len() < hits && draws_left > 0 {
            draws_left -= 1;
            let visitor = &self.visitors[rng.random_range(0..self.visitors.len())];
            let school = &self.schools[visitor.schools[rng.random_range(0..visitor.schools.len())]];
            let (projet, plateforme, exploitant) = school.ent;
            let day = i64::from(rng.random_range(0..days.max(1)));
            if school.since.is_some_and(|since| first_day + chrono::Days::new(day.unsigned_abs()) < since) {
                continue;
            }
            // Mostly daytime; some sessions start just before midnight.
            let minute = if rng.random_ratio(1, 25) { rng.random_range(23 * 60 + 30..24 * 60) } else { rng.random_range(6 * 60..22 * 60) };
            let mut t = midnight_ms + day * 86_400_000 + minute * 60_000 + rng.random_range(0..60_000);
            for _ in 0..rng.random_range(1..12) {
                let (service, tiers) = &self.services[rng.random_range(0..self.services.len())];
                let event = match rng.random_range(0..20) {
                    0..=15 => "page.display",
                    16..=18 => "click.navigation",
                    _ => "click.action",
                };
                out.push(StoredHit {
                    received_ms: t,
                    client_time_ms: Some(t),
                    plan_version: self.plan_version.clone(),
                    format: if rng.random_ratio(1, 3) { WireFormat::Xiti } else { WireFormat::Piano },
                    event: event.into(),
                    site: "600000".into(),
                    page: Some("accueil".into()),
                    service: service.clone(),
                    service_type: if *tiers { "TIERS".into() } else { "NATIF".into() },
                    outil: tiers.then(|| TOOLS[rng.random_range(0..TOOLS.len())].to_owned()),
                    uai: school.uai.clone(),
                    projet: projet.into(),
                    exploitant: exploitant.into(),
                    plateforme: plateforme.into(),
                    profil: visitor.profil.into(),
                    visitor: visitor.id,
                    client: visitor.client.clone(),
                    pageview_id: None,
                    warnings: Vec::new(),
                    extra: Vec::new(),
                });
                // Gaps: mostly short, some right at the 30-minute timeout, some beyond it.
                t += match rng.random_range(0..20) {
                    0 => 30 * 60_000,
                    1 => 30 * 60_000 + 1,
                    2 => rng.random_range(31 * 60_000..120 * 60_000),
                    _ => rng.random_range(5_000..300_000),
                };
            }
        }
        out.sort_by_key(|h| h.received_ms);
        let late: Vec<bool> = (0..out.len()).map(|_| rng.random_ratio(late_percent, 100)).collect();
        let (mut in_order, moved): (Vec<_>, Vec<_>) = out.into_iter().zip(late).partition(|(_, late)| !late);
        in_order.extend(moved);
        in_order.into_iter().map(|(hit, _)| hit).collect()
    }
}

/// Generates the hits a spec describes (see [`Population::hits`]).
pub fn stored_hits(spec: &TrafficSpec, plan: &Plan, referential: &Referential) -> Vec<StoredHit> {
    Population::new(spec, plan, referential).hits(spec.seed.wrapping_add(1), spec.hits, spec.first_day, spec.days, spec.late_percent)
}

/// The instant of a day and time in UTC, for tests.
pub fn utc_ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339).expect("RFC 3339 time").timestamp_millis()
}
