//! A project's perimeter: the schools it is meant to equip, chosen in the referential by
//! territory (départements, académies, régions académiques), degree or nature, and sector, plus
//! listed UAIs; its optional target (a deployment rate by a date); and the dated notes shown on
//! the project's curves. The `[dashboards.perimeters.P]` and `[[dashboards.annotations]]` tables
//! of the configuration are parsed here ([`PerimeterConfig`], [`Annotation`]) and resolved
//! against the plan and the referential into a [`Perimeter`]; a perimeter that names an unknown
//! territory or matches no school is refused with its key.
//!
//! Only open schools (`ouvert`) of the referential are matched by criteria; listed UAIs are taken
//! as they are (a UAI missing from the referential is kept and counted as such).

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tagging_plan::referential::{Degree, School, Secteur};
use tagging_plan::uai::Uai;
use tagging_plan::{Plan, Referential};
use utoipa::ToSchema;

use crate::french;

/// A degree a perimeter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DegreeName {
    /// Écoles (natures 1xx).
    Premier,
    /// Collèges, lycées (natures 3xx).
    Second,
}

/// The sector a perimeter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecteurName {
    /// Public schools only.
    Public,
    /// Private schools only.
    #[serde(alias = "privé")]
    Prive,
}

/// A deployment target: `rate` of the perimeter's schools active by `by`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Share of the perimeter's schools, in (0, 1] (0.6 for 60 %).
    pub rate: f64,
    /// The date it should be reached (`"YYYY-MM-DD"`).
    pub by: NaiveDate,
}

/// A dated note on a project's curves (a training session, a launch).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Annotation {
    /// The project it belongs to; none: every project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projet: Option<String>,
    /// Its day (`"YYYY-MM-DD"`).
    pub date: NaiveDate,
    /// The note.
    pub text: String,
}

/// One `[dashboards.perimeters.P]` table. The criteria combine: a school matches when it lies in
/// one of the territories listed and has one of the degrees (or natures) and the sector given;
/// the `uai` listed are added whatever the criteria.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PerimeterConfig {
    /// INSEE département codes (`"35"`, `"2A"`, `"974"`).
    #[serde(default)]
    pub departements: Vec<String>,
    /// Académies, by code (`"14"`) or name (`"Rennes"`).
    #[serde(default)]
    pub academies: Vec<String>,
    /// Régions académiques, by code (`"53"`) or name (`"Bretagne"`).
    #[serde(default)]
    pub regions: Vec<String>,
    /// `"premier"` and/or `"second"`; none: every degree.
    #[serde(default)]
    pub degre: Vec<DegreeName>,
    /// Nature codes (`"151"` élémentaire, `"340"` collège); none: every nature of the degrees.
    #[serde(default)]
    pub natures: Vec<String>,
    /// `"public"` or `"prive"`; none: both.
    #[serde(default)]
    pub secteur: Option<SecteurName>,
    /// UAIs added to the perimeter.
    #[serde(default)]
    pub uai: Vec<String>,
    /// The deployment target, if any.
    #[serde(default)]
    pub target: Option<Target>,
}

/// Why a perimeter or an annotation is refused; the message names its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[dashboards.perimeters.{projet}] {message}")]
pub struct PerimeterError {
    /// The project.
    pub projet: String,
    /// What is wrong, with the key.
    pub message: String,
}

/// A perimeter resolved against the referential.
#[derive(Debug, Clone)]
pub struct Perimeter {
    /// Its description in French (`écoles publiques du département 35 (Ille-et-Vilaine)`).
    pub description: String,
    /// Its schools' UAIs.
    pub schools: HashSet<String>,
    /// How many of them by degree, sector, and how many listed UAIs the referential lacks.
    pub counts: PerimeterCounts,
    /// Its target.
    pub target: Option<Target>,
}

/// How a perimeter's schools divide.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PerimeterCounts {
    /// First degree.
    pub premier: u64,
    /// Second degree.
    pub second: u64,
    /// Neither (or unknown to the referential).
    pub autre: u64,
    /// Public.
    pub public: u64,
    /// Private.
    pub prive: u64,
    /// Listed UAIs the referential does not hold.
    pub unknown: u64,
}

impl Perimeter {
    /// How many schools.
    pub fn len(&self) -> usize {
        self.schools.len()
    }

    /// Whether it has no school (never, once resolved).
    pub fn is_empty(&self) -> bool {
        self.schools.is_empty()
    }

    /// Whether a UAI is in it.
    pub fn contains(&self, uai: &str) -> bool {
        self.schools.contains(uai)
    }

    /// Its UAIs, sorted.
    pub fn sorted(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.schools.iter().map(String::as_str).collect();
        out.sort_unstable();
        out
    }
}

/// The territories a perimeter names, as canonical codes.
#[derive(Debug, Default)]
struct Territories {
    departements: HashSet<String>,
    academies: HashSet<String>,
    regions: HashSet<String>,
    /// French phrases, e.g. `du département 35 (Ille-et-Vilaine)`.
    phrases: Vec<String>,
}

impl PerimeterConfig {
    /// Checks what needs no referential: the target's rate, the UAIs' format, that some
    /// criterion is given.
    pub fn check(&self, projet: &str) -> Result<(), PerimeterError> {
        let error = |message: String| PerimeterError { projet: projet.to_owned(), message };
        if let Some(target) = &self.target {
            if !(target.rate > 0.0 && target.rate <= 1.0) {
                return Err(error(format!("target.rate must be in (0, 1] (0.6 for 60 %), not {}", target.rate)));
            }
        }
        for uai in &self.uai {
            Uai::parse(uai).map_err(|e| error(format!("uai: {uai:?} is not a UAI ({e})")))?;
        }
        let territorial = !(self.departements.is_empty() && self.academies.is_empty() && self.regions.is_empty());
        if !territorial && self.uai.is_empty() {
            return Err(error("give departements, academies, regions or uai".to_owned()));
        }
        if !territorial && (!self.degre.is_empty() || !self.natures.is_empty() || self.secteur.is_some()) {
            return Err(error("degre, natures and secteur select within departements, academies or regions: give one of them".to_owned()));
        }
        for nature in &self.natures {
            if nature.len() != 3 || !nature.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error(format!("natures: {nature:?} is not a three-digit nature code")));
            }
        }
        Ok(())
    }

    fn territories(&self, projet: &str, plan: &Plan) -> Result<Territories, PerimeterError> {
        let error = |message: String| PerimeterError { projet: projet.to_owned(), message };
        let index = plan.territories();
        let mut t = Territories::default();
        let mut names = Vec::new();
        for code in &self.departements {
            let found = index.by_departement_code(code).ok_or_else(|| error(format!("departements: no département has the code {code:?}")))?;
            t.departements.insert(found.departement.code.clone());
            names.push(format!("{} ({})", found.departement.code, found.departement.nom));
        }
        if !names.is_empty() {
            let many = names.len() > 1;
            t.phrases.push(format!("{} {}", if many { "des départements" } else { "du département" }, french_list(&names)));
        }
        let academies = index.academies();
        let mut names = Vec::new();
        for wanted in &self.academies {
            let found = academies
                .iter()
                .find(|a| a.code == *wanted || a.nom.eq_ignore_ascii_case(wanted))
                .ok_or_else(|| error(format!("academies: no académie has the code or name {wanted:?}")))?;
            t.academies.insert(found.code.clone());
            names.push(format!("de {}", found.nom));
        }
        if !names.is_empty() {
            let many = names.len() > 1;
            let list = french_list(&names);
            t.phrases.push(if many { format!("des académies {list}") } else { format!("de l'académie {list}") });
        }
        let mut names = Vec::new();
        for wanted in &self.regions {
            let found = academies
                .iter()
                .find(|a| a.region_code == *wanted || a.region.eq_ignore_ascii_case(wanted))
                .ok_or_else(|| error(format!("regions: no région académique has the code or name {wanted:?}")))?;
            t.regions.insert(found.region_code.clone());
            names.push(found.region.clone());
        }
        if !names.is_empty() {
            let many = names.len() > 1;
            t.phrases.push(format!("{} {}", if many { "des régions académiques" } else { "de la région académique" }, french_list(&names)));
        }
        Ok(t)
    }

    /// Whether a school of the referential meets the criteria (territory already checked).
    fn keeps(&self, school: &School) -> bool {
        let degree_ok = self.degre.is_empty()
            || self.degre.iter().any(|d| match d {
                DegreeName::Premier => school.degre == Degree::Premier,
                DegreeName::Second => school.degre == Degree::Second,
            });
        let nature_ok = self.natures.is_empty() || self.natures.iter().any(|n| *n == school.nature_code.trim());
        let sector_ok = match self.secteur {
            None => true,
            Some(SecteurName::Public) => school.secteur == Some(Secteur::Public),
            Some(SecteurName::Prive) => school.secteur == Some(Secteur::Prive),
        };
        school.ouvert && degree_ok && nature_ok && sector_ok
    }

    /// The perimeter's schools in the referential, with `listed` UAIs (the project's
    /// `project_schools`) added to its own.
    pub fn resolve(&self, projet: &str, plan: &Plan, referential: &Referential, listed: &[String]) -> Result<Perimeter, PerimeterError> {
        self.check(projet)?;
        let territories = self.territories(projet, plan)?;
        let mut schools: HashSet<String> = HashSet::new();
        if !territories.phrases.is_empty() {
            for school in referential.schools() {
                let Some(place) = school.uai.get(..3).and_then(|p| plan.territories().by_uai_prefix(p)) else { continue };
                let inside = territories.departements.contains(&place.departement.code)
                    || territories.academies.contains(&place.academie.code)
                    || territories.regions.contains(&place.academie.region_code);
                if inside && self.keeps(school) {
                    schools.insert(school.uai.clone());
                }
            }
        }
        let mut added = 0_u64;
        for uai in self.uai.iter().chain(listed) {
            let uai = uai.trim().to_ascii_uppercase();
            if schools.insert(uai) {
                added += 1;
            }
        }
        if schools.is_empty() {
            return Err(PerimeterError { projet: projet.to_owned(), message: "matches no open school of the referential".to_owned() });
        }
        let mut counts = PerimeterCounts::default();
        for uai in &schools {
            let Some(s) = referential.school(uai) else {
                counts.autre += 1;
                counts.unknown += 1;
                continue;
            };
            match s.degre {
                Degree::Premier => counts.premier += 1,
                Degree::Second => counts.second += 1,
                Degree::Autre => counts.autre += 1,
            }
            match s.secteur {
                Some(Secteur::Public) => counts.public += 1,
                Some(Secteur::Prive) => counts.prive += 1,
                None => {}
            }
        }
        let description = self.describe(&territories, added);
        Ok(Perimeter { description, schools, counts, target: self.target })
    }

    /// `écoles publiques du département 35 (Ille-et-Vilaine) et 3 établissements listés`.
    fn describe(&self, territories: &Territories, added: u64) -> String {
        let listed = (added > 0).then(|| format!("{} établissement{} listé{}", french::integer(added), plural(added), plural(added)));
        if territories.phrases.is_empty() {
            return listed.unwrap_or_default();
        }
        let (noun, feminine, complement) = if self.natures.is_empty() {
            match self.degre.as_slice() {
                [DegreeName::Premier] => ("écoles", true, String::new()),
                [DegreeName::Second] => ("établissements", false, " du second degré".to_owned()),
                _ => ("établissements", false, String::new()),
            }
        } else {
            ("établissements", false, format!(" de nature {}", french_list(&self.natures)))
        };
        let sector = match (self.secteur, feminine) {
            (None, _) => "",
            (Some(SecteurName::Public), true) => " publiques",
            (Some(SecteurName::Public), false) => " publics",
            (Some(SecteurName::Prive), true) => " privées",
            (Some(SecteurName::Prive), false) => " privés",
        };
        let text = format!("{noun}{sector}{complement} {}", territories.phrases.join(" et "));
        match listed {
            Some(listed) => format!("{text}, et {listed}"),
            None => text,
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n > 1 {
        "s"
    } else {
        ""
    }
}

/// `a`, `a et b`, `a, b et c`.
fn french_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} et {last}", rest.join(", ")),
    }
}

/// Resolves every perimeter of the configuration; the first error names its key.
pub fn resolve_all(
    perimeters: &BTreeMap<String, PerimeterConfig>,
    project_schools: &BTreeMap<String, Vec<String>>,
    plan: &Plan,
    referential: &Referential,
) -> Result<BTreeMap<String, Perimeter>, PerimeterError> {
    perimeters
        .iter()
        .map(|(projet, config)| {
            let listed = project_schools.get(projet).map_or(&[][..], Vec::as_slice);
            config.resolve(projet, plan, referential, listed).map(|p| (projet.clone(), p))
        })
        .collect()
}

/// Checks the annotations: a note has a text.
pub fn check_annotations(annotations: &[Annotation]) -> Result<(), String> {
    for (i, a) in annotations.iter().enumerate() {
        if a.text.trim().is_empty() {
            return Err(format!("[[dashboards.annotations]] #{} ({}): text is empty", i + 1, a.date));
        }
        if a.projet.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(format!("[[dashboards.annotations]] #{} ({}): projet is empty (leave it out for every project)", i + 1, a.date));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "perimeter_tests.rs"]
mod tests;
