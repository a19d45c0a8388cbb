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

    /// Its name in the facts, URLs and `dnma query`: `public` or `prive`.
    pub fn name(self) -> &'static str {
        match self {
            Secteur::Public => "public",
            Secteur::Prive => "prive",
        }
    }
}

/// The kind of a school as the audience figures split it: école (first degree), collège or
/// lycée (second degree), or another establishment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchoolKind {
    /// Écoles maternelles and élémentaires (nature `1xx`).
    Ecole,
    /// Collèges (nature `340` to `359`).
    College,
    /// Lycées, their sections and the EREA (nature `300` to `339`, `370`).
    Lycee,
    /// Anything else: medico-social establishments, MFR, services…
    Autre,
}

impl SchoolKind {
    /// Every kind, first degree first.
    pub const ALL: [SchoolKind; 4] = [SchoolKind::Ecole, SchoolKind::College, SchoolKind::Lycee, SchoolKind::Autre];

    /// The kind of a nature code (`151` élémentaire, `340` collège, `306` lycée polyvalent…).
    pub fn of_nature(code: &str) -> SchoolKind {
        match code.trim().parse::<u16>() {
            Ok(100..=199) => SchoolKind::Ecole,
            Ok(340..=359) => SchoolKind::College,
            Ok(300..=339 | 370) => SchoolKind::Lycee,
            _ => SchoolKind::Autre,
        }
    }

    /// Its name in the facts, URLs and `dnma query`: `ecole`, `college`, `lycee` or `autre`.
    pub fn name(self) -> &'static str {
        match self {
            SchoolKind::Ecole => "ecole",
            SchoolKind::College => "college",
            SchoolKind::Lycee => "lycee",
            SchoolKind::Autre => "autre",
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

impl School {
    /// Its kind (école, collège, lycée or another), from its nature code.
    pub fn kind(&self) -> SchoolKind {
        SchoolKind::of_nature(&self.nature_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nature_codes_give_the_kind_the_audience_figures_split_by() {
        for (code, kind) in [
            ("101", SchoolKind::Ecole),
            ("151", SchoolKind::Ecole),
            ("340", SchoolKind::College),
            ("350", SchoolKind::College),
            ("300", SchoolKind::Lycee),
            ("306", SchoolKind::Lycee),
            ("320", SchoolKind::Lycee),
            ("335", SchoolKind::Lycee),
            ("370", SchoolKind::Lycee),
            ("380", SchoolKind::Autre),
            ("240", SchoolKind::Autre),
            ("809", SchoolKind::Autre),
            ("", SchoolKind::Autre),
        ] {
            assert_eq!(SchoolKind::of_nature(code), kind, "{code}");
        }
    }

    #[test]
    fn every_kind_but_autre_has_the_degree_of_its_nature() {
        for code in ["101", "151", "340", "306", "320"] {
            let degree = Degree::of_nature(code);
            let kind = SchoolKind::of_nature(code);
            assert_eq!(degree == Degree::Premier, kind == SchoolKind::Ecole, "{code}");
            assert_eq!(degree == Degree::Second, matches!(kind, SchoolKind::College | SchoolKind::Lycee), "{code}");
        }
    }
}
