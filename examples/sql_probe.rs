//! Probe: times SQL statements over a store's visits and usages Parquet directories (best of
//! 3) and prints each plan. `cargo run --release --example sql_probe -- ROLLUPS_DIR 'SQL' ['SQL'…]`.

#![allow(missing_docs)]

use datafusion::prelude::{ParquetReadOptions, SessionContext};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let ctx = SessionContext::new();
    for name in ["visits", "usages"] {
        ctx.register_parquet(name, format!("{}/{name}/", args[1]), ParquetReadOptions::default()).await?;
    }
    for sql in &args[2..] {
        let mut best = f64::MAX;
        let mut rows = 0;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let batches = ctx.sql(sql).await?.collect().await?;
            best = best.min(start.elapsed().as_secs_f64());
            rows = batches.iter().map(datafusion::arrow::array::RecordBatch::num_rows).sum::<usize>();
        }
        println!("{best:.3} s, {rows} rows: {sql}");
        if std::env::var("PLAN").is_ok() {
            let plan = ctx.sql(&format!("EXPLAIN {sql}")).await?.collect().await?;
            println!("{}", datafusion::arrow::util::pretty::pretty_format_batches(&plan)?);
        }
    }
    Ok(())
}
