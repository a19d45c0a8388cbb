//! Probe: runs each freeze statement of one month of day periods over facts held in memory and
//! prints the process's resident memory after each (`/proc/self/status`), to find which cell
//! sets cost memory. `cargo run --release --example freeze_probe -- ROLLUPS_DIR FIRST LAST [PARTITIONS]`.

#![allow(missing_docs)]

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use pipeline::frozen::{cell_sets, freeze_sql};
use pipeline::model::Period;
use pipeline::query::Dialect;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned() + "k")
        .collect::<Vec<_>>()
        .join(" / ")
}

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (root, first, last) = (&args[1], args[2].parse().unwrap(), args[3].parse().unwrap());
    let partitions: usize = args.get(4).map_or(2, |p| p.parse().unwrap());
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    for name in ["visits", "usages"] {
        let files = SessionContext::new();
        files.register_parquet("f", format!("{root}/{name}/"), ParquetReadOptions::default()).await?;
        let frame = files.sql(&format!("SELECT * FROM f WHERE day >= DATE '{first}' AND day <= DATE '{last}'")).await?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        let rows: usize = batches.iter().map(datafusion::arrow::array::RecordBatch::num_rows).sum();
        let mut split = vec![Vec::new(); partitions];
        for (i, b) in batches.into_iter().enumerate() {
            split[i % partitions].push(b);
        }
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, split)?))?;
        println!("{name}: {rows} rows, rss/hwm {}", rss());
    }
    for set in cell_sets() {
        let sql = freeze_sql(&set, Period::Day, first, last, Dialect::DataFusion, &|t| t.to_owned());
        let t = std::time::Instant::now();
        let cells: usize = ctx.sql(&sql).await?.collect().await?.iter().map(datafusion::arrow::array::RecordBatch::num_rows).sum();
        println!("{set:?}: {cells} cells in {:?}, rss/hwm {}", t.elapsed(), rss());
    }
    Ok(())
}
