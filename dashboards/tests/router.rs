//! Handler tests through the real router (`oneshot`) over a real Parquet store filled by the
//! pipeline with synthetic traffic and dead letters: access rules, suppression at every output
//! (page, CSV, API, chart), the same numbers on the page and in the API, drill-down, filters,
//! errors with stable codes, and the OpenAPI document.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::NaiveDate;
use collector::record::{DeadLetter, StoredReason};
use dashboards::{router, DashboardConfig, Dashboards, EditorAccess};
use http_body_util::BodyExt;
use pipeline::facts::hits_batch;
use pipeline::hit_row::{HitRow, Placer};
use pipeline::sessionize::Sessionizer;
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::tagging::{dead_letter_batch, rejects_batch, Recovery};
use pipeline::{ParquetRollupStore, RollupStore};
use serde_json::Value;
use tagging_plan::{Plan, Referential, WireFormat};
use tower::ServiceExt;

const READER: &str = "lecteur-de-test";
const EDITOR: &str = "editeur-bzh";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn filled_store(dir: &std::path::Path) -> Arc<ParquetRollupStore> {
    let plan = Plan::shipped();
    let store = Arc::new(ParquetRollupStore::open(dir).unwrap());
    let spec = TrafficSpec { hits: 30_000, schools: 40, visitors_per_school: 25, first_day: day("2026-09-07"), days: 21, late_percent: 0, seed: 7 };
    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows: Vec<HitRow> =
        stored_hits(&spec, &plan, Referential::shipped()).into_iter().enumerate().map(|(i, h)| placer.row(i as u64, h).unwrap()).collect();
    let mut days: Vec<NaiveDate> = rows.iter().map(|r| r.day).collect();
    days.sort();
    days.dedup();
    for d in days {
        let of_day: Vec<HitRow> = rows.iter().filter(|r| r.day == d).cloned().collect();
        store.stage_hits(d, hits_batch(&of_day)).await.unwrap();
        let facts = Sessionizer::default().run(store.day_hits(d).await.unwrap()).await.unwrap();
        store.replace_day(d, facts).await.unwrap();
    }
    let letter = |ms: i64, code: &str, field: &str, value: &str| DeadLetter {
        received_ms: ms,
        format: WireFormat::Piano,
        site: Some("1".into()),
        plateforme: Some("ENT-BZH".into()),
        event: "page.display".into(),
        reasons: vec![StoredReason { code: code.into(), field: field.into(), value: Some(value.into()), message: String::new() }],
        properties: vec![("uai".into(), value.into()), ("user_id".into(), "pseudonyme".into())],
    };
    let monday_noon = 1_788_775_200_000; // 2026-09-07T12:00+02:00
    let letters: Vec<(u64, DeadLetter)> = (0..12u64)
        .map(|i| {
            let ms = monday_noon + i64::try_from(i).unwrap() * 86_400_000;
            (i, if i % 3 == 0 { letter(ms, "tiers_without_outil", "outil", "") } else { letter(ms, "unknown_uai", "uai", "0359999Z") })
        })
        .collect();
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<(u64, DeadLetter)>> = std::collections::BTreeMap::new();
    for (o, l) in letters {
        by_day.entry(pipeline::tagging::reject_day(l.received_ms)).or_default().push((o, l));
    }
    for (d, ls) in by_day {
        store.stage_rejects(d, rejects_batch(&ls)).await.unwrap();
    }
    // A replay on 2026-09-25 recovered the letters 1 and 2 (unknown_uai) and 3 (tiers_without_outil).
    let done = Recovery { position: 100, written_ms: monday_noon + 18 * 86_400_000, letters: vec![1, 2, 3] };
    store.stage_rejects(done.day(), dead_letter_batch(&[], &[done])).await.unwrap();
    store
}

async fn app(k: u64) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path()).await;
    let config = DashboardConfig {
        k,
        readers: vec![READER.into()],
        editors: vec![EditorAccess { name: "Région Bretagne".into(), token: EDITOR.into(), plateformes: vec!["ENT-BZH".into()] }],
        ..DashboardConfig::default()
    };
    let dashboards =
        Dashboards::new(store, Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config).with_today(day("2026-09-24"));
    (router(Arc::new(dashboards)), dir)
}

async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = Request::get(uri);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, content_type, body)
}

/// The text of the element carrying `data-field="FIELD" data-code="CODE"` (first one).
fn page_figure(html: &str, field: &str, code: &str) -> Option<String> {
    let marker = format!("data-field=\"{field}\" data-code=\"{code}\">");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('<').next()?.to_owned())
}

/// The text of the `data-field` cell of the table row `data-code`.
fn row_figure(html: &str, code: &str, field: &str) -> Option<String> {
    let row_start = html.find(&format!("<tr data-code=\"{code}\""))?;
    let row = &html[row_start..html[row_start..].find("</tr>")? + row_start];
    let marker = format!("data-field=\"{field}\">");
    let start = row.find(&marker)? + marker.len();
    Some(row[start..].split('<').next()?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_pages_show_the_apis_numbers_and_need_a_reader_token() {
    let (app, _dir) = app(5).await;
    let (status, _, body) = get(&app, "/territoires", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = get(&app, "/api/v1/territoires", Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "token_required");

    let query = "?periode=mois&debut=2026-09-07";
    let (status, content_type, page) = get(&app, &format!("/territoires{query}"), Some(READER)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(content_type.starts_with("text/html"));
    assert!(page.contains("Territoires — France") && page.contains("septembre 2026"), "French title and dates");
    let (_, _, api) = get(&app, &format!("/api/v1/territoires{query}"), Some(READER)).await;
    let api: Value = serde_json::from_str(&api).unwrap();
    let visitors = api["territory"]["figures"]["visitors"].as_u64().expect("the nation has visitors");
    assert!(visitors > 100);
    assert_eq!(page_figure(&page, "visitors", "FR").unwrap(), dashboards::french::integer(visitors));
    assert_eq!(page_figure(&page, "visits", "FR").unwrap(), dashboards::french::integer(api["territory"]["figures"]["visits"].as_u64().unwrap()));
    for child in api["children"].as_array().unwrap() {
        let code = child["code"].as_str().unwrap();
        let shown = row_figure(&page, code, "visitors").unwrap();
        match child["figures"]["visitors"].as_u64() {
            Some(v) => assert_eq!(shown, dashboards::french::integer(v), "{code}"),
            None => assert_eq!(shown, "secret", "{code}"),
        }
    }
    assert_eq!(api["period"]["incomplete"], true, "September is not over on the 24th");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_down_and_filters_live_in_the_url() {
    let (app, _dir) = app(5).await;
    let (_, _, api) = get(&app, "/api/v1/territoires?niveau=academie&code=Rennes&periode=annee&debut=2026-09-07", Some(READER)).await;
    let api: Value = serde_json::from_str(&api).unwrap();
    assert_eq!(api["territory"]["name"], "Rennes");
    let path: Vec<&str> = api["path"].as_array().unwrap().iter().map(|p| p[0].as_str().unwrap()).collect();
    assert_eq!(path, ["nation", "region", "academie"]);
    assert!(api["children"].as_array().unwrap().iter().all(|c| c["level"] == "departement"));
    assert_eq!(api["period"]["incomplete"], true, "the school year is running");
    let weekly = api["weekly"].as_array().unwrap();
    assert!(weekly.len() >= 3 && weekly.last().unwrap()["incomplete"] == true);

    let (_, _, all) = get(&app, "/api/v1/territoires?periode=mois&debut=2026-09-07", Some(READER)).await;
    let (_, _, teachers) = get(&app, "/api/v1/territoires?periode=mois&debut=2026-09-07&profil=ENSEIGNANT", Some(READER)).await;
    let visits = |body: &str| serde_json::from_str::<Value>(body).unwrap()["territory"]["figures"]["visits"].as_u64().unwrap();
    assert!(visits(&teachers) < visits(&all));
    let teachers: Value = serde_json::from_str(&teachers).unwrap();
    assert!(teachers["territory"]["pupil_rate"].is_null(), "no per-pupil rate under a teachers-only filter");
    assert!(teachers["children"].as_array().unwrap().iter().all(|c| c["pupil_rate"].is_null()));
    let (_, _, ille_et_vilaine) = get(&app, "/api/v1/territoires?niveau=departement&code=35&periode=mois&debut=2026-09-07", Some(READER)).await;
    let ille_et_vilaine: Value = serde_json::from_str(&ille_et_vilaine).unwrap();
    assert!(ille_et_vilaine["territory"]["pupils"].as_u64().unwrap() > 100_000, "enrolment of Ille-et-Vilaine is shipped");
    assert!(ille_et_vilaine["territory"]["enrolment_coverage"].as_f64().unwrap() >= 0.9);

    let (status, _, body) = get(&app, "/api/v1/territoires?periode=trimestre", Some(READER)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "bad_request");
    let (status, _, _) = get(&app, "/territoires?niveau=academie&code=Atlantide", Some(READER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_cells_are_suppressed_in_every_output() {
    let (app, _dir) = app(1_000_000).await;
    let query = "?periode=mois&debut=2026-09-07";
    let (_, _, api) = get(&app, &format!("/api/v1/territoires{query}"), Some(READER)).await;
    let api: Value = serde_json::from_str(&api).unwrap();
    assert_eq!(api["territory"]["figures"]["suppressed"], true);
    assert_eq!(api["territory"]["figures"]["visitors"], Value::Null);
    assert!(api["children"].as_array().unwrap().iter().all(|c| c["figures"]["visits"].is_null() || c["figures"]["visits"] == 0));
    let (_, _, page) = get(&app, &format!("/territoires{query}"), Some(READER)).await;
    assert_eq!(page_figure(&page, "visitors", "FR").unwrap(), "secret");
    let (status, content_type, csv) = get(&app, &format!("/territoires.csv{query}"), Some(READER)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"));
    let nation = csv.lines().nth(1).unwrap();
    assert!(nation.starts_with("nation;FR;France;secret;secret;"), "{nation}");
    let (_, _, project) = get(&app, &format!("/api/v1/projets/TOUTATICE{query}"), Some(READER)).await;
    let project: Value = serde_json::from_str(&project).unwrap();
    assert_eq!(project["figures"]["suppressed"], true);
    assert!(project["profiles"].as_array().unwrap().iter().all(|p| p["figures"]["visits"].is_null()));
    let (_, content_type, svg) = get(&app, &format!("/graphiques/projets/TOUTATICE/services.svg{query}"), Some(READER)).await;
    assert!(content_type.starts_with("image/svg+xml"));
    assert!(svg.contains("secret"), "hidden bars read secret");
    // The maps: hidden areas hatched, and no figure of theirs in the legend (only zeros are shown).
    for map in ["carte", "carte-departements"] {
        let (status, _, svg) = get(&app, &format!("/graphiques/{map}.svg{query}"), Some(READER)).await;
        assert_eq!(status, StatusCode::OK, "{svg}");
        assert!(svg.contains("fill=\"#606060\"") || svg.contains("stroke=\"#606060\""), "{map}: hidden areas hatched");
        assert!(svg.contains("secret (chiffre masqué)"), "{map}");
        assert!(!svg.contains(" à "), "{map}: one class at most (zero), no figure of a hidden area");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_owners_see_deployment() {
    let (app, _dir) = app(5).await;
    let (status, _, api) = get(&app, "/api/v1/projets/TOUTATICE?debut=2026-09-14", Some(READER)).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    let api: Value = serde_json::from_str(&api).unwrap();
    assert!(api["schools"].as_u64().unwrap() > 0);
    assert_eq!(api["plateformes"][0], "ENT-BZH");
    let weeks = api["deployment"].as_array().unwrap();
    assert_eq!(weeks[0]["week"], "2026-08-31");
    assert_eq!(weeks[0]["active_schools"], 0, "no traffic before 7 September");
    assert!(weeks[1]["active_schools"].as_u64().unwrap() > 0);
    assert!(weeks.windows(2).all(|w| w[0]["adopted_schools"].as_u64() <= w[1]["adopted_schools"].as_u64()), "adoption never falls");
    assert!(api["visits_change"].is_number(), "week-over-week change");
    assert!(!api["least_active"].as_array().unwrap().is_empty());
    let (status, _, page) = get(&app, "/projets/TOUTATICE?debut=2026-09-14", Some(READER)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page_figure(&page, "visits", "TOUTATICE").unwrap(), dashboards::french::integer(api["figures"]["visits"].as_u64().unwrap()));
    let (status, _, _) = get(&app, "/projets/INCONNU", Some(READER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_see_their_own_platforms_conformance_only() {
    let (app, _dir) = app(5).await;
    let (status, _, _) = get(&app, "/conformite/ENT-BZH", Some(READER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a reader is not the editor");
    let (status, _, _) = get(&app, "/conformite/ONE-1D", Some(EDITOR)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another editor's platform");
    let (status, _, _) = get(&app, "/api/v1/conformite/ENT-BZH", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, api) = get(&app, "/api/v1/conformite/ENT-BZH?debut=2026-09-27", Some(EDITOR)).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    let api: Value = serde_json::from_str(&api).unwrap();
    let weeks = api["weeks"].as_array().unwrap();
    let refused: u64 = weeks.iter().map(|w| w["refused"].as_u64().unwrap()).sum();
    assert_eq!(refused, 12);
    assert_eq!(api["tiers_without_outil"], 4);
    assert_eq!(api["uai_issues"][0]["value"], "0359999Z");
    assert_eq!(api["uai_issues"][0]["events"], 8);
    assert!(weeks.iter().map(|w| w["accepted"].as_u64().unwrap()).sum::<u64>() > 0);
    assert!(api["plan_versions"].as_object().unwrap().len() == 1);
    assert!(!api["sample"].as_array().unwrap().is_empty());
    assert!(api["sample"][0]["properties"].as_str().unwrap().contains("pseudonyme"));
    let (status, _, page) = get(&app, "/conformite/ENT-BZH?debut=2026-09-27", Some(EDITOR)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("0359999Z") && page.contains("tiers_without_outil"));

    // Refused as received, and recovered since: three of the first week's were replayed.
    let first = weeks.iter().find(|w| w["week"] == "2026-09-07").unwrap();
    assert_eq!((first["refused"].as_u64(), first["recovered"].as_u64()), (Some(7), Some(3)), "{first}");
    assert_eq!(first["recovered_by_code"], serde_json::json!({"tiers_without_outil": 1, "unknown_uai": 2}));
    assert_eq!(weeks.iter().map(|w| w["recovered"].as_u64().unwrap()).sum::<u64>(), 3, "the replay's own week has no refusal of its own");
    assert_eq!(api["uai_issues"][0]["recovered"], 2);
    assert!(page.contains("Les refus sont comptés tels que reçus"), "the page says how refusals are counted");
    assert!(page.contains(r#"<td class="n" data-field="recovered">3</td>"#), "{page}");
    assert!(page.contains("unknown_uai</code> : 4 (dont 2 récupérés)"), "{page}");
    let (status, _, csv) = get(&app, "/conformite/ENT-BZH/rejets.csv?debut=2026-09-27", Some(EDITOR)).await;
    assert_eq!(status, StatusCode::OK);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("semaine;hits_acceptes;evenements_refuses;evenements_recuperes;part_refusee;motif;evenements_motif;evenements_motif_recuperes")
    );
    let uai_row = lines.find(|l| l.starts_with("2026-09-07;") && l.contains(";unknown_uai;")).unwrap();
    assert!(uai_row.ends_with(";unknown_uai;4;2") && uai_row.split(';').nth(3) == Some("3"), "{uai_row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_described_and_charts_are_svg() {
    let (app, _dir) = app(5).await;
    let (status, _, doc) = get(&app, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for path in ["/api/v1/territoires", "/api/v1/projets/{projet}", "/api/v1/conformite/{plateforme}"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} documented");
    }
    for uri in [
        "/graphiques/territoire.svg?periode=annee&debut=2026-09-07",
        "/graphiques/carte.svg",
        "/graphiques/carte-departements.svg",
        "/graphiques/projets/TOUTATICE/deploiement.svg",
    ] {
        let (status, content_type, svg) = get(&app, uri, Some(READER)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {svg}");
        assert!(content_type.starts_with("image/svg+xml") && svg.starts_with("<svg"), "{uri}");
    }
    let (status, _, svg) = get(&app, "/graphiques/conformite/ENT-BZH/rejets.svg", Some(EDITOR)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.contains("refusés"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maps_have_a_legend_overseas_insets_and_the_departements_of_the_territory() {
    let (app, _dir) = app(5).await;
    let query = "?periode=annee&debut=2026-09-07";
    let (_, _, page) = get(&app, &format!("/territoires{query}"), Some(READER)).await;
    assert!(page.contains("/graphiques/carte.svg?") && page.contains("/graphiques/carte-departements.svg?"), "both maps on the page");
    let (_, _, api) = get(&app, &format!("/api/v1/territoires{query}"), Some(READER)).await;
    let api: Value = serde_json::from_str(&api).unwrap();
    let departements = api["departements"].as_array().unwrap();
    assert!(departements.len() >= 101, "every département at the nation level");
    let (_, _, svg) = get(&app, &format!("/graphiques/carte-departements.svg{query}"), Some(READER)).await;
    for text in [
        "Visiteurs uniques par département",
        "Guadeloupe",
        "Martinique",
        "Guyane",
        "La Réunion",
        "Mayotte",
        "secret (chiffre masqué)",
        "Admin Express",
    ] {
        assert!(svg.contains(text), "{text}");
    }
    // The legend's classes run from the smallest figure shown to the largest.
    let drawn: Vec<&str> = dashboards::geo::departements().iter().map(|o| o.code.as_str()).collect();
    let shown: Vec<u64> =
        departements.iter().filter(|d| drawn.contains(&d["code"].as_str().unwrap())).filter_map(|d| d["figures"]["visitors"].as_u64()).collect();
    let (min, max) = (*shown.iter().min().unwrap(), *shown.iter().max().unwrap());
    let texts: Vec<&str> = svg.split("<text").skip(1).filter_map(|t| t.split_once('>')?.1.split("</text>").next()).map(str::trim).collect();
    let from = texts.iter().position(|t| *t == "Visiteurs uniques").unwrap() + 1;
    let classes = &texts[from..texts.iter().position(|t| t.starts_with("secret")).unwrap()];
    assert!(classes.len() >= 2 && classes.len() <= 5, "{classes:?}");
    assert!(classes[0].starts_with(&dashboards::french::integer(min)), "{classes:?} from {min}");
    assert!(classes.last().unwrap().ends_with(&dashboards::french::integer(max)), "{classes:?} to {max}");
    let (_, _, svg) = get(&app, &format!("/graphiques/carte.svg{query}"), Some(READER)).await;
    assert!(svg.contains("Visiteurs uniques par académie") && svg.contains("Mayotte") && svg.contains("Paris et petite couronne"));

    // Below the nation: the territory's départements framed alone.
    let rennes = format!("{query}&niveau=academie&code=Rennes");
    let (_, _, api) = get(&app, &format!("/api/v1/territoires{rennes}"), Some(READER)).await;
    let api: Value = serde_json::from_str(&api).unwrap();
    let codes: Vec<&str> = api["departements"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["22", "29", "35", "56"]);
    let (status, _, svg) = get(&app, &format!("/graphiques/carte-departements.svg{rennes}"), Some(READER)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.contains("Visiteurs uniques par département — Rennes") && svg.contains("hors du territoire") && !svg.contains("Mayotte"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_are_also_png_on_request_behind_the_same_access_rules() {
    let (app, _dir) = app(5).await;
    for (uri, token) in [
        ("/graphiques/territoire.png?periode=annee&debut=2026-09-07", READER),
        ("/graphiques/carte.png", READER),
        ("/graphiques/carte-departements.png?niveau=departement&code=35", READER),
        ("/graphiques/projets/TOUTATICE/services.png", READER),
        ("/graphiques/conformite/ENT-BZH/rejets.png", EDITOR),
    ] {
        let request = Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(response.headers()["content-type"], "image/png", "{uri}");
        let png = response.into_body().collect().await.unwrap().to_bytes();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000, "{uri}: a real picture ({} bytes)", png.len());
    }
    let (status, content_type, body) = get(&app, "/graphiques/carte.png", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(content_type.starts_with("application/json") && body.contains("token_required"), "{body}");
    let (status, _, _) = get(&app, "/graphiques/conformite/ENT-BZH/rejets.png", Some(READER)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an editor's chart needs that editor's token");
    let (status, _, body) = get(&app, "/graphiques/territoire.png?periode=siecle", Some(READER)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_form_fields_mean_no_filter_and_bad_ones_are_clear_400s() {
    let (app, _dir) = app(5).await;
    // What a browser sends when the filter form is submitted with the date left empty.
    let (status, _, page) = get(&app, "/territoires?periode=semaine&debut=&profil=ELEVE&service=", Some(READER)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, _, same) = get(&app, "/territoires?profil=ELEVE", Some(READER)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page_figure(&page, "visitors", "FR"), page_figure(&same, "visitors", "FR"));
    let (status, content_type, body) = get(&app, "/api/v1/territoires?debut=2026-13-45", Some(READER)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(content_type.starts_with("application/json") && body.contains("\"bad_request\"") && body.contains("debut"), "{body}");
    let (status, content_type, body) = get(&app, "/territoires?debut=hier", Some(READER)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(content_type.starts_with("text/html") && body.contains("debut"), "{body}");
}

/// The kind-of-school and sector filters split the visits of every territory (their parts add
/// up to the total), live in the URL and the form, and refuse what the protected cells do not
/// hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn school_filters_split_every_territory_and_refuse_combinations() {
    let (app, _dir) = app(5).await;
    let visits = |body: &str| serde_json::from_str::<Value>(body).unwrap()["territory"]["figures"]["visits"].as_u64();
    let api = |filter: &str| format!("/api/v1/territoires?periode=annee&debut=2026-09-07{filter}");
    let (_, _, all) = get(&app, &api(""), Some(READER)).await;
    let total = visits(&all).unwrap();
    for (dimension, values) in [("degre", &["ecole", "college", "lycee", "autre"][..]), ("secteur", &["public", "prive", "inconnu"][..])] {
        let mut sum = 0;
        let mut non_empty = 0;
        for value in values {
            let (status, _, body) = get(&app, &api(&format!("&{dimension}={value}")), Some(READER)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let part: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(part[dimension], *value);
            assert!(part["territory"]["pupil_rate"].is_null(), "no per-pupil rate for one kind of school");
            let v = visits(&body).unwrap_or(0);
            sum += v;
            non_empty += usize::from(v > 0);
        }
        assert_eq!(sum, total, "the {dimension} parts add up to all visits");
        assert!(non_empty >= 2, "the synthetic schools have several values of {dimension}");
    }
    let (status, _, page) = get(&app, "/territoires?periode=annee&debut=2026-09-07&degre=college", Some(READER)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<option value="college" selected>"#) && page.contains("degré college"), "{page}");
    for refused in ["&degre=ecole&profil=ELEVE", "&degre=ecole&secteur=public", "&degre=lyc%C3%A9e"] {
        let (status, _, body) = get(&app, &api(refused), Some(READER)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "bad_request");
    }
    let (status, _, body) = get(&app, "/api/v1/conformite/ENT-BZH?degre=ecole", Some(EDITOR)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("territoires"), "{body}");
}

/// A project with a perimeter: its deployment rate per week and cumulative, its target and
/// notes, on the page, in the API, on the chart and in the CSV; without one, the page says its
/// shares are not a deployment rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_owners_see_the_deployment_rate_against_their_perimeter() {
    use dashboards::perimeter::{Annotation, DegreeName, PerimeterConfig, SecteurName, Target};
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path()).await;
    let open = |config: DashboardConfig| {
        let config = DashboardConfig { open_views: true, cache_seconds: 0, ..config };
        let store: Arc<dyn RollupStore> = Arc::clone(&store) as _;
        router(Arc::new(
            Dashboards::try_new(store, Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config)
                .unwrap()
                .with_today(day("2026-09-24")),
        ))
    };
    // Without a perimeter: the schools seen, and a label saying it is not a deployment rate.
    let plain = open(DashboardConfig::default());
    let (_, _, before) = get(&plain, "/api/v1/projets/TOUTATICE?debut=2026-09-14", None).await;
    let before: Value = serde_json::from_str(&before).unwrap();
    assert!(before["perimeter"].is_null() && before["deployment"][1].get("deployment_rate").is_none(), "{before}");
    let (_, _, page) = get(&plain, "/projets/TOUTATICE?debut=2026-09-14", None).await;
    assert!(page.contains("ce n'est pas un taux de déploiement") && page.contains("Part des établissements vus"));
    let seen: Vec<String> = before["least_active"].as_array().unwrap().iter().rev().map(|r| r["code"].as_str().unwrap().to_owned()).collect();

    // The public collèges of the académie of Rennes, and a school seen in the traffic.
    let perimeter = PerimeterConfig {
        academies: vec!["Rennes".into()],
        degre: vec![DegreeName::Second],
        secteur: Some(SecteurName::Public),
        uai: vec![seen[0].clone()],
        target: Some(Target { rate: 0.6, by: day("2027-06-30") }),
        ..PerimeterConfig::default()
    };
    let notes = vec![
        Annotation { projet: Some("TOUTATICE".into()), date: day("2026-09-09"), text: "Formation des principaux".into() },
        Annotation { projet: Some("ONE".into()), date: day("2026-09-10"), text: "Pas pour TOUTATICE".into() },
        Annotation { projet: None, date: day("2026-09-16"), text: "Lancement".into() },
    ];
    let app = open(DashboardConfig {
        perimeters: [("TOUTATICE".to_owned(), perimeter)].into_iter().collect(),
        annotations: notes,
        ..DashboardConfig::default()
    });
    let (status, _, api) = get(&app, "/api/v1/projets/TOUTATICE?debut=2026-09-14", None).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    let api: Value = serde_json::from_str(&api).unwrap();
    let p = &api["perimeter"];
    let size = p["schools"].as_u64().unwrap();
    assert!(size > 100, "{p}");
    assert!(p["description"].as_str().unwrap().starts_with("établissements publics du second degré de l'académie de Rennes"), "{p}");
    assert_eq!((p["target"]["rate"].as_f64(), p["target"]["by"].as_str()), (Some(0.6), Some("2027-06-30")));
    let weeks = api["deployment"].as_array().unwrap();
    #[allow(clippy::cast_precision_loss)] // small counts
    let ratio = |n: u64| n as f64 / size as f64;
    for w in weeks {
        let (active, adopted) = (w["perimeter_active"].as_u64().unwrap(), w["perimeter_adopted"].as_u64().unwrap());
        assert!(active <= w["active_schools"].as_u64().unwrap() && active <= adopted, "{w}");
        assert!((w["deployment_rate"].as_f64().unwrap() - ratio(active)).abs() < 1e-12, "{w}");
        assert!((w["cumulative_rate"].as_f64().unwrap() - ratio(adopted)).abs() < 1e-12, "{w}");
    }
    assert_eq!(weeks[0]["perimeter_active"], 0, "no traffic before 7 September");
    assert!(weeks.last().unwrap()["perimeter_adopted"].as_u64().unwrap() >= 1, "the listed school seen in the traffic counts");
    assert!(weeks.windows(2).all(|w| w[0]["cumulative_rate"].as_f64() <= w[1]["cumulative_rate"].as_f64()), "the cumulative rate never falls");
    let texts: Vec<&str> = api["annotations"].as_array().unwrap().iter().map(|a| a["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Formation des principaux", "Lancement"], "the project's notes and the global ones, by date");
    let least = api["least_active"].as_array().unwrap();
    assert!(least.iter().all(|r| r["in_perimeter"].is_boolean()) && least.iter().any(|r| r["in_perimeter"] == true));

    let (_, _, page) = get(&app, "/projets/TOUTATICE?debut=2026-09-14", None).await;
    assert!(page.contains("Taux de déploiement") && page.contains(&dashboards::french::integer(size)), "{page}");
    let latest = weeks.last().unwrap();
    let rate = |field: &str| dashboards::french::percent(latest[field].as_f64().unwrap());
    assert!(page.contains(&format!("data-field=\"deployment_rate\">{}", rate("deployment_rate"))), "{page}");
    assert!(page.contains(&format!("data-field=\"cumulative_rate\">{}", rate("cumulative_rate"))), "{page}");
    assert!(page.contains("data-field=\"target\">60,0\u{a0}%") && page.contains("30 juin 2027"), "{page}");
    assert!(page.contains("Formation des principaux") && page.contains("(tous les projets)") && !page.contains("Pas pour TOUTATICE"));
    let (_, _, svg) = get(&app, "/graphiques/projets/TOUTATICE/deploiement.svg?debut=2026-09-14", None).await;
    assert!(svg.contains("Taux de déploiement") && svg.contains("objectif 60,0") && svg.contains("Formation des principaux"), "{svg}");
    let (_, _, csv) = get(&app, "/projets/TOUTATICE/ecoles.csv?debut=2026-09-14", None).await;
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(";dans_le_perimetre"), "{csv}");
    assert!(lines.all(|l| l.ends_with(";oui") || l.ends_with(";non")), "{csv}");
    let (_, _, openapi) = get(&app, "/api/v1/openapi.json", None).await;
    assert!(openapi.contains("deployment_rate") && openapi.contains("PerimeterSummary") && openapi.contains("Annotation"));

    // A perimeter that matches nothing is refused with its key.
    let bad = DashboardConfig {
        perimeters: [("ONE".to_owned(), PerimeterConfig { departements: vec!["98".into()], ..PerimeterConfig::default() })].into_iter().collect(),
        ..DashboardConfig::default()
    };
    let store: Arc<dyn RollupStore> = Arc::clone(&store) as _;
    let error = Dashboards::try_new(store, Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), bad).err().unwrap();
    assert!(error.to_string().starts_with("[dashboards.perimeters.ONE] departements"), "{error}");
}

// ---- Deployment rates, comparison of two territories, notes through the API ----

const OWNER: &str = "porteur-toutatice";
const ADMIN: &str = "administrateur-de-test";

/// The app of [`app`] with a project owner, an administrator, a note in the configuration, a
/// second known project (`AUTRE`, by its listed school) and the API's notes kept in `notes_dir`,
/// over a store filled by [`filled_store`] (opened read-only: two apps may share it).
fn annotating_app(store_dir: &std::path::Path, notes_dir: &std::path::Path) -> Router {
    let store = Arc::new(ParquetRollupStore::open_read_only(store_dir).unwrap());
    let config = DashboardConfig {
        readers: vec![READER.into()],
        owners: vec![dashboards::OwnerAccess { name: "Porteur Toutatice".into(), token: OWNER.into(), projets: vec!["TOUTATICE".into()] }],
        admins: vec![ADMIN.into()],
        project_schools: [("AUTRE".to_owned(), vec!["0350122T".to_owned()])].into(),
        annotations: vec![dashboards::perimeter::Annotation { projet: None, date: day("2026-09-01"), text: "Rentrée".into() }],
        cache_seconds: 0,
        ..DashboardConfig::default()
    };
    let notes = dashboards::annotations::NoteBook::open(notes_dir).unwrap();
    let dashboards = Dashboards::new(store, Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config)
        .with_today(day("2026-09-24"))
        .with_notes(notes);
    router(Arc::new(dashboards))
}

async fn send(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = app.clone().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn territories_give_the_deployment_rate_by_degree_everywhere() {
    let (app, _dir) = app(5).await;
    let query = "?periode=mois&debut=2026-09-07";
    let (_, _, api) = get(&app, &format!("/api/v1/territoires{query}"), Some(READER)).await;
    let api: Value = serde_json::from_str(&api).unwrap();
    let nation = &api["territory"]["deployment"];
    let (premier, second, total) = (&nation["premier"], &nation["second"], &nation["total"]);
    assert_eq!(total["schools"].as_u64().unwrap(), premier["schools"].as_u64().unwrap() + second["schools"].as_u64().unwrap());
    assert_eq!(total["active"].as_u64().unwrap(), premier["active"].as_u64().unwrap() + second["active"].as_u64().unwrap());
    let active = total["active"].as_u64().unwrap();
    assert!(active > 0 && active <= 40, "at most the 40 schools of the synthetic traffic: {active}");
    let rate = total["rate"].as_f64().unwrap();
    assert!((rate - total["active"].as_f64().unwrap() / total["schools"].as_f64().unwrap()).abs() < 1e-12);
    // The régions split the nation: their active schools add up.
    let children_active: u64 = api["children"].as_array().unwrap().iter().map(|c| c["deployment"]["total"]["active"].as_u64().unwrap()).sum();
    assert_eq!(children_active, active);

    // Where the rows are schools, the count is what their published lines say: a school with
    // visits, shown or hidden ("secret" is never a school without visit).
    let (_, _, dep) = get(&app, &format!("/api/v1/territoires{query}&niveau=departement&code=35"), Some(READER)).await;
    let dep: Value = serde_json::from_str(&dep).unwrap();
    let circonscription = dep["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["level"] == "circonscription" && c["deployment"]["total"]["active"].as_u64().unwrap() > 0)
        .expect("an active circonscription in Ille-et-Vilaine");
    let code = circonscription["code"].as_str().unwrap();
    let (_, _, schools) =
        get(&app, &format!("/api/v1/territoires{query}&niveau=circonscription&code={}", code.replace(' ', "%20")), Some(READER)).await;
    let schools: Value = serde_json::from_str(&schools).unwrap();
    let published = schools["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["deployment"]["total"]["schools"] == 1)
        .filter(|s| s["figures"]["suppressed"] == true || s["figures"]["visitors"].as_u64().unwrap() > 0)
        .count() as u64;
    assert_eq!(published, schools["territory"]["deployment"]["total"]["active"].as_u64().unwrap(), "{code}");

    // The page, the CSV file and the maps.
    let (_, _, page) = get(&app, &format!("/territoires{query}"), Some(READER)).await;
    assert!(page_figure(&page, "deployment", "FR").unwrap().starts_with(&dashboards::french::percent(rate)), "{page}");
    assert!(row_figure(&page, api["children"][0]["code"].as_str().unwrap(), "deployment_premier").is_some());
    assert!(page.contains("/territoires/comparer"), "the compare form");
    let (_, _, csv) = get(&app, &format!("/territoires.csv{query}"), Some(READER)).await;
    let header: Vec<&str> = csv.lines().next().unwrap().split(';').collect();
    let nation_row: Vec<&str> = csv.lines().nth(1).unwrap().split(';').collect();
    let column = |name: &str| nation_row[header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name} in {header:?}"))];
    assert_eq!(column("actifs_1er_degre"), premier["active"].to_string());
    assert_eq!(column("etablissements_2d_degre"), second["schools"].to_string());
    assert_eq!(column("taux_deploiement"), format!("{rate:.4}"));
    for map in ["carte", "carte-departements"] {
        let (status, _, svg) = get(&app, &format!("/graphiques/{map}.svg{query}&indicateur=deploiement"), Some(READER)).await;
        assert_eq!(status, StatusCode::OK, "{svg}");
        assert!(svg.contains("Taux de déploiement") && svg.contains(" %"), "{map}: the legend in %");
        let (_, _, visitors) = get(&app, &format!("/graphiques/{map}.svg{query}"), Some(READER)).await;
        assert!(visitors.contains("Visiteurs uniques") && !visitors.contains("Taux de déploiement"), "{map}: visitors by default");
    }
    let (status, _, page) = get(&app, &format!("/territoires{query}&indicateur=deploiement"), Some(READER)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("indicateur=deploiement") && page.contains("Colorer selon les visiteurs uniques"), "the switch back");
    let (status, _, body) = get(&app, &format!("/graphiques/carte.svg{query}&indicateur=eleves"), Some(READER)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_territories_are_compared_side_by_side() {
    let (app, _dir) = app(5).await;
    let filters = "periode=mois&debut=2026-09-07";
    let (status, _, api) = get(&app, &format!("/api/v1/territoires/comparer?a=academie:Rennes&b=departement:35&{filters}"), Some(READER)).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    let api: Value = serde_json::from_str(&api).unwrap();
    assert_eq!(api["a"]["territory"]["name"], "Rennes");
    assert_eq!(api["b"]["territory"]["code"], "35");
    assert_eq!(api["a"]["weekly"].as_array().unwrap().len(), api["b"]["weekly"].as_array().unwrap().len());
    for (side, niveau, code) in [("a", "academie", "Rennes"), ("b", "departement", "35")] {
        let (_, _, alone) = get(&app, &format!("/api/v1/territoires?niveau={niveau}&code={code}&{filters}"), Some(READER)).await;
        let alone: Value = serde_json::from_str(&alone).unwrap();
        assert_eq!(api[side]["territory"], alone["territory"], "{side}: the same line as /territoires");
        assert_eq!(api[side]["weekly"], alone["weekly"]);
    }
    assert_eq!(api["period"]["start"], "2026-09-01");

    let (status, _, page) = get(&app, &format!("/territoires/comparer?a=academie:Rennes&b=nation&{filters}"), Some(READER)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Comparer — Rennes et France"));
    for code in ["Rennes", "FR"] {
        assert!(page_figure(&page, "deployment", code).is_some(), "{code}");
        assert!(page_figure(&page, "visitors", code).is_some(), "{code}");
    }
    let (status, content_type, svg) =
        get(&app, &format!("/graphiques/territoires-comparer.svg?a=academie:Rennes&b=nation&{filters}"), Some(READER)).await;
    assert_eq!(status, StatusCode::OK, "{svg}");
    assert!(content_type.starts_with("image/svg+xml") && svg.contains("Rennes") && svg.contains("France"));
    let png = Request::get(format!("/graphiques/territoires-comparer.png?a=academie:Rennes&b=nation&{filters}"))
        .header("authorization", format!("Bearer {READER}"))
        .body(Body::empty())
        .unwrap();
    let png = app.clone().oneshot(png).await.unwrap();
    assert_eq!((png.status(), png.headers()["content-type"].to_str().unwrap()), (StatusCode::OK, "image/png"));
    assert!(png.into_body().collect().await.unwrap().to_bytes().starts_with(b"\x89PNG"));

    for (query, expected, code) in [
        ("a=academie:Rennes", StatusCode::BAD_REQUEST, "bad_request"),
        ("a=academie:Rennes&b=Rennes", StatusCode::BAD_REQUEST, "bad_request"),
        ("a=academie:Rennes&b=academie:Atlantide", StatusCode::NOT_FOUND, "not_found"),
        ("a=planete:Mars&b=nation", StatusCode::BAD_REQUEST, "bad_request"),
    ] {
        let (status, _, body) = get(&app, &format!("/api/v1/territoires/comparer?{query}"), Some(READER)).await;
        assert_eq!(status, expected, "{query}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], code, "{query}");
    }
    let (status, _, _) = get(&app, "/api/v1/territoires/comparer?a=nation&b=nation", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_added_and_deleted_through_the_api_by_their_owners() {
    let (store_dir, notes_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    drop(filled_store(store_dir.path()).await);
    let app = annotating_app(store_dir.path(), notes_dir.path());
    let note = r#"{"date": "2026-09-15", "text": "Formation des enseignants", "projet": "TOUTATICE"}"#;
    assert_eq!(send(&app, "POST", "/api/v1/annotations", None, note).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = send(&app, "POST", "/api/v1/annotations", Some(READER), note).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "a reader does not annotate");
    let (status, added) = send(&app, "POST", "/api/v1/annotations", Some(OWNER), note).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!((added["projet"].as_str(), added["author"].as_str()), (Some("TOUTATICE"), Some("Porteur Toutatice")));
    let id = added["id"].as_u64().unwrap();

    // An owner annotates its own project only; a note of every project is an administrator's.
    let other = r#"{"date": "2026-09-15", "text": "x", "projet": "AUTRE"}"#;
    assert_eq!(send(&app, "POST", "/api/v1/annotations", Some(OWNER), other).await.0, StatusCode::FORBIDDEN);
    let everywhere = r#"{"date": "2026-09-16", "text": "Lancement national"}"#;
    assert_eq!(send(&app, "POST", "/api/v1/annotations", Some(OWNER), everywhere).await.0, StatusCode::FORBIDDEN);
    let (status, global) = send(&app, "POST", "/api/v1/annotations", Some(ADMIN), everywhere).await;
    assert_eq!((status, global["author"].as_str()), (StatusCode::CREATED, Some("administrateur")));

    let long = format!(r#"{{"date": "2026-09-15", "text": "{}", "projet": "TOUTATICE"}}"#, "a".repeat(201));
    for (body, code) in [
        (r#"{"date": "2026-09-15", "text": "  ", "projet": "TOUTATICE"}"#, "empty_text"),
        (long.as_str(), "text_too_long"),
        (r#"{"date": "15/09/2026", "text": "x", "projet": "TOUTATICE"}"#, "bad_date"),
        (r#"{"date": "2026-09-15", "text": "x", "projet": "INCONNU"}"#, "unknown_project"),
        ("pas du json", "bad_json"),
    ] {
        let (status, answer) = send(&app, "POST", "/api/v1/annotations", Some(ADMIN), body).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{body}");
    }

    // Listed with the configuration's, shown on the project's curves.
    let (_, _, list) = get(&app, "/api/v1/annotations?projet=TOUTATICE", Some(READER)).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    let sources: Vec<(&str, &str)> = list.as_array().unwrap().iter().map(|n| (n["source"].as_str().unwrap(), n["text"].as_str().unwrap())).collect();
    assert_eq!(sources, [("config", "Rentrée"), ("api", "Formation des enseignants"), ("api", "Lancement national")]);
    let (_, _, autre) = get(&app, "/api/v1/annotations?projet=AUTRE", Some(READER)).await;
    assert_eq!(serde_json::from_str::<Value>(&autre).unwrap().as_array().unwrap().len(), 2, "not TOUTATICE's own note");
    let (_, _, project) = get(&app, "/api/v1/projets/TOUTATICE?debut=2026-09-21", Some(READER)).await;
    let project: Value = serde_json::from_str(&project).unwrap();
    assert!(project["annotations"].as_array().unwrap().iter().any(|n| n["text"] == "Formation des enseignants"));
    let (_, _, svg) = get(&app, "/graphiques/projets/TOUTATICE/deploiement.svg?debut=2026-09-21", Some(READER)).await;
    assert!(svg.contains("Formation des enseignants"), "the note on the curve");

    // Kept across a restart.
    let restarted = annotating_app(store_dir.path(), notes_dir.path());
    let (_, _, again) = get(&restarted, "/api/v1/annotations", Some(READER)).await;
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap().as_array().unwrap().len(), 3);

    // Deleted by its owner; the others' stay.
    let (status, body) = send(&restarted, "DELETE", &format!("/api/v1/annotations/{}", global["id"]), Some(OWNER), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(send(&restarted, "DELETE", &format!("/api/v1/annotations/{id}"), Some(OWNER), "").await.0, StatusCode::NO_CONTENT);
    let (status, body) = send(&restarted, "DELETE", &format!("/api/v1/annotations/{id}"), Some(OWNER), "").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, body) = send(&restarted, "DELETE", "/api/v1/annotations/abc", Some(ADMIN), "").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_id")));
    let (_, _, left) = get(&restarted, "/api/v1/annotations", Some(READER)).await;
    assert_eq!(serde_json::from_str::<Value>(&left).unwrap().as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_new_routes() {
    let (app, _dir) = app(5).await;
    let (_, _, doc) = get(&app, "/api/v1/openapi.json", None).await;
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for path in ["/api/v1/territoires/comparer", "/api/v1/annotations", "/api/v1/annotations/{id}"] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert!(doc["paths"]["/api/v1/annotations"]["post"].is_object());
    assert!(doc["components"]["schemas"]["Deployment"].is_object() && doc["components"]["schemas"]["CompareView"].is_object());
    assert!(doc["components"]["schemas"]["TerritoryRow"]["properties"]["deployment"].is_object());
}
