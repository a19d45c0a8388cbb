//! Disk full under the real collector: its data directory is a 2 MiB tmpfs. Hits are sent until
//! the disk is full: the collector answers 503 `log_unavailable` with `Retry-After` and stays
//! up; once the filesystem is grown, it accepts hits again without a restart; after a clean stop
//! the log holds exactly the hits that were acknowledged, none lost, none from a refused request.
//!
//! Mounting needs root (or passwordless sudo) and a kernel that lets this process mount: where
//! it cannot, the test says so on stderr and checks nothing (a sandbox without the privilege is
//! not a failure of dnma). It ran where docs/RELIABILITY.md says.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::collector::Collector;
use super::{dnma, json_lines};

/// A mounted tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

fn privileged(args: &[&str]) -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut command = if root { Command::new(args[0]) } else { Command::new("sudo") };
    if !root {
        command.arg("-n").arg(args[0]);
    }
    command.args(&args[1..]).status().is_ok_and(|s| s.success())
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = privileged(&["mount", "-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.to_str().unwrap()]);
        ok.then(|| Tmpfs(dir.to_owned()))
    }

    fn grow(&self, size: &str) {
        assert!(privileged(&["mount", "-o", &format!("remount,size={size}"), self.0.to_str().unwrap()]), "remount");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        privileged(&["umount", "-l", self.0.to_str().unwrap()]);
    }
}

fn body(request: usize) -> String {
    let events: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#"{{"name":"page.display","data":{{"service":"NOTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"u{i}","pageview_id":"full-{request}-{i}","page":"notes-{}"}}}}"#,
                "x".repeat(100)
            )
        })
        .collect();
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

#[tokio::test]
async fn a_full_disk_answers_503_then_recovers_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let Some(tmpfs) = Tmpfs::mount(&data, "2m") else {
        eprintln!("disk_full: SKIPPED, cannot mount a tmpfs here (needs root or passwordless sudo, and the mount privilege)");
        return;
    };
    let mut collector = Collector::start(&data);
    let url = collector.url.clone();
    let client = reqwest::Client::new();
    let send = |n: usize| {
        client
            .post(format!("{url}/event?s=1&idclient=c"))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
            .body(body(n))
            .send()
    };

    let (mut acknowledged, mut request, mut refused) = (0u64, 0, None);
    while refused.is_none() {
        assert!(request < 2000, "the disk never filled");
        let answer = send(request).await.unwrap();
        request += 1;
        match answer.status().as_u16() {
            200 => acknowledged += 50,
            503 => {
                assert_eq!(answer.headers()["retry-after"], "1");
                refused = Some(serde_json::from_slice::<serde_json::Value>(&answer.bytes().await.unwrap()).unwrap());
            }
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!(refused.unwrap()["error"], "log_unavailable");
    assert!(acknowledged > 0);
    // Still refusing while full, and still alive.
    assert_eq!(send(request).await.unwrap().status(), 503);
    request += 1;
    assert_eq!(client.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);

    // Space comes back: hits are accepted again, without a restart.
    tmpfs.grow("16m");
    for _ in 0..5 {
        let answer = send(request).await.unwrap();
        request += 1;
        assert_eq!(answer.status(), 200, "accepted again once there is space");
        acknowledged += 50;
    }

    // A clean stop, then the log holds exactly the acknowledged hits.
    let signalled = Command::new("kill").args(["-TERM", &collector.child.id().to_string()]).status().unwrap();
    assert!(signalled.success());
    assert!(collector.child.wait().unwrap().success());
    let log = json_lines(&dnma(&["log", "stats", "--data-dir", data.to_str().unwrap()], None)).remove(0);
    assert_eq!(log["hits"].as_u64(), Some(acknowledged), "{log}");
    assert_eq!(log["damage"], serde_json::json!([]), "{log}");
    let run = dnma(&["pipeline", "run", "--once", "--data-dir", data.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success() && stderr.contains(&format!("{acknowledged} hits staged")), "every record reads back: {stderr}");
    drop(collector);
    drop(tmpfs);
}
