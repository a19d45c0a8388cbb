//! Throughput of the distributed write path on real servers: a Kafka-compatible broker at
//! `DNMA_KAFKA_BROKERS` and ClickHouse at `DNMA_CLICKHOUSE_URL` (`scripts/kafka.sh`,
//! `scripts/clickhouse.sh`).
//!
//! 1. Kafka appends: synthetic hits appended by 64 concurrent writers in batches of 20 (the shape
//!    of the collector's SDK bodies), each append waiting for `acks=all`.
//! 2. ClickHouse: one pipeline reads the topic as a consumer group member, stages the hits into
//!    ClickHouse (`hits` table), then sessionizes every day and writes visits and usages.
//!
//! Run: `DNMA_KAFKA_BROKERS=127.0.0.1:19092 DNMA_CLICKHOUSE_URL=http://127.0.0.1:18123 cargo
//! bench --bench distributed` (env `DIST_HITS`, default 1,000,000; `DIST_PARTITIONS`, default 12).
//! The HTTP collector on Kafka is measured by `collector_load` with `LOAD_CONFIG`.
#![allow(missing_docs, clippy::cast_precision_loss)]

#[allow(dead_code)] // shared with the harnesses that start dnma
mod support;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use collector::log::{HitLog, KafkaHitLog, KafkaLogConfig, LogRecord, Topic};
use pipeline::store::{ClickHouseConfig, ClickHouseRollupStore};
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::{Pipeline, PipelineConfig};
use support::{env_or, measuring};
use tagging_plan::{Plan, Referential};

fn main() {
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
    let config = KafkaLogConfig { topic_prefix: format!("bench-{run_id}."), partitions, ..KafkaLogConfig::new(brokers) };
    let log = Arc::new(KafkaHitLog::open(config).await.unwrap());

    let batches: Arc<Mutex<Vec<Vec<LogRecord>>>> = Arc::new(Mutex::new(records.chunks(20).map(<[LogRecord]>::to_vec).collect()));
    let started = Instant::now();
    let writers: Vec<_> = (0..64)
        .map(|_| {
            let (log, batches) = (Arc::clone(&log), Arc::clone(&batches));
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
    let store =
        Arc::new(ClickHouseRollupStore::new(ClickHouseConfig { url, database: database.clone(), user: "default".into(), password: None }).unwrap());
    store.migrate().await.unwrap();
    let config = PipelineConfig { consumer: format!("bench-pipeline-{run_id}"), ..PipelineConfig::default() };
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
        "clickhouse compute (read day hits, sessionize, insert visits/usages): {} days in {compute:.1} s: {:.0} hits/s",
        days.len(),
        hits as f64 / compute
    );
    println!("whole write path Kafka → ClickHouse: {:.0} hits/s", hits as f64 / (stage + compute));
    store.drop_database().await.unwrap();
}
