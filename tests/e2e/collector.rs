//! The real `dnma collector` on port 0 with a temp data dir: hits of both wire formats sent over
//! HTTP, read back with `dnma log tail`; raw ids never on disk; a SIGKILL mid-traffic loses no
//! acknowledged hit.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{dnma, json_lines};

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const DNMA: &str = r#""service":"NOTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE""#;

/// A running collector; killed when dropped.
pub(crate) struct Collector {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Collector {
    pub(crate) fn start(data_dir: &Path) -> Collector {
        Collector::spawn(&["collector", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()])
    }

    /// Runs `dnma ARGS` (a command that serves HTTP and prints its address first).
    pub(crate) fn spawn(args: &[&str]) -> Collector {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dnma")).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.starts_with("http://127.0.0.1:"), "first stdout line is the address: {first:?}");
        Collector { child, url: first.trim().to_owned() }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(data_dir: &Path, dead: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["log", "tail", "--data-dir", data_dir.to_str().unwrap(), "-n", "100000"];
    if dead {
        args.push("--dead-letters");
    }
    json_lines(&dnma(&args, None))
}

#[tokio::test]
async fn hits_of_both_formats_reach_the_log_and_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());
    let client = reqwest::Client::new();
    let body = format!(
        r#"{{"events":[{{"name":"page.display","data":{{{DNMA},"user_id":"eleve-secret-1","pageview_id":"pv-e2e"}}}},{{"name":"page.display","data":{{"service":"JEUX","user_id":"eleve-secret-2"}}}}]}}"#
    );
    let response = client
        .post(format!("{}/event?s=612345&idclient=cookie-secret", collector.url))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", UA)
        .header("x-forwarded-for", "203.0.113.77")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap()).unwrap(),
        serde_json::json!({"accepted": 1, "rejected": 1})
    );
    let pixel = client
        .get(format!(
            "{}/hit.xiti?s=612345&p=notes&at=eleve-secret-3&ac=1&service=NOTES&type=NATIF&uai=0940176F&projet=ENT_94&exploitant=ODE&plateforme=MBN",
            collector.url
        ))
        .header("user-agent", UA)
        .send()
        .await
        .unwrap();
    assert_eq!(pixel.headers()["content-type"], "image/gif");
    let bad = client.post(format!("{}/event?s=612345", collector.url)).header("user-agent", UA).body("{not json").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.bytes().await.map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap()).unwrap()["error"], "malformed_json");

    let hits = tail(dir.path(), false);
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["record"]["pageview_id"], "pv-e2e");
    assert_eq!((hits[1]["record"]["format"].as_str(), hits[1]["record"]["uai"].as_str()), (Some("xiti"), Some("0940176F")));
    assert_eq!(hits[1]["record"]["visitor"].as_str().unwrap().len(), 32, "a 128-bit pseudonym");
    let dead = tail(dir.path(), true);
    let codes: Vec<&str> = dead.iter().map(|d| d["record"]["reasons"][0]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["unknown_service", "malformed_json"]);
    let stats = json_lines(&dnma(&["log", "stats", "--data-dir", dir.path().to_str().unwrap()], None));
    assert_eq!((stats[0]["hits"].as_u64(), stats[0]["dead_letters"].as_u64()), (Some(2), Some(2)));

    // Privacy: no raw id, IP or User-Agent in any byte the collector wrote.
    for needle in ["eleve-secret", "cookie-secret", "203.0.113.77", "Windows NT"] {
        assert!(!grep_dir(dir.path(), needle.as_bytes()), "{needle} found on disk");
    }
}

#[tokio::test]
async fn smarttag_hits_with_only_legacy_variables_are_completed_or_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());
    let client = reqwest::Client::new();
    for (user, platform) in [("legacy-1", "ONE"), ("legacy-2", "PLATEFORME_INCONNUE")] {
        let pixel = client
            .get(format!("{}/hit.xiti?s=612345&s2=0350122T&p=notes&at={user}&x1=3&x2=1&x3=ENT_35&x4={platform}", collector.url))
            .header("user-agent", UA)
            .send()
            .await
            .unwrap();
        assert_eq!(pixel.headers()["content-type"], "image/gif");
    }
    let hits = tail(dir.path(), false);
    assert_eq!(hits.len(), 1, "{hits:?}");
    let hit = &hits[0]["record"];
    let derived = (hit["service"].as_str(), hit["service_type"].as_str(), hit["uai"].as_str(), hit["exploitant"].as_str(), hit["profil"].as_str());
    assert_eq!(derived, (Some("NOTES"), Some("NATIF"), Some("0350122T"), Some("ODE"), Some("ELEVE")), "{hit}");
    let warnings = hit["warnings"].as_array().unwrap();
    assert!(warnings.iter().filter(|w| w.as_str().is_some_and(|w| w.starts_with("legacy_code"))).count() >= 3, "{warnings:?}");
    let dead = tail(dir.path(), true);
    assert_eq!(dead.len(), 1);
    let reason = &dead[0]["record"]["reasons"][0];
    assert_eq!(reason["code"], "missing_exploitant");
    assert!(reason["message"].as_str().unwrap().contains("no operator of the platform PLATEFORME_INCONNUE"), "{reason}");
}

/// The value of a sample of `GET /metrics` (`name{labels}` as written), if shown.
fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

#[tokio::test]
async fn serve_shows_the_lag_from_acknowledged_to_counted_hits_in_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[pipeline]\npoll_interval = \"300ms\"\n").unwrap();
    let server =
        Collector::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap(), "--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let metrics = || async { client.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap() };
    assert_eq!(metric(&metrics().await, "dnma_counting_lag_seconds"), None, "no lag before any hit");
    let body = format!(r#"{{"events":[{{"name":"page.display","data":{{{DNMA},"user_id":"eleve-lag"}}}}]}}"#);
    let sent = client.post(format!("{}/event?s=612345", server.url)).header("user-agent", UA).body(body).send().await.unwrap();
    assert_eq!(sent.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = metrics().await;
        let acknowledged = metric(&text, "dnma_newest_hit_timestamp_seconds{stage=\"acknowledged\"}").expect("acknowledged shown");
        let counted = metric(&text, "dnma_newest_hit_timestamp_seconds{stage=\"counted\"}");
        if counted == Some(acknowledged) {
            assert_eq!(metric(&text, "dnma_counting_lag_seconds"), Some(0.0), "{text}");
            assert_eq!(metric(&text, "dnma_newest_hit_timestamp_seconds{stage=\"staged\"}"), Some(acknowledged));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the hit was not counted in 60 s:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn grep_dir(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().filter_map(Result::ok).any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            grep_dir(&path, needle)
        } else {
            std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[tokio::test]
async fn a_killed_collector_loses_no_acknowledged_hit() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path());
    let client = reqwest::Client::new();
    let url = collector.url.clone();
    let sender = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..100_000u32 {
            let body = format!(r#"{{"events":[{{"name":"page.display","data":{{{DNMA},"user_id":"u{i}","pageview_id":"crash-{i}"}}}}]}}"#);
            match client.post(format!("{url}/event?s=1")).header("user-agent", UA).body(body).send().await {
                Ok(r) if r.status() == 200 => acknowledged.push(format!("crash-{i}")),
                _ => break,
            }
        }
        acknowledged
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut collector = collector;
    collector.child.kill().unwrap(); // SIGKILL
    collector.child.wait().unwrap();
    let acknowledged = sender.await.unwrap();
    assert!(acknowledged.len() > 50, "only {} hits sent before the kill", acknowledged.len());
    let restarted = Collector::start(dir.path());
    let stored: Vec<String> = tail(dir.path(), false).iter().map(|h| h["record"]["pageview_id"].as_str().unwrap().to_owned()).collect();
    let stored_set: std::collections::HashSet<&String> = stored.iter().collect();
    for id in &acknowledged {
        assert!(stored_set.contains(id), "{id} was acknowledged but is not in the log");
    }
    assert_eq!(stored_set.len(), stored.len(), "no hit stored twice");
    assert!(stored.len() <= acknowledged.len() + 1, "at most the one in-flight hit beyond the acknowledged");
    drop(restarted);
}

#[tokio::test]
async fn sigterm_stops_the_collector_cleanly_and_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(dir.path());
    let client = reqwest::Client::new();
    let body = format!(r#"{{"events":[{{"name":"page.display","data":{{{DNMA},"user_id":"u1","pageview_id":"before-term"}}}}]}}"#);
    let response = client.post(format!("{}/event?s=1", collector.url)).header("user-agent", UA).body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let status = Command::new("kill").args(["-TERM", &collector.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = collector.child.wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");
    let hits = tail(dir.path(), false);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["record"]["pageview_id"], "before-term");
    // The data dir is free again: a new collector starts on it.
    drop(Collector::start(dir.path()));
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dnma.toml");
    std::fs::write(&config, "[collector]\nmax_body_bytes = 1000\nmax_bodi_bytes = 2000\n").unwrap();
    let out = dnma(&["collector", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap(), "--config", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_bodi_bytes"), "the unknown key is named: {stderr}");
    assert!(out.stdout.is_empty(), "nothing was started");
}

#[test]
fn import_keeps_the_recorded_times_and_names_unreadable_lines() {
    let dir = tempfile::tempdir().unwrap();
    let piano = format!(r#"{{"events":[{{"name":"page.display","data":{{{DNMA},"user_id":"eleve-secret-9","pageview_id":"imported"}}}}]}}"#);
    let input = format!(
        "2025-09-02T08:15:00+02:00\t/event?s=1&idclient=c\t{piano}\n\
         2025-09-03T18:00:00Z\t/hit.xiti?s=1&p=notes&at=u2&ac=2&service=NOTES&type=NATIF&uai=0940176F&projet=ENT_94&exploitant=ODE&plateforme=MBN\n\
         2025-09-03T18:01:00Z\t/hit.xiti?s=1&p=x&at=u3&service=JEUX\n\
         yesterday\t/hit.xiti?s=1\n"
    );
    let out = dnma(&["import", "--data-dir", dir.path().to_str().unwrap(), "-"], Some(input.as_bytes()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(":4: timestamp \"yesterday\" is not RFC 3339"), "{stderr}");
    assert!(stderr.contains("4 lines: 2 hits accepted, 1 refused (dead letters), 1 unreadable"), "{stderr}");
    let hits = tail(dir.path(), false);
    let times: Vec<i64> = hits.iter().map(|h| h["record"]["received_ms"].as_i64().unwrap()).collect();
    assert_eq!(times, [1_756_793_700_000, 1_756_922_400_000], "the recorded times, not the import time");
    assert_eq!(tail(dir.path(), true)[0]["record"]["reasons"][0]["code"], "unknown_service");
    assert!(!grep_dir(dir.path(), b"eleve-secret"), "imported ids are pseudonymized too");
}
