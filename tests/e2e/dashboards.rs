//! The dashboards in a real browser: the real `dnma serve` (collector + pipeline + dashboards in
//! one process) receives hits over HTTP; headless Chromium (Debian's `chromium` and
//! `chromium-driver` packages), driven over the `WebDriver` protocol by `fantoccini`, opens each of the three
//! home pages, clicks a drill-down link, applies a filter with the form, logs in as an ENT editor
//! with the login form, takes screenshots, and the figures it reads on the pages are checked
//! against the JSON API. Skipped, with a message, where Chromium or `chromedriver` is not
//! installed (`.ci/run` installs both).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::collector::Collector;

pub(super) const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const EDITOR_TOKEN: &str = "jeton-editeur-one";

/// `dnma serve` (collector, pipeline and dashboards) with open views, one editor and no view cache.
fn serve(data_dir: &Path) -> Collector {
    let config = data_dir.join("dnma.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\npoll_interval = \"300ms\"\n\n[dashboards]\nk = 5\nopen_views = true\ncache_seconds = 0\n\n\
             [[dashboards.editors]]\nname = \"Éditeur de ONE\"\ntoken = \"{EDITOR_TOKEN}\"\nplateformes = [\"ONE\"]\n"
        ),
    )
    .unwrap();
    Collector::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()])
}

pub(crate) fn installed(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A `chromedriver` process on a free local port; killed when dropped.
pub(crate) struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    pub(crate) fn start(driver: &Path) -> ChromeDriver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child =
            Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("chromedriver starts");
        ChromeDriver { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session (the flags this machine's closed network needs).
pub(crate) async fn browser(driver: &ChromeDriver, chromium: &Path) -> Client {
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                     "--window-size=1280,1600"]
        }
    });
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(capabilities.as_object().unwrap().clone());
    let mut last_error = None;
    for _ in 0..50 {
        match builder.connect(&driver.url).await {
            Ok(client) => return client,
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no WebDriver session: {last_error:?}");
}

/// The text of the card or cell holding `field` for `code`.
pub(super) async fn figure(page: &Client, field: &str, code: &str) -> String {
    let css = format!("[data-field=\"{field}\"][data-code=\"{code}\"]");
    let found = page.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(&css)).await;
    found.unwrap_or_else(|e| panic!("{css} not on the page: {e}")).text().await.unwrap()
}

/// Waits until the page that a click or a form submission opened, away from `before`, has
/// loaded. Right after the click the old page may still read as loaded, so the URL must have
/// changed first.
pub(crate) async fn loaded(page: &Client, before: &str) {
    for _ in 0..200 {
        let moved = page.current_url().await.unwrap().as_str() != before;
        if moved && page.execute("return document.readyState", vec![]).await.unwrap() == "complete" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new page loaded after {before}");
}

pub(crate) async fn screenshot(page: &Client, path: &Path) {
    let png = page.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
    std::fs::write(path, png).unwrap();
}

/// A query parameter of the page's current URL.
async fn url_parameter(page: &Client, name: &str) -> Option<String> {
    page.current_url().await.unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub(super) async fn send_hits(url: &str) {
    let client = reqwest::Client::new();
    // Eight pupils and two teachers of one Rennes school (more than k = 5 visitors), then three
    // events the plan refuses (an unknown profile, a malformed UAI, an unknown service).
    let mut events: Vec<String> = (0..10)
        .map(|i| {
            let profil = if i < 8 { "ELEVE" } else { "ENSEIGNANT" };
            format!(r#"{{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"{profil}","user_id":"user-{i}"}}"#)
        })
        .collect();
    events.push(r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"DIRECTEUR","user_id":"user-x"}"#.to_owned());
    events.push(r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"035012","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"user-y"}"#.to_owned());
    events.push(r#"{"service":"MESSAGERIE_PRIVEE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"user-z"}"#.to_owned());
    for (i, data) in events.iter().enumerate() {
        let response = client
            .post(format!("{url}/event?s=612345&idclient=c{i}"))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("user-agent", UA)
            .body(format!(r#"{{"events":[{{"name":"page.display","data":{data}}}]}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

pub(super) async fn api(path: String, token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    serde_json::from_str(&request.send().await.unwrap().text().await.unwrap()).unwrap()
}

fn refused(conformance: &Value) -> u64 {
    conformance["weeks"].as_array().unwrap().iter().map(|w| w["refused"].as_u64().unwrap()).sum()
}

/// Chromium and its driver, when both are installed; otherwise says the test is skipped.
pub(crate) fn chromium_and_driver() -> Option<(PathBuf, PathBuf)> {
    let found = installed(&["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"])
        .zip(installed(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]));
    if found.is_none() {
        eprintln!("skipped: Chromium or ChromeDriver is not installed (apt-get install chromium chromium-driver)");
    }
    found
}

#[tokio::test]
async fn the_three_home_pages_in_chromium_drill_down_filter_log_in_and_show_the_apis_numbers() {
    let Some((chromium, driver)) = chromium_and_driver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = server.url.clone();
    send_hits(&url).await;

    // Wait for the in-process pipeline: visits and refusals.
    let (mut nation, mut conformance) = (Value::Null, Value::Null);
    for _ in 0..150 {
        nation = api(format!("{url}/api/v1/territoires"), None).await;
        conformance = api(format!("{url}/api/v1/conformite/ONE"), Some(EDITOR_TOKEN)).await;
        if nation["territory"]["figures"]["visitors"].as_u64() == Some(10) && conformance["weeks"].is_array() && refused(&conformance) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(nation["territory"]["figures"]["visitors"], 10, "{nation:#}");
    assert_eq!(refused(&conformance), 3, "{conformance:#}");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let chromedriver = ChromeDriver::start(&driver);
    let page = browser(&chromedriver, &chromium).await;

    // The national analyst's home page.
    page.goto(&format!("{url}/territoires")).await.unwrap();
    assert_eq!(figure(&page, "visitors", "FR").await, "10");
    assert_eq!(figure(&page, "visits", "FR").await, nation["territory"]["figures"]["visits"].to_string());
    assert_eq!(figure(&page, "page_views", "FR").await, nation["territory"]["figures"]["page_views"].to_string());
    screenshot(&page, &shots.join("territoires.png")).await;

    // Drill down: click the first territory under the nation (the région with the traffic).
    let drill = Locator::XPath("//h2[.='Territoires rattachés']/following-sibling::table[1]//a");
    let before = page.current_url().await.unwrap().to_string();
    page.find(drill).await.unwrap().click().await.unwrap();
    loaded(&page, &before).await;
    let (niveau, code) =
        (url_parameter(&page, "niveau").await.expect("niveau in the URL"), url_parameter(&page, "code").await.expect("code in the URL"));
    assert_eq!(niveau, "region");
    let region = api(format!("{url}/api/v1/territoires?niveau={niveau}&code={code}"), None).await;
    assert_eq!(region["territory"]["code"], code.as_str());
    assert_eq!(figure(&page, "visitors", &code).await, region["territory"]["figures"]["visitors"].to_string());
    assert_eq!(figure(&page, "visitors", &code).await, "10");

    // Filter with the form: teachers only, 2 visitors, under k = 5, so the page shows "secret";
    // the hidden fields keep the région.
    let form = page.form(Locator::Css("form.filters")).await.unwrap();
    page.find(Locator::Css("form.filters select[name=profil]")).await.unwrap().select_by_value("ENSEIGNANT").await.unwrap();
    let before = page.current_url().await.unwrap().to_string();
    form.submit_with(Locator::Css("button[type=submit]")).await.unwrap();
    loaded(&page, &before).await;
    assert_eq!(url_parameter(&page, "profil").await.as_deref(), Some("ENSEIGNANT"));
    assert_eq!(url_parameter(&page, "code").await.as_deref(), Some(code.as_str()));
    assert_eq!(figure(&page, "visitors", &code).await, "secret");
    let teachers = api(format!("{url}/api/v1/territoires?niveau={niveau}&code={code}&profil=ENSEIGNANT"), None).await;
    assert_eq!(teachers["territory"]["figures"]["suppressed"], true, "{teachers:#}");
    assert!(teachers["territory"]["figures"]["visitors"].is_null(), "the API hides it too: {teachers:#}");

    // The project owner's home page.
    page.goto(&format!("{url}/projets/ENT_35")).await.unwrap();
    let project = api(format!("{url}/api/v1/projets/ENT_35"), None).await;
    assert_eq!(figure(&page, "visitors", "ENT_35").await, project["figures"]["visitors"].to_string());
    assert_eq!(figure(&page, "visits", "ENT_35").await, project["figures"]["visits"].to_string());
    screenshot(&page, &shots.join("projet.png")).await;

    // The editor's page needs the editor's token: log in with the form, then follow the link.
    page.goto(&format!("{url}/conformite/ONE")).await.unwrap();
    assert!(page.find(Locator::Css("[data-field=refused]")).await.is_err(), "no conformance figures without a token");
    page.goto(&format!("{url}/connexion")).await.unwrap();
    let login = page.form(Locator::Css("form[action='/connexion']")).await.unwrap();
    login.set_by_name("jeton", EDITOR_TOKEN).await.unwrap();
    login.submit_with(Locator::Css("button[type=submit]")).await.unwrap();
    // Wait for the answer page itself: right after the submit the old page may still read as
    // loaded.
    let link = page.wait().at_most(Duration::from_secs(20)).for_element(Locator::LinkText("ONE")).await;
    let before = page.current_url().await.unwrap().to_string();
    link.expect("the login page links the editor's platform").click().await.unwrap();
    loaded(&page, &before).await;
    assert!(page.current_url().await.unwrap().path().ends_with("/conformite/ONE"));
    let mut shown = 0;
    for cell in page.find_all(Locator::Css("[data-field=refused]")).await.unwrap() {
        shown += cell.text().await.unwrap().parse::<u64>().unwrap();
    }
    assert_eq!(shown, refused(&conformance));
    let source = page.source().await.unwrap();
    for code in ["unknown_profil", "invalid_uai", "unknown_service"] {
        assert!(source.contains(code), "the reason {code} is on the editor's page");
    }
    screenshot(&page, &shots.join("conformite.png")).await;
    page.close().await.unwrap();
}
