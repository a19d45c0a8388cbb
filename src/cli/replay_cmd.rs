//! `dnma dead-letters replay`: the dead letters of a platform received between two days are
//! validated again against the plan (the shipped one, or `--plan FILE`), and those now valid go
//! into the hit log with their original receive time, once (see `collector::replay`); a summary
//! per reason code is printed (`--json`: one JSON object).
//!
//! On the embedded log the command replays itself when no process holds the log; a running
//! collector or `dnma serve` holds it, so the replay is handed to it (`replay_spool`) and the
//! command waits for its summary: no stop needed. On a Kafka log the command appends itself,
//! beside the running collectors.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use collector::log::EmbeddedHitLog;
use collector::replay::{ReplayScope, ReplaySummary};
use tagging_plan::plan::{is_identifier, normalize_code};
use tagging_plan::{Plan, Referential, Validator};

use super::config_file::ConfigFile;
use super::log_file::LogFile;
use super::replay_spool::{self, ReplayResult};

/// What `dnma dead-letters replay` was asked.
pub struct ReplayArgs<'a> {
    /// Data directory (the embedded log).
    pub data_dir: &'a Path,
    /// The platform.
    pub plateforme: &'a str,
    /// First day of receipt.
    pub from: NaiveDate,
    /// Last day of receipt.
    pub to: NaiveDate,
    /// The plan file given (`--plan`), else the shipped plan.
    pub plan_file: Option<&'a Path>,
    /// Print JSON.
    pub json: bool,
    /// How long to wait for a running server, in seconds.
    pub wait_seconds: u64,
}

/// Checks the arguments; the scope they ask for.
pub fn scope(plateforme: &str, from: NaiveDate, to: NaiveDate) -> anyhow::Result<ReplayScope> {
    let code = normalize_code(plateforme);
    anyhow::ensure!(is_identifier(&code), "--plateforme {plateforme:?} is not a platform code (letters, digits, _ and -)");
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    Ok(ReplayScope { plateforme: code.into_owned(), from, to })
}

/// Runs a replay and prints its summary.
pub async fn run(args: &ReplayArgs<'_>, plan: &Plan, referential: &Referential, config: &ConfigFile) -> anyhow::Result<ExitCode> {
    let scope = scope(args.plateforme, args.from, args.to)?;
    let summary = match &config.log {
        LogFile::Kafka(_) => {
            let log = config.log.open_for_writing(args.data_dir, None).await?;
            let validator = Validator::new(plan).with_referential(referential);
            collector::replay::replay(&*log.shared(), &validator, &scope, Utc::now()).await?
        }
        LogFile::Embedded => {
            let dir = args.data_dir.join("log");
            anyhow::ensure!(dir.is_dir(), "no log in {} (run the collector or `dnma import` first)", args.data_dir.display());
            if EmbeddedHitLog::is_held(&dir) {
                let plan_toml = match args.plan_file {
                    Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading plan {}", path.display()))?),
                    None => None,
                };
                let request = replay_spool::submit(args.data_dir, scope, plan_toml)?;
                eprintln!("dnma dead-letters replay: the running server holds the log: it replays there (request {})", request.id);
                match replay_spool::wait_for(args.data_dir, &request, std::time::Duration::from_secs(args.wait_seconds)).await? {
                    ReplayResult::Summary(summary) => summary,
                    ReplayResult::Error(error) => anyhow::bail!("{error}"),
                }
            } else {
                let log = config
                    .log
                    .open_for_writing(args.data_dir, config.collector.segment_bytes())
                    .await
                    .context("opening the log (a collector started meanwhile? run the replay again)")?;
                let validator = Validator::new(plan).with_referential(referential);
                let replayed = collector::replay::replay(&*log.shared(), &validator, &scope, Utc::now()).await;
                log.close();
                replayed?
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", table(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary as a table per reason code.
pub fn table(s: &ReplaySummary) -> String {
    let mut out = String::new();
    let days = match (s.from, s.to) {
        (Some(from), Some(to)) if from == to => format!("on {from}"),
        (Some(from), Some(to)) => format!("from {from} to {to}"),
        _ => String::new(),
    };
    let _ = writeln!(out, "Dead letters of {} received {days}, validated against plan {}:", s.plateforme, s.plan_version);
    let _ = writeln!(
        out,
        "  {} dead letters: {} replayed now, {} still refused, {} replayed before",
        s.dead_letters, s.replayed, s.still_refused, s.already_replayed
    );
    if s.under_way > 0 {
        let _ = writeln!(out, "  {} left to another replay under way", s.under_way);
    }
    if s.settled_batches > 0 {
        let _ = writeln!(out, "  {} unfinished batch(es) of an earlier replay settled first", s.settled_batches);
    }
    if s.by_reason.is_empty() {
        return out;
    }
    let width = s.by_reason.iter().map(|r| r.code.len()).chain(s.refused_now.iter().map(|(c, _)| c.len())).max().unwrap_or(0).max(11);
    let _ =
        writeln!(out, "\n  {:<width$}  {:>12}  {:>8}  {:>13}  {:>15}", "refused for", "dead letters", "replayed", "still refused", "replayed before");
    for r in &s.by_reason {
        let _ = writeln!(out, "  {:<width$}  {:>12}  {:>8}  {:>13}  {:>15}", r.code, r.dead_letters, r.replayed, r.still_refused, r.already_replayed);
    }
    if !s.refused_now.is_empty() {
        let _ = writeln!(out, "\n  {:<width$}  {:>12}", "refused now", "dead letters");
        for (code, count) in &s.refused_now {
            let _ = writeln!(out, "  {code:<width$}  {count:>12}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::replay::ReasonCount;

    #[test]
    fn arguments_are_checked_with_what_is_wrong_named() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 10, d).unwrap();
        assert_eq!(scope(" mbn ", day(5), day(6)).unwrap().plateforme, "MBN");
        assert_eq!(scope("MBN", day(7), day(6)).unwrap_err().to_string(), "--from 2026-10-07 is after --to 2026-10-06");
        assert!(scope("M.B.N", day(5), day(6)).unwrap_err().to_string().contains("\"M.B.N\" is not a platform code"));
    }

    #[test]
    fn the_table_has_a_row_per_reason() {
        let summary = ReplaySummary {
            plateforme: "MBN".into(),
            from: NaiveDate::from_ymd_opt(2026, 10, 5),
            to: NaiveDate::from_ymd_opt(2026, 10, 6),
            plan_version: "1.1.0".into(),
            dead_letters: 4,
            replayed: 2,
            still_refused: 2,
            by_reason: vec![ReasonCount { code: "unknown_service".into(), dead_letters: 4, replayed: 2, still_refused: 2, ..ReasonCount::default() }],
            refused_now: vec![("unknown_service".into(), 2)],
            ..ReplaySummary::default()
        };
        let text = table(&summary);
        assert!(text.starts_with("Dead letters of MBN received from 2026-10-05 to 2026-10-06, validated against plan 1.1.0:\n"), "{text}");
        assert!(text.contains("4 dead letters: 2 replayed now, 2 still refused, 0 replayed before"), "{text}");
        assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["unknown_service", "4", "2", "2", "0"]), "{text}");
        assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["unknown_service", "2"]), "{text}");
    }
}
