//! The figures behind each page, computed once per request from the `RollupStore` and shared by
//! the HTML page, its CSV download, its charts and the JSON API (so they always agree). Every
//! figure goes through [`Figures::from`] over one complete set of cells per period
//! ([`pipeline::suppression`]): hidden cells carry no number.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use pipeline::{Breakdown, Level, Period};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::DashboardError;

mod cells;
mod compare;
mod conformance;
mod deployment;
mod project;
mod territory;

pub use cells::ProjectCells;
pub use compare::{parse_territory, CompareSide, CompareView};
pub use conformance::{ConformanceView, InvalidValue, RejectWeek, RejectedHit, ServiceTagging};
pub use deployment::{DegreeDeployment, Deployment};
pub use project::{BreakdownRow, DeploymentWeek, PerimeterSummary, ProjectView};
pub use territory::{TerritoryRow, TerritoryView, WeekPoint};

/// Filters shared by every view; each lives in the URL.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// `semaine` (default), `mois` or `annee` (school year).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub periode: Option<String>,
    /// A day in the period shown (`YYYY-MM-DD`); default: the latest day with data.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub debut: Option<NaiveDate>,
    /// Only visits of this profile (`ELEVE`, `ENSEIGNANT`…).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub profil: Option<String>,
    /// Only visits that used this service.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub service: Option<String>,
    /// Territory level: `nation`, `region`, `academie`, `departement`, `circonscription`, `ecole`.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub niveau: Option<String>,
    /// Territory code (académie name, département code, UAI…).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub code: Option<String>,
    /// Only visits to schools of this kind: `ecole` (1er degré), `college`, `lycee`, `autre`
    /// (territory views; not combined with a profile or sector filter).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub degre: Option<String>,
    /// Only visits to schools of this sector: `public` or `prive` (territory views; not combined
    /// with a profile or kind filter).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub secteur: Option<String>,
    /// What the maps colour: `visiteurs` (default) or `deploiement` (the deployment rate).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub indicateur: Option<String>,
}

/// An empty field (`debut=`, as a browser sends every field of the filter form) means no filter.
fn empty_is_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw: Option<String> = Option::deserialize(deserializer)?;
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => value.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

impl Filters {
    /// The kind of period asked.
    pub fn period(&self) -> Result<Period, DashboardError> {
        match self.periode.as_deref().unwrap_or("semaine") {
            "semaine" => Ok(Period::Week),
            "mois" => Ok(Period::Month),
            "annee" => Ok(Period::SchoolYear),
            other => Err(DashboardError::BadRequest(format!("période inconnue « {other} » (semaine, mois ou annee)"))),
        }
    }

    /// The school filter asked (kind or sector), checked: at most one, not with a profile
    /// filter (the cells protected for every output are per profile, per kind and per sector,
    /// not per pair of them).
    pub fn school(&self) -> Result<Option<(Breakdown, &'static str)>, DashboardError> {
        let asked: Vec<(Breakdown, &str)> = [(Breakdown::Degre, &self.degre), (Breakdown::Secteur, &self.secteur)]
            .into_iter()
            .filter_map(|(b, v)| v.as_deref().map(|v| (b, v)))
            .collect();
        match asked.as_slice() {
            [] => Ok(None),
            [_] if self.profil.is_some() => {
                Err(DashboardError::BadRequest("un filtre de degré ou de secteur ne se combine pas avec un filtre de profil".into()))
            }
            [(dimension, value)] => {
                let value = dimension.school_value(value).map_err(|e| DashboardError::BadRequest(format!("filtre {dimension} : {e}")))?;
                Ok(Some((*dimension, value)))
            }
            _ => Err(DashboardError::BadRequest("un seul filtre à la fois : degré ou secteur".into())),
        }
    }

    /// Refuses a school filter on a view that does not take one.
    pub fn without_school(&self, view: &str) -> Result<(), DashboardError> {
        if self.degre.is_some() || self.secteur.is_some() {
            return Err(DashboardError::BadRequest(format!("les filtres degre et secteur valent pour les territoires, pas pour {view}")));
        }
        Ok(())
    }

    /// The URL query of these filters with some of them replaced (empty values dropped).
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut pairs: BTreeMap<&str, String> = BTreeMap::new();
        let debut = self.debut.map(|d| d.to_string());
        for (name, value) in [
            ("periode", self.periode.as_deref()),
            ("debut", debut.as_deref()),
            ("profil", self.profil.as_deref()),
            ("service", self.service.as_deref()),
            ("niveau", self.niveau.as_deref()),
            ("code", self.code.as_deref()),
            ("degre", self.degre.as_deref()),
            ("secteur", self.secteur.as_deref()),
            ("indicateur", self.indicateur.as_deref()),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                pairs.insert(name, v.to_owned());
            }
        }
        for (name, value) in changes {
            match value.filter(|v| !v.is_empty()) {
                Some(v) => pairs.insert(name, v.to_owned()),
                None => pairs.remove(name),
            };
        }
        let mut out = form_urlencoded_pairs(&pairs);
        if !out.is_empty() {
            out.insert(0, '?');
        }
        out
    }
}

fn form_urlencoded_pairs(pairs: &BTreeMap<&str, String>) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The French URL name of a level.
pub fn level_param(level: Level) -> &'static str {
    level.name()
}

/// The French label of a level.
pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::Ecole => "École ou établissement",
        Level::Circonscription => "Circonscription",
        Level::Departement => "Département",
        Level::Academie => "Académie",
        Level::Region => "Région académique",
        Level::Nation => "France",
        Level::Projet => "Projet ENT",
        Level::Plateforme => "Plateforme",
        Level::Exploitant => "Exploitant",
    }
}

/// The French label of a kind of period.
pub fn period_label(period: Period) -> &'static str {
    match period {
        Period::Day => "jour",
        Period::Week => "semaine",
        Period::Month => "mois",
        Period::SchoolYear => "année scolaire",
    }
}

/// The period shown: its kind, bounds and whether it is still running.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodShown {
    /// `week`, `month` or `school_year`.
    pub kind: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// True while the period is not over: its figures will still grow.
    pub incomplete: bool,
}

/// The Mondays from `first` (a Monday) through `last`, each with whether its week is still
/// running on `today`.
pub(crate) fn mondays(first: NaiveDate, last: NaiveDate, today: NaiveDate) -> impl Iterator<Item = (NaiveDate, bool)> {
    std::iter::successors(Some(first), |w| w.checked_add_days(Days::new(7)))
        .take_while(move |w| *w <= last)
        .map(move |w| (w, w + Days::new(6) >= today))
}

/// The 90 % enrolment coverage under which no per-pupil rate is given.
pub const RATE_COVERAGE: f64 = 0.9;
