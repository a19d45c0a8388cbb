//! Probe: throughput of staging hits into the ClickHouse store (`RollupStore::stage_hits`, the
//! write path of `dnma pipeline run` on ClickHouse) on the server at `DNMA_CLICKHOUSE_URL`.
//! Synthetic hits (`STAGING_HITS`, default 1,000,000, over 7 days, one log partition) are placed
//! and cut into batches first, untimed; then they are staged into a fresh database as the pipeline stages them: polls
//! of 200,000 records, one batch per day of each poll. Prints hits/s and drops the database.
//!
//! `DNMA_CLICKHOUSE_URL=http://127.0.0.1:18200 cargo run --release --example clickhouse_staging`

#![allow(missing_docs, clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::time::Instant;

use pipeline::facts::hits_batch;
use pipeline::hit_row::{HitRow, Placer};
use pipeline::store::{ClickHouseConfig, ClickHouseRollupStore};
use pipeline::synthetic::{stored_hits, TrafficSpec};
use pipeline::RollupStore;
use tagging_plan::{Plan, Referential};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records per poll of the log (the pipeline's default `batch_records`).
const POLL: usize = 200_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DNMA_CLICKHOUSE_URL").map_err(|_| "set DNMA_CLICKHOUSE_URL to a ClickHouse server (scripts/clickhouse.sh DIR PORT)")?;
    let hits: usize = std::env::var("STAGING_HITS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let plan = Plan::shipped();
    let spec = TrafficSpec { hits, schools: 400, visitors_per_school: 50, days: 7, seed: 5, ..TrafficSpec::default() };
    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows: Vec<HitRow> = stored_hits(&spec, &plan, Referential::shipped())
        .into_iter()
        .enumerate()
        .map(|(offset, hit)| placer.row(offset as u64, hit))
        .collect::<Result<_, _>>()?;

    let mut batches = Vec::new();
    for poll in rows.chunks(POLL) {
        let mut by_day: BTreeMap<_, Vec<HitRow>> = BTreeMap::new();
        for row in poll {
            by_day.entry(row.day).or_default().push(row.clone());
        }
        batches.extend(by_day.into_iter().map(|(day, rows)| (day, hits_batch(&rows))));
    }

    let database = format!("dnma_staging_probe_{}", std::process::id());
    let store = ClickHouseRollupStore::new(ClickHouseConfig { url, database, user: "default".into(), password: None })?;
    store.drop_database().await?;
    store.migrate().await?;
    let start = Instant::now();
    for (day, batch) in batches {
        store.stage_hits(day, batch).await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let staged: u64 = {
        let mut total = 0;
        for day in store.days().await? {
            total += store.day_hit_count(day.into()).await?;
        }
        total
    };
    println!("{} hits staged in {seconds:.2} s: {:.0} hits/s ({staged} in the store)", rows.len(), rows.len() as f64 / seconds);
    store.drop_database().await?;
    Ok(())
}
