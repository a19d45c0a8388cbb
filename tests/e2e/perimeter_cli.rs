//! Project perimeters with the real binary: `dnma config check` says, per project, how many
//! schools of the referential its perimeter matched (by degree and sector), `dnma config
//! perimeter --projet P` lists them, and a perimeter naming an unknown territory or matching no
//! school is refused with its key.

use super::dnma;

const CONFIG: &str = r#"
[dashboards]
k = 5

[dashboards.perimeters.ONE]
departements = ["35"]
degre = ["premier"]
secteur = "public"
uai = ["0940176F"]
target = { rate = 0.6, by = "2027-06-30" }

[dashboards.perimeters.TOUTATICE]
academies = ["Rennes"]
natures = ["340"]

[[dashboards.annotations]]
projet = "ONE"
date = "2026-10-05"
text = "Formation des directeurs"
"#;

#[test]
fn dnma_says_which_schools_a_perimeter_matched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dnma.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let file = path.to_str().unwrap();

    let check = dnma(&["config", "check", file], None);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let line =
        |projet: &str| stdout.lines().find(|l| l.trim_start().starts_with(&format!("perimeter {projet}:"))).unwrap_or_else(|| panic!("{stdout}"));
    let one = line("ONE");
    assert!(
        one.contains("écoles publiques du département 35 (Ille-et-Vilaine), et 1 établissement listé")
            && one.contains("second degré")
            && one.contains("0 private")
            && one.contains("target 60 % by 2027-06-30"),
        "{one}"
    );
    assert!(line("TOUTATICE").contains("établissements de nature 340 de l'académie de Rennes"), "{stdout}");
    assert!(stdout.contains("annotations: 1"), "{stdout}");

    // The listing: one line per school, the count on stderr agreeing with the check.
    let list = dnma(&["config", "perimeter", file, "--projet", "ONE"], None);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let csv = String::from_utf8_lossy(&list.stdout);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("uai;nom;commune;departement;degre;secteur;nature"));
    let rows: Vec<&str> = lines.collect();
    let matched: usize = one.split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(rows.len(), matched, "{one}");
    assert!(rows.iter().any(|r| r.starts_with("0940176F;")), "the listed UAI");
    assert!(rows.iter().filter(|r| !r.starts_with("0940176F;")).all(|r| r.starts_with("035") && r.contains(";premier;public;")), "{csv}");
    assert!(String::from_utf8_lossy(&list.stderr).contains(&format!("({matched} schools)")));
    let unknown = dnma(&["config", "perimeter", file, "--projet", "MBN"], None);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no [dashboards.perimeters.MBN] (perimeters: ONE, TOUTATICE)"));

    // Refusals name the key.
    for (bad, expected) in [
        ("[dashboards.perimeters.ONE]\ndepartements = [\"999\"]\n", "[dashboards.perimeters.ONE] departements: no département has the code \"999\""),
        ("[dashboards.perimeters.ONE]\ndepartements = [\"94\"]\nnatures = [\"300\"]\n", "[dashboards.perimeters.ONE] matches no open school"),
        ("[dashboards.perimeters.ONE]\nuai = [\"0350122T\"]\ntarget = { rate = 1.5, by = \"2027-06-30\" }\n", "target.rate must be in (0, 1]"),
        ("[dashboards.perimeters.ONE]\nuai = [\"0350122T\"]\ntarget = { rate = 0.5, by = \"2027-02-30\" }\n", "by"),
        ("[dashboards.perimeters.ONE]\ndepartement = [\"35\"]\n", "unknown field `departement`"),
        ("[[dashboards.annotations]]\ndate = \"2026-10-05\"\ntext = \"\"\n", "text is empty"),
    ] {
        std::fs::write(&path, bad).unwrap();
        let out = dnma(&["config", "check", file], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains(expected), "{bad}: {stderr}");
    }
}
