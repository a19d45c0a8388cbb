//! Unit tests of the validator: one rule each, plus property tests on generated hits.

use proptest::prelude::*;

use super::*;
use crate::raw_hit::WireFormat;
use crate::wire::{parse_piano, parse_xiti};

const GOOD_XITI: &str = "s=612345&p=cahier_textes&s2=0350122T&at=u-42&ac=ELEVE&service=CAHIER_TEXTES&type=NATIF\
&uai=0350122T&projet=TOUTATICE&exploitant=ATOS&plateforme=TOUTATICE&profil=ELEVE";

fn validate(raw: &RawHit) -> Result<Hit, Vec<Rejection>> {
    Validator::new(&Plan::shipped()).validate(raw)
}

fn codes(result: Result<Hit, Vec<Rejection>>) -> Vec<String> {
    let mut codes: Vec<String> = result.unwrap_err().into_iter().map(|r| r.code).collect();
    codes.sort();
    codes
}

fn warnings(hit: &Hit) -> Vec<&str> {
    hit.warnings.iter().map(|w| w.code.as_str()).collect()
}

#[test]
fn accepts_a_complete_smarttag_hit() {
    let hit = validate(&parse_xiti(GOOD_XITI)).unwrap();
    assert_eq!(hit.plan_version, "1.0.0");
    assert_eq!((hit.service.as_str(), hit.profil.as_str(), hit.uai.as_str()), ("CAHIER_TEXTES", "ELEVE", "0350122T"));
    assert_eq!(hit.visitor_id, "u-42");
    assert!(hit.warnings.is_empty(), "{:?}", hit.warnings);
}

#[test]
fn accepts_a_piano_body_and_normalizes_values() {
    let body = r#"{"events":[{"name":"page.display","data":{"Service":"cahier de textes","type":"natif","uai":"0350122t",
        "projet":"toutatice","exploitant":"atos","plateforme":"toutatice","user_id":"u1","user_category":"Élève",
        "device_timestamp_utc":1763888400.25,"pageview_id":"pv1","page":"Cahier"}}]}"#;
    let hit = validate(&parse_piano("s=612345&idclient=c1", body.as_bytes()).unwrap()[0]).unwrap();
    assert_eq!(hit.service, "CAHIER_TEXTES");
    assert_eq!(hit.service_type, "NATIF");
    assert_eq!(hit.uai, "0350122T");
    assert_eq!(hit.profil, "ELEVE");
    assert_eq!(hit.visitor_id, "u1");
    assert_eq!(hit.client_time_ms, Some(1_763_888_400_250));
    assert_eq!(hit.pageview_id.as_deref(), Some("pv1"));
    assert_eq!(warnings(&hit), ["non_canonical_value", "profil_from_category"]);
}

#[test]
fn reports_every_reason_at_once() {
    let raw = parse_xiti("s=abc&uai=0350122A&service=JEUX&type=TIERS&profil=ELEVE&ac=2");
    assert_eq!(
        codes(validate(&raw)),
        [
            "invalid_site",
            "missing_exploitant",
            "missing_plateforme",
            "missing_projet",
            "missing_visitor_id",
            "profil_category_mismatch",
            "tiers_without_outil",
            "uai_check_letter",
            "unknown_service",
        ]
    );
}

#[test]
fn type_and_outil_must_agree() {
    let natif_with_outil = parse_xiti(&format!("{GOOD_XITI}&outil=NEXTCLOUD")).into_owned();
    assert_eq!(codes(validate(&natif_with_outil)), ["outil_without_tiers"]);
    let tiers = parse_xiti(&GOOD_XITI.replace("type=NATIF", "type=TIERS&outil=nextcloud")).into_owned();
    assert_eq!(validate(&tiers).unwrap().outil.as_deref(), Some("NEXTCLOUD"));
}

#[test]
fn smarttag_click_type_collision() {
    let click = parse_xiti(&GOOD_XITI.replace("type=NATIF", "type=click&click=N&type=TIERS&outil=ZIMBRA")).into_owned();
    let hit = validate(&click).unwrap();
    assert_eq!((hit.event.as_str(), hit.service_type.as_str()), ("click.navigation", "TIERS"));
}

#[test]
fn legacy_codes_are_accepted_with_a_warning() {
    let raw = parse_xiti("s=612345&at=u1&x1=10&x2=1&x3=ENT_35&x4=TOUTATICE&type=NATIF&uai=0350122T&exploitant=ATOS");
    let hit = validate(&raw).unwrap();
    assert_eq!((hit.service.as_str(), hit.profil.as_str(), hit.projet.as_str()), ("COURRIER_ELECTRONIQUE", "ELEVE", "ENT_35"));
    assert_eq!(warnings(&hit), ["legacy_code"; 4]);
    let ac_legacy = parse_xiti(&GOOD_XITI.replace("ac=ELEVE", "ac=1")).into_owned();
    assert_eq!(warnings(&validate(&ac_legacy).unwrap()), ["legacy_code"]);
}

#[test]
fn uai_rules() {
    let unknown_dep = parse_xiti(&GOOD_XITI.replace("uai=0350122T", "uai=0200000S")).into_owned();
    assert_eq!(codes(validate(&unknown_dep)), ["uai_unknown_departement"]);
    let bad_format = parse_xiti(&GOOD_XITI.replace("uai=0350122T", "uai=35-0122")).into_owned();
    assert_eq!(codes(validate(&bad_format)), ["invalid_uai"]);
    let level2 = parse_xiti(&GOOD_XITI.replace("s2=0350122T", "s2=0350165P")).into_owned();
    assert_eq!(warnings(&validate(&level2).unwrap()), ["level2_mismatch"]);
}

#[test]
fn referential_warns_about_unknown_schools() {
    let plan = Plan::shipped();
    let validator = Validator::new(&plan).with_referential(Referential::shipped());
    let missing = parse_xiti(&GOOD_XITI.replace("0350122T", "0350999W")).into_owned();
    let hit = validator.validate(&missing).unwrap();
    assert_eq!(warnings(&hit), ["uai_not_in_referential"]);
    assert!(validator.validate(&parse_xiti(GOOD_XITI)).unwrap().warnings.is_empty());
}

#[test]
fn visitor_id_falls_back_on_idclient_but_not_on_privacy_modes() {
    let body = |idclient: &str| {
        let data = r#"{"events":[{"name":"page.display","data":{"service":"NOTES","type":"NATIF","uai":"0350122T","projet":"P","exploitant":"E","plateforme":"X","profil":"PARENT"}}]}"#;
        parse_piano(&format!("s=1&idclient={idclient}"), data.as_bytes()).unwrap().remove(0).into_owned()
    };
    let hit = validate(&body("cookie-1")).unwrap();
    assert_eq!((hit.visitor_id.as_str(), warnings(&hit)), ("cookie-1", vec!["visitor_id_fallback"]));
    assert_eq!(codes(validate(&body("OPT-OUT"))), ["missing_visitor_id"]);
    assert_eq!(codes(validate(&body("no-consent"))), ["missing_visitor_id"]);
}

#[test]
fn conflicting_repeats_and_events() {
    let repeated = parse_xiti(&format!("{GOOD_XITI}&uai=0350165P")).into_owned();
    assert_eq!(codes(validate(&repeated)), ["conflicting_uai"]);
    let same_twice = parse_xiti(&format!("{GOOD_XITI}&uai=0350122T")).into_owned();
    assert!(validate(&same_twice).is_ok());
    let mut other = parse_xiti(GOOD_XITI);
    other.event = "av.play".into();
    assert_eq!(codes(validate(&other)), ["unsupported_event"]);
    other.event = "".into();
    assert_eq!(codes(validate(&other)), ["missing_event_name"]);
    let long = parse_xiti(&GOOD_XITI.replace("p=cahier_textes", &format!("p={}", "a".repeat(300)))).into_owned();
    assert_eq!(codes(validate(&long)), ["too_long_page"]);
}

fn arb_valid_xiti() -> impl Strategy<Value = (String, [String; 4])> {
    let plan = Plan::shipped();
    let services: Vec<String> = plan.nomenclatures()["services"].values.iter().map(|v| v.code.clone()).collect();
    let profils: Vec<String> = plan.nomenclatures()["profils"].values.iter().map(|v| v.code.clone()).collect();
    (proptest::sample::select(services), proptest::sample::select(profils), 0u32..10_000, "[A-Z][A-Z0-9_]{0,15}", "[a-zA-Z0-9-]{1,40}").prop_map(
        |(service, profil, n, projet, visitor)| {
            let digits = format!("035{n:04}");
            let uai = format!("{digits}{}", crate::uai::check_letter(&digits));
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("s", "1"),
                    ("at", visitor.as_str()),
                    ("service", service.as_str()),
                    ("type", "NATIF"),
                    ("uai", uai.as_str()),
                    ("projet", projet.as_str()),
                    ("exploitant", "E"),
                    ("plateforme", "X"),
                    ("profil", profil.as_str()),
                ])
                .finish();
            (query, [service, profil, uai, visitor])
        },
    )
}

proptest! {
    #[test]
    fn valid_hits_round_trip((query, [service, profil, uai, visitor]) in arb_valid_xiti()) {
        let hit = validate(&parse_xiti(&query)).unwrap();
        prop_assert_eq!(hit.format, WireFormat::Xiti);
        prop_assert_eq!((hit.service, hit.profil, hit.uai, hit.visitor_id), (service, profil, uai, visitor));
    }

    #[test]
    fn validation_never_panics(q in "\\PC{0,300}") {
        let _ = validate(&parse_xiti(&q));
    }
}
