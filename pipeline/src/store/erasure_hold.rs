//! Erasure holds: after an erasure in a hit log that cannot be rewritten (Kafka topics: records
//! go only with the topic's retention), the person's records still in the log must not come
//! back into the store when a pipeline reads them later. The store keeps, until the log's
//! retention has removed them, a one-way digest of each erased pseudonym (never the pseudonym
//! itself), and staging skips the hits and refusals whose visitor has a held digest.

use std::collections::HashSet;

use collector::record::DeadLetter;
use sha2::{Digest, Sha256};

/// The digest under which an erased visitor is held: SHA-256 of a fixed label and the
/// pseudonym, so the hold list alone does not give back the pseudonyms.
pub fn hold_digest(visitor: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(b"dnma erasure hold\0").chain_update(visitor).finalize().into()
}

/// The visitors held out of staging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldVisitors {
    digests: HashSet<[u8; 32]>,
}

impl HeldVisitors {
    /// The visitors of these digests.
    pub fn new(digests: impl IntoIterator<Item = [u8; 32]>) -> Self {
        HeldVisitors { digests: digests.into_iter().collect() }
    }

    /// The visitors of these digests in hex (how both stores keep them); a value that is not
    /// a digest holds no one.
    pub fn from_hex<'a>(digests: impl IntoIterator<Item = &'a str>) -> Self {
        Self::new(digests.into_iter().filter_map(|h| hex::decode(h).ok()).filter_map(|d| <[u8; 32]>::try_from(d).ok()))
    }

    /// Whether no visitor is held (staging then hashes nothing).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// How many visitors are held.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether a pseudonym is held.
    pub fn holds(&self, visitor: &[u8]) -> bool {
        !self.is_empty() && self.digests.contains(&hold_digest(visitor))
    }

    /// Whether a refused hit carries a held pseudonym in its (pseudonymized) properties.
    pub fn holds_letter(&self, letter: &DeadLetter) -> bool {
        !self.is_empty() && Self::pseudonyms_in(letter).any(|visitor| self.holds(&visitor))
    }

    /// The pseudonyms a refused hit carries in its (pseudonymized) properties.
    pub fn pseudonyms_in(letter: &DeadLetter) -> impl Iterator<Item = [u8; 16]> + '_ {
        letter
            .properties
            .iter()
            .filter_map(|(_, value)| value.strip_prefix("pseudonym:"))
            .filter_map(|hex| hex::decode(hex).ok())
            .filter_map(|bytes| <[u8; 16]>::try_from(bytes).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DoomedVisitors;
    use collector::pseudonym::Pseudonym;
    use collector::record::pseudonym_property;

    #[test]
    fn held_visitors_are_found_in_hits_and_refusals_and_no_one_else() {
        let doomed = DoomedVisitors::new(&[[7; 16]]);
        let held = HeldVisitors::new(doomed.hold_digests());
        assert_eq!(held.len(), 1);
        assert_eq!(HeldVisitors::from_hex([hex::encode(hold_digest(&[7; 16])).as_str(), "not hex", "abcd"]), held);
        assert!(held.holds(&[7; 16]) && !held.holds(&[8; 16]));
        assert!(!HeldVisitors::default().holds(&[7; 16]));
        let letter = |visitor: [u8; 16]| DeadLetter {
            received_ms: 0,
            format: tagging_plan::WireFormat::Xiti,
            site: None,
            plateforme: None,
            event: String::new(),
            reasons: Vec::new(),
            properties: vec![("an".into(), pseudonym_property(&Pseudonym(visitor)))],
        };
        assert!(held.holds_letter(&letter([7; 16])));
        assert!(!held.holds_letter(&letter([8; 16])));
        // The digest is not the pseudonym.
        assert!(!hex::encode(hold_digest(&[7; 16])).contains(&"07".repeat(16)));
    }
}
