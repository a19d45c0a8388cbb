//! The weekly open-data export, in the layout of the ministry's datasets: one row per school ×
//! week, `;`-separated, the school's attributes, `debutSemaine` (the Monday), then for each value
//! of the breakdown a triplet `visites_X;utilisateurs_X;duree_X` (total visit duration as
//! `HH:MM:SS`). A triplet computed from fewer than `k` unique visitors, or hidden with one so
//! that no subtraction gives it back ([`crate::suppression`]: the same cells the dashboards hide
//! for that week), is published as [`crate::suppression::HIDDEN`]: the users are minors.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Weekday};
use tagging_plan::referential::Secteur;
use tagging_plan::{Plan, Referential};

use crate::error::PipelineError;
use crate::model::{Breakdown, Level, Period};
use crate::query::IndicatorQuery;
use crate::store::RollupStore;
use crate::suppression::{self, CellId, Group};

/// The school columns, before `debutSemaine`.
pub const SCHOOL_COLUMNS: [&str; 10] =
    ["uai", "nom", "academie", "commune", "departement", "region", "ministere", "circonscription", "nature_uai", "secteur"];

/// Published device, OS and browser classes (as the collector names them).
const DEVICES: [&str; 4] = ["ordinateur", "smartphone", "tablette", "autre"];
const SYSTEMS: [&str; 7] = ["android", "windows", "ios", "macos", "chromeos", "linux", "autre"];
const BROWSERS: [&str; 10] = ["chrome mobile", "safari", "chrome", "firefox", "edge", "samsung", "opera", "huawei", "miui", "autre"];

/// The breakdown values published, as (value in the facts, column suffix); `None`: all visits.
pub fn published_values(plan: &Plan, by: Breakdown) -> Result<Vec<(Option<String>, String)>, PipelineError> {
    let from_nomenclature = |name: &str| -> Vec<(Option<String>, String)> {
        plan.nomenclatures()
            .get(name)
            .map(|n| n.values.iter().filter(|v| !v.column.is_empty()).map(|v| (Some(v.code.clone()), v.column.clone())).collect())
            .unwrap_or_default()
    };
    let classes = |values: &[&str]| values.iter().map(|v| (Some((*v).to_owned()), v.replace(' ', "_"))).collect::<Vec<_>>();
    Ok(match by {
        Breakdown::Profil => {
            let mut values = vec![(None, "globales".to_owned())];
            values.extend(from_nomenclature("profils"));
            values
        }
        Breakdown::Service => from_nomenclature("services"),
        Breakdown::Appareil => classes(&DEVICES),
        Breakdown::Os => classes(&SYSTEMS),
        Breakdown::Navigateur => classes(&BROWSERS),
        Breakdown::Outil => return Err(PipelineError::Query("the open data has no breakdown by tool (outil)".into())),
        Breakdown::Degre | Breakdown::Secteur => {
            return Err(PipelineError::Query(format!("the open data is one row per school: its kind and sector are columns, not a `{by}` breakdown")))
        }
    })
}

/// `HH:MM:SS`, hours not wrapped at 24.
pub fn hms(seconds: u64) -> String {
    format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// Writes the export of one week; returns the number of school rows.
pub async fn write_opendata<W: Write>(
    store: &dyn RollupStore,
    plan: &Plan,
    referential: &Referential,
    week: NaiveDate,
    by: Breakdown,
    k: u64,
    out: W,
) -> Result<usize, PipelineError> {
    if week.weekday() != Weekday::Mon {
        return Err(PipelineError::Query(format!("--week {week} is a {}: debutSemaine is a Monday", week.weekday())));
    }
    let values = published_values(plan, by)?;
    let base = Arc::new(suppression::base(store, plan, referential, Period::Week, week, None, k).await?);
    let schools: BTreeSet<String> =
        base.cells_of(Level::Ecole).filter(|id| *id == &CellId::new(Level::Ecole, &id.code)).map(|id| id.code.clone()).collect();
    let value_id = |uai: &str, value: Option<&str>| {
        let id = CellId::new(Level::Ecole, uai);
        match (by, value) {
            (_, None) => id,
            (Breakdown::Profil, v) => id.profil(v),
            (Breakdown::Service, v) => id.service(v),
            (b, Some(v)) => CellId { breakdown: Some((b, v.to_owned())), ..id },
        }
    };
    // Other breakdowns than the profiles: a layer over the base (each school's total and its
    // values), decided without changing the base.
    let cells = if by == Breakdown::Profil {
        base
    } else {
        let query = IndicatorQuery::new(Level::Ecole, Period::Week, week, week).by(by);
        let rows = store.query(&query).await?;
        let groups = schools
            .iter()
            .map(|uai| Group {
                total: value_id(uai, None),
                parts: values.iter().filter_map(|(v, _)| v.as_deref()).map(|v| value_id(uai, Some(v))).collect(),
            })
            .collect();
        Arc::new(base.layer(suppression::cells(&query, rows), groups))
    };

    let mut csv = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
    let mut header: Vec<String> = SCHOOL_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header.push("debutSemaine".into());
    for (_, column) in &values {
        header.extend(["visites", "utilisateurs", "duree"].map(|m| format!("{m}_{column}")));
    }
    csv.write_record(&header).map_err(csv_error)?;
    for uai in &schools {
        let mut record = school_columns(plan, referential, uai);
        record.push(week.to_string());
        for (value, _) in &values {
            match cells.shown(&value_id(uai, value.as_deref())) {
                Ok(Some(row)) => record.extend([row.visits.to_string(), row.visitors.to_string(), hms(row.duration_s)]),
                Err(()) => record.extend(std::iter::repeat_n(suppression::HIDDEN.to_owned(), 3)),
                Ok(None) => record.extend(["0".to_owned(), "0".to_owned(), hms(0)]),
            }
        }
        csv.write_record(&record).map_err(csv_error)?;
    }
    csv.flush().map_err(|e| PipelineError::io("writing the export", e))?;
    Ok(schools.len())
}

fn csv_error(e: csv::Error) -> PipelineError {
    PipelineError::io("writing the export", std::io::Error::other(e))
}

fn school_columns(plan: &Plan, referential: &Referential, uai: &str) -> Vec<String> {
    let Ok(location) = referential.locate(plan, uai) else {
        let mut columns = vec![uai.to_owned()];
        columns.resize(SCHOOL_COLUMNS.len(), String::new());
        return columns;
    };
    let school = location.school;
    let text = |f: fn(&tagging_plan::referential::School) -> Option<&str>| school.and_then(f).unwrap_or_default().to_owned();
    vec![
        uai.to_owned(),
        text(|s| Some(&s.nom)),
        location.academie.to_owned(),
        text(|s| Some(&s.commune)),
        location.departement.to_owned(),
        location.region.to_owned(),
        text(|s| s.ministere.as_deref()),
        text(|s| s.circonscription.as_deref()),
        text(|s| Some(&s.nature_code)),
        match school.and_then(|s| s.secteur) {
            Some(Secteur::Public) => "PU".into(),
            Some(Secteur::Prive) => "PR".into(),
            None => String::new(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_hours_minutes_seconds_beyond_a_day() {
        assert_eq!(hms(0), "00:00:00");
        assert_eq!(hms(3661), "01:01:01");
        assert_eq!(hms(100 * 3600 + 59), "100:00:59");
    }

    #[test]
    fn published_columns_follow_the_plan_and_the_open_data() {
        let plan = Plan::shipped();
        let profils: Vec<String> = published_values(&plan, Breakdown::Profil).unwrap().into_iter().map(|v| v.1).collect();
        let mut sorted = profils[1..].to_vec();
        sorted.sort();
        assert_eq!(profils[0], "globales");
        assert_eq!(sorted, ["admin_vie_scol_tech", "eleve", "enseignant", "parent"]);
        assert_eq!(published_values(&plan, Breakdown::Service).unwrap().len(), 25);
        assert!(published_values(&plan, Breakdown::Navigateur).unwrap().iter().any(|v| v.1 == "chrome_mobile"));
        assert!(published_values(&plan, Breakdown::Outil).is_err());
    }
}
