//! The demo's history: on a fresh data directory, `dnma demo` loads synthetic traffic from the
//! start of the school year to yesterday into the log (as the collector would have written it:
//! pseudonymous visitors, classified clients), so that the dashboards open on weeks of data.

use std::sync::Arc;

use chrono::{Days, Utc};
use collector::log::{HitLog, LogRecord, Topic};
use pipeline::synthetic::{Population, TrafficSpec};
use pipeline::Period;
use tagging_plan::{Plan, Referential};

/// The editor token the demo prints (demo only: a real deployment configures its own).
pub const DEMO_EDITOR_TOKEN: &str = "demo-editeur";

/// Hits per day of history.
const HITS_PER_DAY: usize = 4_000;

/// An editor who sees every platform of the demo.
pub fn demo_editors() -> Vec<dashboards::EditorAccess> {
    let plateformes = ["ENT-BZH", "MONLYCEE-NET", "ONE-1D", "MON-BUREAU-NUMERIQUE", "ONE", "NEO", "MBN", "MONLYCEE"];
    vec![dashboards::EditorAccess {
        name: "Éditeur de démonstration".into(),
        token: DEMO_EDITOR_TOKEN.into(),
        plateformes: plateformes.iter().map(|p| (*p).to_owned()).collect(),
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
    let spec = TrafficSpec { schools: 300, visitors_per_school: 30, ..TrafficSpec::default() };
    let population = Population::new(&spec, plan, referential);
    let mut loaded = 0;
    for d in 0..days {
        let day = first_day + Days::new(u64::from(d));
        let hits = population.hits(u64::from(d) + 1, HITS_PER_DAY, day, 1, 0);
        loaded += hits.len();
        let records = hits.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect();
        log.append(Topic::Hits, records).await?;
    }
    Ok(loaded)
}
