//! The live tag inspector on the real binary: `dnma serve` on a fresh data directory, an ENT
//! editor's server-sent event stream `/conformite/ONE/direct/flux` opened with its token, then
//! hits posted to the collector; the stream must bring the platform's accepted and refused hits
//! (reason codes, pseudonym only) within a couple of seconds, and nothing of another platform.
//! Then the page in headless Chromium (skipped where it is not installed, as in `dashboards`).
//! Then the distributed case: `dnma collector` and `dnma dashboards` on a real Kafka broker
//! (`DNMA_KAFKA_BROKERS`, topics of the test's own), where the stream first shows the hit an
//! integrator sent before opening it, then the new ones (skipped without a broker, except under
//! `CI=true`).

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::Value;

use super::collector::Collector;
use super::dashboards::{browser, chromium_and_driver, loaded, screenshot, ChromeDriver};

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const EDITOR_TOKEN: &str = "jeton-editeur-one-direct";

fn serve(data_dir: &std::path::Path) -> Collector {
    let config = data_dir.join("dnma.toml");
    std::fs::write(
        &config,
        format!("[dashboards]\nk = 5\n\n[[dashboards.editors]]\nname = \"Éditeur de ONE\"\ntoken = \"{EDITOR_TOKEN}\"\nplateformes = [\"ONE\"]\n"),
    )
    .unwrap();
    Collector::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()])
}

/// Server-sent events read off a response, as (event name, data).
struct Events {
    response: reqwest::Response,
    buffer: String,
    /// Everything received, to check what never appears.
    seen: String,
}

impl Events {
    /// The next event, or `None` at `deadline`.
    async fn next(&mut self, deadline: Instant) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        v.trim().clone_into(&mut name);
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((name, data));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let chunk = tokio::time::timeout(left, self.response.chunk()).await.ok()?.unwrap()?;
            let text = String::from_utf8_lossy(&chunk);
            self.seen.push_str(&text);
            self.buffer.push_str(&text.replace("\r\n", "\n"));
        }
    }
}

async fn post(url: &str, data: &str, idclient: &str) {
    let response = reqwest::Client::new()
        .post(format!("{url}/event?s=612345&idclient={idclient}"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", UA)
        .header("x-forwarded-for", "203.0.113.77")
        .body(format!(r#"{{"events":[{{"name":"page.display","data":{data}}}]}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn get(url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_editors_stream_brings_its_platforms_hits_accepted_and_refused_within_a_second_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = &server.url;

    // The conformance page's access rule: no token 401, another platform 403.
    assert_eq!(get(format!("{url}/conformite/ONE/direct/flux"), None).await.status(), 401);
    assert_eq!(get(format!("{url}/conformite/MBN/direct/flux"), Some(EDITOR_TOKEN)).await.status(), 403);
    assert_eq!(get(format!("{url}/conformite/MBN/direct"), Some(EDITOR_TOKEN)).await.status(), 403);
    let page = get(format!("{url}/conformite/ONE/direct"), Some(EDITOR_TOKEN)).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/conformite/ONE/direct/flux"));
    let conformance = get(format!("{url}/conformite/ONE"), Some(EDITOR_TOKEN)).await.text().await.unwrap();
    assert!(conformance.contains(r#"href="/conformite/ONE/direct""#), "the conformance page links to the live view");

    let openapi: Value = serde_json::from_str(&get(format!("{url}/api/v1/openapi.json"), None).await.text().await.unwrap()).unwrap();
    assert!(openapi["paths"]["/conformite/{plateforme}/direct/flux"]["get"].is_object(), "the stream is in the API description");

    let response = get(format!("{url}/conformite/ONE/direct/flux"), Some(EDITOR_TOKEN)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events { response, buffer: String::new(), seen: String::new() };
    let (name, data) = events.next(Instant::now() + Duration::from_secs(5)).await.expect("the stream opens");
    assert_eq!(name, "pret");
    assert_eq!(serde_json::from_str::<Value>(&data).unwrap()["plateforme"], "ONE");

    let valid = r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"eleve-secret-1"}"#;
    let invalid = r#"{"service":"MESSAGERIE_PRIVEE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"eleve-secret-2"}"#;
    let other = r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0940176F","projet":"ENT_94","exploitant":"ODE","plateforme":"MBN","profil":"ELEVE","user_id":"eleve-secret-3"}"#;
    post(url, other, "cookie-secret-3").await;
    let sent = Instant::now();
    post(url, valid, "cookie-secret-1").await;
    post(url, invalid, "cookie-secret-2").await;

    let mut hits = Vec::new();
    let deadline = sent + Duration::from_secs(3);
    while hits.len() < 2 {
        let Some((name, data)) = events.next(deadline).await else { panic!("only {} hit(s) within 3 s: {hits:?}", hits.len()) };
        assert_eq!(name, "hit", "{data}");
        hits.push(serde_json::from_str::<Value>(&data).unwrap());
    }
    let latency = sent.elapsed();
    eprintln!("inspector: both hits streamed {latency:?} after the first was posted");
    assert!(latency < Duration::from_secs(2), "{latency:?}");

    let accepted = hits.iter().find(|h| h["status"] == "accepted").expect("the accepted hit");
    assert_eq!((accepted["plateforme"].as_str(), accepted["service"].as_str()), (Some("ONE"), Some("COURRIER_ELECTRONIQUE")));
    assert_eq!(
        (accepted["uai"].as_str(), accepted["profil"].as_str(), accepted["projet"].as_str()),
        (Some("0350122T"), Some("ELEVE"), Some("ENT_35"))
    );
    assert!(accepted["plan_version"].as_str().is_some_and(|v| !v.is_empty()));
    let pseudonym = accepted["pseudonym"].as_str().unwrap();
    assert!(pseudonym.len() == 32 && pseudonym.chars().all(|c| c.is_ascii_hexdigit()), "{pseudonym}");

    let refused = hits.iter().find(|h| h["status"] == "refused").expect("the refused hit");
    let codes: Vec<&str> = refused["reasons"].as_array().unwrap().iter().filter_map(|r| r["code"].as_str()).collect();
    assert!(codes.contains(&"unknown_service"), "{refused}");
    assert_eq!(refused["reasons"][0]["field"], "service");
    assert!(refused["pseudonym"].as_str().is_some_and(|p| p.len() == 32 && p != pseudonym), "{refused}");

    // Nothing of MBN, even later; no raw id or IP anywhere in the stream.
    assert!(events.next(Instant::now() + Duration::from_millis(800)).await.is_none(), "no other event");
    for secret in ["eleve-secret", "cookie-secret", "203.0.113.77", "MBN"] {
        assert!(!events.seen.contains(secret), "{secret} in the stream: {}", events.seen);
    }
}

#[tokio::test]
async fn the_live_page_in_chromium_shows_the_hits_as_they_arrive() {
    let Some((chromium, driver)) = chromium_and_driver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let url = server.url.clone();
    let chromedriver = ChromeDriver::start(&driver);
    let page = browser(&chromedriver, &chromium).await;

    // Log in as the editor, then follow the conformance page's link to the live view.
    page.goto(&format!("{url}/connexion")).await.unwrap();
    let login = page.form(Locator::Css("form[action='/connexion']")).await.unwrap();
    login.set_by_name("jeton", EDITOR_TOKEN).await.unwrap();
    login.submit_with(Locator::Css("button[type=submit]")).await.unwrap();
    page.wait().at_most(Duration::from_secs(20)).for_element(Locator::LinkText("ONE")).await.expect("logged in");
    page.goto(&format!("{url}/conformite/ONE")).await.unwrap();
    let before = page.current_url().await.unwrap().to_string();
    page.find(Locator::LinkText("Hits en direct")).await.expect("the conformance page links the live view").click().await.unwrap();
    loaded(&page, &before).await;
    assert!(page.current_url().await.unwrap().path().ends_with("/conformite/ONE/direct"));
    let open = page.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#etat[data-etat=ouvert]")).await;
    open.expect("the page's event stream is open");

    let valid = r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"eleve-secret-1"}"#;
    let invalid = r#"{"service":"MESSAGERIE_PRIVEE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"eleve-secret-2"}"#;
    let other = r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0940176F","projet":"ENT_94","exploitant":"ODE","plateforme":"MBN","profil":"ELEVE","user_id":"eleve-secret-3"}"#;
    post(&url, other, "cookie-secret-3").await;
    post(&url, valid, "cookie-secret-1").await;
    post(&url, invalid, "cookie-secret-2").await;

    let wait = |css: &'static str| page.wait().at_most(Duration::from_secs(5)).for_element(Locator::Css(css));
    let accepted = wait("tr[data-statut=accepted]").await.expect("the accepted hit shows").text().await.unwrap();
    assert!(accepted.contains("accepté") && accepted.contains("COURRIER_ELECTRONIQUE") && accepted.contains("0350122T"), "{accepted}");
    let refused = wait("tr[data-statut=refused]").await.expect("the refused hit shows").text().await.unwrap();
    assert!(refused.contains("refusé") && refused.contains("unknown_service"), "{refused}");
    wait("tr[data-statut=refused] [data-motif=unknown_service]").await.expect("the reason code is marked");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(page.find_all(Locator::Css("tr[data-statut]")).await.unwrap().len(), 2, "the two hits of ONE, not MBN's");
    let source = page.source().await.unwrap();
    for secret in ["eleve-secret", "cookie-secret", "0940176F"] {
        assert!(!source.contains(secret), "{secret} on the page");
    }
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    screenshot(&page, &shots.join("direct.png")).await;
    page.close().await.unwrap();
}

/// The broker of `DNMA_KAFKA_BROKERS`; `None` (the test passes, saying so) without one, except
/// under `CI=true`.
fn kafka_brokers() -> Option<String> {
    match std::env::var("DNMA_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => Some(brokers),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the Kafka tests: DNMA_KAFKA_BROKERS is not set");
            eprintln!("skipped: set DNMA_KAFKA_BROKERS (scripts/kafka.sh)");
            None
        }
    }
}

/// The next `n` events, which must be hits, as JSON; panics at `deadline`.
async fn hits(events: &mut Events, n: usize, deadline: Instant) -> Vec<Value> {
    let mut hits = Vec::new();
    while hits.len() < n {
        let Some((name, data)) = events.next(deadline).await else { panic!("only {} hit(s) in time: {hits:?}", hits.len()) };
        assert_eq!(name, "hit", "{data}");
        hits.push(serde_json::from_str::<Value>(&data).unwrap());
    }
    hits
}

fn is_pseudonym(value: &Value) -> bool {
    value.as_str().is_some_and(|p| p.len() == 32 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn on_a_kafka_log_the_dashboards_stream_shows_the_hit_sent_before_it_opened_then_its_platforms_new_hits_only() {
    let Some(brokers) = kafka_brokers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("e2e-inspector-{}-{nanos}.", std::process::id());
    let config = dir.path().join("dnma.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic_prefix = \"{prefix}\"\npartitions = 3\n\n[dashboards]\nk = 5\n\n[[dashboards.editors]]\nname = \"Éditeur de ONE\"\ntoken = \"{EDITOR_TOKEN}\"\nplateformes = [\"ONE\"]\n"
        ),
    )
    .unwrap();
    let (collector_dir, dashboards_dir) = (dir.path().join("collector"), dir.path().join("dashboards"));
    let collector = Collector::spawn(&[
        "collector",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        collector_dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let url = &collector.url;

    // The integrator's test hit, and another platform's, before any stream is open.
    let before = r#"{"service":"NOTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ENSEIGNANT","user_id":"eleve-secret-0"}"#;
    let other_before = r#"{"service":"NOTES","type":"NATIF","uai":"0940176F","projet":"ENT_94","exploitant":"ODE","plateforme":"MBN","profil":"ELEVE","user_id":"eleve-secret-4"}"#;
    post(url, before, "cookie-secret-0").await;
    post(url, other_before, "cookie-secret-4").await;

    // The dashboards read the same Kafka log (an empty store beside: this test is the live view's).
    drop(pipeline::ParquetRollupStore::open(&dashboards_dir.join("rollups")).unwrap());
    let dashboards = Collector::spawn(&[
        "dashboards",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dashboards_dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(get(format!("{}/conformite/MBN/direct/flux", dashboards.url), Some(EDITOR_TOKEN)).await.status(), 403);
    let opening = Instant::now();
    let response = get(format!("{}/conformite/ONE/direct/flux", dashboards.url), Some(EDITOR_TOKEN)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events { response, buffer: String::new(), seen: String::new() };
    let (name, data) = events.next(Instant::now() + Duration::from_secs(10)).await.expect("the stream opens");
    assert_eq!(name, "pret");
    let ready: Value = serde_json::from_str(&data).unwrap();
    assert_eq!((ready["plateforme"].as_str(), ready["recents"].as_u64()), (Some("ONE"), Some(1)), "{ready}");
    let recent = hits(&mut events, 1, Instant::now() + Duration::from_secs(5)).await.remove(0);
    eprintln!("inspector on Kafka: stream open with its recent hit {:?} after the request", opening.elapsed());
    assert_eq!(
        (recent["status"].as_str(), recent["service"].as_str(), recent["profil"].as_str()),
        (Some("accepted"), Some("NOTES"), Some("ENSEIGNANT"))
    );
    assert!(is_pseudonym(&recent["pseudonym"]), "{recent}");

    let valid = r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"eleve-secret-1"}"#;
    let invalid = r#"{"service":"MESSAGERIE_PRIVEE","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"eleve-secret-2"}"#;
    let other = r#"{"service":"COURRIER_ELECTRONIQUE","type":"NATIF","uai":"0940176F","projet":"ENT_94","exploitant":"ODE","plateforme":"MBN","profil":"ELEVE","user_id":"eleve-secret-3"}"#;
    post(url, other, "cookie-secret-3").await;
    let sent = Instant::now();
    post(url, valid, "cookie-secret-1").await;
    post(url, invalid, "cookie-secret-2").await;
    let new = hits(&mut events, 2, sent + Duration::from_secs(5)).await;
    let latency = sent.elapsed();
    eprintln!("inspector on Kafka: both hits streamed {latency:?} after the first was posted");
    assert!(latency < Duration::from_secs(3), "{latency:?}");

    let accepted = new.iter().find(|h| h["status"] == "accepted").expect("the accepted hit");
    assert_eq!((accepted["plateforme"].as_str(), accepted["service"].as_str()), (Some("ONE"), Some("COURRIER_ELECTRONIQUE")));
    assert!(is_pseudonym(&accepted["pseudonym"]) && accepted["pseudonym"] != recent["pseudonym"], "{accepted}");
    let refused = new.iter().find(|h| h["status"] == "refused").expect("the refused hit");
    assert_eq!((refused["plateforme"].as_str(), refused["reasons"][0]["code"].as_str()), (Some("ONE"), Some("unknown_service")), "{refused}");
    assert_eq!(refused["reasons"][0]["field"], "service");
    assert!(is_pseudonym(&refused["pseudonym"]) && refused["pseudonym"] != accepted["pseudonym"], "{refused}");

    // Nothing of MBN, before or after; no raw id or IP anywhere in the stream.
    assert!(events.next(Instant::now() + Duration::from_millis(1500)).await.is_none(), "no other event");
    for secret in ["eleve-secret", "cookie-secret", "203.0.113.77", "MBN", "0940176F"] {
        assert!(!events.seen.contains(secret), "{secret} in the stream: {}", events.seen);
    }
}
