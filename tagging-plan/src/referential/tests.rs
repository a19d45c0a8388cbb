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

#[test]
fn the_occitanie_annuaire_gives_its_ecoles_a_circonscription_and_an_enrolment() {
    let referential = Referential::shipped();
    let plan = Plan::shipped();
    let toulouse = referential.locate(&plan, "0310193S").unwrap();
    let school = toulouse.school.unwrap();
    assert_eq!((school.commune.as_str(), school.degre, school.secteur), ("Toulouse", Degree::Premier, Some(Secteur::Public)));
    assert_eq!(school.circonscription.as_deref(), Some("Circonscription d'inspection du 1er degré de Toulouse Fleurance - Matabiau"));
    // The annuaire's own figure, undated: no effectifs file covers Occitanie.
    assert_eq!((school.enrolment, school.enrolment_year.as_deref()), (Some(120), None));
    assert_eq!((toulouse.academie, toulouse.region, toulouse.zone), ("Toulouse", "Occitanie", "Zone C"));
    // Both académies of the région académique, every département of it.
    let in_occitanie = |s: &&School| plan.territories().by_departement_code(&s.departement_code).is_some_and(|t| t.academie.region == "Occitanie");
    let occitanie: Vec<&School> = referential.schools().filter(in_occitanie).collect();
    let ecoles = occitanie.iter().filter(|s| s.degre == Degree::Premier).count();
    assert!((4_000..6_000).contains(&ecoles), "{ecoles} écoles in Occitanie");
    let with_circonscription = occitanie.iter().filter(|s| s.degre == Degree::Premier && s.circonscription.is_some()).count();
    assert!(with_circonscription * 100 >= ecoles * 99, "{with_circonscription} of {ecoles} écoles have a circonscription");
    let mut departements: Vec<&str> = occitanie.iter().map(|s| s.departement_code.as_str()).collect();
    departements.sort_unstable();
    departements.dedup();
    assert_eq!(departements.len(), 13, "{departements:?}");
}

#[test]
fn shipped_counts_per_degree_are_plausible() {
    let referential = Referential::shipped();
    let count = |d: Degree| referential.schools().filter(|s| s.degre == d).count();
    let (premier, second) = (count(Degree::Premier), count(Degree::Second));
    // Écoles of Ille-et-Vilaine, Val-de-Marne and Occitanie; every collège of France, the lycées of
    // Ille-et-Vilaine and Occitanie.
    assert!((5_500..7_500).contains(&premier), "{premier} écoles");
    assert!((8_000..10_000).contains(&second), "{second} second-degree schools");
    assert!(referential.schools().filter(|s| s.circonscription.is_some()).count() > 5_000);
}

#[test]
fn every_shipped_file_is_credited_in_sources() {
    let sources = include_str!("../../data/SOURCES.md");
    for (name, _) in SHIPPED_FILES {
        assert!(sources.contains(&format!("`{name}`")), "{name} is not credited in data/SOURCES.md");
    }
}

#[test]
fn a_directory_of_gzip_compressed_files_loads() {
    let dir = std::env::temp_dir().join(format!("dnma-referential-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let occitanie = SHIPPED_FILES.iter().find(|(name, _)| name.ends_with(".csv.gz")).unwrap();
    std::fs::write(dir.join(occitanie.0), occitanie.1).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a data file").unwrap();
    let loaded = Referential::load_dir(&dir);
    std::fs::write(dir.join("broken.csv.gz"), b"not gzip").unwrap();
    let broken = Referential::load_dir(&dir).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    let loaded = loaded.unwrap();
    assert!(loaded.len() > 6_000 && loaded.school("0310193S").is_some(), "{}", loaded.len());
    assert!(broken.starts_with("broken.csv.gz: cannot decompress"), "{broken}");
}
