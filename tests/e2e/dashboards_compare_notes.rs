//! The analysts' deployment rate and comparison, and the project owners' notes, on the real
//! binary: `dnma serve` receives the hits of one Rennes school; headless Chromium (skipped, with a
//! message, where it is not installed) opens `/territoires`, reads the deployment rate against the
//! API, and compares the nation with Ille-et-Vilaine through the page's form. A note sent (POST) to
//! the API by the project's owner is still there after the dashboards restart (`dnma dashboards`
//! over the same data directory): in the API, on the project page and on its curve.

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;

use super::collector::Collector;
use super::dashboards::{api, browser, chromium_and_driver, figure, loaded, screenshot, send_hits, ChromeDriver};

const OWNER_TOKEN: &str = "jeton-porteur-ent35";

/// The configuration: open views, no view cache, the owner of `ENT_35`.
fn config(data_dir: &Path) -> std::path::PathBuf {
    let config = data_dir.join("dnma.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\npoll_interval = \"300ms\"\n\n[dashboards]\nk = 5\nopen_views = true\ncache_seconds = 0\n\n\
             [[dashboards.owners]]\nname = \"Porteur ENT 35\"\ntoken = \"{OWNER_TOKEN}\"\nprojets = [\"ENT_35\"]\n"
        ),
    )
    .unwrap();
    config
}

fn serve(data_dir: &Path) -> Collector {
    let config = config(data_dir);
    Collector::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()])
}

/// Sends the hits and waits until the pipeline counted the 10 visitors, in every cell of the
/// view: the queries of one view run side by side while the pipeline steps every 300 ms, so a
/// view computed during a step may read the nation after it and the school before it.
async fn with_traffic(url: &str) -> Value {
    send_hits(url).await;
    let mut nation = Value::Null;
    for _ in 0..150 {
        nation = api(format!("{url}/api/v1/territoires"), None).await;
        let active = nation["territory"]["deployment"]["premier"]["active"].as_u64();
        if nation["territory"]["figures"]["visitors"].as_u64() == Some(10) && active == Some(1) {
            return nation;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the pipeline did not count the hits: {nation:#}");
}

/// A deployment as the pages write it, as `WebDriver` reads it (a no-break space as a space).
fn deployment_text(d: &Value) -> String {
    let n = |v: &Value| dashboards::french::integer(v.as_u64().unwrap());
    format!("{} ({} / {})", dashboards::french::percent(d["rate"].as_f64().unwrap()), n(&d["active"]), n(&d["schools"])).replace('\u{a0}', " ")
}

#[tokio::test]
async fn the_deployment_rate_and_two_territories_compared_in_chromium() {
    let Some((chromium, driver)) = chromium_and_driver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = server.url.clone();
    let nation = with_traffic(&url).await;
    let deployment = &nation["territory"]["deployment"];
    assert_eq!(deployment["premier"]["active"], 1, "one école had visits: {deployment:#}");
    assert_eq!(deployment["second"]["active"], 0);
    assert!(deployment["total"]["schools"].as_u64().unwrap() > 1_000, "the open schools of the shipped referential");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let chromedriver = ChromeDriver::start(&driver);
    let page = browser(&chromedriver, &chromium).await;

    page.goto(&format!("{url}/territoires")).await.unwrap();
    assert_eq!(figure(&page, "deployment", "FR").await, deployment_text(&deployment["total"]));
    assert_eq!(figure(&page, "deployment_premier", "FR").await, deployment_text(&deployment["premier"]));
    let header = page.find(Locator::XPath("//h2[.='Territoires rattachés']/following-sibling::table[1]//th[.='Déploiement']")).await;
    assert!(header.is_ok(), "the deployment column of the table");
    // The maps switch to the deployment rate.
    let switch = page.find(Locator::Css("[data-field=map_switch]")).await.unwrap();
    let before = page.current_url().await.unwrap().to_string();
    switch.click().await.unwrap();
    loaded(&page, &before).await;
    let maps = page.find(Locator::Css("img[src^='/graphiques/carte.svg']")).await.unwrap().attr("src").await.unwrap().unwrap();
    assert!(maps.contains("indicateur=deploiement"), "{maps}");
    // (The driver may give the address resolved against the page's.)
    let maps = if maps.starts_with("http") { maps } else { format!("{url}{maps}") };
    let svg = reqwest::get(maps).await.unwrap().text().await.unwrap();
    assert!(svg.contains("Taux de déploiement") && svg.contains(" %"));
    screenshot(&page, &shots.join("territoires-deploiement.png")).await;

    // Compare the nation with Ille-et-Vilaine through the form.
    let form = page.form(Locator::Css("form[action='/territoires/comparer']")).await.unwrap();
    form.set_by_name("b", "departement:35").await.unwrap();
    let before = page.current_url().await.unwrap().to_string();
    form.submit_with(Locator::Css("button[type=submit]")).await.unwrap();
    loaded(&page, &before).await;
    assert!(page.current_url().await.unwrap().path().ends_with("/territoires/comparer"));
    let compared = api(format!("{url}/api/v1/territoires/comparer?a=nation&b=departement:35"), None).await;
    assert_eq!(compared["b"]["territory"]["name"], "Ille-et-Vilaine", "{compared:#}");
    for (side, code) in [("a", "FR"), ("b", "35")] {
        let row = &compared[side]["territory"];
        assert_eq!(figure(&page, "visitors", code).await, row["figures"]["visitors"].to_string(), "{code}");
        assert_eq!(figure(&page, "deployment", code).await, deployment_text(&row["deployment"]["total"]), "{code}");
    }
    let chart = page.find(Locator::Css("img[src^='/graphiques/territoires-comparer.svg']")).await;
    assert!(chart.is_ok(), "both weekly series on one chart");
    screenshot(&page, &shots.join("territoires-comparer.png")).await;
    page.close().await.unwrap();
}

#[tokio::test]
async fn a_note_posted_to_the_api_survives_a_restart_of_the_dashboards() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = server.url.clone();
    with_traffic(&url).await;
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive();
    let client = reqwest::Client::new();
    let post = |token: Option<&'static str>, body: String| {
        let mut request = client.post(format!("{url}/api/v1/annotations")).header("content-type", "application/json").body(body);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        request.send()
    };
    let note = format!(r#"{{"date": "{today}", "text": "Formation des enseignants", "projet": "ENT_35"}}"#);
    assert_eq!(post(None, note.clone()).await.unwrap().status(), 401);
    let added = post(Some(OWNER_TOKEN), note).await.unwrap();
    assert_eq!(added.status(), 201);
    let refused = post(Some(OWNER_TOKEN), format!(r#"{{"date": "{today}", "text": ""}}"#)).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(serde_json::from_str::<Value>(&refused.text().await.unwrap()).unwrap()["error"], "empty_text");
    drop(server);

    // The dashboards alone, over the same data directory.
    let config = config(dir.path());
    let dashboards = Collector::spawn(&[
        "dashboards",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let url = dashboards.url.clone();
    let notes = api(format!("{url}/api/v1/annotations?projet=ENT_35"), None).await;
    let notes = notes.as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!((notes[0]["source"].as_str(), notes[0]["author"].as_str()), (Some("api"), Some("Porteur ENT 35")));
    let project = api(format!("{url}/api/v1/projets/ENT_35"), None).await;
    assert_eq!(project["annotations"][0]["text"], "Formation des enseignants", "{project:#}");
    let page = reqwest::get(format!("{url}/projets/ENT_35")).await.unwrap().text().await.unwrap();
    assert!(page.contains("Formation des enseignants"), "listed under the chart");
    let svg = reqwest::get(format!("{url}/graphiques/projets/ENT_35/deploiement.svg")).await.unwrap().text().await.unwrap();
    assert!(svg.contains("Formation des enseignants"), "drawn on the curve");
}
