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
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog};
use collector::pseudonym::KeyRing;
use serde::Deserialize;
use tagging_plan::{Plan, Referential};

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

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Collector settings.
    #[serde(default)]
    collector: CollectorFile,
    /// Pipeline settings.
    #[serde(default)]
    pub pipeline: super::pipeline_cmd::PipelineFile,
    /// Dashboard settings (k, readers' and editors' tokens).
    #[serde(default)]
    pub dashboards: dashboards::DashboardConfig,
    /// Where the pipeline keeps its facts (`kind = "parquet"` or `"clickhouse"`).
    #[serde(default)]
    pub store: super::pipeline_cmd::StoreFile,
    /// How long raw data is kept.
    #[serde(default)]
    pub retention: super::retention_cmd::RetentionFile,
}

impl ConfigFile {
    /// Reads a config file; unknown keys are errors naming the key.
    pub fn load(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
        let Some(path) = path else { return Ok(ConfigFile::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        let file: ConfigFile = toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        file.retention.validate().with_context(|| format!("config {}", path.display()))?;
        Ok(file)
    }

    /// The `[collector] key_file`, if set.
    pub fn collector_key_file(&self) -> Option<&Path> {
        self.collector.key_file.as_deref()
    }

    /// What a running collector does in the background: retention of its log, on the offsets
    /// of the pipeline's consumer.
    pub fn upkeep(&self) -> anyhow::Result<Upkeep> {
        Ok(Upkeep { retention: self.retention.clone(), consumer: self.pipeline.config()?.consumer })
    }
}

/// Background upkeep of a running collector's data directory.
#[derive(Debug, Clone)]
pub struct Upkeep {
    /// Retention of the raw log.
    pub retention: super::retention_cmd::RetentionFile,
    /// The pipeline consumer whose committed offsets say what was counted.
    pub consumer: String,
}

/// Reads the config file (if any), opens the embedded log and keys under `data_dir` and builds
/// the collector's state.
pub fn build_state(
    plan: Plan,
    referential: Arc<Referential>,
    data_dir: &Path,
    config: Option<&Path>,
    key_file: Option<&Path>,
) -> anyhow::Result<(Arc<CollectorState>, Arc<EmbeddedHitLog>)> {
    let file = ConfigFile::load(config)?;
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
    let log_config = EmbeddedLogConfig { segment_bytes: c.segment_bytes.unwrap_or(EmbeddedLogConfig::default().segment_bytes), read_only: false };
    let log =
        Arc::new(EmbeddedHitLog::open(&data_dir.join("log"), log_config).with_context(|| format!("opening the log in {}", data_dir.display()))?);
    let keys = match key_file.or(c.key_file.as_deref()) {
        Some(path) => KeyRing::from_file(path)?,
        None => KeyRing::generated_in(&data_dir.join("keys"))?,
    };
    let state = CollectorState::new(config, plan, referential, Arc::clone(&log) as Arc<dyn HitLog>, keys);
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
    log: Arc<EmbeddedHitLog>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    pipeline: Option<super::pipeline_cmd::InProcessPipeline>,
    dashboards: Option<axum::Router>,
    upkeep: Upkeep,
) -> anyhow::Result<()> {
    let expiry = spawn_multihit_expiry(&state);
    let retention = super::retention_cmd::spawn(Arc::clone(&log), upkeep.retention, upkeep.consumer);
    let app = match dashboards {
        Some(pages) => router(state).merge(pages),
        None => router(state),
    };
    let served = axum::serve(listener, app).with_graceful_shutdown(stop).await;
    expiry.abort();
    retention.abort();
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
    log: Arc<EmbeddedHitLog>,
    listen: SocketAddr,
    pipeline: Option<super::pipeline_cmd::InProcessPipeline>,
    dashboards: Option<axum::Router>,
    upkeep: Upkeep,
) -> anyhow::Result<()> {
    let (listener, _) = bind(listen).await?;
    run_until(state, log, listener, shutdown_signal(), pipeline, dashboards, upkeep).await
}

pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = interrupt => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing in-flight requests");
}
