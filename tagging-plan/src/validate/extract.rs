//! Looking a variable up in a raw hit and checking its value against its rule. The [`Checker`]
//! collects rejections and warnings for one hit while each variable is checked.

use crate::plan::{is_identifier, normalize_code, Match, Plan, Rule, Variable};
use crate::raw_hit::{RawHit, WireFormat};
use crate::uai::{Uai, UaiError};

use super::{Rejection, Warning};

/// Values the Piano SDK puts in `idclient` under its privacy modes: they name nobody.
const PRIVACY_SENTINELS: [&str; 3] = ["opt-out", "no-consent", "no-storage"];

/// A value that passed its variable's rule, in the plan's spelling.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    pub value: String,
}

/// Collects the outcome of checking one hit.
pub(super) struct Checker<'a> {
    plan: &'a Plan,
    raw: &'a RawHit<'a>,
    rejections: Vec<Rejection>,
    warnings: Vec<Warning>,
}

impl<'a> Checker<'a> {
    pub fn new(plan: &'a Plan, raw: &'a RawHit<'a>) -> Self {
        Checker { plan, raw, rejections: Vec::new(), warnings: Vec::new() }
    }

    pub fn reject(&mut self, rejection: Rejection) {
        self.rejections.push(rejection);
    }

    /// Withdraws a rejection made earlier (a missing PROFIL that the category supplies).
    pub fn unreject(&mut self, code: &str) {
        self.rejections.retain(|r| r.code != code);
    }

    pub fn warn(&mut self, code: &str, field: &str, message: String) {
        self.warnings.push(Warning::new(code, field, message));
    }

    /// A value the hit lacks, derived by the validator from elsewhere in the hit (`origin` says
    /// where, for the `legacy_code` warning): the variable's `missing` refusal is replaced by
    /// the value checked against its rule. `None`, and nothing changes, when the variable was
    /// not refused as missing (present, or refused for another reason).
    pub fn derive(&mut self, variable: &Variable, value: &str, origin: &str) -> Option<Checked> {
        let field = variable.field.as_str();
        let code = format!("missing_{field}");
        let missing = self.rejections.iter().position(|r| r.code == code)?;
        self.rejections.remove(missing);
        self.warn("legacy_code", field, format!("{} is missing from a legacy tag: {origin}", variable.name));
        let value = self.apply_rule(variable, field, value, true)?;
        Some(Checked { value })
    }

    /// Says in a variable's `missing` refusal why the validator could not derive it either.
    pub fn explain_missing(&mut self, variable: &Variable, why: &str) {
        let code = format!("missing_{}", variable.field);
        if let Some(missing) = self.rejections.iter_mut().find(|r| r.code == code) {
            missing.message = format!("{} is required and missing, and {why}", variable.name);
        }
    }

    pub fn finish(self) -> (Vec<Rejection>, Vec<Warning>) {
        (self.rejections, self.warnings)
    }

    /// Finds and checks one variable; `None` when it is absent or refused (the reason is kept).
    pub fn check(&mut self, variable: &Variable) -> Option<Checked> {
        let field = variable.field.as_str();
        let (raw_value, legacy) = match self.find(variable, field) {
            Found::Value(value, legacy) => (value, legacy),
            Found::Conflict => return None,
            Found::Absent => {
                if variable.required {
                    self.reject(Rejection::about("missing", field, None, format!("{} is required and missing", variable.name)));
                }
                return None;
            }
        };
        if raw_value.chars().count() > self.plan.limits().max_value_length {
            self.reject(Rejection::about(
                "too_long",
                field,
                Some(raw_value),
                format!("{} is longer than {} characters", variable.name, self.plan.limits().max_value_length),
            ));
            return None;
        }
        if legacy {
            let param = variable.legacy.as_deref().unwrap_or_default();
            self.warn("legacy_code", field, format!("{} sent in the legacy parameter {param}", variable.name));
        }
        let value = self.apply_rule(variable, field, raw_value, legacy)?;
        Some(Checked { value })
    }

    fn find(&mut self, variable: &Variable, field: &str) -> Found<'a> {
        let names = match self.raw.format {
            WireFormat::Piano => &variable.piano,
            WireFormat::Xiti => &variable.xiti,
        };
        let is_visitor = variable.name == "visitor_id";
        for (rank, name) in names.iter().enumerate() {
            let raw = self.raw;
            let mut values = raw.values(name).map(str::trim).filter(|v| !(is_visitor && PRIVACY_SENTINELS.iter().any(|s| v.eq_ignore_ascii_case(s))));
            let Some(first) = values.next() else { continue };
            if let Some(other) = values.find(|v| *v != first) {
                self.reject(Rejection::about(
                    "conflicting",
                    field,
                    Some(other),
                    format!("{name} is sent twice with different values ({first:?} and {other:?})"),
                ));
                return Found::Conflict;
            }
            if rank > 0 {
                self.warn(&format!("{field}_fallback"), field, format!("{} taken from {name}: {} is missing", variable.name, names[0]));
            }
            return Found::Value(first, false);
        }
        match variable.legacy.as_deref().and_then(|legacy| self.raw.get(legacy)) {
            Some(value) => Found::Value(value.trim(), true),
            None => Found::Absent,
        }
    }

    fn apply_rule(&mut self, variable: &Variable, field: &str, raw: &str, from_legacy_param: bool) -> Option<String> {
        let name = &variable.name;
        let invalid = |what: &str| Rejection::about("invalid", field, Some(raw), format!("{name} {raw:?} is not {what}"));
        match variable.rule {
            Rule::Nomenclature => {
                let nomenclature = variable.nomenclature.as_deref().unwrap_or_default();
                match self.plan.resolve(nomenclature, raw) {
                    None => {
                        self.reject(Rejection::about(
                            "unknown",
                            field,
                            Some(raw),
                            format!("{name} {raw:?} is not in the {nomenclature} nomenclature"),
                        ));
                        None
                    }
                    Some(found) => {
                        match found {
                            Match::Legacy(code) if !from_legacy_param => {
                                self.warn("legacy_code", field, format!("{name} {raw:?} is a legacy code for {code}"));
                            }
                            Match::Alias(code) => {
                                self.warn("non_canonical_value", field, format!("{name} {raw:?} is spelled {code} in the plan"));
                            }
                            _ => {}
                        }
                        Some(found.code().to_owned())
                    }
                }
            }
            Rule::Identifier => {
                let value = normalize_code(raw);
                if is_identifier(&value) {
                    Some(value.into_owned())
                } else {
                    self.reject(invalid("an identifier (letters, digits, _ and -)"));
                    None
                }
            }
            Rule::Digits => {
                if raw.bytes().all(|b| b.is_ascii_digit()) {
                    Some(raw.to_owned())
                } else {
                    self.reject(invalid("a number"));
                    None
                }
            }
            Rule::Text => {
                if raw.chars().any(char::is_control) {
                    self.reject(invalid("printable text"));
                    None
                } else {
                    Some(raw.to_owned())
                }
            }
            Rule::Uai => self.check_uai(field, raw),
        }
    }

    fn check_uai(&mut self, field: &str, raw: &str) -> Option<String> {
        match Uai::parse(raw) {
            Err(UaiError::Format(_)) => {
                self.reject(Rejection::about("invalid", field, Some(raw), format!("UAI {raw:?} is not 7 digits and a check letter")));
                None
            }
            Err(e @ UaiError::CheckLetter { .. }) => {
                self.reject(Rejection::new("uai_check_letter", field, Some(raw), e.to_string()));
                None
            }
            Ok(uai) if self.plan.territories().by_uai_prefix(uai.departement_prefix()).is_none() => {
                self.reject(Rejection::new(
                    "uai_unknown_departement",
                    field,
                    Some(raw),
                    format!("UAI {uai}: no département has the prefix {}", uai.departement_prefix()),
                ));
                None
            }
            Ok(uai) => Some(uai.to_string()),
        }
    }
}

/// A variable looked up in the hit: its value (borrowed from the hit) and whether it came from
/// the legacy parameter.
enum Found<'a> {
    Value(&'a str, bool),
    Conflict,
    Absent,
}
