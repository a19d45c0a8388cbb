//! Router tests through `oneshot`: what the SDKs send, what bad input gets, what is stored.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tagging_plan::{Plan, Referential};
use tower::ServiceExt;

use super::*;
use crate::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, Topic};
use crate::pseudonym::KeyRing;
use crate::record::{DeadLetter, StoredHit};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const DNMA: &str = r#""service":"NOTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE""#;

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<CollectorState>,
    log: Arc<EmbeddedHitLog>,
}

fn fixture(config: IntakeConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
    let keys = KeyRing::generated_in(&dir.path().join("keys")).unwrap();
    let referential = Arc::new(Referential::shipped().clone());
    let state = CollectorState::new(config, Plan::shipped(), referential, Arc::clone(&log) as Arc<dyn HitLog>, keys);
    Fixture { _dir: dir, state, log }
}

impl Fixture {
    fn app(&self) -> Router {
        router(Arc::clone(&self.state))
    }

    async fn stored(&self, topic: Topic) -> Vec<Vec<u8>> {
        self.log.read(topic, 0, 0, 1000).await.unwrap().into_iter().map(|r| r.payload).collect()
    }
}

fn post(uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri).header(header::CONTENT_TYPE, content_type).header(header::USER_AGENT, CHROME).body(body.into()).unwrap()
}

async fn json(response: axum::response::Response) -> (StatusCode, serde_json::Value) {
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

fn body(events: &[&str]) -> String {
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

#[tokio::test]
async fn sdk_body_is_validated_pseudonymized_and_stored() {
    let f = fixture(IntakeConfig::default());
    let good = format!(r#"{{"name":"page.display","data":{{{DNMA},"user_id":"eleve-42","pageview_id":"pv1"}}}}"#);
    let bad = r#"{"name":"page.display","data":{"service":"JEUX","user_id":"eleve-43","plateforme":"ONE"}}"#;
    let request = post("/event?s=612345&idclient=cookie-1", "text/plain;charset=UTF-8", body(&[&good, &good.replace("pv1", "pv2"), bad]));
    let (status, answer) = json(f.app().oneshot(request).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, serde_json::json!({"accepted": 2, "rejected": 1}));
    let hits: Vec<StoredHit> = f.stored(Topic::Hits).await.iter().map(|b| StoredHit::decode(b).unwrap()).collect();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].visitor, hits[1].visitor, "one visitor, one pseudonym");
    assert_eq!((hits[0].client.device.as_ref(), hits[0].client.browser.as_ref()), ("ordinateur", "chrome"));
    let dead: Vec<DeadLetter> = f.stored(Topic::DeadLetters).await.iter().map(|b| DeadLetter::decode(b).unwrap()).collect();
    assert_eq!(dead[0].plateforme.as_deref(), Some("ONE"));
    assert!(dead[0].reasons.iter().any(|r| r.code == "unknown_service"));
    let user_id = dead[0].properties.iter().find(|(k, _)| k == "user_id").unwrap();
    assert!(user_id.1.starts_with("pseudonym:"), "{user_id:?}");
    for payload in f.stored(Topic::Hits).await.iter().chain(&f.stored(Topic::DeadLetters).await) {
        let text = String::from_utf8_lossy(payload);
        assert!(!text.contains("eleve-4") && !text.contains("cookie-1") && !text.contains("Windows NT"), "raw id or UA stored");
    }
}

#[tokio::test]
async fn a_retried_body_is_stored_once() {
    let f = fixture(IntakeConfig::default());
    let event = format!(r#"{{"name":"page.display","data":{{{DNMA},"user_id":"u1","device_timestamp_utc":1763888400.5}}}}"#);
    for _ in 0..3 {
        let response = f.app().oneshot(post("/event?s=1&idclient=c", "text/plain", body(&[&event]))).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(f.stored(Topic::Hits).await.len(), 1);
    assert_eq!(f.state.metrics.duplicates.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[tokio::test]
async fn bad_requests_get_stable_codes() {
    let f = fixture(IntakeConfig { max_body_bytes: 4096, max_events_per_body: 3, ..IntakeConfig::default() });
    let event = format!(r#"{{"name":"page.display","data":{{{DNMA},"user_id":"u1"}}}}"#);
    let cases = [
        (post("/event?s=1", "text/plain", "{\"events\":[{"), StatusCode::BAD_REQUEST, "malformed_json"),
        (post("/event?s=1", "text/plain", "{}"), StatusCode::BAD_REQUEST, "missing_events"),
        (post("/event?s=1", "image/png", body(&[&event])), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_content_type"),
        (post("/event?s=1", "text/plain", "x".repeat(5000)), StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        (post("/event?s=1", "text/plain", body(&[&event, &event, &event, &event])), StatusCode::PAYLOAD_TOO_LARGE, "too_many_events"),
    ];
    for (request, status, code) in cases {
        let (got, answer) = json(f.app().oneshot(request).await.unwrap()).await;
        assert_eq!((got, answer["error"].as_str()), (status, Some(code)), "{answer}");
        assert!(answer["message"].is_string());
    }
    assert!(f.stored(Topic::Hits).await.is_empty(), "nothing accepted from bad requests");
    assert_eq!(f.stored(Topic::DeadLetters).await.len(), 2, "unreadable bodies are dead letters");
}

#[tokio::test]
async fn unknown_sites_are_refused_when_an_allowlist_is_set() {
    let f = fixture(IntakeConfig { allowed_sites: Some(["612345".to_owned()].into()), ..IntakeConfig::default() });
    let (status, answer) = json(f.app().oneshot(post("/event?s=999", "text/plain", "{}")).await.unwrap()).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::FORBIDDEN, Some("unknown_site")));
    let pixel = Request::get("/hit.xiti?s=612345&p=x").header(header::USER_AGENT, CHROME).body(Body::empty()).unwrap();
    assert_eq!(f.app().oneshot(pixel).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn bots_are_counted_and_not_stored() {
    let f = fixture(IntakeConfig::default());
    let event = format!(r#"{{"name":"page.display","data":{{{DNMA},"user_id":"u1"}}}}"#);
    let request =
        Request::post("/event?s=1").header(header::USER_AGENT, "Mozilla/5.0 HeadlessChrome/120.0").body(Body::from(body(&[&event]))).unwrap();
    assert_eq!(f.app().oneshot(request).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(f.stored(Topic::Hits).await.is_empty());
    let metrics = f.app().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = String::from_utf8(to_bytes(metrics.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("dnma_requests_dropped_total{class=\"headless\"} 1"), "{text}");
}

#[tokio::test]
async fn cors_answers_preflight_and_simple_requests() {
    let f = fixture(IntakeConfig { allowed_origins: vec!["https://ent.example.fr".into()], ..IntakeConfig::default() });
    let preflight = Request::options("/event?s=1")
        .header(header::ORIGIN, "https://ent.example.fr")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let response = f.app().oneshot(preflight).await.unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://ent.example.fr");
    let event = format!(r#"{{"name":"page.display","data":{{{DNMA},"user_id":"u1"}}}}"#);
    let mut simple = post("/event?s=1", "text/plain;charset=UTF-8", body(&[&event]));
    simple.headers_mut().insert(header::ORIGIN, "https://ent.example.fr".parse().unwrap());
    let response = f.app().oneshot(simple).await.unwrap();
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://ent.example.fr");
    let mut other = post("/event?s=1", "text/plain", body(&[&event]));
    other.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let response = f.app().oneshot(other).await.unwrap();
    assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn smarttag_hits_answer_a_gif_and_split_hits_are_reassembled_or_expire() {
    let f = fixture(IntakeConfig { multihit_timeout: std::time::Duration::ZERO, ..IntakeConfig::default() });
    let get = |q: &str| Request::get(format!("/hit.xiti?{q}")).header(header::USER_AGENT, CHROME).body(Body::empty()).unwrap();
    let response =
        f.app().oneshot(get("s=1&idclient=c&mh=2-2-h&uai=0350122T&projet=ENT_35&exploitant=ODE&plateforme=ONE&profil=ELEVE")).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/gif");
    assert_eq!(to_bytes(response.into_body(), 100).await.unwrap().as_ref(), PIXEL);
    assert!(f.stored(Topic::Hits).await.is_empty(), "waiting for part 1");
    f.app().oneshot(get("s=1&idclient=c&mh=1-2-h&p=notes&at=u-42&ac=1&service=NOTES&type=NATIF")).await.unwrap();
    let hits = f.stored(Topic::Hits).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(StoredHit::decode(&hits[0]).unwrap().profil, "ELEVE");
    f.app().oneshot(get("s=1&idclient=c&mh=1-3-lost&p=notes")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(expire_multihits(&f.state).await, 1);
    let dead = f.stored(Topic::DeadLetters).await;
    assert_eq!(DeadLetter::decode(&dead[0]).unwrap().reasons[0].code, "incomplete_multihit");
    let (status, answer) = json(f.app().oneshot(get("s=1&mh=9-2-x")).await.unwrap()).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_multihit")));
}

#[tokio::test]
async fn a_closed_log_answers_503_with_retry_after() {
    let f = fixture(IntakeConfig::default());
    f.log.close();
    let event = format!(r#"{{"name":"page.display","data":{{{DNMA},"user_id":"u1"}}}}"#);
    let response = f.app().oneshot(post("/event?s=1", "text/plain", body(&[&event]))).await.unwrap();
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let (status, answer) = json(response).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("log_unavailable")));
}
