//! Replays handed to a running server: when `dnma dead-letters replay` finds the embedded log
//! held by a running process (the collector, `dnma serve`), it cannot append to it, so it writes
//! a request into `DATA_DIR/replay-requests/` (the scope and the plan's TOML, never a user id)
//! and waits. The process that holds the log replays there, beside its live appends, and writes
//! the summary (or the error) as the request's result; the command prints it and removes both
//! files. Requests survive a restart of the server (they are carried out when it is back).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use collector::log::EmbeddedHitLog;
use collector::replay::{ReplayScope, ReplaySummary};
use serde::{Deserialize, Serialize};
use tagging_plan::{Plan, Referential, Validator};

use super::erasure_spool::{pending_requests, read_json, write_atomically, POLL};

/// A replay handed to the running server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// Unique name of the request (its files' stem).
    pub id: String,
    /// When it was written.
    pub requested_at: DateTime<Utc>,
    /// Which dead letters.
    pub scope: ReplayScope,
    /// The plan to validate against, as TOML (`None`: the shipped plan).
    pub plan_toml: Option<String>,
}

/// What the server answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayResult {
    /// Done.
    Summary(ReplaySummary),
    /// Refused or failed, with why.
    Error(String),
}

fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("replay-requests")
}

fn request_path(spool: &Path, id: &str) -> PathBuf {
    spool.join(format!("{id}.request.json"))
}

fn result_path(spool: &Path, id: &str) -> PathBuf {
    spool.join(format!("{id}.result.json"))
}

/// Writes a request for the running server; returns it.
pub fn submit(data_dir: &Path, scope: ReplayScope, plan_toml: Option<String>) -> anyhow::Result<ReplayRequest> {
    let spool = spool_dir(data_dir);
    std::fs::create_dir_all(&spool).with_context(|| format!("creating {}", spool.display()))?;
    let now = Utc::now();
    let id = format!("{}-{}", now.format("%Y%m%dT%H%M%S%.9f"), std::process::id());
    let request = ReplayRequest { id, requested_at: now, scope, plan_toml };
    write_atomically(&request_path(&spool, &request.id), &request)?;
    Ok(request)
}

/// Waits for the result of a request, at most `patience`; then removes the request and its
/// result.
pub async fn wait_for(data_dir: &Path, request: &ReplayRequest, patience: Duration) -> anyhow::Result<ReplayResult> {
    let spool = spool_dir(data_dir);
    let path = result_path(&spool, &request.id);
    let deadline = tokio::time::Instant::now() + patience;
    let mut told = tokio::time::Instant::now();
    loop {
        if let Some(result) = read_json::<ReplayResult>(&path)? {
            let _ = std::fs::remove_file(request_path(&spool, &request.id));
            let _ = std::fs::remove_file(&path);
            return Ok(result);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the running server did not replay within {patience:?}: the request {} stays queued in {} and will be carried out when the server \
             reads it (a replay run again adds nothing)",
            request.id,
            spool.display()
        );
        if told.elapsed() >= Duration::from_secs(10) {
            eprintln!("dnma dead-letters replay: waiting for the running server to replay…");
            told = tokio::time::Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The requests waiting in the spool, oldest first.
fn pending(spool: &Path) -> anyhow::Result<Vec<ReplayRequest>> {
    pending_requests(spool, |r: &ReplayRequest| r.id.clone())
}

/// The process holding the embedded log carries out each request, one at a time.
pub fn spawn_worker(data_dir: &Path, log: Arc<EmbeddedHitLog>, referential: Arc<Referential>) -> tokio::task::JoinHandle<()> {
    let spool = spool_dir(data_dir);
    tokio::spawn(async move {
        loop {
            if let Err(error) = pass(&spool, &log, &referential).await {
                tracing::error!(error = format!("{error:#}"), "replay request failed; will try again");
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

async fn pass(spool: &Path, log: &EmbeddedHitLog, referential: &Referential) -> anyhow::Result<()> {
    for request in pending(spool)? {
        let done = result_path(spool, &request.id);
        if done.exists() {
            continue;
        }
        let result = match request.plan_toml.as_deref().map_or_else(|| Ok(Plan::shipped()), Plan::from_toml) {
            Err(e) => ReplayResult::Error(format!("the plan of the request: {e}")),
            Ok(plan) => {
                let validator = Validator::new(&plan).with_referential(referential);
                match collector::replay::replay(log, &validator, &request.scope, Utc::now()).await {
                    Ok(summary) => ReplayResult::Summary(summary),
                    Err(e) => ReplayResult::Error(e.to_string()),
                }
            }
        };
        write_atomically(&done, &result)?;
        tracing::info!(request = %request.id, "replay request done");
    }
    Ok(())
}
