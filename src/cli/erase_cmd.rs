//! `dnma erase`: removes one person's records, on request (RGPD art. 17), from a data
//! directory: the hits and dead letters of the log become tombstones, and the store's facts of
//! that visitor (staged hits, visits, usages, refusals) are deleted, so every figure read
//! afterwards is computed without them. The person is found by their pseudonyms under every key
//! of the ring (this school year's and the previous ones'). An audit line is appended to
//! `DATA_DIR/erasures.jsonl` and printed: when, which platform, the request's reference and what
//! was removed, never the user id or a pseudonym.
//!
//! The command rewrites what no process holds; what a running process holds (the embedded log
//! held by the collector, the Parquet store held by the pipeline) is handed to it as a request
//! (`erasure_spool`), so an erasure never needs the server stopped. The log always goes first:
//! once the person's records are tombstones, no pipeline step can stage them again after their
//! facts are gone.
//!
//! With a Kafka log (distributed mode) the topics cannot be rewritten: their records of the
//! person go with the topic retention (`[retention] log_days`). Until then the store holds the
//! person out of staging (a one-way digest of each pseudonym), so a pipeline reading those
//! records later stages none of them; the store's facts are deleted as in the embedded mode.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig};
use collector::pseudonym::{KeyRing, Pseudonym};
use pipeline::store::{DoomedVisitors, ErasedFacts, ParquetRollupStore};

use super::erasure_spool::{self, LogErased, Part};

use super::config_file::ConfigFile;
use super::log_file::LogFile;
use super::pipeline_cmd::StoreFile;

/// What `dnma erase` was asked.
pub struct EraseArgs<'a> {
    /// Data directory (log, keys, Parquet store).
    pub data_dir: &'a Path,
    /// Platform of the user.
    pub plateforme: &'a str,
    /// The user id as the ENT sends it, or `-` to read it from stdin.
    pub user_id: &'a str,
    /// Key file; default: the config's, else the data directory's keys.
    pub key_file: Option<&'a Path>,
    /// The request's reference, kept in the audit line.
    pub reference: Option<&'a str>,
    /// How long to wait for a running process to carry out its part, in seconds.
    pub wait_seconds: u64,
}

/// Runs an erasure; the audit line goes to stdout and to `DATA_DIR/erasures.jsonl`.
pub async fn run(args: &EraseArgs<'_>, config: &ConfigFile) -> anyhow::Result<ExitCode> {
    let user_id = read_user_id(args.user_id)?;
    // As the collector reads it from a hit.
    let plateforme = args.plateforme.trim().to_ascii_uppercase();
    let keys = match args.key_file.or(config.collector_key_file()) {
        Some(path) => KeyRing::from_file(path)?,
        None => KeyRing::generated_in(&args.data_dir.join("keys"))?,
    };
    let pseudonyms = keys.pseudonyms_of(&plateforme, &user_id);
    anyhow::ensure!(!pseudonyms.is_empty(), "no pseudonymization key in {}: nothing could have been stored", args.data_dir.join("keys").display());
    let school_years: Vec<String> = pseudonyms.iter().map(|(y, _)| format!("{y}-{}", y + 1)).collect();

    let visitors: Vec<Pseudonym> = pseudonyms.iter().map(|(_, p)| *p).collect();

    let log_dir = args.data_dir.join("log");
    let rollups = args.data_dir.join("rollups");
    let kafka = matches!(config.log, LogFile::Kafka(_));
    let embedded_log = !kafka && log_dir.is_dir();
    let parquet = matches!(config.store, StoreFile::Parquet);
    // What running processes hold is theirs to rewrite: hand them a request.
    let mut delegated = Vec::new();
    if embedded_log && EmbeddedHitLog::is_held(&log_dir) {
        delegated.push(Part::Log);
    }
    if parquet && rollups.is_dir() && ParquetRollupStore::is_held(&rollups) {
        delegated.push(Part::Store);
    }
    // The log goes first (here if no process holds it), then the request is handed over.
    let erased_here = if embedded_log && !delegated.contains(&Part::Log) {
        let log = EmbeddedHitLog::open(&log_dir, EmbeddedLogConfig::default())
            .with_context(|| format!("opening {} (a process started meanwhile? run the erasure again)", log_dir.display()))?;
        let erased = erasure_spool::erase_in_log(&log, &visitors)?;
        log.close();
        erased
    } else {
        LogErased::default()
    };
    let request = if delegated.is_empty() {
        None
    } else {
        let request = erasure_spool::submit(args.data_dir, visitors.clone(), delegated.clone())?;
        eprintln!("dnma erase: the running server holds the {}: it erases there (request {})", names(&delegated), request.id);
        Some(request)
    };
    let running = |part| request.as_ref().filter(|r| r.parts.contains(&part));
    let log_erased = match running(Part::Log) {
        Some(request) => {
            erasure_spool::wait_for::<LogErased>(args.data_dir, request, Part::Log, std::time::Duration::from_secs(args.wait_seconds)).await?
        }
        None => erased_here,
    };

    let doomed = DoomedVisitors::new(&visitors.iter().map(|p| p.0).collect::<Vec<_>>());
    // Records of the person left in a Kafka topic are held out of staging until the topic
    // retention has removed them (a day's margin).
    let held_until = kafka.then(|| Utc::now().date_naive() + chrono::Days::new(u64::from(config.retention.log_days) + 1));
    let facts = match &config.store {
        _ if running(Part::Store).is_some() => {
            erasure_spool::wait_for::<ErasedFacts>(
                args.data_dir,
                running(Part::Store).expect("asked"),
                Part::Store,
                std::time::Duration::from_secs(args.wait_seconds),
            )
            .await?
        }
        StoreFile::Parquet if !kafka && !rollups.is_dir() => ErasedFacts::default(),
        store => {
            let store = super::pipeline_cmd::open_store(args.data_dir, store)
                .await
                .context("opening the store (a pipeline started meanwhile? run the erasure again)")?;
            if let Some(until) = held_until {
                store.hold_erased(&doomed, until).await?;
            }
            store.erase_visitors(&doomed).await?
        }
    };
    if let Some(request) = &request {
        erasure_spool::forget(args.data_dir, request);
    }
    let log = match held_until {
        Some(until) => serde_json::json!({ "kind": "kafka", "records": "deleted by the topic retention", "held_out_of_staging_until": until }),
        None => serde_json::json!({ "hits": log_erased.hits, "dead_letters": log_erased.dead_letters }),
    };

    let audit = serde_json::json!({
        "erased_at": Utc::now(),
        "plateforme": plateforme,
        "reference": args.reference,
        "school_years_searched": school_years,
        "carried_out_by_running_server": request.as_ref().map(|r| names(&r.parts)),
        "log": log,
        "facts": { "days": facts.days.len(), "hits": facts.hits, "visits": facts.visits, "usages": facts.usages, "refusals": facts.rejects },
    });
    let path = args.data_dir.join("erasures.jsonl");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{audit}").and_then(|()| file.sync_all()).with_context(|| format!("writing {}", path.display()))?;
    println!("{audit}");
    tracing::info!(%plateforme, log_hits = log_erased.hits, log_dead_letters = log_erased.dead_letters, visits = facts.visits, "erasure done");
    Ok(ExitCode::SUCCESS)
}

/// "log", "store" or "log and store".
fn names(parts: &[Part]) -> String {
    parts.iter().map(|p| p.name()).collect::<Vec<_>>().join(" and ")
}

/// The user id from the argument, or from stdin's first line for `-` (keeps it out of the
/// shell history and the process list).
fn read_user_id(arg: &str) -> anyhow::Result<String> {
    let id = if arg == "-" {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the user id from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        arg.to_owned()
    };
    anyhow::ensure!(!id.trim().is_empty(), "the user id is empty");
    Ok(id)
}
