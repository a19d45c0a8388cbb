//! One dead letter judged again: the event it keeps is validated against a plan, and a hit the
//! plan now accepts is stored as it would have been at its receive time: the same pseudonym
//! (its id properties already hold it), its request's client class, its receive time.
//!
//! What cannot be judged again is said with a reason code of the replay, never guessed:
//! - `nothing_to_replay`: a request refused as a whole (unreadable body, bad split hit) keeps
//!   none of its events;
//! - `visitor_id_not_replayable`: a letter refused for its visitor id: the id was pseudonymized
//!   at the door, so its length, characters or absence (a privacy sentinel such as `opt-out`
//!   is pseudonymized as any value) cannot be checked again;
//! - `plateforme_changed`: the plan reads another platform than the one its ids were
//!   pseudonymized with (the letter's): the pseudonym a live hit would have had is unknown;
//! - `visitor_not_pseudonymized`: the plan takes the visitor from a property the collector did
//!   not pseudonymize (not one of [`ID_PROPERTIES`]): no raw id is ever stored.

use std::borrow::Cow;

use tagging_plan::plan::normalize_code;
use tagging_plan::{RawHit, Validator};

use crate::record::{parse_pseudonym_property, DeadLetter, StoredHit, ID_PROPERTIES};
use crate::useragent::ClientClass;

/// What became of a dead letter judged again.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// The plan accepts it: the hit to append.
    Replay(Box<StoredHit>),
    /// Still refused, with the reason codes of now.
    Refused(Vec<String>),
}

/// The platform a letter belongs to, as `--plateforme` is compared with it.
pub fn platform_of(letter: &DeadLetter) -> Option<String> {
    letter.plateforme.as_deref().map(|p| normalize_code(p).into_owned())
}

/// Judges a dead letter again against the validator's plan.
pub fn judge(validator: &Validator<'_>, letter: &DeadLetter, client: Option<&ClientClass>) -> Judgement {
    let refused = |code: &str| Judgement::Refused(vec![code.to_owned()]);
    if letter.event.is_empty() && letter.properties.is_empty() {
        return refused("nothing_to_replay");
    }
    if letter.reasons.iter().any(|r| r.field == "visitor_id") {
        return refused("visitor_id_not_replayable");
    }
    let raw = RawHit {
        format: letter.format,
        event: Cow::Borrowed(&letter.event),
        index: 0,
        properties: letter.properties.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str()))).collect(),
    };
    let hit = match validator.validate(&raw) {
        Ok(hit) => hit,
        Err(reasons) => {
            let mut codes: Vec<String> = reasons.into_iter().map(|r| r.code).collect();
            codes.sort_unstable();
            codes.dedup();
            return Judgement::Refused(codes);
        }
    };
    if letter.plateforme.as_deref() != Some(hit.plateforme.as_str()) {
        return refused("plateforme_changed");
    }
    let from_id_property = ID_PROPERTIES.iter().any(|name| raw.get(name) == Some(hit.visitor_id.as_str()));
    let Some(visitor) = parse_pseudonym_property(&hit.visitor_id).filter(|_| from_id_property) else {
        return refused("visitor_not_pseudonymized");
    };
    let client = client.cloned().unwrap_or_else(ClientClass::unknown);
    Judgement::Replay(Box::new(StoredHit::new(hit, visitor, client, letter.received_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pseudonym::Pseudonym;
    use crate::record::{pseudonym_property, StoredReason};
    use tagging_plan::{Plan, WireFormat};

    fn pseudonym() -> Pseudonym {
        Pseudonym([7; 16])
    }

    /// A SmartTag hit of MBN refused for its service, as the collector stores it.
    fn letter(service: &str) -> DeadLetter {
        let properties = [
            ("s", "1"),
            ("p", "accueil"),
            ("at", &pseudonym_property(&pseudonym())),
            ("ac", "1"),
            ("service", service),
            ("type", "NATIF"),
            ("uai", "0940176F"),
            ("projet", "ENT_94"),
            ("exploitant", "ODE"),
            ("plateforme", "MBN"),
        ];
        DeadLetter {
            received_ms: 1_789_000_000_000,
            format: WireFormat::Xiti,
            site: Some("1".into()),
            plateforme: Some("MBN".into()),
            event: "page.display".into(),
            reasons: vec![StoredReason {
                code: "unknown_service".into(),
                field: "service".into(),
                value: Some(service.into()),
                message: String::new(),
            }],
            properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    fn chrome() -> ClientClass {
        ClientClass { device: "ordinateur".into(), os: "windows".into(), browser: "chrome".into() }
    }

    #[test]
    fn a_letter_the_plan_now_accepts_becomes_the_hit_it_would_have_been() {
        let plan = Plan::shipped();
        let validator = Validator::new(&plan);
        let Judgement::Replay(hit) = judge(&validator, &letter("NOTES"), Some(&chrome())) else { panic!("NOTES is in the shipped plan") };
        assert_eq!(hit.visitor, pseudonym(), "the pseudonym it was stored with, not a pseudonym of it");
        assert_eq!(hit.received_ms, 1_789_000_000_000, "its receive time");
        assert_eq!(hit.client, chrome());
        assert_eq!((hit.service.as_str(), hit.plateforme.as_str(), hit.plan_version.as_str()), ("NOTES", "MBN", plan.version()));
        let Judgement::Replay(old) = judge(&validator, &letter("NOTES"), None) else { panic!() };
        assert_eq!(old.client, ClientClass::unknown(), "a letter without its client class gets the unknown one");
    }

    #[test]
    fn a_letter_still_refused_says_why_now() {
        let plan = Plan::shipped();
        assert_eq!(judge(&Validator::new(&plan), &letter("JEUX"), None), Judgement::Refused(vec!["unknown_service".into()]));
    }

    #[test]
    fn what_cannot_be_judged_again_is_never_guessed() {
        let plan = Plan::shipped();
        let validator = Validator::new(&plan);
        let whole = DeadLetter { event: String::new(), properties: Vec::new(), ..letter("NOTES") };
        assert_eq!(judge(&validator, &whole, None), Judgement::Refused(vec!["nothing_to_replay".into()]));

        let mut visitor = letter("NOTES");
        visitor.reasons = vec![StoredReason { code: "too_long_visitor_id".into(), field: "visitor_id".into(), value: None, message: String::new() }];
        assert_eq!(judge(&validator, &visitor, None), Judgement::Refused(vec!["visitor_id_not_replayable".into()]));

        let mut moved = letter("NOTES");
        moved.plateforme = Some("ONE".into());
        assert_eq!(judge(&validator, &moved, None), Judgement::Refused(vec!["plateforme_changed".into()]), "its ids were keyed with ONE");

        let mut raw = letter("NOTES");
        raw.properties.retain(|(k, _)| k != "at");
        raw.properties.push(("idclient".into(), "not-a-pseudonym".into()));
        assert_eq!(judge(&validator, &raw, None), Judgement::Refused(vec!["visitor_not_pseudonymized".into()]));
    }
}
