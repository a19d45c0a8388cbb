//! Erasures handed to a running server: when `dnma erase` finds the embedded log or the Parquet
//! store held by a running process (the collector, `dnma serve`, a following pipeline), it
//! cannot rewrite them itself, so it writes a request into `DATA_DIR/erasure-requests/` and
//! waits. The process that holds the log erases the person's records in it (beside its running
//! appends, see `EmbeddedHitLog::erase`) and writes its part's result; the process that holds
//! the store then erases the person's facts between two pipeline steps and writes its own. The
//! command gathers the results and writes the audit line as at rest.
//!
//! The store's part waits for the log's, so that no pipeline step stages a record of the person
//! left in the log after their facts were erased; steps are kept out while the store's part
//! runs. A request holds the person's pseudonyms (never the user id); it is removed, with its
//! results, once the command has written the audit line. Requests survive a restart of the
//! server (they are carried out when it is back).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use collector::erasure::VisitorMatcher;
use collector::log::{EmbeddedHitLog, RecordFilter, Topic};
use collector::pseudonym::Pseudonym;
use pipeline::store::{DoomedVisitors, ErasedFacts};
use pipeline::RollupStore;
use serde::{Deserialize, Serialize};

/// How often a running server looks for requests, and a waiting command for results.
pub const POLL: Duration = Duration::from_millis(500);

/// The part of an erasure a running process carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The hits and dead letters of the embedded log.
    Log,
    /// The facts of the Parquet store.
    Store,
}

impl Part {
    /// The part's name, as in the result files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Part::Log => "log",
            Part::Store => "store",
        }
    }
}

/// An erasure handed to the running processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErasureRequest {
    /// Unique name of the request (its files' stem).
    pub id: String,
    /// When it was written.
    pub requested_at: DateTime<Utc>,
    /// The person's pseudonyms under every key of the ring.
    pub pseudonyms: Vec<Pseudonym>,
    /// The parts the running processes are asked for.
    pub parts: Vec<Part>,
}

/// What erasing in the log removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogErased {
    /// Accepted hits turned into tombstones.
    pub hits: u64,
    /// Dead letters turned into tombstones.
    pub dead_letters: u64,
}

/// The directory of requests and results under a data directory.
pub fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("erasure-requests")
}

fn request_path(spool: &Path, id: &str) -> PathBuf {
    spool.join(format!("{id}.request.json"))
}

fn result_path(spool: &Path, id: &str, part: Part) -> PathBuf {
    spool.join(format!("{id}.{}.json", part.name()))
}

/// Writes a file whole or not at all (written beside it, synced, renamed).
pub(super) fn write_atomically(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let fresh = path.with_extension("tmp");
    let bytes = serde_json::to_vec(value)?;
    std::fs::write(&fresh, bytes).with_context(|| format!("writing {}", fresh.display()))?;
    std::fs::File::open(&fresh).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", fresh.display()))?;
    std::fs::rename(&fresh, path).with_context(|| format!("renaming {}", fresh.display()))?;
    Ok(())
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a request for the running processes; returns it.
pub fn submit(data_dir: &Path, pseudonyms: Vec<Pseudonym>, parts: Vec<Part>) -> anyhow::Result<ErasureRequest> {
    let spool = spool_dir(data_dir);
    std::fs::create_dir_all(&spool).with_context(|| format!("creating {}", spool.display()))?;
    let now = Utc::now();
    let id = format!("{}-{}", now.format("%Y%m%dT%H%M%S%.9f"), std::process::id());
    let request = ErasureRequest { id, requested_at: now, pseudonyms, parts };
    write_atomically(&request_path(&spool, &request.id), &request)?;
    Ok(request)
}

/// Waits until a part of a request is done, at most `patience`; its result.
pub async fn wait_for<T: for<'de> Deserialize<'de>>(data_dir: &Path, request: &ErasureRequest, part: Part, patience: Duration) -> anyhow::Result<T> {
    let path = result_path(&spool_dir(data_dir), &request.id, part);
    let deadline = tokio::time::Instant::now() + patience;
    let mut told = tokio::time::Instant::now();
    loop {
        if let Some(result) = read_json(&path)? {
            return Ok(result);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the running server did not erase in its {} within {patience:?}: the request {} stays queued in {} and will be carried out when the server reads it; \
             run the same `dnma erase` again later to write the audit line",
            part.name(),
            request.id,
            spool_dir(data_dir).display()
        );
        if told.elapsed() >= Duration::from_secs(10) {
            eprintln!("dnma erase: waiting for the running server to erase in its {}…", part.name());
            told = tokio::time::Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Removes a request and its results (after its audit line was written).
pub fn forget(data_dir: &Path, request: &ErasureRequest) {
    let spool = spool_dir(data_dir);
    for path in [request_path(&spool, &request.id), result_path(&spool, &request.id, Part::Log), result_path(&spool, &request.id, Part::Store)] {
        let _ = std::fs::remove_file(path);
    }
}

/// The requests waiting in the spool, oldest first.
fn pending(spool: &Path) -> anyhow::Result<Vec<ErasureRequest>> {
    pending_requests(spool, |r: &ErasureRequest| r.id.clone())
}

/// The requests (`*.request.json`) waiting in a spool directory, in the order of their ids
/// (oldest first): what the erasure and replay spools share.
pub fn pending_requests<T: serde::de::DeserializeOwned>(spool: &Path, id: impl Fn(&T) -> String) -> anyhow::Result<Vec<T>> {
    let mut requests = Vec::new();
    let entries = match std::fs::read_dir(spool) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(requests),
        Err(e) => return Err(e).with_context(|| format!("listing {}", spool.display())),
    };
    for entry in entries {
        let path = entry.with_context(|| format!("listing {}", spool.display()))?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".request.json")) {
            if let Some(request) = read_json::<T>(&path)? {
                requests.push(request);
            }
        }
    }
    requests.sort_by_key(|r| id(r));
    Ok(requests)
}

/// Erases one person's records from both topics of a log (blocking).
pub fn erase_in_log(log: &EmbeddedHitLog, pseudonyms: &[Pseudonym]) -> anyhow::Result<LogErased> {
    let matcher = Arc::new(VisitorMatcher::new(pseudonyms.iter().copied()));
    let filter = |topic: Topic| -> RecordFilter {
        let matcher = Arc::clone(&matcher);
        Arc::new(move |payload: &[u8]| matcher.matches(topic, payload))
    };
    Ok(LogErased { hits: log.erase(Topic::Hits, &filter(Topic::Hits))?, dead_letters: log.erase(Topic::DeadLetters, &filter(Topic::DeadLetters))? })
}

/// The process holding the embedded log carries out the log part of each request.
pub fn spawn_log_worker(data_dir: &Path, log: Arc<EmbeddedHitLog>) -> tokio::task::JoinHandle<()> {
    let spool = spool_dir(data_dir);
    tokio::spawn(async move {
        loop {
            if let Err(error) = log_pass(&spool, &log).await {
                tracing::error!(error = format!("{error:#}"), "erasure request on the log failed; will try again");
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

async fn log_pass(spool: &Path, log: &Arc<EmbeddedHitLog>) -> anyhow::Result<()> {
    for request in pending(spool)? {
        let done = result_path(spool, &request.id, Part::Log);
        if !request.parts.contains(&Part::Log) || done.exists() {
            continue;
        }
        let (log, pseudonyms) = (Arc::clone(log), request.pseudonyms.clone());
        let erased = tokio::task::spawn_blocking(move || erase_in_log(&log, &pseudonyms)).await??;
        write_atomically(&done, &erased)?;
        tracing::info!(request = %request.id, hits = erased.hits, dead_letters = erased.dead_letters, "erasure request: log part done");
    }
    Ok(())
}

/// The process holding the Parquet store carries out the store part of each request, once the
/// log part (if asked) is done, holding `steps` so that no pipeline step runs meanwhile.
pub fn spawn_store_worker(data_dir: &Path, store: Arc<dyn RollupStore>, steps: Arc<tokio::sync::Mutex<()>>) -> tokio::task::JoinHandle<()> {
    let spool = spool_dir(data_dir);
    tokio::spawn(async move {
        loop {
            if let Err(error) = store_pass(&spool, store.as_ref(), &steps).await {
                tracing::error!(error = format!("{error:#}"), "erasure request on the store failed; will try again");
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

async fn store_pass(spool: &Path, store: &dyn RollupStore, steps: &tokio::sync::Mutex<()>) -> anyhow::Result<()> {
    for request in pending(spool)? {
        let done = result_path(spool, &request.id, Part::Store);
        let log_pending = request.parts.contains(&Part::Log) && !result_path(spool, &request.id, Part::Log).exists();
        if !request.parts.contains(&Part::Store) || done.exists() || log_pending {
            continue;
        }
        let doomed = DoomedVisitors::new(&request.pseudonyms.iter().map(|p| p.0).collect::<Vec<_>>());
        let erased: ErasedFacts = {
            let _no_step = steps.lock().await;
            store.erase_visitors(&doomed).await?
        };
        write_atomically(&done, &erased)?;
        tracing::info!(request = %request.id, visits = erased.visits, hits = erased.hits, "erasure request: store part done");
    }
    Ok(())
}
