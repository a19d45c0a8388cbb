//! The territory table of the plan: UAI prefix -> département -> académie -> région académique,
//! holiday zone and time zone, for all of France. A valid UAI maps to its territory through this
//! table even when the school is missing from the annuaire.

use std::collections::HashMap;

use super::model::{Academie, Departement};

/// Where a UAI prefix lies.
#[derive(Debug, Clone, Copy)]
pub struct Territory<'p> {
    /// The département.
    pub departement: &'p Departement,
    /// Its académie (with région, zone, time zone).
    pub academie: &'p Academie,
}

/// Index over the plan's académies.
#[derive(Debug, Clone, Default)]
pub struct Territories {
    academies: Vec<Academie>,
    /// UAI prefix -> (académie index, département index).
    by_prefix: HashMap<String, (usize, usize)>,
    /// INSEE département code -> same.
    by_code: HashMap<String, (usize, usize)>,
}

impl Territories {
    /// Indexes the académies; fails on a prefix or département code listed twice.
    pub fn new(academies: Vec<Academie>) -> Result<Self, String> {
        let mut by_prefix = HashMap::new();
        let mut by_code = HashMap::new();
        for (a, academie) in academies.iter().enumerate() {
            for (d, departement) in academie.departements.iter().enumerate() {
                let prefix = &departement.uai_prefix;
                if prefix.len() != 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("département {}: uai_prefix {prefix:?} is not three digits", departement.nom));
                }
                if by_prefix.insert(prefix.clone(), (a, d)).is_some() {
                    return Err(format!("uai_prefix {prefix} is listed twice"));
                }
                for code in std::iter::once(&departement.code).chain(&departement.other_codes) {
                    if by_code.insert(code.clone(), (a, d)).is_some() {
                        return Err(format!("département code {code} is listed twice"));
                    }
                }
            }
        }
        Ok(Self { academies, by_prefix, by_code })
    }

    /// The territory of a UAI prefix (`035`, `620`, `974`).
    pub fn by_uai_prefix(&self, prefix: &str) -> Option<Territory<'_>> {
        self.by_prefix.get(prefix).map(|&(a, d)| self.at(a, d))
    }

    /// The territory of an INSEE département code (`35`, `2A`, `971`), with or without the
    /// leading zero that the open-data files write (`035`, `02A`).
    pub fn by_departement_code(&self, code: &str) -> Option<Territory<'_>> {
        let code = code.trim();
        let short = if code.len() == 3 && code.starts_with('0') { &code[1..] } else { code };
        self.by_code.get(short).map(|&(a, d)| self.at(a, d))
    }

    /// Every académie, in plan order.
    pub fn academies(&self) -> &[Academie] {
        &self.academies
    }

    fn at(&self, a: usize, d: usize) -> Territory<'_> {
        let academie = &self.academies[a];
        Territory { departement: &academie.departements[d], academie }
    }
}
