//! Display names of the cells of each level: a school's name, a département's name; académies,
//! régions, circonscriptions and ENT entities are already named by their code.

use tagging_plan::{Plan, Referential};

use crate::model::Level;

/// The name of the cell `code` of `level` (empty when the referential does not know the school).
pub fn display_name(plan: &Plan, referential: &Referential, level: Level, code: &str) -> String {
    match level {
        Level::Ecole => referential.school(code).map(|s| s.nom.clone()).unwrap_or_default(),
        Level::Departement => plan.territories().by_departement_code(code).map(|t| t.departement.nom.clone()).unwrap_or_default(),
        Level::Nation => "France".to_owned(),
        Level::Circonscription | Level::Academie | Level::Region | Level::Projet | Level::Plateforme | Level::Exploitant => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_referential_and_the_plan() {
        let plan = Plan::shipped();
        let referential = Referential::shipped();
        assert_eq!(display_name(&plan, referential, Level::Departement, "35"), "Ille-et-Vilaine");
        assert_eq!(display_name(&plan, referential, Level::Academie, "Rennes"), "Rennes");
        assert!(!display_name(&plan, referential, Level::Ecole, "0350122T").is_empty());
        assert_eq!(display_name(&plan, referential, Level::Ecole, "0359999Z"), "");
    }
}
