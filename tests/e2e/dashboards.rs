//! The dashboards in a real browser: the real `dnma serve` (collector + pipeline + dashboards in
//! one process) receives hits over HTTP; headless Chromium (Debian's `chromium` package) loads
//! the analyst's home page, follows a drill-down link and a filter, takes screenshots, and the
//! figures it shows are checked against the JSON API. Skipped, with a message, where Chromium is
//! not installed (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::collector::Collector;

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// `dnma serve` (collector, pipeline and dashboards) with open views and no view cache.
fn serve(data_dir: &Path) -> Collector {
    let config = data_dir.join("dnma.toml");
    std::fs::write(&config, "[pipeline]\npoll_interval = \"300ms\"\n\n[dashboards]\nk = 5\nopen_views = true\ncache_seconds = 0\n").unwrap();
    Collector::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()])
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// Chromium's headless run: the DOM after load (and a screenshot when asked).
fn browse(browser: &Path, url: &str, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(browser);
    command.args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,1600"]);
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let output = command.arg(url).output().expect("chromium runs");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn figure(html: &str, field: &str, code: &str) -> String {
    let marker = format!("data-field=\"{field}\" data-code=\"{code}\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("{marker} not on the page")) + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

/// The first link of the "Territoires rattachés" table.
fn first_drill_link(html: &str) -> String {
    let section = &html[html.find("Territoires rattachés").unwrap()..];
    let table = &section[section.find("<table").unwrap()..];
    let start = table.find("<a href=\"").unwrap() + "<a href=\"".len();
    table[start..].split('"').next().unwrap().replace("&amp;", "&")
}

#[tokio::test]
async fn the_analyst_home_page_drills_down_and_filters_in_chromium_with_the_apis_numbers() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: Chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let client = reqwest::Client::new();
    // Eight pupils and two teachers of one Rennes school (more than k = 5 visitors).
    for (i, profil) in (0..10).map(|i| (i, if i < 8 { "ELEVE" } else { "ENSEIGNANT" })) {
        let body = format!(
            r#"{{"events":[{{"name":"page.display","data":{{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"{profil}","user_id":"user-{i}"}}}}]}}"#
        );
        let response = client
            .post(format!("{}/event?s=612345&idclient=c{i}", server.url))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("user-agent", UA)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Wait for the in-process pipeline.
    let api = |path: String| {
        let client = client.clone();
        async move { serde_json::from_str::<serde_json::Value>(&client.get(path).send().await.unwrap().text().await.unwrap()).unwrap() }
    };
    let mut nation = serde_json::Value::Null;
    for _ in 0..100 {
        nation = api(format!("{}/api/v1/territoires", server.url)).await;
        if nation["territory"]["figures"]["visitors"].as_u64() == Some(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(nation["territory"]["figures"]["visitors"], 10, "{nation:#}");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let home = browse(&browser, &format!("{}/territoires", server.url), None);
    assert_eq!(figure(&home, "visitors", "FR"), "10");
    assert_eq!(figure(&home, "visits", "FR"), nation["territory"]["figures"]["visits"].to_string());
    browse(&browser, &format!("{}/territoires", server.url), Some(&shots.join("territoires.png")));
    assert!(shots.join("territoires.png").metadata().unwrap().len() > 10_000, "a real screenshot");

    // Drill down: the first territory under the nation is the région with the traffic.
    let link = first_drill_link(&home);
    let region_page = browse(&browser, &format!("{}{link}", server.url), None);
    let region_api = api(format!("{}/api/v1{}", server.url, link)).await;
    let code = region_api["territory"]["code"].as_str().unwrap().to_owned();
    assert_eq!(figure(&region_page, "visitors", &code), region_api["territory"]["figures"]["visitors"].to_string());

    // Filter: teachers only: 2 visitors, under k = 5, so the page shows "< 5".
    let teachers = browse(&browser, &format!("{}/territoires?profil=ENSEIGNANT", server.url), None);
    assert_eq!(figure(&teachers, "visitors", "FR"), "&lt; 5");
    let teachers_api = api(format!("{}/api/v1/territoires?profil=ENSEIGNANT", server.url)).await;
    assert_eq!(teachers_api["territory"]["figures"]["suppressed"], true);
    browse(&browser, &format!("{}/projets/ENT_35", server.url), Some(&shots.join("projet.png")));
    assert!(shots.join("projet.png").exists());
}
