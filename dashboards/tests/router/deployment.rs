//! Deployment against a perimeter, rates by degree on the territories, two territories side
//! by side, notes through the API, and the OpenAPI document of these routes.

use crate::support::*;

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
