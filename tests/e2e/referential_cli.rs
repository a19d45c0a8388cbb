//! `dnma referential lookup` as a user runs it.

use super::{dnma, json_lines};

#[test]
fn looks_up_known_unknown_and_wrong_uais() {
    let out = dnma(&["referential", "lookup", "0350122T", "6200001G"], None);
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines[0]["school"]["commune"], "Baulon");
    assert_eq!(lines[0]["academie"], "Rennes");
    assert_eq!(lines[1]["school"], serde_json::Value::Null);
    assert_eq!(lines[1]["departement"], "Corse-du-Sud");
    let out = dnma(&["referential", "lookup", "0350122A", "0200000S"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0350122A") && stderr.contains("call for T"), "{stderr}");
    assert!(stderr.contains("no département has the prefix 020"), "{stderr}");
}

#[test]
fn another_referential_directory() {
    let dir = std::env::temp_dir().join(format!("dnma-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("colleges.csv"),
        "\u{feff}numero_uai;appellation_officielle;secteur_public_prive_libe;code_commune;libelle_commune;code_departement;nature_uai;nature_uai_libe;etat_etablissement_libe\n0350122T;Collège test;Public;35016;Baulon;035;340;COLLEGE;OUVERT\n",
    )
    .unwrap();
    let out = dnma(&["--referential-dir", dir.to_str().unwrap(), "referential", "lookup", "0350122T"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_lines(&out)[0]["school"]["nom"], "Collège test");
    std::fs::write(dir.join("bad.csv"), "a;b\n").unwrap();
    let out = dnma(&["--referential-dir", dir.to_str().unwrap(), "referential", "lookup", "0350122T"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.csv: unknown layout"));
}
