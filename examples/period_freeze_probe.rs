//! Probe: times the store's freeze of whole periods (every cell set) over a filled Parquet
//! store. `cargo run --release --example period_freeze_probe -- ROLLUPS_DIR KIND START [START…]`
//! (KIND: day, week, month or school-year). It writes the store's frozen cells: use a copy.

#![allow(missing_docs)]

use std::collections::BTreeSet;

use pipeline::model::Period;
use pipeline::store::ParquetRollupStore;
use pipeline::RollupStore;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let store = ParquetRollupStore::open(std::path::Path::new(&args[1]))?;
    let period: Period = args[2].parse()?;
    for start in &args[3..] {
        let starts: BTreeSet<chrono::NaiveDate> = [start.parse()?].into();
        let t = std::time::Instant::now();
        let kept = store.freeze(period, &starts).await?;
        println!("{} {start}: {kept} cells in {:.1} s", period.name(), t.elapsed().as_secs_f64());
    }
    Ok(())
}
