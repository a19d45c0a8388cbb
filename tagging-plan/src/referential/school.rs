//! One school of the referential, as the open data describes it.

use serde::Serialize;

/// Public or private sector (`PU`/`PR` in the published audience data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Secteur {
    /// Public.
    #[serde(rename = "PU")]
    Public,
    /// Private.
    #[serde(rename = "PR")]
    Prive,
}

impl Secteur {
    /// Reads `Public`, `Privé`, `PU`, `PR`…
    pub fn parse(value: &str) -> Option<Secteur> {
        let v = value.trim().to_lowercase();
        if v.starts_with("pu") {
            Some(Secteur::Public)
        } else if v.starts_with("pr") {
            Some(Secteur::Prive)
        } else {
            None
        }
    }
}

/// First degree (écoles, with a circonscription), second degree, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Degree {
    /// Écoles maternelles and élémentaires.
    Premier,
    /// Collèges, lycées, EREA.
    Second,
    /// Services, medico-social establishments…
    Autre,
}

impl Degree {
    /// The degree of a nature code (`151` élémentaire, `340` collège…).
    pub fn of_nature(code: &str) -> Degree {
        match code.trim().parse::<u16>() {
            Ok(100..=199) => Degree::Premier,
            Ok(300..=399) => Degree::Second,
            _ => Degree::Autre,
        }
    }
}

/// A school.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct School {
    /// UAI.
    pub uai: String,
    /// Name.
    pub nom: String,
    /// Nature code (`151`, `340`…).
    pub nature_code: String,
    /// Nature label.
    pub nature: String,
    /// Degree, from the nature code.
    pub degre: Degree,
    /// Sector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secteur: Option<Secteur>,
    /// INSEE commune code.
    pub commune_code: String,
    /// Commune name.
    pub commune: String,
    /// Circonscription (first degree), as named in the annuaire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circonscription: Option<String>,
    /// Supervising ministry, as written in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ministere: Option<String>,
    /// INSEE département code as written in the file.
    pub departement_code: String,
    /// Enrolled pupils, latest known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolment: Option<u32>,
    /// School year (or rentrée) of that enrolment figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolment_year: Option<String>,
    /// Whether the school is open (`OUVERT`).
    pub ouvert: bool,
}
