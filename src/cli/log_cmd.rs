//! `dnma log stats` and `dnma log tail`: look inside the embedded log (read-only, safe beside a
//! running collector). Records are printed pseudonymized, as stored: a dead letter with the
//! client class of its request when it was kept, a replay mark as `replay_mark`, a replayed hit
//! with the position of its dead letter (`replayed_from`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, Topic};
use collector::record::{DeadLetterRecord, HitTrailer, StoredHit};

fn open(data_dir: &Path) -> anyhow::Result<EmbeddedHitLog> {
    EmbeddedHitLog::open(&data_dir.join("log"), EmbeddedLogConfig { read_only: true, ..EmbeddedLogConfig::default() })
        .with_context(|| format!("no readable log in {}", data_dir.display()))
}

pub async fn stats(data_dir: &Path) -> anyhow::Result<ExitCode> {
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
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
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
