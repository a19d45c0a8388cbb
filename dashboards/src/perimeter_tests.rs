//! Perimeter matching over the shipped plan and referential, and its validation errors.

use super::*;

fn resolve(text: &str) -> Result<Perimeter, PerimeterError> {
    let config: PerimeterConfig = toml_like(text);
    config.resolve("ONE", &Plan::shipped(), Referential::shipped(), &[])
}

/// A perimeter from JSON (the dashboards crate does not read TOML; the shapes are the same).
fn toml_like(json: &str) -> PerimeterConfig {
    serde_json::from_str(json).unwrap()
}

fn shipped(uai: &str) -> &'static School {
    Referential::shipped().school(uai).unwrap()
}

#[test]
fn a_departement_degree_and_sector_select_the_public_ecoles_of_35() {
    let p = resolve(r#"{"departements": ["35"], "degre": ["premier"], "secteur": "public"}"#).unwrap();
    assert!(p.len() > 100, "{}", p.len());
    for uai in &p.schools {
        let s = shipped(uai);
        assert!(uai.starts_with("035") && s.degre == Degree::Premier && s.secteur == Some(Secteur::Public) && s.ouvert, "{s:?}");
    }
    assert_eq!(p.description, "écoles publiques du département 35 (Ille-et-Vilaine)");
    assert_eq!((p.counts.premier, p.counts.public, p.counts.prive, p.counts.unknown), (p.len() as u64, p.len() as u64, 0, 0));
    // Every open public école of 35 is in it.
    let expected = Referential::shipped()
        .schools()
        .filter(|s| s.uai.starts_with("035") && s.degre == Degree::Premier && s.secteur == Some(Secteur::Public) && s.ouvert)
        .count();
    assert_eq!(p.len(), expected);
    // The leading zero of the open-data files is accepted.
    assert_eq!(resolve(r#"{"departements": ["035"], "degre": ["premier"], "secteur": "public"}"#).unwrap().len(), expected);
}

#[test]
fn private_schools_are_kept_apart_and_listed_uais_are_added() {
    let private = resolve(r#"{"departements": ["35"], "secteur": "prive"}"#).unwrap();
    assert!(private.schools.iter().all(|u| shipped(u).secteur == Some(Secteur::Prive)) && private.counts.prive > 0);
    let all = resolve(r#"{"departements": ["35"]}"#).unwrap();
    assert!(all.len() > private.len() && all.counts.premier > 0 && all.counts.second > 0);
    let listed = resolve(r#"{"departements": ["35"], "degre": ["second"], "uai": ["0940176F"]}"#).unwrap();
    assert!(listed.contains("0940176F") && listed.description.ends_with(", et 1 établissement listé"), "{}", listed.description);
    assert_eq!(listed.counts.second + listed.counts.premier + listed.counts.autre, listed.len() as u64);
    let only_listed = resolve(r#"{"uai": ["0350122T", "0350122t"]}"#).unwrap();
    assert_eq!((only_listed.len(), only_listed.description.as_str()), (1, "1 établissement listé"));
}

#[test]
fn academies_and_regions_match_by_code_or_name() {
    let by_name = resolve(r#"{"academies": ["Rennes"], "degre": ["second"], "natures": ["340"]}"#).unwrap();
    let by_code = resolve(r#"{"academies": ["14"], "natures": ["340"], "degre": ["second"]}"#).unwrap();
    assert_eq!(by_name.schools, by_code.schools);
    let prefixes = ["022", "029", "035", "056"];
    assert!(by_name.schools.iter().all(|u| prefixes.contains(&&u[..3]) && shipped(u).nature_code == "340"));
    assert!(prefixes.iter().all(|p| by_name.schools.iter().any(|u| u.starts_with(p))), "every département of the académie");
    assert_eq!(by_name.description, "établissements de nature 340 de l'académie de Rennes");
    let region = resolve(r#"{"regions": ["Bretagne"], "degre": ["second"], "natures": ["340"]}"#).unwrap();
    assert_eq!(region.schools, by_name.schools, "Bretagne's région académique is the académie of Rennes");
    let two = resolve(r#"{"departements": ["94", "35"], "degre": ["premier"]}"#).unwrap();
    assert!(two.description.starts_with("écoles des départements 94 (Val-de-Marne) et 35 (Ille-et-Vilaine)"), "{}", two.description);
    assert!(two.schools.iter().any(|u| u.starts_with("094")) && two.schools.iter().any(|u| u.starts_with("035")));
}

#[test]
fn bad_perimeters_are_refused_with_their_key() {
    let message = |json: &str| resolve(json).unwrap_err().to_string();
    assert_eq!(message(r#"{"departements": ["999"]}"#), r#"[dashboards.perimeters.ONE] departements: no département has the code "999""#);
    assert!(message(r#"{"academies": ["Atlantis"]}"#).contains("academies: no académie has the code or name \"Atlantis\""));
    assert!(message(r#"{"regions": ["99"]}"#).contains("regions: no région académique"));
    // Val-de-Marne is shipped with its écoles only.
    assert!(message(r#"{"departements": ["94"], "degre": ["second"], "secteur": "prive", "natures": ["300"]}"#).contains("matches no open school"));
    assert!(message(r#"{"departements": ["35"], "target": {"rate": 60, "by": "2027-06-30"}}"#).contains("target.rate must be in (0, 1]"));
    assert!(message(r#"{"uai": ["0350122X"]}"#).contains("uai: \"0350122X\" is not a UAI"));
    assert!(message("{}").contains("give departements, academies, regions or uai"));
    assert!(message(r#"{"uai": ["0350122T"], "degre": ["premier"]}"#).contains("degre, natures and secteur select within"));
    assert!(message(r#"{"departements": ["35"], "natures": ["34"]}"#).contains("natures: \"34\""));
    assert!(serde_json::from_str::<PerimeterConfig>(r#"{"departement": ["35"]}"#).unwrap_err().to_string().contains("unknown field `departement`"));
    assert!(serde_json::from_str::<PerimeterConfig>(r#"{"degre": ["lycee"]}"#).is_err());
    assert!(serde_json::from_str::<Target>(r#"{"rate": 0.6, "by": "2027-02-30"}"#).is_err());
    let target = toml_like(r#"{"departements": ["35"], "target": {"rate": 0.6, "by": "2027-06-30"}}"#).target.unwrap();
    assert_eq!(target.by, NaiveDate::from_ymd_opt(2027, 6, 30).unwrap());
}

#[test]
fn annotations_need_a_text() {
    let day = NaiveDate::from_ymd_opt(2026, 10, 5).unwrap();
    let note = |projet: Option<&str>, text: &str| Annotation { projet: projet.map(str::to_owned), date: day, text: text.to_owned() };
    assert!(check_annotations(&[note(Some("ONE"), "Formation des directeurs"), note(None, "Lancement")]).is_ok());
    assert!(check_annotations(&[note(None, " ")]).unwrap_err().contains("#1 (2026-10-05): text is empty"));
    assert!(check_annotations(&[note(Some(""), "x")]).unwrap_err().contains("projet is empty"));
}
