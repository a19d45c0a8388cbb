//! Erasure of one person's records from the log, on request (RGPD art. 17): which stored
//! records belong to a set of pseudonyms. An accepted hit belongs to its visitor; a dead letter
//! belongs to a visitor when one of its id properties (`user_id`, `idclient`, `at`, `an`)
//! holds the visitor's pseudonym (ids are pseudonymized before a dead letter is written, as
//! [`pseudonym_property`]).
//! The log itself turns the records found into tombstones ([`crate::log::EmbeddedHitLog::erase`]).

use std::collections::HashSet;

use crate::log::Topic;
use crate::pseudonym::Pseudonym;
use crate::record::{pseudonym_property, DeadLetter, StoredHit, ID_PROPERTIES};

/// Says whether a stored record belongs to one of a set of visitors.
#[derive(Debug, Clone)]
pub struct VisitorMatcher {
    visitors: HashSet<Pseudonym>,
    /// Their values in a dead letter's id properties.
    properties: HashSet<String>,
}

impl VisitorMatcher {
    /// Matches the records of these pseudonyms.
    pub fn new(visitors: impl IntoIterator<Item = Pseudonym>) -> Self {
        let visitors: HashSet<Pseudonym> = visitors.into_iter().collect();
        let hex = visitors.iter().map(pseudonym_property).collect();
        VisitorMatcher { visitors, properties: hex }
    }

    /// Whether the record (as stored in `topic`) belongs to one of the visitors. A record that
    /// does not decode is not theirs (and is left for an operator to look at).
    pub fn matches(&self, topic: Topic, payload: &[u8]) -> bool {
        match topic {
            Topic::Hits => StoredHit::decode(payload).is_ok_and(|hit| self.visitors.contains(&hit.visitor)),
            Topic::DeadLetters => DeadLetter::decode(payload).is_ok_and(|letter| {
                letter.properties.iter().any(|(name, value)| ID_PROPERTIES.contains(&name.as_str()) && self.properties.contains(value))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::useragent::ClientClass;
    use tagging_plan::WireFormat;

    fn hit(visitor: Pseudonym) -> Vec<u8> {
        StoredHit {
            received_ms: 1,
            client_time_ms: None,
            plan_version: "1".into(),
            format: WireFormat::Piano,
            event: "page.display".into(),
            site: "1".into(),
            page: None,
            service: "NOTES".into(),
            service_type: "NATIF".into(),
            outil: None,
            uai: "0350122T".into(),
            projet: "ENT_35".into(),
            exploitant: "ODE".into(),
            plateforme: "ONE".into(),
            profil: "ELEVE".into(),
            visitor,
            client: ClientClass { device: "ordinateur".into(), os: "windows".into(), browser: "chrome".into() },
            pageview_id: None,
            warnings: Vec::new(),
            extra: Vec::new(),
        }
        .encode()
    }

    fn letter(properties: &[(&str, String)]) -> Vec<u8> {
        DeadLetter {
            received_ms: 1,
            format: WireFormat::Xiti,
            site: None,
            plateforme: Some("ONE".into()),
            event: "page.display".into(),
            reasons: Vec::new(),
            properties: properties.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        }
        .encode()
    }

    #[test]
    fn hits_and_dead_letters_of_the_visitors_match_and_nothing_else() {
        let (doomed, other) = (Pseudonym([7; 16]), Pseudonym([8; 16]));
        let matcher = VisitorMatcher::new([doomed]);
        assert!(matcher.matches(Topic::Hits, &hit(doomed)));
        assert!(!matcher.matches(Topic::Hits, &hit(other)));
        assert!(matcher.matches(Topic::DeadLetters, &letter(&[("service", "JEUX".into()), ("at", pseudonym_property(&doomed))])));
        assert!(!matcher.matches(Topic::DeadLetters, &letter(&[("at", pseudonym_property(&other))])));
        assert!(!matcher.matches(Topic::DeadLetters, &letter(&[("page", pseudonym_property(&doomed))])), "only id properties hold pseudonyms");
        assert!(!matcher.matches(Topic::DeadLetters, &letter(&[("at", doomed.to_string())])), "ids are stored as `pseudonym:<hex>`");
        assert!(!matcher.matches(Topic::Hits, b"not a record"));
    }
}
