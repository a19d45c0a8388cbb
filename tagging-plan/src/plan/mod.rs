//! The national tagging plan: a versioned TOML file, parsed into a checked, indexed [`Plan`].
//!
//! The shipped plan is `tagging-plan/plan/dnma-v1.toml`, compiled into the crate
//! ([`Plan::shipped`]); [`Plan::from_file`] loads another one. Loading checks the file against
//! itself (every variable's nomenclature exists, every role is defined once, aliases and legacy
//! codes point at real codes), so validation never meets a broken plan.

mod model;
mod normalize;
mod territory;

use std::collections::HashMap;
use std::path::Path;

pub use model::{Academie, Departement, EventNames, Limits, Nomenclature, NomenclatureValue, PlanFile, PlanHeader, Rule, Variable};
pub use normalize::{is_identifier, normalize_code};
pub use territory::{Territories, Territory};

use crate::error::PlanError;

/// The plan file shipped with dnma.
pub const SHIPPED_PLAN: &str = include_str!("../../plan/dnma-v1.toml");

/// What a variable is for: the validator knows these roles; any other variable is `Custom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `SERVICE`.
    Service,
    /// `TYPE` (NATIF / TIERS).
    Type,
    /// `OUTIL`.
    Outil,
    /// `UAI`.
    Uai,
    /// `PROJET`.
    Projet,
    /// `EXPLOITANT`.
    Exploitant,
    /// `PLATEFORME`.
    Plateforme,
    /// `PROFIL`.
    Profil,
    /// `site`: the numeric site id.
    Site,
    /// `page`: the page name.
    Page,
    /// `visitor_id`: the identified visitor.
    VisitorId,
    /// `visitor_category`: the identified visitor's category (the profile).
    VisitorCategory,
    /// `level2`: repeats the UAI.
    Level2,
    /// Any other variable.
    Custom,
}

impl Role {
    /// Roles the plan must define.
    pub const REQUIRED: [Role; 10] = [
        Role::Service,
        Role::Type,
        Role::Outil,
        Role::Uai,
        Role::Projet,
        Role::Exploitant,
        Role::Plateforme,
        Role::Profil,
        Role::Site,
        Role::VisitorId,
    ];

    /// The role of a variable name.
    pub fn of(name: &str) -> Role {
        match name {
            "SERVICE" => Role::Service,
            "TYPE" => Role::Type,
            "OUTIL" => Role::Outil,
            "UAI" => Role::Uai,
            "PROJET" => Role::Projet,
            "EXPLOITANT" => Role::Exploitant,
            "PLATEFORME" => Role::Plateforme,
            "PROFIL" => Role::Profil,
            "site" => Role::Site,
            "page" => Role::Page,
            "visitor_id" => Role::VisitorId,
            "visitor_category" => Role::VisitorCategory,
            "level2" => Role::Level2,
            _ => Role::Custom,
        }
    }
}

/// How a raw value matched a nomenclature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match<'p> {
    /// The code itself.
    Code(&'p str),
    /// Another spelling listed in `aliases`.
    Alias(&'p str),
    /// A pre-2016 numeric code.
    Legacy(&'p str),
}

impl<'p> Match<'p> {
    /// The plan's code, however it matched.
    pub fn code(self) -> &'p str {
        match self {
            Match::Code(c) | Match::Alias(c) | Match::Legacy(c) => c,
        }
    }
}

/// A loaded, checked plan.
#[derive(Debug, Clone)]
pub struct Plan {
    file: PlanFile,
    territories: Territories,
    roles: HashMap<Role, usize>,
    /// nomenclature name -> normalized spelling -> match.
    lookups: HashMap<String, HashMap<String, (usize, MatchKind)>>,
}

#[derive(Debug, Clone, Copy)]
enum MatchKind {
    Code,
    Alias,
    Legacy,
}

impl Plan {
    /// The plan shipped with dnma (`dnma-v1.toml`).
    pub fn shipped() -> Plan {
        Plan::from_toml(SHIPPED_PLAN).expect("the shipped plan is valid (checked by tests)")
    }

    /// Loads a plan file.
    pub fn from_file(path: &Path) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Io { path: path.to_owned(), source })?;
        Plan::from_toml(&text)
    }

    /// Parses and checks a plan from TOML text.
    pub fn from_toml(text: &str) -> Result<Plan, PlanError> {
        let file: PlanFile = toml::from_str(text)?;
        Plan::from_parts(file)
    }

    fn from_parts(mut file: PlanFile) -> Result<Plan, PlanError> {
        for variable in &mut file.variables {
            variable.field = variable.name.to_ascii_lowercase();
        }
        let invalid = |m: String| PlanError::Invalid(m);
        let mut roles = HashMap::new();
        for (i, variable) in file.variables.iter().enumerate() {
            let role = Role::of(&variable.name);
            if role != Role::Custom && roles.insert(role, i).is_some() {
                return Err(invalid(format!("variable {} is defined twice", variable.name)));
            }
            if variable.piano.is_empty() && variable.xiti.is_empty() {
                return Err(invalid(format!("variable {} has no wire name", variable.name)));
            }
            match (variable.rule, &variable.nomenclature) {
                (Rule::Nomenclature, Some(n)) if file.nomenclatures.contains_key(n) => {}
                (Rule::Nomenclature, Some(n)) => return Err(invalid(format!("variable {} uses unknown nomenclature {n}", variable.name))),
                (Rule::Nomenclature, None) => return Err(invalid(format!("variable {} has rule nomenclature but names none", variable.name))),
                (_, Some(_)) => return Err(invalid(format!("variable {} names a nomenclature but its rule is not nomenclature", variable.name))),
                (_, None) => {}
            }
        }
        for role in Role::REQUIRED {
            if !roles.contains_key(&role) {
                return Err(invalid(format!("the plan does not define the {role:?} variable")));
            }
        }
        let types = &file.variables[roles[&Role::Type]];
        let type_codes: Vec<&str> = types
            .nomenclature
            .as_ref()
            .and_then(|n| file.nomenclatures.get(n))
            .map(|n| n.values.iter().map(|v| v.code.as_str()).collect())
            .unwrap_or_default();
        if !(type_codes.contains(&"NATIF") && type_codes.contains(&"TIERS")) {
            return Err(invalid("the TYPE nomenclature must hold NATIF and TIERS".into()));
        }
        let mut lookups = HashMap::new();
        for (name, nomenclature) in &file.nomenclatures {
            lookups.insert(name.clone(), index_nomenclature(name, nomenclature)?);
        }
        file.operators = std::mem::take(&mut file.operators)
            .into_iter()
            .map(|(plateforme, exploitant)| {
                let (plateforme, exploitant) = (normalize_code(&plateforme).into_owned(), normalize_code(&exploitant).into_owned());
                if is_identifier(&plateforme) && is_identifier(&exploitant) {
                    Ok((plateforme, exploitant))
                } else {
                    Err(invalid(format!("operators: {plateforme:?} = {exploitant:?} is not two identifiers (letters, digits, _ and -)")))
                }
            })
            .collect::<Result<_, _>>()?;
        let territories = Territories::new(file.academies.clone()).map_err(invalid)?;
        Ok(Plan { file, territories, roles, lookups })
    }

    /// The known operator (EXPLOITANT) of a platform (its PLATEFORME code), from the plan's
    /// `[operators]` table.
    pub fn operator_of(&self, plateforme: &str) -> Option<&str> {
        self.file.operators.get(normalize_code(plateforme).as_ref()).map(String::as_str)
    }

    /// Identity and version.
    pub fn header(&self) -> &PlanHeader {
        &self.file.plan
    }

    /// The version recorded on every hit this plan accepts.
    pub fn version(&self) -> &str {
        &self.file.plan.version
    }

    /// Size limits.
    pub fn limits(&self) -> &Limits {
        &self.file.limits
    }

    /// Page-view and click event names.
    pub fn events(&self) -> &EventNames {
        &self.file.events
    }

    /// Every variable, in plan order.
    pub fn variables(&self) -> &[Variable] {
        &self.file.variables
    }

    /// The variable playing a role, when the plan defines it.
    pub fn variable(&self, role: Role) -> Option<&Variable> {
        self.roles.get(&role).map(|&i| &self.file.variables[i])
    }

    /// Every nomenclature, by name.
    pub fn nomenclatures(&self) -> &std::collections::BTreeMap<String, Nomenclature> {
        &self.file.nomenclatures
    }

    /// The territory table.
    pub fn territories(&self) -> &Territories {
        &self.territories
    }

    /// The plan as written (for `dnma plan show --json`).
    pub fn file(&self) -> &PlanFile {
        &self.file
    }

    /// Matches a raw value against a nomenclature: exact code, alias or legacy code, after
    /// [`normalize_code`]. `None` when the value is not in the list (or the list is unknown).
    pub fn resolve(&self, nomenclature: &str, raw: &str) -> Option<Match<'_>> {
        let values = &self.file.nomenclatures.get(nomenclature)?.values;
        let &(i, kind) = self.lookups.get(nomenclature)?.get(normalize_code(raw).as_ref())?;
        let code = values[i].code.as_str();
        Some(match kind {
            MatchKind::Code => Match::Code(code),
            MatchKind::Alias => Match::Alias(code),
            MatchKind::Legacy => Match::Legacy(code),
        })
    }
}

fn index_nomenclature(name: &str, nomenclature: &Nomenclature) -> Result<HashMap<String, (usize, MatchKind)>, PlanError> {
    let mut index = HashMap::new();
    let position = |code: &str| nomenclature.values.iter().position(|v| v.code == code);
    for (i, value) in nomenclature.values.iter().enumerate() {
        if normalize_code(&value.code) != value.code {
            return Err(PlanError::Invalid(format!("{name}: code {:?} is not in normalized form", value.code)));
        }
        if index.insert(value.code.clone(), (i, MatchKind::Code)).is_some() {
            return Err(PlanError::Invalid(format!("{name}: code {} is listed twice", value.code)));
        }
    }
    for (spellings, kind) in [(&nomenclature.aliases, MatchKind::Alias), (&nomenclature.legacy, MatchKind::Legacy)] {
        for (spelling, code) in spellings {
            let i = position(code).ok_or_else(|| PlanError::Invalid(format!("{name}: {spelling:?} points at unknown code {code}")))?;
            if index.insert(normalize_code(spelling).into_owned(), (i, kind)).is_some() {
                return Err(PlanError::Invalid(format!("{name}: spelling {spelling:?} is listed twice")));
            }
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_plan_loads_with_25_services_and_page_ent() {
        let plan = Plan::shipped();
        assert_eq!(plan.version(), "1.0.0");
        let services = &plan.nomenclatures()["services"].values;
        assert_eq!(services.len(), 26);
        assert_eq!(services.iter().filter(|v| !v.column.is_empty()).count(), 25);
        assert!(services.iter().any(|v| v.code == "PAGE_ENT" && v.column.is_empty()));
    }

    #[test]
    fn resolves_codes_aliases_and_legacy() {
        let plan = Plan::shipped();
        assert_eq!(plan.resolve("services", "cahier_textes"), Some(Match::Code("CAHIER_TEXTES")));
        assert_eq!(plan.resolve("services", "Cahier de textes"), Some(Match::Alias("CAHIER_TEXTES")));
        assert_eq!(plan.resolve("services", "10"), Some(Match::Legacy("COURRIER_ELECTRONIQUE")));
        assert_eq!(plan.resolve("profils", "Élève"), Some(Match::Code("ELEVE")));
        assert_eq!(plan.resolve("profils", "4"), Some(Match::Legacy("ADMIN_VIE_SCOL_TECH")));
        assert_eq!(plan.resolve("profils", "5"), None);
        assert_eq!(plan.resolve("services", "MESSAGERIE_PRIVEE"), None);
    }

    #[test]
    fn knows_the_operators_of_platforms_and_refuses_a_malformed_entry() {
        let plan = Plan::shipped();
        assert_eq!(plan.operator_of("ONE"), Some("ODE"));
        assert_eq!(plan.operator_of("mbn"), Some("KOSMOS"), "looked up after normalization");
        assert_eq!(plan.operator_of("INCONNUE"), None);
        let bad = SHIPPED_PLAN.replace("ONE = \"ODE\"", "ONE = \"O D/E\"");
        let error = Plan::from_toml(&bad).unwrap_err().to_string();
        assert!(error.contains("operators") && error.contains("O_D/E"), "{error}");
    }

    #[test]
    fn territories_cover_mainland_corsica_and_overseas() {
        let plan = Plan::shipped();
        let t = plan.territories();
        let rennes = t.by_uai_prefix("035").unwrap();
        assert_eq!((rennes.departement.code.as_str(), rennes.academie.nom.as_str()), ("35", "Rennes"));
        assert_eq!(rennes.academie.zone, "Zone B");
        assert_eq!(t.by_uai_prefix("620").unwrap().departement.code, "2A");
        assert_eq!(t.by_uai_prefix("720").unwrap().academie.zone, "Corse");
        assert_eq!(t.by_uai_prefix("974").unwrap().academie.fuseau, "Indian/Reunion");
        assert_eq!(t.by_departement_code("094").unwrap().academie.nom, "Créteil");
        assert_eq!(t.by_departement_code("02B").unwrap().departement.nom, "Haute-Corse");
        // 95 mainland départements, 2 in Corsica, 9 overseas prefixes but one (971) holds three.
        assert_eq!(t.academies().iter().map(|a| a.departements.len()).sum::<usize>(), 105);
        assert!(t.by_uai_prefix("020").is_none());
    }

    #[test]
    fn rejects_inconsistent_plans_with_a_clear_message() {
        let broken = SHIPPED_PLAN
            .replace("nomenclature = \"profils\"\n\n[[variables]]\nname = \"site\"", "nomenclature = \"profiles\"\n\n[[variables]]\nname = \"site\"");
        let err = Plan::from_toml(&broken).unwrap_err().to_string();
        assert!(err.contains("unknown nomenclature profiles"), "{err}");
        let typo = SHIPPED_PLAN.replace("required = true\nrule = \"uai\"", "requird = true\nrule = \"uai\"");
        let err = Plan::from_toml(&typo).unwrap_err().to_string();
        assert!(err.contains("requird"), "{err}");
        let dup = SHIPPED_PLAN.replace("name = \"EXPLOITANT\"", "name = \"PROJET\"");
        assert!(Plan::from_toml(&dup).unwrap_err().to_string().contains("PROJET is defined twice"));
    }
}
