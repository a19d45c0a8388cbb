//! Collector → log → pipeline → query and open-data export, through real HTTP: the real `dnma
//! collector` receives SDK and SmartTag hits, `dnma pipeline run --once` runs beside it on the
//! same data directory, `dnma query` and `dnma export opendata` read the figures back.

use chrono::{Datelike, Utc, Weekday};

use super::collector::Collector;
use super::{dnma, json_lines};

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const RENNES_SCHOOL: &str = "0350122T";
const CRETEIL_SCHOOL: &str = "0940176F";

fn sdk_event(service: &str, user: &str) -> String {
    format!(
        r#"{{"name":"page.display","data":{{"service":"{service}","type":"NATIF","uai":"{RENNES_SCHOOL}","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"{user}"}}}}"#
    )
}

/// Runs `dnma pipeline run --once` on a log of `records` hits, checking with `dnma log stats`
/// that all were behind before and that the newest acknowledged one is counted after.
fn run_pipeline_watching_its_lag(data_dir: &str, records: u64) -> std::process::Output {
    let behind = json_lines(&dnma(&["log", "stats", "--data-dir", data_dir], None)).remove(0);
    assert_eq!(behind["pipeline"]["records_behind"], records, "{behind}");
    assert!(behind["pipeline"]["newest_acknowledged"].is_string() && behind["pipeline"]["newest_counted"].is_null(), "{behind}");
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let caught_up = json_lines(&dnma(&["log", "stats", "--data-dir", data_dir], None)).remove(0);
    let freshness = &caught_up["pipeline"];
    assert_eq!(freshness["records_behind"], 0, "{caught_up}");
    assert_eq!(freshness["days_to_compute"], 0, "{caught_up}");
    assert_eq!(freshness["newest_counted"], freshness["newest_acknowledged"], "{caught_up}");
    assert_eq!(freshness["counting_lag_s"], 0.0, "{caught_up}");
    run
}

/// Both schools of the test are public écoles: broken down by kind of school, filtered by
/// sector and profile, and a kind that is not one, named with the values it takes.
fn schools_by_kind_and_sector(data_dir: &str, today: &str) {
    let academies = ["query", "--data-dir", data_dir, "--level", "academie", "--period", "day", "--from", today, "--to", today, "--format", "json"];
    let by_kind = json_lines(&dnma(&[&academies[..], &["--breakdown", "degre"]].concat(), None));
    assert_eq!(by_kind.len(), 2, "{by_kind:#?}");
    assert!(by_kind.iter().all(|r| r["breakdown"] == "degre" && r["value"] == "ecole" && r["visitors"] == 1), "{by_kind:#?}");
    let public = json_lines(&dnma(&[&academies[..], &["--secteur", "public", "--profil", "ELEVE"]].concat(), None));
    assert_eq!(public.iter().map(|r| r["code"].as_str().unwrap()).collect::<Vec<_>>(), ["Rennes"], "{public:#?}");
    assert!(json_lines(&dnma(&[&academies[..], &["--degre", "college"]].concat(), None)).is_empty());
    let refused = dnma(&[&academies[..], &["--degre", "lycée"]].concat(), None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("--degre lycée") && stderr.contains("ecole, college, lycee, autre, inconnu"), "{stderr}");
}

#[tokio::test]
async fn hits_sent_over_http_come_out_of_query_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let collector = Collector::start(dir.path());
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(format!("{}/event?s=612345&idclient=cookie-1", collector.url))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("user-agent", UA)
            .body(body)
            .send()
    };
    // One pupil of Rennes: two page views, then a third 1.2 s later (same visit).
    let first =
        post(format!(r#"{{"events":[{},{}]}}"#, sdk_event("COURRIER_ELECTRONIQUE", "pupil-a"), sdk_event("CAHIER_TEXTES", "pupil-a"))).await.unwrap();
    assert_eq!(first.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(post(format!(r#"{{"events":[{}]}}"#, sdk_event("COURRIER_ELECTRONIQUE", "pupil-a"))).await.unwrap().status(), 200);
    // One parent of Créteil, by SmartTag.
    let pixel = client
        .get(format!(
            "{}/hit.xiti?s=612345&p=notes&at=parent-b&ac=3&service=NOTES&type=NATIF&uai={CRETEIL_SCHOOL}&projet=ENT_94&exploitant=ODE&plateforme=MBN",
            collector.url
        ))
        .header("user-agent", UA)
        .send()
        .await
        .unwrap();
    assert_eq!(pixel.status(), 200);

    // The pipeline runs beside the live collector (it reads the log read-only).
    let run = run_pipeline_watching_its_lag(data_dir, 4);
    assert!(String::from_utf8_lossy(&run.stderr).contains("4 hits staged"), "{}", String::from_utf8_lossy(&run.stderr));

    let today = Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive().to_string();
    let query = dnma(
        &["query", "--data-dir", data_dir, "--level", "academie", "--period", "day", "--from", &today, "--to", &today, "--format", "json"],
        None,
    );
    assert!(query.status.success(), "{}", String::from_utf8_lossy(&query.stderr));
    let rows = json_lines(&query);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let rennes = rows.iter().find(|r| r["code"] == "Rennes").expect("Rennes");
    assert_eq!(rennes["level"], "academie");
    assert_eq!(rennes["period"], "day");
    assert_eq!(rennes["start"], today.as_str());
    assert_eq!((rennes["visits"].as_u64(), rennes["visitors"].as_u64(), rennes["page_views"].as_u64()), (Some(1), Some(1), Some(3)));
    assert!(rennes["duration_s"].as_u64().unwrap() >= 1, "{rennes}");
    let creteil = rows.iter().find(|r| r["code"] == "Créteil").expect("Créteil");
    assert_eq!((creteil["visits"].as_u64(), creteil["visitors"].as_u64()), (Some(1), Some(1)));

    let by_service = dnma(
        &[
            "query",
            "--data-dir",
            data_dir,
            "--level",
            "ecole",
            "--period",
            "week",
            "--from",
            &today,
            "--to",
            &today,
            "--breakdown",
            "service",
            "--format",
            "csv",
        ],
        None,
    );
    let csv = String::from_utf8_lossy(&by_service.stdout);
    assert!(csv.starts_with("level;code;name;period;start;breakdown;value;visits;visitors"), "{csv}");
    assert!(csv.lines().any(|l| l.contains(RENNES_SCHOOL) && l.contains(";service;COURRIER_ELECTRONIQUE;1;1;2;")), "{csv}");

    schools_by_kind_and_sector(data_dir, &today);

    let monday = {
        let now = Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive();
        now.week(Weekday::Mon).first_day().to_string()
    };
    assert_eq!(monday.parse::<chrono::NaiveDate>().unwrap().weekday(), Weekday::Mon);
    let out = dir.path().join("profils.csv");
    let export =
        dnma(&["export", "opendata", "--data-dir", data_dir, "--week", &monday, "--by", "profil", "--k", "1", "--out", out.to_str().unwrap()], None);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("uai;nom;academie;commune;departement;region;ministere;circonscription;nature_uai;secteur;debutSemaine;visites_globales;utilisateurs_globales;duree_globales"), "{}", lines[0]);
    assert_eq!(lines.len(), 3, "{text}");
    let rennes_row = lines.iter().find(|l| l.starts_with(RENNES_SCHOOL)).unwrap();
    assert!(rennes_row.contains(&format!(";{monday};1;1;00:00:0")), "{rennes_row}");
    assert!(rennes_row.contains(";Rennes;") && rennes_row.contains(";Ille-et-Vilaine;"), "{rennes_row}");

    // With the default k = 5, one visitor is too few to publish.
    let suppressed = dnma(&["export", "opendata", "--data-dir", data_dir, "--week", &monday, "--by", "profil", "--out", out.to_str().unwrap()], None);
    assert!(suppressed.status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().skip(1).all(|l| l.contains(";secret;secret;secret")), "{text}");
    assert!(!text.lines().skip(1).any(|l| l.contains(";1;1;")), "{text}");

    // A Tuesday is refused with a clear message.
    let tuesday = (monday.parse::<chrono::NaiveDate>().unwrap() + chrono::Days::new(1)).to_string();
    let refused = dnma(&["export", "opendata", "--data-dir", data_dir, "--week", &tuesday, "--by", "profil", "--out", out.to_str().unwrap()], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Monday"), "{}", String::from_utf8_lossy(&refused.stderr));
}
