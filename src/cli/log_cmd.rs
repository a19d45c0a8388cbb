//! `dnma log stats` and `dnma log tail`: look inside the embedded log (read-only, safe beside a
//! running collector), and how far the pipeline is behind it. Records are printed pseudonymized,
//! as stored: a dead letter with the client class of its request when it was kept, a replay mark
//! as `replay_mark`, a replayed hit with the position of its dead letter (`replayed_from`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, Topic};
use collector::record::{DeadLetterRecord, HitTrailer, StoredHit};
use pipeline::RollupStore;

fn open(data_dir: &Path) -> anyhow::Result<EmbeddedHitLog> {
    EmbeddedHitLog::open(&data_dir.join("log"), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() })
        .with_context(|| format!("no readable log in {}", data_dir.display()))
}

pub async fn stats(data_dir: &Path, consumer: &str) -> anyhow::Result<ExitCode> {
    let log = open(data_dir)?;
    let hits = log.stats(Topic::Hits).await?;
    let dead = log.stats(Topic::DeadLetters).await?;
    let out = serde_json::json!({
        "hits": hits.end_offset - hits.start_offset,
        "dead_letters": dead.end_offset - dead.start_offset,
        "segments": hits.segments + dead.segments,
        "bytes": hits.bytes + dead.bytes,
        "topics": { "hits": hits, "dead_letters": dead },
        "damage": log.damage(),
        "pipeline": freshness(data_dir, &log, consumer, hits.end_offset).await?,
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// How far the pipeline `consumer` is behind the log: records not staged yet, the receive
/// times of the newest hit acknowledged (the log's last), staged (the last the consumer
/// committed) and counted (the newest staged once no day waits to be computed), and the
/// counting lag between the first and the last.
async fn freshness(data_dir: &Path, log: &EmbeddedHitLog, consumer: &str, end: u64) -> anyhow::Result<serde_json::Value> {
    let committed = log.committed(consumer, Topic::Hits, 0).await?;
    let received = |offset: u64| async move {
        let records = log.read(Topic::Hits, 0, offset, 1).await?;
        anyhow::Ok(match records.first().filter(|r| r.offset == offset) {
            Some(record) => Some(StoredHit::decode(&record.payload)?.received_ms),
            None => None,
        })
    };
    let acknowledged = if end > 0 { received(end - 1).await? } else { None };
    let staged = if committed > 0 { received(committed - 1).await? } else { None };
    let rollups = data_dir.join("rollups");
    let dirty_days =
        if rollups.join("dirty").is_dir() { Some(pipeline::ParquetRollupStore::open_read_only(&rollups)?.dirty_days().await?.len()) } else { None };
    let counted = if dirty_days == Some(0) { staged } else { None };
    let lag_s = match (acknowledged, counted) {
        (Some(a), Some(c)) => Some(std::time::Duration::from_millis(u64::try_from(a - c).unwrap_or(0)).as_secs_f64()),
        _ => None,
    };
    let time = |ms: Option<i64>| ms.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339());
    Ok(serde_json::json!({
        "consumer": consumer,
        "committed_offset": committed,
        "records_behind": end.saturating_sub(committed),
        "newest_acknowledged": time(acknowledged),
        "newest_staged": time(staged),
        "days_to_compute": dirty_days,
        "newest_counted": time(counted),
        "counting_lag_s": lag_s,
    }))
}

pub async fn tail(data_dir: &Path, dead_letters: bool, count: usize) -> anyhow::Result<ExitCode> {
    let log = open(data_dir)?;
    let topic = if dead_letters { Topic::DeadLetters } else { Topic::Hits };
    let end = log.stats(topic).await?.end_offset;
    let records = log.read(topic, 0, end.saturating_sub(count as u64), count).await?;
    for record in records {
        let line = if dead_letters {
            match DeadLetterRecord::decode(&record.payload)? {
                DeadLetterRecord::Letter { letter, client } => serde_json::json!({ "offset": record.offset, "record": letter, "client": client }),
                DeadLetterRecord::Mark(mark) => serde_json::json!({ "offset": record.offset, "replay_mark": mark }),
            }
        } else {
            match StoredHit::decode_with_trailer(&record.payload)? {
                (hit, Some(HitTrailer::Replayed(from))) => serde_json::json!({ "offset": record.offset, "record": hit, "replayed_from": from }),
                (hit, None) => serde_json::json!({ "offset": record.offset, "record": hit }),
            }
        };
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
