//! `dnma collector` and `dnma serve`: the collector on the embedded log, configured by an
//! optional TOML file (unknown keys refused) and flags. The bound address is the first line on
//! stdout (`--listen 127.0.0.1:0` picks a free port).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use collector::http::{router, spawn_multihit_expiry, CollectorState, IntakeConfig};
use collector::pseudonym::KeyRing;
use serde::Deserialize;
use tagging_plan::{Plan, Referential};

use super::config_file::{ConfigFile, Upkeep};
use super::log_file::OpenLog;

/// The `[collector]` table of the config file; every key optional, defaults documented.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorFile {
    /// Largest request body, bytes (default 524288).
    max_body_bytes: Option<usize>,
    /// Most events per SDK body (default 500).
    max_events_per_body: Option<usize>,
    /// Site ids accepted; absent: any.
    allowed_sites: Option<Vec<String>>,
    /// CORS origins allowed; absent or empty: any.
    allowed_origins: Option<Vec<String>>,
    /// How long split SmartTag parts wait, e.g. "60s".
    #[serde(default, with = "humantime_serde")]
    multihit_timeout: Option<Duration>,
    /// How long stored SDK bodies are remembered to drop their retries, e.g. "10m".
    #[serde(default, with = "humantime_serde")]
    dedupe_window: Option<Duration>,
    /// Segment size of the embedded log, bytes (default 64 MiB).
    segment_bytes: Option<u64>,
    /// Key file (`YYYY-YYYY=<hex>` lines); absent: keys generated under the data directory.
    key_file: Option<PathBuf>,
}

impl CollectorFile {
    /// The key file, if set.
    pub fn key_file(&self) -> Option<&Path> {
        self.key_file.as_deref()
    }

    /// The segment size of the embedded log, if set.
    pub fn segment_bytes(&self) -> Option<u64> {
        self.segment_bytes
    }

    /// Checks the values; the error names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (key, value) in [("max_body_bytes", self.max_body_bytes), ("max_events_per_body", self.max_events_per_body)] {
            anyhow::ensure!(value != Some(0), "[collector] {key} must be positive");
        }
        anyhow::ensure!(self.segment_bytes != Some(0), "[collector] segment_bytes must be positive");
        for (key, value) in [("multihit_timeout", self.multihit_timeout), ("dedupe_window", self.dedupe_window)] {
            anyhow::ensure!(value != Some(Duration::ZERO), "[collector] {key} must be positive");
        }
        if let Some(path) = &self.key_file {
            KeyRing::from_file(path).with_context(|| "[collector] key_file")?;
        }
        Ok(())
    }
}

/// Opens the configured log (embedded under `data_dir`, or Kafka) and the keys, and builds the
/// collector's state.
pub async fn build_state(
    plan: Plan,
    referential: Arc<Referential>,
    data_dir: &Path,
    file: &ConfigFile,
    key_file: Option<&Path>,
) -> anyhow::Result<(Arc<CollectorState>, OpenLog)> {
    let c = &file.collector;
    let defaults = IntakeConfig::default();
    let config = IntakeConfig {
        max_body_bytes: c.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        max_events_per_body: c.max_events_per_body.unwrap_or(defaults.max_events_per_body),
        allowed_sites: c.allowed_sites.as_ref().map(|s| s.iter().cloned().collect::<HashSet<_>>()),
        allowed_origins: c.allowed_origins.clone().unwrap_or_default(),
        multihit_timeout: c.multihit_timeout.unwrap_or(defaults.multihit_timeout),
        dedupe_window: c.dedupe_window.unwrap_or(defaults.dedupe_window),
    };
    let log = file.log.open_for_writing(data_dir, c.segment_bytes).await?;
    let keys = match key_file.or(c.key_file.as_deref()) {
        Some(path) => KeyRing::from_file(path)?,
        None => KeyRing::generated_in(&data_dir.join("keys"))?,
    };
    let state = CollectorState::new(config, plan, referential, log.shared(), keys);
    Ok((state, log))
}

/// Binds the listen address and prints the bound URL as the first stdout line.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<(tokio::net::TcpListener, String)> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    println!("{url}");
    tracing::info!(%url, "collector listening");
    Ok((listener, url))
}

/// Serves the collector until `stop` completes, then finishes in-flight requests and closes
/// the log (flushing what was acknowledged). Retention runs in the background meanwhile.
/// An in-process pipeline on the same log is stopped after the last request and before the log
/// closes.
pub async fn run_until(
    state: Arc<CollectorState>,
    log: OpenLog,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    pipeline: Option<super::pipeline_cmd::InProcessPipeline>,
    dashboards: Option<axum::Router>,
    upkeep: Upkeep,
) -> anyhow::Result<()> {
    let expiry = spawn_multihit_expiry(&state);
    // Kafka keeps its topics as the broker's retention says; the embedded log is dnma's to trim.
    let retention = log.embedded().map(|log| super::retention_cmd::spawn(Arc::clone(log), upkeep.retention.clone(), upkeep.consumer.clone()));
    // Erasures asked while running (`dnma erase`): on the log this process holds, then on the
    // store of its pipeline.
    let mut erasures: Vec<_> =
        log.embedded().map(|log| super::erasure_spool::spawn_log_worker(&upkeep.data_dir, Arc::clone(log))).into_iter().collect();
    if let Some(pipeline) = &pipeline {
        erasures.push(super::erasure_spool::spawn_store_worker(&upkeep.data_dir, pipeline.store(), pipeline.step_lock()));
    }
    // Replays of dead letters asked while running (`dnma dead-letters replay`), in the log this
    // process holds.
    erasures.extend(log.embedded().map(|log| super::replay_spool::spawn_worker(&upkeep.data_dir, Arc::clone(log), Arc::clone(&state.referential))));
    let app = match dashboards {
        Some(pages) => router(state).merge(pages),
        None => router(state),
    };
    let served = collector::http::serve(listener, app, &upkeep.server, stop).await;
    expiry.abort();
    if let Some(retention) = retention {
        retention.abort();
    }
    for worker in erasures {
        worker.abort();
    }
    let stopped = match pipeline {
        Some(pipeline) => pipeline.stop().await,
        None => Ok(()),
    };
    log.close();
    served?;
    stopped
}

/// Serves the collector (and the pipeline, when given) until SIGINT/SIGTERM; prints the bound
/// address first.
pub async fn serve(
    state: Arc<CollectorState>,
    log: OpenLog,
    listen: SocketAddr,
    pipeline: Option<super::pipeline_cmd::InProcessPipeline>,
    dashboards: Option<axum::Router>,
    upkeep: Upkeep,
) -> anyhow::Result<()> {
    let (listener, _) = bind(listen).await?;
    run_until(state, log, listener, shutdown_signal(), pipeline, dashboards, upkeep).await
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM; from then on a second one exits the
/// process at once.
pub async fn shutdown_signal() {
    stop_signal().await;
    tracing::info!("shutting down: finishing in-flight requests (a second signal exits at once)");
    tokio::spawn(async {
        stop_signal().await;
        eprintln!("dnma: second signal, exiting now");
        std::process::exit(130);
    });
}

/// The next SIGINT or SIGTERM.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = interrupt => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
