//! The distributed mode through the real binary, on real servers: Apache Kafka (`KRaft` mode,
//! started by `.ci/run` with `scripts/kafka.sh`, at `DNMA_KAFKA_BROKERS`) and ClickHouse (at
//! `DNMA_CLICKHOUSE_URL`).
//!
//! - Two `dnma collector` processes take hits over HTTP into the Kafka log; two `dnma pipeline
//!   run` processes share its partitions as one consumer group and write into ClickHouse. One
//!   pipeline is killed (SIGKILL) mid-way: the other takes over its partitions once the dead
//!   member's session times out and alone counts every hit of the topic; the killed one is then
//!   restarted and the two share the group again. The ClickHouse figures must equal the
//!   brute-force reference computed from every record in the topic, and the topic must hold
//!   exactly the hits the collectors acknowledged. Each member computes only the (day, log
//!   partition) parts of the partitions the group gives it: both compute before the kill, never
//!   the same partition, and no step computes a partition its member did not own then.
//! - A broker of the test's own is killed (SIGKILL of its JVM) for 30 s under traffic and
//!   restarted on its data directory: the collector answers 503 with `Retry-After` while it is
//!   down, 200 again once it is back, every acknowledged hit is in the topic, and a pipeline
//!   that followed the topic through the outage counts every hit of the topic in the ClickHouse
//!   rollups.
//!
//! Without the servers the tests say so and pass, except under `CI=true`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use collector::log::{position, HitLog, KafkaHitLog, KafkaLogConfig, Topic};
use collector::record::StoredHit;
use pipeline::hit_row::Placer;
use pipeline::reference;
use pipeline::store::{ClickHouseConfig, ClickHouseRollupStore};
use pipeline::{Breakdown, IndicatorQuery, Level, Period, RollupStore};
use tagging_plan::{Plan, Referential};

use super::collector::Collector;
use super::{dnma, SCHOOLS};

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

const SERVICES: [&str; 4] = ["COURRIER_ELECTRONIQUE", "CAHIER_TEXTES", "NOTES", "ACTUALITES"];
const PROFILES: [&str; 4] = ["ELEVE", "ELEVE", "ENSEIGNANT", "PARENT"];

fn servers() -> Option<(String, String)> {
    match (std::env::var("DNMA_KAFKA_BROKERS"), std::env::var("DNMA_CLICKHOUSE_URL")) {
        (Ok(brokers), Ok(url)) if !brokers.is_empty() && !url.is_empty() => Some((brokers, url)),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must run the distributed tests: DNMA_KAFKA_BROKERS and DNMA_CLICKHOUSE_URL must be set"
            );
            eprintln!("skipped: set DNMA_KAFKA_BROKERS (scripts/kafka.sh) and DNMA_CLICKHOUSE_URL (scripts/clickhouse.sh)");
            None
        }
    }
}

/// A Piano SDK body of one page view of `user` (unique page view id `n`).
fn page_view(user: u32, n: u32) -> String {
    let (uai, projet, plateforme) = SCHOOLS[user as usize % SCHOOLS.len()];
    let service = SERVICES[(user + n) as usize % SERVICES.len()];
    let profil = PROFILES[user as usize % PROFILES.len()];
    format!(
        r#"{{"events":[{{"name":"page.display","data":{{"service":"{service}","type":"NATIF","uai":"{uai}","projet":"{projet}","exploitant":"ODE","plateforme":"{plateforme}","profil":"{profil}","user_id":"user-{user}","pageview_id":"pv-{n}"}}}}]}}"#
    )
}

/// Sends page views `range` alternately to the collectors; returns the page view ids
/// acknowledged as accepted (2xx with `accepted: 1`) and how many got a 503.
async fn send(collectors: &[&str], range: std::ops::Range<u32>, users: u32) -> (Vec<String>, u64) {
    let client = reqwest::Client::new();
    let (mut accepted, mut unavailable) = (Vec::new(), 0);
    for n in range {
        let url = collectors[n as usize % collectors.len()];
        let response = client
            .post(format!("{url}/event?s=612345&idclient=c-{n}"))
            .header("content-type", "text/plain;charset=UTF-8")
            .header("user-agent", UA)
            .body(page_view(n % users, n))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => {
                let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
                assert_eq!(body["accepted"], 1, "{body}");
                accepted.push(format!("pv-{n}"));
            }
            503 => {
                assert!(response.headers().contains_key("retry-after"), "a 503 says when to retry");
                unavailable += 1;
            }
            status => panic!("unexpected {status}: {}", response.text().await.unwrap_or_default()),
        }
    }
    (accepted, unavailable)
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{name}_{}_{nanos}", std::process::id())
}

fn write_config(dir: &Path, brokers: &str, topic_prefix: &str, clickhouse: Option<(&str, &str)>, key_file: &Path) -> PathBuf {
    let mut text = format!(
        "[collector]\nkey_file = \"{}\"\n\n[log]\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic_prefix = \"{topic_prefix}\"\npartitions = 4\nsend_timeout = \"2s\"\nsession_timeout = \"6s\"\n\n[pipeline]\nconsumer = \"{}\"\npoll_interval = \"1s\"\n",
        key_file.display(),
        topic_prefix.replace('.', "-") + "pipeline"
    );
    if let Some((url, database)) = clickhouse {
        let _ = write!(text, "\n[store]\nkind = \"clickhouse\"\nurl = \"{url}\"\ndatabase = \"{database}\"\n");
    }
    let path = dir.join("dnma.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One key for every collector: the same person gets the same pseudonym whichever collector
/// took the hit.
fn write_key_file(dir: &Path) -> PathBuf {
    let path = dir.join("keys");
    let key = (0..32_u32).fold(String::new(), |mut key, i| {
        let _ = write!(key, "{:02x}", (i * 37 + 11) % 256);
        key
    });
    std::fs::write(&path, format!("2025-2026={key}\n2026-2027={key}\n2027-2028={key}\n")).unwrap();
    path
}

/// Starts `dnma pipeline run`; what it prints goes to `pipeline.log` in its data directory
/// (appended across restarts), which [`pipeline_logs`] shows when a test fails.
fn spawn_pipeline(config: &Path, data_dir: &Path) -> PipelineProcess {
    std::fs::create_dir_all(data_dir).unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("pipeline.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_dnma"))
        .args(["pipeline", "run", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()])
        .env("DNMA_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(PipelineProcess)
        .unwrap()
}

/// A `dnma pipeline run` process, killed when dropped (also when a test fails).
struct PipelineProcess(Child);

impl std::ops::Deref for PipelineProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for PipelineProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for PipelineProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last lines each pipeline printed, to say why figures were not reached.
fn pipeline_logs(data_dirs: &[PathBuf]) -> String {
    data_dirs.iter().fold(String::new(), |mut out, dir| {
        let text = std::fs::read_to_string(dir.join("pipeline.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let _ = writeln!(out, "--- {} (last 40 lines)", dir.display());
        for line in &lines[lines.len().saturating_sub(40)..] {
            let _ = writeln!(out, "{line}");
        }
        out
    })
}

/// Every hit in the topic, placed as the pipeline places it, and its page view id.
async fn logged_rows(config: &KafkaLogConfig) -> (Vec<pipeline::hit_row::HitRow>, Vec<String>) {
    let log = KafkaHitLog::open(config.clone()).await.unwrap();
    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let (mut rows, mut ids) = (Vec::new(), Vec::new());
    for partition in 0..log.partitions(Topic::Hits).await.unwrap() {
        let mut from = 0;
        loop {
            let records = log.read(Topic::Hits, partition, from, 1000).await.unwrap();
            let Some(last) = records.last() else { break };
            from = last.offset + 1;
            for record in records {
                let hit = StoredHit::decode(&record.payload).unwrap();
                ids.push(hit.pageview_id.clone().unwrap_or_default());
                rows.push(placer.row(position(partition, record.offset), hit).unwrap());
            }
        }
    }
    (rows, ids)
}

/// Waits until the ClickHouse figures of `queries` equal the brute-force reference over every
/// hit of the topic, and says how long that took (fails after `within`, with the pipelines'
/// last log lines).
async fn reach_reference(store: &ClickHouseRollupStore, kafka: &KafkaLogConfig, within: Duration, data_dirs: &[PathBuf]) -> Duration {
    let started = Instant::now();
    let (rows, _) = logged_rows(kafka).await;
    let (day_first, day_last) = (rows.iter().map(|r| r.day).min().unwrap(), rows.iter().map(|r| r.day).max().unwrap());
    let visits = reference::visits(&rows, 30 * 60 * 1000);
    let queries = [
        IndicatorQuery::new(Level::Nation, Period::Day, day_first, day_last),
        IndicatorQuery::new(Level::Ecole, Period::Week, day_first, day_last).by(Breakdown::Profil),
        IndicatorQuery::new(Level::Academie, Period::Month, day_first, day_last).by(Breakdown::Service),
        IndicatorQuery::new(Level::Plateforme, Period::SchoolYear, day_first, day_last),
    ];
    loop {
        let mut differences = Vec::new();
        for query in &queries {
            let (got, expected) = (store.query(query).await, reference::answer(&visits, query));
            match got {
                Ok(got) if got == expected => {}
                Ok(got) => differences.push(format!(
                    "{query:?}: {} rows, expected {}; first got {:?}, expected {:?}",
                    got.len(),
                    expected.len(),
                    got.first(),
                    expected.first()
                )),
                Err(e) => differences.push(format!("{query:?}: {e}")),
            }
        }
        if differences.is_empty() {
            let nation = store.query(&queries[0]).await.unwrap();
            assert_eq!(nation.iter().map(|r| r.page_views).sum::<u64>(), rows.len() as u64, "{nation:?}");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the pipelines did not reach the reference in {within:?}:\n{}\n{}",
            differences.join("\n"),
            pipeline_logs(data_dirs)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The hit partitions the group last gave the pipeline of `data_dir`, from its log.
fn last_assignment(data_dir: &Path) -> Option<Vec<u32>> {
    let text = std::fs::read_to_string(data_dir.join("pipeline.log")).unwrap_or_default();
    let line = text.lines().rev().find(|l| l.contains("partitions assigned") && !l.contains("dead-letters"))?;
    let list = &line[line.find("partitions=[")? + "partitions=[".len()..];
    Some(list[..list.find(']')?].split(", ").filter_map(|p| p.trim().parse().ok()).collect())
}

/// The log partitions of a list logged as `name[…]` or `name{…}` in a line (`name` ends with
/// `=` or a space).
fn logged_partitions(line: &str, name: &str) -> Option<std::collections::BTreeSet<u32>> {
    let at = line.find(name)? + name.len() + 1;
    let list = &line[at..];
    Some(list[..list.find([']', '}'])?].split(", ").filter_map(|p| p.trim().parse().ok()).collect())
}

/// The hit partitions whose parts the pipeline of `data_dir` computed so far, from its log.
fn computed_partitions(data_dir: &Path) -> std::collections::BTreeSet<u32> {
    let text = std::fs::read_to_string(data_dir.join("pipeline.log")).unwrap_or_default();
    text.lines().filter(|l| l.contains("part(s) computed")).filter_map(|l| logged_partitions(l, "log partitions ")).flatten().collect()
}

/// Checks that every step of the pipeline of `data_dir` computed only parts of the hit
/// partitions the group had given it last.
fn every_step_computed_owned_partitions(data_dir: &Path) {
    let text = std::fs::read_to_string(data_dir.join("pipeline.log")).unwrap_or_default();
    let mut owned = std::collections::BTreeSet::new();
    for line in text.lines() {
        if line.contains("partitions assigned") && !line.contains("dead-letters") {
            owned = logged_partitions(line, "partitions=").unwrap_or_default();
        } else if line.contains("part(s) computed") {
            let computed = logged_partitions(line, "log partitions ").unwrap_or_default();
            assert!(computed.is_subset(&owned), "{}: computed {computed:?} while owning {owned:?}", data_dir.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_and_two_pipelines_one_killed_count_every_hit_once() {
    let Some((brokers, url)) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (prefix, database) = (format!("{}.", unique("e2e")), unique("dnma_e2e"));
    let config = write_config(dir.path(), &brokers, &prefix, Some((&url, &database)), &write_key_file(dir.path()));
    let migrate = dnma(&["clickhouse", "migrate", "--config", config.to_str().unwrap()], None);
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));

    let collector_args = |n: &str| {
        let data_dir = dir.path().join(n);
        vec![
            "collector".to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--config".into(),
            config.display().to_string(),
        ]
    };
    let one = Collector::spawn(&collector_args("c1").iter().map(String::as_str).collect::<Vec<_>>());
    let two = Collector::spawn(&collector_args("c2").iter().map(String::as_str).collect::<Vec<_>>());
    let data_dirs = [dir.path().join("p1"), dir.path().join("p2")];
    let mut first = spawn_pipeline(&config, &data_dirs[0]);
    let mut second = spawn_pipeline(&config, &data_dirs[1]);
    let kafka = KafkaLogConfig { topic_prefix: prefix.clone(), ..KafkaLogConfig::new(brokers.clone()) };
    let store = ClickHouseRollupStore::new(ClickHouseConfig { url: url.clone(), database: database.clone(), user: "default".into(), password: None })
        .unwrap();

    let users = 90;
    // Both members own partitions before the traffic comes (a member alone in the group for a
    // moment would compute every partition, rightly, then hand half of them over).
    let joined = Instant::now();
    while data_dirs.iter().any(|d| last_assignment(d).is_none_or(|a| a.is_empty())) {
        assert!(joined.elapsed() < Duration::from_secs(60), "the group did not give both members partitions:\n{}", pipeline_logs(&data_dirs));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (mut accepted, _) = send(&[&one.url, &two.url], 0..300, users).await;
    let owned_by_first = last_assignment(&data_dirs[0]).unwrap();
    // Each member computes the parts of the partitions it owns, and only those.
    while data_dirs.iter().any(|d| computed_partitions(d).is_empty()) {
        assert!(joined.elapsed() < Duration::from_secs(90), "both members did not compute their parts:\n{}", pipeline_logs(&data_dirs));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before_kill: Vec<_> = data_dirs.iter().map(|d| computed_partitions(d)).collect();
    assert!(before_kill[0].is_disjoint(&before_kill[1]), "two members computed the same partition: {before_kill:?}");
    // Killed mid-way, without leaving the group: whatever it staged but did not commit is read
    // again by the member that takes its partitions over once its session (6 s) times out.
    first.kill().unwrap();
    first.wait().unwrap();
    accepted.extend(send(&[&one.url, &two.url], 300..500, users).await.0);
    let taken_over = reach_reference(&store, &kafka, Duration::from_secs(120), &data_dirs).await;
    let owned_by_second = last_assignment(&data_dirs[1]).unwrap();
    assert_eq!(owned_by_second, [0, 1, 2, 3], "the survivor owns every partition (the dead member had {owned_by_first:?})");

    // Restarted, the member joins again and the two share the partitions.
    first = spawn_pipeline(&config, &data_dirs[0]);
    accepted.extend(send(&[&one.url, &two.url], 500..600, users).await.0);
    assert_eq!(accepted.len(), 600, "every hit accepted");
    let (rows, mut ids) = logged_rows(&kafka).await;
    ids.sort();
    accepted.sort();
    assert_eq!(ids, accepted, "the topic holds exactly the acknowledged hits, each once");
    let partitions: std::collections::BTreeSet<_> = rows.iter().map(|r| collector::log::partition_of(r.offset)).collect();
    assert!(partitions.len() > 1, "hits spread over partitions: {partitions:?}");
    reach_reference(&store, &kafka, Duration::from_secs(120), &data_dirs).await;
    let nation = store.query(&IndicatorQuery::new(Level::Nation, Period::SchoolYear, rows[0].day, rows[0].day)).await.unwrap();
    assert_eq!(nation.iter().map(|r| r.visitors).max(), Some(u64::from(users)), "{nation:?}");
    eprintln!("member killed: the survivor (the dead one had {owned_by_first:?}) counted every hit {taken_over:?} after the kill's traffic ended");

    for data_dir in &data_dirs {
        every_step_computed_owned_partitions(data_dir);
    }

    let _ = second.kill();
    let _ = first.kill();
    let _ = (first.wait(), second.wait());
    drop((one, two));
    let dropped = reqwest::Client::new().post(&url).body(format!("DROP DATABASE {database}")).send().await.unwrap();
    assert!(dropped.status().is_success());
}

/// A broker of its own (scripts/kafka.sh), stopped and restarted by the test.
struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    address: String,
}

impl Broker {
    fn start() -> Option<Broker> {
        if which("java").is_none() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the broker outage test: java is not installed");
            eprintln!("skipped: java is not installed (scripts/kafka.sh runs Apache Kafka on it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = Broker::run(dir.path(), port);
        Some(Broker { dir, port, address })
    }

    fn run(dir: &Path, port: u16) -> String {
        let script =
            Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())).join("scripts/kafka.sh");
        let out = Command::new(script).args([dir.to_str().unwrap(), &port.to_string()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn stop(&self) {
        let pid = std::fs::read_to_string(self.dir.path().join("pid")).unwrap();
        let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        // Gone when its port is free.
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn restart(&self) {
        assert_eq!(Broker::run(self.dir.path(), self.port), self.address);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.exists()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_for_30_s_gets_503_then_recovers_and_every_acknowledged_hit_is_kept() {
    let Some((_, url)) = servers() else { return };
    let Some(broker) = Broker::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (prefix, database) = (format!("{}.", unique("outage")), unique("dnma_outage"));
    let config = write_config(dir.path(), &broker.address, &prefix, Some((&url, &database)), &write_key_file(dir.path()));
    let migrate = dnma(&["clickhouse", "migrate", "--config", config.to_str().unwrap()], None);
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let collector =
        Collector::spawn(&["collector", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap(), "--config", config.to_str().unwrap()]);
    // A pipeline follows the topic through the outage (it waits, then catches up).
    let mut pipeline = spawn_pipeline(&config, &dir.path().join("pipeline"));
    let (mut acknowledged, _) = send(&[&collector.url], 0..100, 40).await;
    assert_eq!(acknowledged.len(), 100);

    broker.stop();
    let down = Instant::now();
    let (mut during, mut refused) = (0, 0);
    let mut n = 100;
    while down.elapsed() < Duration::from_secs(30) {
        let (ok, unavailable) = send(&[&collector.url], n..n + 1, 40).await;
        during += ok.len();
        acknowledged.extend(ok);
        refused += unavailable;
        n += 1;
    }
    assert_eq!(during, 0, "nothing is acknowledged while the broker is down");
    assert!(refused > 0, "the collector answers 503 while the broker is down");
    broker.restart();

    // Back: acknowledged again, within a few seconds.
    let back = Instant::now();
    let (mut after, mut recovered) = (0, None);
    while after < 50 {
        assert!(back.elapsed() < Duration::from_secs(60), "the collector did not recover");
        let (ok, _) = send(&[&collector.url], n..n + 1, 40).await;
        if !ok.is_empty() {
            recovered.get_or_insert(back.elapsed());
        }
        after += ok.len();
        acknowledged.extend(ok);
        n += 1;
    }
    let kafka = KafkaLogConfig { topic_prefix: prefix, ..KafkaLogConfig::new(broker.address.clone()) };
    let (rows, ids) = logged_rows(&kafka).await;
    let logged: std::collections::BTreeSet<&String> = ids.iter().collect();
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !logged.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged but not in the topic: {missing:?}");
    // And in the rollups: the pipeline counts exactly what the topic holds.
    let store = ClickHouseRollupStore::new(ClickHouseConfig { url: url.clone(), database: database.clone(), user: "default".into(), password: None })
        .unwrap();
    let (first, last) = (rows.iter().map(|r| r.day).min().unwrap(), rows.iter().map(|r| r.day).max().unwrap());
    let nation = IndicatorQuery::new(Level::Nation, Period::SchoolYear, first, last);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let counted: u64 = store.query(&nation).await.unwrap_or_default().iter().map(|r| r.page_views).sum();
        if counted == rows.len() as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "the rollups count {counted} page views, the topic holds {}", rows.len());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = pipeline.kill();
    let _ = pipeline.wait();
    let dropped = reqwest::Client::new().post(&url).body(format!("DROP DATABASE {database}")).send().await.unwrap();
    assert!(dropped.status().is_success());
    eprintln!(
        "outage: {} acknowledged, {refused} answered 503 in 30 s down, first 200 {:?} after the restart, {} in the topic",
        acknowledged.len(),
        recovered.unwrap_or_default(),
        ids.len()
    );
    drop(collector);
}

/// SmartTag lines for `dnma import` of `users` (ids `user-N`) of the first shipped school,
/// `pages` page views each on 2026-11-16, with a `tag` in the page name.
fn recorded_visits(users: std::ops::Range<u32>, pages: u32, tag: &str) -> String {
    let (uai, projet, plateforme) = SCHOOLS[0];
    let mut lines = String::new();
    for user in users {
        for page in 0..pages {
            let _ = writeln!(
                lines,
                "2026-11-16T10:{:02}:00+01:00\t/hit.xiti?s=1&p={tag}{page}&at=user-{user}&ac=1&service=NOTES&type=NATIF&uai={uai}&projet={projet}&exploitant=ODE&plateforme={plateforme}",
                page * 2 + user % 2
            );
        }
    }
    lines
}

fn nation_figures(data_dir: &Path, config: &Path) -> (u64, u64) {
    let args = [
        "query",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--level",
        "nation",
        "--period",
        "day",
        "--from",
        "2026-11-16",
        "--to",
        "2026-11-16",
        "--format",
        "json",
    ];
    let out = dnma(&args, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    (row["visitors"].as_u64().unwrap(), row["page_views"].as_u64().unwrap())
}

/// Erasure in the distributed mode: the ClickHouse facts of the person go, the audit says the
/// Kafka records go with the topic retention, and the person's records still in the topic (read
/// by a pipeline after the erasure) are not staged again, while everyone else's are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_deletes_the_clickhouse_facts_and_holds_the_records_left_in_kafka() {
    let Some((brokers, url)) = servers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let database = unique("dnma_erase");
    let config = write_config(dir.path(), &brokers, &format!("{}.", unique("erase")), Some((&url, &database)), &write_key_file(dir.path()));
    let (data, cfg) = (data_dir.to_str().unwrap(), config.to_str().unwrap());
    let run = |args: &[&str], stdin: Option<&[u8]>| {
        let out = dnma(args, stdin);
        assert!(out.status.success(), "dnma {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    run(&["clickhouse", "migrate", "--config", cfg], None);
    run(&["import", "--data-dir", data, "--config", cfg, "-"], Some(recorded_visits(1..6, 3, "a").as_bytes()));
    run(&["pipeline", "run", "--once", "--data-dir", data, "--config", cfg], None);
    assert_eq!(nation_figures(&data_dir, &config), (5, 15));

    let erased = run(
        &["erase", "--data-dir", data, "--config", cfg, "--plateforme", SCHOOLS[0].2, "--user-id", "-", "--reference", "DPO-2026-42"],
        Some(b"user-1\n"),
    );
    let audit: serde_json::Value = serde_json::from_slice(&erased.stdout).unwrap();
    assert_eq!(audit["log"]["kind"], "kafka", "{audit}");
    assert!(audit["log"]["held_out_of_staging_until"].is_string(), "{audit}");
    assert_eq!(audit["facts"]["hits"], 3, "{audit}");
    assert!(!erased.stdout.windows(6).any(|w| w == b"user-1"), "the audit holds no id");
    run(&["pipeline", "run", "--once", "--data-dir", data, "--config", cfg], None);
    assert_eq!(nation_figures(&data_dir, &config), (4, 12), "the erased person is no longer counted");

    // Records of the person that were still in the topic, read after the erasure: held out.
    run(&["import", "--data-dir", data, "--config", cfg, "-"], Some(recorded_visits(1..3, 2, "b").as_bytes()));
    let staged = run(&["pipeline", "run", "--once", "--data-dir", data, "--config", cfg], None);
    let said = String::from_utf8_lossy(&staged.stderr);
    assert!(said.contains("2 hits staged") && said.contains("2 held out by an erasure"), "{said}");
    assert_eq!(nation_figures(&data_dir, &config), (4, 14), "user-2's new pages counted, user-1's held out");

    let dropped = reqwest::Client::new().post(&url).body(format!("DROP DATABASE {database}")).send().await.unwrap();
    assert!(dropped.status().is_success());
}
