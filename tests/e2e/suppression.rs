//! Complementary suppression through the real binary (issue 25): recorded traffic of the week of
//! 2026-11-23 where a collège of the Allier (03) has 4 visitors beside three larger ones, and the
//! Haute-Vienne (87) 4 visitors beside the Corrèze and the Creuse in the académie of Limoges.
//! `dnma dashboards` serves them over the Parquet store and, when `DNMA_CLICKHOUSE_URL` is set
//! (required under `CI=true`), over ClickHouse; the JSON API, the CSV download and
//! `dnma export opendata` must hide both small cells, and no subtraction "parent − visible
//! children" (nor "globales − visible profiles") may give back any hidden cell's true figures,
//! which `dnma query` (the operator's exact tool) tells.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::collector::Collector;
use super::dnma;

const WEEK: &str = "2026-11-23";
const MEASURES: [&str; 5] = ["visits", "visitors", "page_views", "clicks", "duration_s"];
const CSV_MEASURES: [&str; 5] = ["visites", "visiteurs_uniques", "pages_vues", "clics", "duree_totale_s"];

/// (UAI, users, teachers among them): collèges, direct children of their département.
const SCHOOLS: [(&str, u32, u32); 8] = [
    ("0030017C", 4, 0),
    ("0030018D", 9, 1),
    ("0030021G", 12, 0),
    ("0030022H", 15, 2),
    ("0870007K", 4, 0),
    ("0190001Y", 8, 0),
    ("0190615R", 10, 3),
    ("0230017U", 11, 0),
];

/// SmartTag hits for `dnma import`: each user visits on Monday and Tuesday, a few pages each.
fn recorded_hits() -> String {
    let mut lines = String::new();
    for (s, (uai, users, teachers)) in SCHOOLS.iter().enumerate() {
        for user in 0..*users {
            let profile = if user < *teachers { 2 } else { 1 };
            for day in [23, 24] {
                let pages = 1 + (user + day + u32::try_from(s).unwrap()) % 3;
                for page in 0..pages {
                    let (hour, minute) = (9 + user % 7, page * 4 + day % 5);
                    let _ = writeln!(
                        lines,
                        "2026-11-{day}T{hour:02}:{minute:02}:00+01:00\t/hit.xiti?s=1&p=page{page}&at=u-{uai}-{user}&ac={profile}&service=NOTES&type=NATIF&uai={uai}&projet=ENT_35&exploitant=ODE&plateforme=ONE"
                    );
                }
            }
        }
    }
    lines
}

/// The exact figures of every cell of a level for the week (`dnma query`), by code.
fn exact(data_dir: &Path, config: Option<&Path>, level: &str, profil: Option<&str>) -> BTreeMap<String, Value> {
    let mut args = vec![
        "query",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--level",
        level,
        "--period",
        "week",
        "--from",
        WEEK,
        "--to",
        WEEK,
        "--format",
        "json",
    ];
    if profil.is_some() {
        args.extend_from_slice(&["--breakdown", "profil"]);
    }
    if let Some(c) = config {
        args.extend_from_slice(&["--config", c.to_str().unwrap()]);
    }
    let out = dnma(&args, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = super::json_lines(&out).into_iter().filter(|r| profil.is_none_or(|p| r["value"] == p));
    rows.map(|r| (r["code"].as_str().unwrap().to_owned(), r)).collect()
}

/// One published cell: its figures (none when hidden).
type Published = Option<[u64; 5]>;

fn from_api(figures: &Value) -> Published {
    if figures["suppressed"] == true {
        assert!(MEASURES.iter().all(|m| figures[*m].is_null()), "every measure of a hidden cell is hidden: {figures}");
        return None;
    }
    Some(MEASURES.map(|m| figures[m].as_u64().unwrap()))
}

/// Fails when `parent − visible children` gives back a hidden child's true figures, for any
/// measure; returns the hidden children.
fn no_subtraction(what: &str, parent: Published, children: &BTreeMap<String, Published>, truth: &BTreeMap<String, Value>) -> BTreeSet<String> {
    let hidden: BTreeSet<String> = children.iter().filter(|(_, f)| f.is_none()).map(|(c, _)| c.clone()).collect();
    // A hidden parent is one more unknown of the sum: only a lone unknown is given back.
    let unknowns = hidden.len() + usize::from(parent.is_none());
    assert_ne!(unknowns, 1, "{what}: one hidden child alone is given back by subtraction: {hidden:?}");
    if let Some(parent) = parent {
        for (i, measure) in MEASURES.iter().enumerate() {
            let visible: u64 = children.values().flatten().map(|f| f[i]).sum();
            let left = parent[i] - visible;
            for code in &hidden {
                let true_value = truth.get(code).and_then(|r| r[*measure].as_u64()).unwrap_or(0);
                assert!(hidden.len() > 1 && left != true_value || true_value == 0, "{what}: {measure} of {code} recovered ({left})");
            }
        }
    }
    hidden
}

async fn api(client: &reqwest::Client, url: &str, query: &str) -> Value {
    let response = client.get(format!("{url}/api/v1/territoires?periode=semaine&debut={WEEK}&{query}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{query}");
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

async fn csv(client: &reqwest::Client, url: &str, query: &str) -> Vec<BTreeMap<String, String>> {
    let text = client.get(format!("{url}/territoires.csv?periode=semaine&debut={WEEK}&{query}")).send().await.unwrap().text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    reader.records().map(|r| header.iter().cloned().zip(r.unwrap().iter().map(str::to_owned)).collect()).collect()
}

fn from_csv(row: &BTreeMap<String, String>) -> Published {
    if row["visites"] == "secret" {
        assert!(CSV_MEASURES.iter().all(|m| row[*m] == "secret"), "every measure of a hidden cell is hidden: {row:?}");
        return None;
    }
    Some(CSV_MEASURES.map(|m| row[m].parse().unwrap()))
}

/// The checks on one served store: the API and the CSV of the département and the académie.
async fn check_dashboards(url: &str, data_dir: &Path, config: Option<&Path>) {
    let client = reqwest::Client::new();
    let schools = exact(data_dir, config, "ecole", None);
    let departements = exact(data_dir, config, "departement", None);
    assert_eq!(schools["0030017C"]["visitors"], 4, "the data hold the small school");
    assert_eq!(departements["87"]["visitors"], 4, "the data hold the small département");
    for (query, small, truth) in [("niveau=departement&code=03", "0030017C", &schools), ("niveau=academie&code=Limoges", "87", &departements)] {
        let view = api(&client, url, query).await;
        let parent = from_api(&view["territory"]["figures"]);
        let children: BTreeMap<String, Published> =
            view["children"].as_array().unwrap().iter().map(|c| (c["code"].as_str().unwrap().to_owned(), from_api(&c["figures"]))).collect();
        let hidden = no_subtraction(&format!("API {query}"), parent, &children, truth);
        assert!(hidden.contains(small), "API {query}: {small} is hidden: {view:#}");
        // The CSV: the same cells hidden, the same figures shown.
        let rows = csv(&client, url, query).await;
        let csv_parent = from_csv(&rows[0]);
        let csv_children: BTreeMap<String, Published> = rows[1..].iter().map(|r| (r["code"].clone(), from_csv(r))).collect();
        assert_eq!((csv_parent, &csv_children), (parent, &children), "CSV and API agree on {query}");
        no_subtraction(&format!("CSV {query}"), csv_parent, &csv_children, truth);
        // Per profile (a filter), and each school's total against its profiles.
        for profil in ["ELEVE", "ENSEIGNANT"] {
            let by = api(&client, url, &format!("{query}&profil={profil}")).await;
            let truth_p = exact(data_dir, config, if small == "87" { "departement" } else { "ecole" }, Some(profil));
            let children_p: BTreeMap<String, Published> =
                by["children"].as_array().unwrap().iter().map(|c| (c["code"].as_str().unwrap().to_owned(), from_api(&c["figures"]))).collect();
            no_subtraction(&format!("API {query} {profil}"), from_api(&by["territory"]["figures"]), &children_p, &truth_p);
        }
    }
    // Up the tree: the académie in its région, the région in France.
    let academies = exact(data_dir, config, "academie", None);
    let limoges = api(&client, url, "niveau=academie&code=Limoges").await;
    let region = limoges["path"].as_array().unwrap().iter().find(|p| p[0] == "region").unwrap()[1].as_str().unwrap().to_owned();
    let view = api(&client, url, &format!("niveau=region&code={}", region.replace(' ', "%20"))).await;
    let children: BTreeMap<String, Published> =
        view["children"].as_array().unwrap().iter().map(|c| (c["code"].as_str().unwrap().to_owned(), from_api(&c["figures"]))).collect();
    no_subtraction("API région", from_api(&view["territory"]["figures"]), &children, &academies);
}

/// The open data of the week by profile: the small school hidden, and no school's `globales`
/// minus its visible profiles giving back a hidden profile; the same schools hidden as in the API.
async fn check_export(url: &str, data_dir: &Path) {
    let out = data_dir.join("opendata.csv");
    let export = dnma(
        &["export", "opendata", "--data-dir", data_dir.to_str().unwrap(), "--week", WEEK, "--by", "profil", "--out", out.to_str().unwrap()],
        None,
    );
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let profiles: Vec<String> = header.iter().filter_map(|h| h.strip_prefix("visites_")).filter(|p| *p != "globales").map(str::to_owned).collect();
    let mut hidden_schools = BTreeSet::new();
    for record in reader.records() {
        let row: BTreeMap<&str, &str> = header.iter().map(String::as_str).zip(record.as_ref().unwrap().iter()).collect();
        let triplet =
            |p: &str| (row[format!("visites_{p}").as_str()] != "secret").then(|| row[format!("visites_{p}").as_str()].parse::<u64>().unwrap());
        let hidden_profiles: Vec<&String> = profiles.iter().filter(|p| triplet(p).is_none()).collect();
        let Some(total) = triplet("globales") else {
            hidden_schools.insert(row["uai"].to_owned());
            continue;
        };
        assert_ne!(hidden_profiles.len(), 1, "{}: globales minus the visible profiles gives {hidden_profiles:?} back: {row:?}", row["uai"]);
        let visible: u64 = profiles.iter().filter_map(|p| triplet(p)).sum();
        assert!(hidden_profiles.is_empty() || total - visible > 0);
    }
    assert!(hidden_schools.contains("0030017C"), "{text}");
    let view = api(&reqwest::Client::new(), url, "niveau=departement&code=03").await;
    let in_api: BTreeSet<String> = view["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["figures"]["suppressed"] == true)
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect();
    let in_export: BTreeSet<String> = hidden_schools.iter().filter(|s| s.starts_with("003")).cloned().collect();
    assert_eq!(in_export, in_api, "the open data and the API hide the same schools");
}

fn dashboards(data_dir: &Path, config: &Path) -> Collector {
    Collector::spawn(&["dashboards", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()])
}

#[tokio::test]
async fn no_hidden_cell_comes_back_by_subtraction_from_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path();
    let imported = dnma(&["import", "--data-dir", data_dir.to_str().unwrap(), "-"], Some(recorded_hits().as_bytes()));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir.to_str().unwrap()], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let views = "[dashboards]\nk = 5\nopen_views = true\ncache_seconds = 0\n";
    let parquet_config = data_dir.join("parquet.toml");
    std::fs::write(&parquet_config, views).unwrap();
    let served = dashboards(data_dir, &parquet_config);
    check_dashboards(&served.url, data_dir, None).await;
    check_export(&served.url, data_dir).await;
    drop(served);

    let Some(url) = super::clickhouse::server() else { return };
    let database = format!("dnma_e2e_supp_{}", std::process::id());
    let config = data_dir.join("clickhouse.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\nconsumer = \"pipeline-clickhouse\"\n\n[store]\nkind = \"clickhouse\"\nurl = \"{url}\"\ndatabase = \"{database}\"\n\n{views}"
        ),
    )
    .unwrap();
    let migrate = dnma(&["clickhouse", "migrate", "--config", config.to_str().unwrap()], None);
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let served = dashboards(data_dir, &config);
    check_dashboards(&served.url, data_dir, Some(&config)).await;
    drop(served);
    let dropped = reqwest::Client::new().post(&url).body(format!("DROP DATABASE {database}")).send().await.unwrap();
    assert!(dropped.status().is_success());
}
