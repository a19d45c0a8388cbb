//! Throughput of the distributed write path on real servers: a Kafka-compatible broker at
//! `DNMA_KAFKA_BROKERS` and ClickHouse at `DNMA_CLICKHOUSE_URL` (`scripts/kafka.sh`,
//! `scripts/clickhouse.sh`).
//!
//! 1. Kafka appends: synthetic hits appended by 64 concurrent writers in batches of 20 (the shape
//!    of the collector's SDK bodies), each append waiting for `acks=all`.
//! 2. ClickHouse: one pipeline reads the topic as a consumer group member, stages the hits into
//!    ClickHouse (`hits` table), then sessionizes every day and writes visits and usages.
//! 3. A group of two: the same hits on a new topic read by a group of one pipeline, then by a
//!    group of two, each pipeline a process of its own (this bench run again with
//!    `DIST_MEMBER`). Each member joins its group before the hits are appended, then stages and
//!    computes what its partitions hold; it reports the hits it computed and its CPU seconds.
//!    The two members' CPU per hit is compared with the lone member's, and the figures of the
//!    two stores are compared cell by cell.
//!
//! Run: `DNMA_KAFKA_BROKERS=127.0.0.1:19092 DNMA_CLICKHOUSE_URL=http://127.0.0.1:18123 cargo
//! bench --bench distributed` (env `DIST_HITS`, default 1,000,000; `DIST_PARTITIONS`, default 12;
//! `DIST_GROUPS=0` skips phase 3; `DIST_PARALLEL_PARTS`, parts computed at once in phase 2,
//! default the cores).
//! The HTTP collector on Kafka is measured by `collector_load` with `LOAD_CONFIG`.
#![allow(missing_docs, clippy::cast_precision_loss)]

#[allow(dead_code)] // shared with the harnesses that start dnma
mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use collector::log::{HitLog, KafkaHitLog, KafkaLogConfig, LogRecord, Topic};
use pipeline::store::{ClickHouseConfig, ClickHouseRollupStore};
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::{IndicatorQuery, IndicatorRow, Level, Period, Pipeline, PipelineConfig, RollupStore};
use support::{cpu_seconds, env_or, measuring};
use tagging_plan::{Plan, Referential};

fn main() {
    if let Ok(member) = std::env::var("DIST_MEMBER") {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(run_member(&MemberSpec::parse(&member)));
        return;
    }
    if !measuring("DNMA_KAFKA_BROKERS=… DNMA_CLICKHOUSE_URL=… cargo bench --bench distributed") {
        return;
    }
    let (Ok(brokers), Ok(url)) = (std::env::var("DNMA_KAFKA_BROKERS"), std::env::var("DNMA_CLICKHOUSE_URL")) else {
        eprintln!("set DNMA_KAFKA_BROKERS and DNMA_CLICKHOUSE_URL (scripts/kafka.sh, scripts/clickhouse.sh)");
        return;
    };
    let hits = usize::try_from(env_or("DIST_HITS", 1_000_000)).unwrap();
    let partitions = u32::try_from(env_or("DIST_PARTITIONS", 12)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(brokers, url, hits, partitions));
}

async fn run(brokers: String, url: String, hits: usize, partitions: u32) {
    let plan = Plan::shipped();
    let spec = TrafficSpec { hits, schools: 1000, visitors_per_school: 200, days: 7, ..TrafficSpec::default() };
    let generated = stored_hits(&spec, &plan, Referential::shipped());
    let records: Vec<LogRecord> = generated.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect();
    // The generator ends on a whole visit, so it makes a few more hits than asked: count those.
    let hits = records.len();
    let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
    let run_id = std::process::id();
    let config = KafkaLogConfig { topic_prefix: format!("bench-{run_id}."), partitions, ..KafkaLogConfig::new(brokers.clone()) };
    let log = Arc::new(KafkaHitLog::open(config).await.unwrap());

    let started = Instant::now();
    append_all(&log, &records).await;
    let append = started.elapsed().as_secs_f64();
    let stats = log.stats(Topic::Hits).await.unwrap();
    assert_eq!(stats.end_offset - stats.start_offset, hits as u64, "one record in the topic per acknowledged append");
    println!(
        "kafka appends: {hits} hits ({:.0} MB) in {append:.1} s: {:.0} hits/s, 64 writers × 20-record batches, {partitions} partitions, lz4, acks=all",
        bytes as f64 / 1e6,
        hits as f64 / append
    );

    let mut reader = Arc::clone(&log).subscribe(&format!("bench-read-{run_id}"), Topic::Hits).await.unwrap();
    let started = Instant::now();
    let mut read = 0;
    while read < hits {
        let got = reader.poll(200_000, std::time::Duration::from_secs(5)).await.unwrap();
        assert!(!got.is_empty(), "the topic ran dry after {read} of {hits} records");
        read += got.len();
    }
    let consume = started.elapsed().as_secs_f64();
    drop(reader);
    println!("kafka consumption (one group member, all partitions): {read} records in {consume:.1} s: {:.0} records/s", read as f64 / consume);

    let database = format!("dnma_bench_{run_id}");
    let store = Arc::new(
        ClickHouseRollupStore::new(ClickHouseConfig { url: url.clone(), database: database.clone(), user: "default".into(), password: None })
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let defaults = PipelineConfig::default();
    let parallelism = usize::try_from(env_or("DIST_PARALLEL_PARTS", defaults.parallelism as u64)).unwrap();
    let config = PipelineConfig { consumer: format!("bench-pipeline-{run_id}"), parallelism, ..defaults };
    let pipeline = Pipeline::new(log, store.clone(), Arc::new(plan), Arc::new(Referential::shipped().clone()), config);
    let started = Instant::now();
    let staged = pipeline.stage(|_| {}).await.unwrap();
    let stage = started.elapsed().as_secs_f64();
    println!(
        "clickhouse staging (read from Kafka, place, insert hits): {} hits in {stage:.1} s: {:.0} hits/s",
        staged.hits,
        staged.hits as f64 / stage
    );
    let started = Instant::now();
    let days = pipeline.compute(|_, _, _| {}).await.unwrap();
    let compute = started.elapsed().as_secs_f64();
    println!(
        "clickhouse compute (read day hits, sessionize, insert visits/usages): {} day parts, {parallelism} at once, in {compute:.1} s: {:.0} hits/s",
        days.len(),
        hits as f64 / compute
    );
    println!("whole write path Kafka → ClickHouse: {:.0} hits/s", hits as f64 / (stage + compute));
    store.drop_database().await.unwrap();

    if env_or("DIST_GROUPS", 1) == 0 {
        return;
    }
    let spec = |members| MemberSpec {
        brokers: brokers.clone(),
        url: url.clone(),
        topic_prefix: format!("bench-{run_id}-group{members}."),
        group: format!("bench-group{members}-{run_id}"),
        database: format!("dnma_bench_{run_id}_group{members}"),
        partitions,
        members,
    };
    let (alone, alone_figures) = group_run(&spec(1), &records).await;
    let (pair, pair_figures) = group_run(&spec(2), &records).await;
    let per_hit =
        |reports: &[MemberReport]| reports.iter().map(|r| r.cpu_seconds).sum::<f64>() / reports.iter().map(|r| r.computed_hits).sum::<u64>() as f64;
    for (name, reports) in [("one member", &alone), ("two members", &pair)] {
        for report in reports {
            println!(
                "group of {name}: partitions {:?}: {} hits computed, {:.1} CPU s ({:.1} µs/hit), {:.1} s",
                report.partitions,
                report.computed_hits,
                report.cpu_seconds,
                report.cpu_seconds / report.computed_hits as f64 * 1e6,
                report.seconds
            );
        }
    }
    assert_eq!(pair.iter().map(|r| r.computed_hits).sum::<u64>(), hits as u64, "the two members computed every hit once");
    assert_eq!(alone_figures, pair_figures, "the two groups' stores have the same figures");
    println!(
        "two members' CPU per hit: {:.2}× one member's (target ≤ 1.20); their shares of the hits: {:.0} % and {:.0} %; same figures in {} cells",
        per_hit(&pair) / per_hit(&alone),
        pair[0].computed_hits as f64 * 100.0 / hits as f64,
        pair[1].computed_hits as f64 * 100.0 / hits as f64,
        pair_figures.len()
    );
}

/// Appends `records` with 64 concurrent writers in batches of 20, each waiting for its
/// acknowledgement.
async fn append_all(log: &Arc<KafkaHitLog>, records: &[LogRecord]) {
    let batches: Arc<Mutex<Vec<Vec<LogRecord>>>> = Arc::new(Mutex::new(records.chunks(20).map(<[LogRecord]>::to_vec).collect()));
    let writers: Vec<_> = (0..64)
        .map(|_| {
            let (log, batches) = (Arc::clone(log), Arc::clone(&batches));
            tokio::spawn(async move {
                loop {
                    let Some(batch) = batches.lock().unwrap().pop() else { break };
                    log.append(Topic::Hits, batch).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
}

/// What a member process of phase 3 is told, in `DIST_MEMBER` (fields joined by `|`).
struct MemberSpec {
    brokers: String,
    url: String,
    topic_prefix: String,
    group: String,
    database: String,
    partitions: u32,
    members: u32,
}

impl MemberSpec {
    fn encode(&self) -> String {
        [&self.brokers, &self.url, &self.topic_prefix, &self.group, &self.database, &self.partitions.to_string(), &self.members.to_string()]
            .map(String::as_str)
            .join("|")
    }

    fn parse(value: &str) -> Self {
        let fields: Vec<&str> = value.split('|').collect();
        MemberSpec {
            brokers: fields[0].into(),
            url: fields[1].into(),
            topic_prefix: fields[2].into(),
            group: fields[3].into(),
            database: fields[4].into(),
            partitions: fields[5].parse().unwrap(),
            members: fields[6].parse().unwrap(),
        }
    }

    fn log_config(&self) -> KafkaLogConfig {
        KafkaLogConfig { topic_prefix: self.topic_prefix.clone(), partitions: self.partitions, ..KafkaLogConfig::new(self.brokers.clone()) }
    }

    fn store(&self) -> ClickHouseRollupStore {
        ClickHouseRollupStore::new(ClickHouseConfig {
            url: self.url.clone(),
            database: self.database.clone(),
            user: "default".into(),
            password: None,
        })
        .unwrap()
    }
}

/// What a member process reports on its last line of output.
struct MemberReport {
    partitions: BTreeSet<u32>,
    computed_hits: u64,
    cpu_seconds: f64,
    seconds: f64,
}

/// Runs a group of `spec.members` member processes on a new topic and database: they join,
/// the hits are appended, they stage and compute them. Returns their reports and the figures of
/// every académie and day they wrote.
async fn group_run(spec: &MemberSpec, records: &[LogRecord]) -> (Vec<MemberReport>, Vec<IndicatorRow>) {
    let log = Arc::new(KafkaHitLog::open(spec.log_config()).await.unwrap());
    let store = spec.store();
    store.migrate().await.unwrap();
    let mut children: Vec<Child> = (0..spec.members)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .arg("--bench")
                .env("DIST_MEMBER", spec.encode())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outputs: Vec<_> = children.iter_mut().map(|child| BufReader::new(child.stdout.take().unwrap()).lines()).collect();
    for output in &mut outputs {
        assert_eq!(output.next().unwrap().unwrap(), "ready", "a member joins its group");
    }
    append_all(&log, records).await;
    for child in &mut children {
        writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    }
    let reports = outputs.iter_mut().map(|output| MemberReport::parse(&output.next().unwrap().unwrap())).collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success(), "a member ends well");
    }
    let days = store.days().await.unwrap();
    let (first, last) = (days[0], days[days.len() - 1]);
    let figures = store.query_facts(&IndicatorQuery::new(Level::Academie, Period::Day, first, last)).await.unwrap();
    store.drop_database().await.unwrap();
    (reports, figures)
}

impl MemberReport {
    fn encode(&self) -> String {
        let partitions: Vec<String> = self.partitions.iter().map(u32::to_string).collect();
        format!("{} {} {} {}", partitions.join(","), self.computed_hits, self.cpu_seconds, self.seconds)
    }

    fn parse(line: &str) -> Self {
        let fields: Vec<&str> = line.split(' ').collect();
        MemberReport {
            partitions: fields[0].split(',').filter(|p| !p.is_empty()).map(|p| p.parse().unwrap()).collect(),
            computed_hits: fields[1].parse().unwrap(),
            cpu_seconds: fields[2].parse().unwrap(),
            seconds: fields[3].parse().unwrap(),
        }
    }
}

/// A member process: joins the group (steps on the empty topic until it owns its share of the
/// partitions), says `ready`, waits for `go`, then steps until the group has staged the whole
/// topic and it has nothing left to compute, and reports.
async fn run_member(spec: &MemberSpec) {
    let log = Arc::new(KafkaHitLog::open(spec.log_config()).await.unwrap());
    let config = PipelineConfig { consumer: spec.group.clone(), ..PipelineConfig::default() };
    let pipeline = Pipeline::new(log, Arc::new(spec.store()), Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config);
    let share = (spec.partitions / spec.members) as usize;
    loop {
        pipeline.stage(|_| {}).await.unwrap();
        if pipeline.owned_partitions().await.is_some_and(|owned| owned.len() == share) {
            break;
        }
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let (cpu, started) = (cpu_seconds("self"), Instant::now());
    loop {
        let staged = pipeline.stage(|_| {}).await.unwrap();
        let computed = pipeline.compute(|_, _, _| {}).await.unwrap();
        if staged.hits == 0 && computed.is_empty() && staged.next_offset >= staged.end_offset {
            break;
        }
    }
    let report = MemberReport {
        partitions: pipeline.owned_partitions().await.unwrap_or_default(),
        computed_hits: pipeline.computed_hits(),
        cpu_seconds: cpu_seconds("self") - cpu,
        seconds: started.elapsed().as_secs_f64(),
    };
    println!("{}", report.encode());
}
