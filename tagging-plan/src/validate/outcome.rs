//! Rejections and warnings: each has a stable, machine-readable code (what dashboards count and
//! editors grep for), the field it is about, the value seen and a message for people.
//!
//! Codes are built from a kind and the field's lower-case name: `missing_profil`,
//! `unknown_service`, `invalid_projet`, `conflicting_uai`, `too_long_page`; plus the fixed codes
//! `uai_check_letter`, `uai_unknown_departement`, `outil_without_tiers`, `tiers_without_outil`,
//! `profil_category_mismatch`, `missing_event_name`, `unsupported_event`, and the wire codes of
//! [`crate::wire::WireError::code`].

use serde::{Deserialize, Serialize};

/// Longest value quoted back in a rejection or warning.
const QUOTED_VALUE_CHARS: usize = 100;

/// Why a hit is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Stable reason code.
    pub code: String,
    /// The plan variable (or `event`, `body`) it is about.
    pub field: String,
    /// The value seen, when there was one (shortened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What is wrong, for people.
    pub message: String,
}

/// Something accepted but worth fixing in the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable code (`legacy_code`, `non_canonical_value`, `level2_mismatch`,
    /// `profil_from_category`, `visitor_id_fallback`, `uai_not_in_referential`).
    pub code: String,
    /// The variable it is about.
    pub field: String,
    /// What was noted, for people.
    pub message: String,
}

impl Rejection {
    /// A rejection with a fixed code.
    pub fn new(code: &str, field: &str, value: Option<&str>, message: impl Into<String>) -> Self {
        Rejection { code: code.to_owned(), field: field.to_owned(), value: value.map(quote), message: message.into() }
    }

    /// A rejection whose code is `{kind}_{field}` (`missing_profil`, `unknown_service`).
    pub fn about(kind: &str, field: &str, value: Option<&str>, message: impl Into<String>) -> Self {
        Rejection::new(&format!("{kind}_{field}"), field, value, message)
    }
}

impl Warning {
    /// A warning.
    pub fn new(code: &str, field: &str, message: impl Into<String>) -> Self {
        Warning { code: code.to_owned(), field: field.to_owned(), message: message.into() }
    }
}

fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTED_VALUE_CHARS) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}
