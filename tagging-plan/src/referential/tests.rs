//! Tests of the referential against the shipped open data.

use super::*;

#[test]
fn shipped_files_load_and_locate() {
    let referential = Referential::shipped();
    assert!(referential.len() > 8_000, "{}", referential.len());
    let plan = Plan::shipped();
    let baulon = referential.locate(&plan, "0350122t").unwrap();
    let school = baulon.school.unwrap();
    assert_eq!(school.commune, "Baulon");
    assert_eq!(school.circonscription.as_deref(), Some("Circonscription d'inspection du 1er degré de Bruz"));
    assert_eq!(school.degre, Degree::Premier);
    assert_eq!(school.secteur, Some(Secteur::Public));
    assert!(school.enrolment.is_some());
    assert_eq!((baulon.academie, baulon.region, baulon.zone), ("Rennes", "Bretagne", "Zone B"));
}

#[test]
fn effectifs_give_the_latest_year() {
    let referential = Referential::shipped();
    let college = referential.school("0350002M").unwrap();
    assert_eq!(college.degre, Degree::Second);
    let year = college.enrolment_year.as_deref().unwrap();
    assert!(year >= "2018-2019", "{year}");
}

#[test]
fn a_valid_uai_missing_from_the_files_still_maps() {
    let plan = Plan::shipped();
    let empty = Referential::default();
    let location = empty.locate(&plan, "6200001G").unwrap();
    assert!(location.school.is_none());
    assert_eq!((location.departement_code, location.academie, location.zone), ("2A", "Corse", "Corse"));
    let err = Referential::default().locate(&plan, "0200000S").unwrap_err();
    assert!(err.to_string().contains("prefix 020"), "{err}");
    let err = Referential::default().locate(&plan, "0350122A").unwrap_err();
    assert!(err.to_string().contains("call for T"), "{err}");
}

#[test]
fn every_shipped_uai_has_a_correct_check_letter_and_territory() {
    let plan = Plan::shipped();
    let referential = Referential::shipped();
    for school in referential.schools() {
        let location = referential.locate(&plan, &school.uai).unwrap_or_else(|e| panic!("{}: {e}", school.uai));
        let by_file = plan.territories().by_departement_code(&school.departement_code).unwrap();
        assert_eq!(location.academie, by_file.academie.nom, "{}", school.uai);
    }
}

#[test]
fn unknown_layouts_and_bad_rows_name_the_file_and_line() {
    let mut r = Referential::default();
    let err = r.add_csv("x.csv", "a;b;c\n1;2;3\n").unwrap_err().to_string();
    assert!(err.contains("x.csv") && err.contains("unknown layout"), "{err}");
    let err = r.add_csv("e.csv", "Annee_scolaire;Numero_d_etablissement;Nombre_d_eleves\n2020-2021;0350002M;many\n").unwrap_err().to_string();
    assert!(err.contains("e.csv: line 2") && err.contains("\"many\""), "{err}");
}
