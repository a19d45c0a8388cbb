//! Reading the open-data CSV layouts into the referential. Columns are found by name, so the
//! départemental extracts and the national file (same columns, possibly in another order or with
//! extra ones) read alike. The layout is told from the header.

use std::collections::HashMap;

use super::school::{Degree, School, Secteur};
use super::Referential;
use crate::error::ReferentialError;

/// A known file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Annuaire de l'éducation (`Identifiant_de_l_etablissement;…`).
    Annuaire,
    /// Établissements, collèges (`numero_uai;…`).
    Colleges,
    /// Effectifs des écoles (`Rentrée scolaire;…;Numéro de l'école;…`).
    EffectifsEcoles,
    /// Effectifs du second degré (`Annee_scolaire;…;Numero_d_etablissement;…`).
    EffectifsSecondDegre,
}

/// Column lookup by name over one record.
struct Columns {
    file: String,
    index: HashMap<String, usize>,
}

impl Columns {
    fn position(&self, name: &str) -> Result<usize, ReferentialError> {
        self.index.get(name).copied().ok_or_else(|| ReferentialError::MissingColumn { file: self.file.clone(), column: name.to_owned() })
    }
}

pub(super) fn load(referential: &mut Referential, name: &str, text: &str) -> Result<(), ReferentialError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').flexible(true).from_reader(text.as_bytes());
    let csv_error =
        |e: csv::Error| ReferentialError::Csv { file: name.to_owned(), line: e.position().map_or(0, csv::Position::line), message: e.to_string() };
    let headers = reader.headers().map_err(csv_error)?.clone();
    let columns = Columns { file: name.to_owned(), index: headers.iter().enumerate().map(|(i, h)| (h.trim().to_owned(), i)).collect() };
    let layout = if columns.index.contains_key("Identifiant_de_l_etablissement") {
        Layout::Annuaire
    } else if columns.index.contains_key("numero_uai") {
        Layout::Colleges
    } else if columns.index.contains_key("Numéro de l'école") {
        Layout::EffectifsEcoles
    } else if columns.index.contains_key("Numero_d_etablissement") {
        Layout::EffectifsSecondDegre
    } else {
        let header: Vec<&str> = headers.iter().take(3).collect();
        return Err(ReferentialError::UnknownLayout { file: name.to_owned(), header: header.join(";") });
    };
    let reader_fields = Fields::new(layout, &columns)?;
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        reader_fields.apply(referential, &record).map_err(|message| ReferentialError::Csv { file: name.to_owned(), line, message })?;
    }
    Ok(())
}

/// Column positions for one layout.
struct Fields {
    layout: Layout,
    uai: usize,
    /// name, secteur, commune code, commune, département, nature code, nature label, state
    school: Option<[usize; 8]>,
    circonscription: Option<usize>,
    ministere: Option<usize>,
    pupils: Option<usize>,
    year: Option<usize>,
}

impl Fields {
    fn new(layout: Layout, c: &Columns) -> Result<Fields, ReferentialError> {
        let p = |n| c.position(n);
        let optional = |n: &str| c.index.get(n).copied();
        Ok(match layout {
            Layout::Annuaire => Fields {
                layout,
                uai: p("Identifiant_de_l_etablissement")?,
                school: Some([
                    p("Nom_etablissement")?,
                    p("Statut_public_prive")?,
                    p("Code_commune")?,
                    p("Nom_commune")?,
                    p("Code_departement")?,
                    p("code_nature")?,
                    p("libelle_nature")?,
                    p("etat")?,
                ]),
                circonscription: optional("nom_circonscription"),
                ministere: optional("ministere_tutelle"),
                pupils: optional("Nombre_d_eleves"),
                year: None,
            },
            Layout::Colleges => Fields {
                layout,
                uai: p("numero_uai")?,
                school: Some([
                    p("appellation_officielle")?,
                    p("secteur_public_prive_libe")?,
                    p("code_commune")?,
                    p("libelle_commune")?,
                    p("code_departement")?,
                    p("nature_uai")?,
                    p("nature_uai_libe")?,
                    p("etat_etablissement_libe")?,
                ]),
                circonscription: None,
                ministere: optional("libelle_ministere"),
                pupils: None,
                year: None,
            },
            Layout::EffectifsEcoles => Fields {
                layout,
                uai: p("Numéro de l'école")?,
                school: None,
                circonscription: None,
                ministere: None,
                pupils: Some(p("Nombre total d'élèves")?),
                year: Some(p("Rentrée scolaire")?),
            },
            Layout::EffectifsSecondDegre => Fields {
                layout,
                uai: p("Numero_d_etablissement")?,
                school: None,
                circonscription: None,
                ministere: None,
                pupils: Some(p("Nombre_d_eleves")?),
                year: Some(p("Annee_scolaire")?),
            },
        })
    }

    fn apply(&self, referential: &mut Referential, record: &csv::StringRecord) -> Result<(), String> {
        let get = |i: usize| record.get(i).unwrap_or_default().trim();
        let uai = get(self.uai).to_ascii_uppercase();
        if uai.is_empty() {
            return Err("empty UAI".into());
        }
        let pupils = match self.pupils.map(get).filter(|v| !v.is_empty()) {
            Some(v) => Some(v.parse::<u32>().map_err(|_| format!("{uai}: enrolment {v:?} is not a number"))?),
            None => None,
        };
        let Some([nom, secteur, commune_code, commune, departement, nature_code, nature, etat]) = self.school else {
            let year = school_year(self.year.map(get).unwrap_or_default());
            if let Some(pupils) = pupils {
                referential.set_enrolment(&uai, pupils, &year);
            }
            return Ok(());
        };
        let school = School {
            nom: get(nom).to_owned(),
            nature_code: get(nature_code).to_owned(),
            nature: get(nature).to_owned(),
            degre: Degree::of_nature(get(nature_code)),
            secteur: Secteur::parse(get(secteur)),
            commune_code: get(commune_code).to_owned(),
            commune: get(commune).to_owned(),
            circonscription: self.circonscription.map(get).filter(|c| !c.is_empty()).map(str::to_owned),
            ministere: self.ministere.map(get).filter(|c| !c.is_empty()).map(str::to_owned),
            departement_code: get(departement).to_owned(),
            enrolment: None,
            enrolment_year: None,
            ouvert: get(etat).eq_ignore_ascii_case("OUVERT"),
            uai,
        };
        let uai = school.uai.clone();
        referential.upsert(school, self.layout == Layout::Annuaire);
        if let Some(pupils) = pupils {
            // The annuaire's own figure is undated: it only fills in where no effectifs file did.
            referential.set_enrolment_if_unknown(&uai, pupils);
        }
        Ok(())
    }
}

/// `2022` (rentrée) -> `2022-2023`; `2018-2019` stays.
fn school_year(value: &str) -> String {
    match value.parse::<u16>() {
        Ok(start) => format!("{start}-{}", start + 1),
        Err(_) => value.to_owned(),
    }
}
