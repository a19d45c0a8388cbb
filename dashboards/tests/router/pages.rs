//! Analyst, project and editor pages: access rules, suppression at every output, the same
//! numbers on the page and in the API, drill-down, filters, maps, charts and errors.

use crate::support::*;

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
