//! Normalization of values before they are compared with the plan: trimmed, accents removed,
//! upper case, runs of spaces, hyphens and apostrophes turned into one underscore.
//! `Cahier de textes` and `cahier-de-textes` both become `CAHIER_DE_TEXTES`.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// Normalizes a code-like value (nomenclatures and identifiers); borrowed when the value was
/// already normalized.
pub fn normalize_code(value: &str) -> Cow<'_, str> {
    let trimmed = value.trim();
    // Fast path: plain upper-case identifiers, as well-tagged ENTs send them.
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(value.len());
    let mut pending_separator = false;
    for c in value.trim().nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() || c == '-' || c == '\'' || c == '’' {
            pending_separator = !out.is_empty();
            continue;
        }
        if pending_separator {
            out.push('_');
            pending_separator = false;
        }
        out.extend(c.to_uppercase());
    }
    Cow::Owned(out)
}

/// Whether a normalized value is a plan identifier: `A-Z`, `0-9`, `_`, `-`.
pub fn is_identifier(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_separators() {
        assert_eq!(normalize_code("Cahier de textes"), "CAHIER_DE_TEXTES");
        assert_eq!(normalize_code("  élève "), "ELEVE");
        assert_eq!(normalize_code("courrier-électronique"), "COURRIER_ELECTRONIQUE");
        assert_eq!(normalize_code("cahier_textes"), "CAHIER_TEXTES");
        assert_eq!(normalize_code("Ressource  d'orientation"), "RESSOURCE_D_ORIENTATION");
        assert_eq!(normalize_code(""), "");
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("RECETTE_ODE"));
        assert!(is_identifier("BIG-BLUE-BUTTON"));
        assert!(!is_identifier("A.B"));
        assert!(!is_identifier(""));
    }
}
