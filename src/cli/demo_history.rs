//! The demo's history: on a fresh data directory, `dnma demo` loads synthetic traffic from the
//! start of the school year to yesterday into the log (as the collector would have written it:
//! pseudonymous visitors, classified clients), so that the dashboards open on weeks of data.
//! The demo projects deploy as real ones do: over their perimeters (a first-degree platform
//! on écoles, second-degree ones on collèges and lycées), school after school over the year.

use std::sync::Arc;

use chrono::{Days, Utc};
use collector::log::{HitLog, LogRecord, Topic};
use pipeline::synthetic::{Deployment, Population, TrafficSpec};
use pipeline::Period;
use tagging_plan::{Plan, Referential};

/// The editor token the demo prints (demo only: a real deployment configures its own).
pub const DEMO_EDITOR_TOKEN: &str = "demo-editeur";

/// Hits per day of history once every school of the demo has opened its ENT (fewer before:
/// in proportion to the schools open).
const HITS_PER_DAY: usize = 12_000;

/// The demo's ENTs: (project, platform, operator, share of its perimeter's schools open by the
/// end of the school year). ONE is a first-degree platform (écoles), the others second-degree
/// ones (collèges, lycées), as their perimeters say ([`demo_perimeters`]). Codes as the plan
/// normalizes them (a tag sending `one-1d` is counted as `ONE_1D`), so that the history written
/// straight into the log and the live traffic, validated at the door, name the same platforms.
const DEMO_ENTS: [(&str, &str, &str, f64); 4] = [
    ("ONE", "ONE_1D", "OPEN_DIGITAL_EDUCATION", 0.7),
    ("TOUTATICE", "ENT_BZH", "REGION_BRETAGNE", 0.9),
    ("MBN", "MON_BUREAU_NUMERIQUE", "KOSMOS", 0.55),
    ("MONLYCEE", "MONLYCEE_NET", "OPEN_DIGITAL_EDUCATION", 0.45),
];

/// A number in `0..1` drawn from a UAI (the same every run).
fn draw(uai: &str, salt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in uai.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    #[allow(clippy::cast_precision_loss)] // 53 bits are enough for a draw
    let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

/// The schools of the demo projects' perimeters that open their ENT this school year, each on
/// its day: a fifth of them at the rentrée, the others week after week until spring (an
/// adoption curve that flattens), up to each project's share of its perimeter. Schools whose
/// day is still to come send nothing yet.
pub fn demo_deployments(plan: &Plan, referential: &Referential, school_year: chrono::NaiveDate) -> anyhow::Result<Vec<Deployment>> {
    let perimeters = demo_perimeters();
    let mut out = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for (projet, plateforme, exploitant, share) in DEMO_ENTS {
        let perimeter = perimeters[projet].resolve(projet, plan, referential, &[])?;
        for uai in perimeter.sorted() {
            let x = draw(uai, 1) / share;
            if x >= 1.0 || !taken.insert(uai.to_owned()) {
                continue;
            }
            // 0..0.2: the rentrée; then 30 weeks, more schools early than late.
            let days = if x < 0.2 { 0.0 } else { 210.0 * ((x - 0.2) / 0.8).powf(1.4) };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0..=210 days
            let since = school_year + Days::new(days as u64);
            out.push(Deployment { uai: uai.to_owned(), projet, plateforme, exploitant, since });
        }
    }
    Ok(out)
}

/// An editor who sees every platform of the demo.
pub fn demo_editors() -> Vec<dashboards::EditorAccess> {
    vec![dashboards::EditorAccess {
        name: "Éditeur de démonstration".into(),
        token: DEMO_EDITOR_TOKEN.into(),
        plateformes: DEMO_ENTS.iter().map(|(_, plateforme, ..)| (*plateforme).to_owned()).collect(),
    }]
}

/// The demo projects' perimeters (what `deploy/dnma.toml` sets too): ONE over the public écoles
/// of Val-de-Marne (shipped with its écoles), TOUTATICE over the public collèges of the académie
/// of Rennes, MBN over the collèges of Grand Est, MONLYCEE over the second degree of
/// Île-de-France; ONE and TOUTATICE with a target.
pub fn demo_perimeters() -> std::collections::BTreeMap<String, dashboards::perimeter::PerimeterConfig> {
    use dashboards::perimeter::{DegreeName, PerimeterConfig, SecteurName, Target};
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive();
    // The end of this school year: 30 June after its start.
    let june = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&Period::SchoolYear.start_of(today)) + 1, 6, 30);
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut out = std::collections::BTreeMap::new();
    out.insert(
        "ONE".to_owned(),
        PerimeterConfig {
            departements: strings(&["94"]),
            degre: vec![DegreeName::Premier],
            secteur: Some(SecteurName::Public),
            target: june.map(|by| Target { rate: 0.6, by }),
            ..PerimeterConfig::default()
        },
    );
    out.insert(
        "TOUTATICE".to_owned(),
        PerimeterConfig {
            academies: strings(&["Rennes"]),
            degre: vec![DegreeName::Second],
            secteur: Some(SecteurName::Public),
            target: june.map(|by| Target { rate: 0.8, by }),
            ..PerimeterConfig::default()
        },
    );
    out.insert("MBN".to_owned(), PerimeterConfig { regions: strings(&["Grand Est"]), natures: strings(&["340"]), ..PerimeterConfig::default() });
    out.insert("MONLYCEE".to_owned(), PerimeterConfig { regions: strings(&["11"]), degre: vec![DegreeName::Second], ..PerimeterConfig::default() });
    out
}

/// The demo's dated notes: a training session of ONE three weeks after the start of the school
/// year, and a launch for every project after the autumn holidays.
pub fn demo_annotations(today: chrono::NaiveDate) -> Vec<dashboards::perimeter::Annotation> {
    let start = Period::Week.start_of(Period::SchoolYear.start_of(today));
    vec![
        dashboards::perimeter::Annotation { projet: Some("ONE".into()), date: start + Days::new(21 + 2), text: "Formation des directeurs".into() },
        dashboards::perimeter::Annotation { projet: None, date: start + Days::new(63), text: "Lancement de la messagerie".into() },
    ]
}

/// Loads the history when the log holds no hit yet; returns the hits loaded.
pub async fn backfill(plan: &Plan, referential: &Arc<Referential>, log: &Arc<dyn HitLog>) -> anyhow::Result<usize> {
    if log.stats(Topic::Hits).await?.end_offset > 0 {
        return Ok(0);
    }
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive();
    let first_day = Period::SchoolYear.start_of(today);
    let days = u32::try_from((today - first_day).num_days()).unwrap_or(0);
    if days == 0 {
        return Ok(0);
    }
    let spec = TrafficSpec { visitors_per_school: 30, ..TrafficSpec::default() };
    let deployments = demo_deployments(plan, referential, first_day)?;
    let opening: Vec<chrono::NaiveDate> = deployments.iter().map(|d| d.since).collect();
    let population = Population::deployed(&spec, plan, deployments);
    let mut loaded = 0;
    for d in 0..days {
        let day = first_day + Days::new(u64::from(d));
        let open = opening.iter().filter(|since| **since <= day).count();
        if open == 0 {
            continue;
        }
        let hits = population.hits(u64::from(d) + 1, (HITS_PER_DAY * open / opening.len()).max(1), day, 1, 0);
        loaded += hits.len();
        let records = hits.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect();
        log.append(Topic::Hits, records).await?;
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_deploys_each_platform_on_its_degree_and_ramps_up_over_the_year() {
        let (plan, referential) = (Plan::shipped(), Referential::shipped());
        let year = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
        let deployments = demo_deployments(&plan, referential, year).unwrap();
        let kind = |uai: &str| referential.school(uai).map(tagging_plan::referential::School::kind);
        for d in &deployments {
            let expected = if d.projet == "ONE" { "ecole" } else { "second degree" };
            let got = match kind(&d.uai) {
                Some(tagging_plan::referential::SchoolKind::Ecole) => "ecole",
                Some(tagging_plan::referential::SchoolKind::College | tagging_plan::referential::SchoolKind::Lycee) => "second degree",
                other => panic!("{} of {} is {other:?}", d.uai, d.projet),
            };
            assert_eq!(got, expected, "{} of {}", d.uai, d.projet);
        }
        for (projet, ..) in DEMO_ENTS {
            let of: Vec<&Deployment> = deployments.iter().filter(|d| d.projet == projet).collect();
            let by = |days: u64| of.iter().filter(|d| d.since <= year + Days::new(days)).count();
            assert!(of.len() >= 20, "{projet}: {} schools", of.len());
            assert!(by(0) > 0 && by(0) < by(60) && by(60) < by(150) && by(150) <= of.len(), "{projet} ramps up: {} {} {}", by(0), by(60), by(150));
        }
    }
}
