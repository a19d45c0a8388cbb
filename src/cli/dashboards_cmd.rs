//! `dnma dashboards`: the dashboards alone, over the configured store (the Parquet files of a
//! data directory, opened read-only beside a running pipeline, or ClickHouse): what the
//! distributed deployment runs next to its collectors and pipelines. Prints its address first.
//! The live view reads the configured hit log (Kafka, or the embedded log read-only beside its
//! collector); where it cannot be opened, the dashboards run without it.
//! The notes added through the API are kept in its data directory (`annotations.jsonl`), with
//! ClickHouse too.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tagging_plan::{Plan, Referential};

use super::config_file::ConfigFile;

/// Serves the dashboards until SIGINT/SIGTERM.
pub async fn run(plan: Plan, referential: Arc<Referential>, data_dir: &Path, file: &ConfigFile, listen: SocketAddr) -> anyhow::Result<ExitCode> {
    let store = super::pipeline_cmd::open_store_for_reading(data_dir, &file.store).await?;
    let notes = dashboards::annotations::NoteBook::open(data_dir)?;
    let mut pages = dashboards::Dashboards::try_new(store, Arc::new(plan), referential, file.dashboards.clone())?.with_notes(notes);
    match file.log.open_for_reading(data_dir).await {
        Ok(log) => pages = pages.with_live(log.shared()),
        Err(e) => tracing::warn!(error = format!("{e:#}"), "the live view is not available: the hit log cannot be read"),
    }
    let (listener, _) = super::collector_cmd::bind(listen).await?;
    collector::http::serve(listener, dashboards::router(Arc::new(pages)), &file.server.limits()?, super::collector_cmd::shutdown_signal())
        .await
        .context("serving the dashboards")?;
    Ok(ExitCode::SUCCESS)
}
