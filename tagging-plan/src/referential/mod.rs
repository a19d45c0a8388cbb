//! The school referential: UAI -> school (name, commune, circonscription, nature, secteur,
//! enrolment) and, through the plan's territory table, département, académie, région académique,
//! holiday zone and time zone.
//!
//! It is loaded from open-data CSV files in their published layouts (`;`-separated, UTF-8 with a
//! BOM), plain or gzip-compressed (`.csv.gz`): the Annuaire de l'éducation (the national file has
//! the same columns as the regional and départemental extracts), the collèges file, and the
//! enrolment files of écoles and of the second degree. [`Referential::shipped`] holds the extracts
//! shipped with dnma (Licence Ouverte 2.0, credited in `tagging-plan/data/SOURCES.md`);
//! [`Referential::load_dir`] reads a directory of such files, e.g. the national annuaire. A UAI
//! missing from every file still [`locate`](Referential::locate)s by its prefix.

mod csv_files;
mod encoding;
mod school;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;

pub use school::{Degree, School, SchoolKind, Secteur};

use crate::error::ReferentialError;
use crate::plan::{Plan, Territory};
use crate::uai::{Uai, UaiError};

/// The open-data files shipped with dnma, by name, as embedded: a name ending in `.gz` is
/// gzip-compressed.
pub const SHIPPED_FILES: [(&str, &[u8]); 6] = [
    ("annuaire-education-ille-et-vilaine.csv", include_bytes!("../../data/annuaire-education-ille-et-vilaine.csv")),
    ("annuaire-education-val-de-marne-ecoles.csv", include_bytes!("../../data/annuaire-education-val-de-marne-ecoles.csv")),
    ("annuaire-education-occitanie.csv.gz", include_bytes!("../../data/annuaire-education-occitanie.csv.gz")),
    ("etablissements-colleges-france.csv", include_bytes!("../../data/etablissements-colleges-france.csv")),
    ("effectifs-ecoles-ille-et-vilaine.csv", include_bytes!("../../data/effectifs-ecoles-ille-et-vilaine.csv")),
    ("effectifs-second-degre-ille-et-vilaine.csv", include_bytes!("../../data/effectifs-second-degre-ille-et-vilaine.csv")),
];

/// Schools by UAI.
#[derive(Debug, Clone, Default)]
pub struct Referential {
    schools: HashMap<String, School>,
    /// Enrolment from effectifs files: UAI -> (pupils, school year `2022-2023`).
    enrolments: HashMap<String, (u32, String)>,
}

/// Where a UAI lies: its school when known, always its territories.
#[derive(Debug, Clone, Serialize)]
pub struct Location<'a> {
    /// The UAI.
    pub uai: String,
    /// The school, when the referential knows it.
    pub school: Option<&'a School>,
    /// INSEE département code.
    pub departement_code: &'a str,
    /// Département name.
    pub departement: &'a str,
    /// Académie code.
    pub academie_code: &'a str,
    /// Académie name.
    pub academie: &'a str,
    /// Région académique code.
    pub region_code: &'a str,
    /// Région académique name.
    pub region: &'a str,
    /// Holiday zone (as in the school calendar).
    pub zone: &'a str,
    /// IANA time zone.
    pub fuseau: &'a str,
}

/// Why a UAI cannot be located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// Not a UAI (format or check letter).
    #[error(transparent)]
    Uai(#[from] UaiError),
    /// Well formed, but no département has its prefix.
    #[error("UAI {uai}: no département has the prefix {prefix}")]
    UnknownDepartement {
        /// The UAI.
        uai: String,
        /// Its first three characters.
        prefix: String,
    },
}

impl Referential {
    /// The referential of the shipped open-data files, parsed once per process.
    pub fn shipped() -> &'static Referential {
        static SHIPPED: OnceLock<Referential> = OnceLock::new();
        SHIPPED.get_or_init(|| {
            let mut referential = Referential::default();
            for (name, bytes) in SHIPPED_FILES {
                let text = encoding::text(name, bytes.to_vec()).expect("the shipped files decode (checked by tests)");
                referential.add_csv(name, &text).expect("the shipped files parse (checked by tests)");
            }
            referential
        })
    }

    /// Loads every `*.csv` and `*.csv.gz` (gzip-compressed) file of a directory, in name order,
    /// whatever its layout among the known ones.
    pub fn load_dir(dir: &Path) -> Result<Referential, ReferentialError> {
        let io = |source| ReferentialError::Io { path: dir.to_owned(), source };
        let mut files: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| encoding::is_data_file(name))
            .collect();
        files.sort();
        let mut referential = Referential::default();
        for (name, path) in files {
            let bytes = std::fs::read(&path).map_err(|source| ReferentialError::Io { path: path.clone(), source })?;
            referential.add_csv(&name, &encoding::text(&name, bytes)?)?;
        }
        Ok(referential)
    }

    /// Adds one CSV file; its layout is told from its header. Annuaire rows win over collèges
    /// rows for the same UAI; enrolment files fill in the latest enrolment.
    pub fn add_csv(&mut self, name: &str, text: &str) -> Result<(), ReferentialError> {
        csv_files::load(self, name, text)
    }

    /// The school of a UAI string, if known.
    pub fn school(&self, uai: &str) -> Option<&School> {
        self.schools.get(uai)
    }

    /// Whether the referential knows a UAI.
    pub fn contains(&self, uai: &str) -> bool {
        self.schools.contains_key(uai)
    }

    /// Every school, in no particular order.
    pub fn schools(&self) -> impl Iterator<Item = &School> {
        self.schools.values()
    }

    /// How many schools.
    pub fn len(&self) -> usize {
        self.schools.len()
    }

    /// Whether no school is known.
    pub fn is_empty(&self) -> bool {
        self.schools.is_empty()
    }

    /// Locates a UAI: its school when known, and its territories from the plan.
    pub fn locate<'a>(&'a self, plan: &'a Plan, uai: &str) -> Result<Location<'a>, LocateError> {
        let uai = Uai::parse(uai)?;
        let Some(Territory { departement, academie }) = plan.territories().by_uai_prefix(uai.departement_prefix()) else {
            return Err(LocateError::UnknownDepartement { prefix: uai.departement_prefix().to_owned(), uai: uai.into() });
        };
        Ok(Location {
            school: self.schools.get(uai.as_str()),
            uai: uai.into(),
            departement_code: &departement.code,
            departement: &departement.nom,
            academie_code: &academie.code,
            academie: &academie.nom,
            region_code: &academie.region_code,
            region: &academie.region,
            zone: &academie.zone,
            fuseau: &academie.fuseau,
        })
    }

    /// Adds a school; `replace` lets it override one already known (annuaire over collèges).
    /// Enrolment read from an effectifs file, before or after, is kept.
    pub(crate) fn upsert(&mut self, mut school: School, replace: bool) {
        if let Some((pupils, year)) = self.enrolments.get(&school.uai) {
            school.enrolment = Some(*pupils);
            school.enrolment_year = Some(year.clone());
        }
        match self.schools.get_mut(&school.uai) {
            Some(existing) if replace => *existing = school,
            Some(_) => {}
            None => {
                self.schools.insert(school.uai.clone(), school);
            }
        }
    }

    /// Records an undated enrolment figure (the annuaire's), unless a dated one is known.
    pub(crate) fn set_enrolment_if_unknown(&mut self, uai: &str, pupils: u32) {
        if let Some(school) = self.schools.get_mut(uai) {
            if school.enrolment.is_none() {
                school.enrolment = Some(pupils);
            }
        }
    }

    /// Records an enrolment figure of a school year; the latest year wins.
    pub(crate) fn set_enrolment(&mut self, uai: &str, pupils: u32, year: &str) {
        let newer = self.enrolments.get(uai).is_none_or(|(_, known)| known.as_str() <= year);
        if !newer {
            return;
        }
        self.enrolments.insert(uai.to_owned(), (pupils, year.to_owned()));
        if let Some(school) = self.schools.get_mut(uai) {
            school.enrolment = Some(pupils);
            school.enrolment_year = Some(year.to_owned());
        }
    }
}

#[cfg(test)]
mod tests;
