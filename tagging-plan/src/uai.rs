//! The UAI, the national id of a school: 7 digits and a check letter.
//!
//! The check letter is `"ABCDEFGHJKLMNPRSTUVWXYZ"[int(first 7 digits) % 23]` (23 letters, no I,
//! O, Q); the first three characters name the département (`0` + two digits, `620`/`720` for
//! Corsica, `97x`/`98x` overseas). A [`Uai`] value has always passed both checks.

use std::fmt;

/// The 23 check letters, indexed by `number % 23`.
const CHECK_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

/// A well-formed UAI with a correct check letter, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uai(String);

/// Why a string is not a UAI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaiError {
    /// Not 7 digits followed by a letter.
    #[error("{0:?} is not a UAI: expected 7 digits and a check letter, e.g. 0350122T")]
    Format(String),
    /// The letter does not match the digits.
    #[error("{value:?} has check letter {found}, the digits {digits} call for {expected}")]
    CheckLetter {
        /// The value as given (upper-cased).
        value: String,
        /// The seven digits.
        digits: String,
        /// The letter the digits call for.
        expected: char,
        /// The letter given.
        found: char,
    },
}

impl Uai {
    /// Parses a UAI, case-insensitively and ignoring surrounding spaces.
    pub fn parse(input: &str) -> Result<Self, UaiError> {
        let value = input.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 8 || !bytes[..7].iter().all(u8::is_ascii_digit) || !bytes[7].is_ascii_alphabetic() {
            return Err(UaiError::Format(input.trim().to_owned()));
        }
        let expected = check_letter(&value[..7]);
        let found = char::from(bytes[7]);
        if found != expected {
            return Err(UaiError::CheckLetter { digits: value[..7].to_owned(), value, expected, found });
        }
        Ok(Self(value))
    }

    /// The UAI as an 8-character string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first three characters, which name the département.
    pub fn departement_prefix(&self) -> &str {
        &self.0[..3]
    }
}

/// The check letter of seven digits.
///
/// # Panics
/// If `digits` is not made of ASCII digits (callers check first).
pub fn check_letter(digits: &str) -> char {
    let number: u32 = digits.parse().expect("seven ASCII digits");
    char::from(CHECK_LETTERS[(number % 23) as usize])
}

impl fmt::Display for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Uai {
    type Error = UaiError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Uai> for String {
    fn from(uai: Uai) -> Self {
        uai.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_real_uais_in_any_case() {
        assert_eq!(Uai::parse("0350122T").unwrap().as_str(), "0350122T");
        assert_eq!(Uai::parse(" 0940176f ").unwrap().as_str(), "0940176F");
        assert_eq!(Uai::parse("0071168G").unwrap().departement_prefix(), "007");
    }

    #[test]
    fn names_the_expected_letter() {
        let err = Uai::parse("0350122A").unwrap_err();
        assert_eq!(err, UaiError::CheckLetter { value: "0350122A".into(), digits: "0350122".into(), expected: 'T', found: 'A' });
        assert!(err.to_string().contains("call for T"));
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in ["", "035012T", "03501222T", "A350122T", "03501227", "0350 22T", "０350122T"] {
            assert!(matches!(Uai::parse(bad), Err(UaiError::Format(_))), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_seven_digits_have_exactly_one_letter(n in 0u32..10_000_000) {
            let digits = format!("{n:07}");
            let letter = check_letter(&digits);
            for candidate in 'A'..='Z' {
                let result = Uai::parse(&format!("{digits}{candidate}"));
                prop_assert_eq!(result.is_ok(), candidate == letter);
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            let _ = Uai::parse(&s);
        }
    }
}
