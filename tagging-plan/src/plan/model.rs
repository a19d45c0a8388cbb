//! The plan file's layout, as serde types. Unknown keys are rejected so a typo in a plan file is
//! an error naming the key, not a silently ignored rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole plan file, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Identity and version.
    pub plan: PlanHeader,
    /// Size limits on values.
    pub limits: Limits,
    /// Which event names are page views and which are clicks.
    pub events: EventNames,
    /// The variables a hit carries, with their rules.
    pub variables: Vec<Variable>,
    /// Value lists, by name.
    pub nomenclatures: BTreeMap<String, Nomenclature>,
    /// Académies with their départements, for all of France.
    pub academies: Vec<Academie>,
    /// The known operator (EXPLOITANT code) of each platform (PLATEFORME code): what completes
    /// a pre-2016 `SmartTag` hit that names its platform but not its operator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operators: BTreeMap<String, String>,
}

/// Identity of a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanHeader {
    /// Short id, e.g. `dnma`.
    pub id: String,
    /// Version recorded on every hit the plan accepts, e.g. `1.0.0`.
    pub version: String,
    /// Human title.
    pub title: String,
}

/// Size limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest accepted value, in characters.
    pub max_value_length: usize,
}

/// Event names counted as page views and as clicks; any other event is rejected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventNames {
    /// Page-view events (`page.display`).
    pub page_views: Vec<String>,
    /// Click events (`click.navigation`…).
    pub clicks: Vec<String>,
}

/// How a variable's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// One of a nomenclature's codes (after normalization, aliases and legacy codes).
    Nomenclature,
    /// Upper-case letters, digits, `_` and `-` after normalization.
    Identifier,
    /// A UAI with its check letter and a known département.
    Uai,
    /// ASCII digits only.
    Digits,
    /// Any text without control characters.
    Text,
}

/// One variable of the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The plan's name (`SERVICE`, `UAI`, …, or a custom name).
    pub name: String,
    /// What it means, in French.
    pub description: String,
    /// Property names in Piano SDK events (and the `/event` query string), in priority order.
    pub piano: Vec<String>,
    /// `SmartTag` query parameters, in priority order.
    pub xiti: Vec<String>,
    /// The pre-2016 numeric parameter (`x1`..`x4`), accepted with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy: Option<String>,
    /// Whether a hit without it is rejected.
    pub required: bool,
    /// How its value is checked.
    pub rule: Rule,
    /// The nomenclature, when `rule = "nomenclature"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nomenclature: Option<String>,
    /// The lower-case name used as `field` and in reason codes (`profil`), set on load.
    #[serde(skip)]
    pub field: String,
}

/// A list of allowed values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nomenclature {
    /// What the list is.
    pub description: String,
    /// The allowed codes.
    pub values: Vec<NomenclatureValue>,
    /// Pre-2016 numeric codes mapped to today's codes.
    #[serde(default)]
    pub legacy: BTreeMap<String, String>,
    /// Other spellings seen in the field, mapped to codes.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

/// One allowed code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NomenclatureValue {
    /// The code as the plan spells it (`CAHIER_TEXTES`).
    pub code: String,
    /// French label for people.
    pub label: String,
    /// The open-data column it is published under; empty when only counted globally.
    #[serde(default)]
    pub column: String,
}

/// An académie and its départements.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Academie {
    /// Ministry code (`14` Rennes, `70` Normandie…).
    pub code: String,
    /// Name.
    pub nom: String,
    /// Code of its région académique.
    pub region_code: String,
    /// Name of its région académique.
    pub region: String,
    /// Holiday zone as spelled in the school calendar (`Zone A`, `Corse`, `Réunion`…).
    pub zone: String,
    /// IANA time zone of its schools.
    pub fuseau: String,
    /// Its départements.
    pub departements: Vec<Departement>,
}

/// A département.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Departement {
    /// First three characters of its schools' UAIs.
    pub uai_prefix: String,
    /// INSEE code (`35`, `2A`, `971`).
    pub code: String,
    /// Name.
    pub nom: String,
    /// INSEE codes of collectivités whose schools share the prefix (977, 978 under 971).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_codes: Vec<String>,
}
