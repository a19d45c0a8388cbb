//! What a pipeline step costs when little is new: the real `dnma pipeline run --once` over an
//! embedded data directory, first on a day of hits, then after a few more hits of that day.
//!
//! `cargo bench --bench incremental` appends `DNMA_INCREMENTAL_HITS` synthetic hits of one
//! school day (default 1,500,000; 2,000 schools of 300 pupils) to the embedded log, times the
//! first step (stage and compute the day), appends `DNMA_INCREMENTAL_MORE_PERMILLE` ‰ more hits
//! of the same day (default 10, i.e. 1 %) and times the second step, then a third with nothing
//! new. It prints each step's wall time and the second as a share of the first (issue 24's
//! target: at most 10 % at 1.5 M hits, 3 % at 10 M). `DNMA_INCREMENTAL_DIR` keeps the data
//! directory (default: a temporary one). `DNMA_INCREMENTAL_PROFILE=FILE` records the second
//! step with `perf record -g -o FILE` (its wall time then includes perf's overhead);
//! `DNMA_INCREMENTAL_BIN=PATH` runs the steps with another `dnma` binary (an earlier build, for
//! a before/after comparison in one session); `DNMA_INCREMENTAL_LOG` sets the steps' `DNMA_LOG`
//! (`pipeline::engine=debug` prints the phases of each day's computation with their times).

#![allow(missing_docs)]

#[allow(dead_code)] // shared with the harnesses that watch a server
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
use pipeline::synthetic::{Population, TrafficSpec};
use support::{env_or, measuring};
use tagging_plan::{Plan, Referential};

const DAY: &str = "2026-09-08";

/// Appends `hits` synthetic hits of [`DAY`] to the data directory's log, generated from `seed`
/// a million at a time.
fn append_hits(data_dir: &Path, population: &Population, seed: u64, hits: usize) -> usize {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let log = Arc::new(EmbeddedHitLog::open(&data_dir.join("log"), EmbeddedLogConfig::default()).unwrap());
    let day: NaiveDate = DAY.parse().unwrap();
    let mut appended = 0;
    let mut chunk = 0;
    while appended < hits {
        let wanted = (hits - appended).min(1_000_000);
        let generated = population.hits(seed * 1_000 + chunk, wanted, day, 1, 0);
        chunk += 1;
        appended += generated.len();
        let records: Vec<LogRecord> = generated.iter().map(|h| LogRecord { key: h.visitor.0.to_vec(), payload: h.encode() }).collect();
        for batch in records.chunks(20_000) {
            runtime.block_on(log.append(Topic::Hits, batch.to_vec())).unwrap();
        }
    }
    appended
}

/// Runs `dnma pipeline run --once` on the data directory, under `perf record` into `profile`
/// when given; returns its wall time in seconds.
fn step(data_dir: &Path, profile: Option<&std::ffi::OsStr>) -> f64 {
    let binary = std::env::var_os("DNMA_INCREMENTAL_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_dnma").into());
    let started = Instant::now();
    let mut command = match profile {
        Some(output) => {
            let mut perf = Command::new("perf");
            perf.args(["record", "-F", "499", "-g", "-o"]).arg(output).arg("--").arg(&binary);
            perf
        }
        None => Command::new(&binary),
    };
    let status = command
        .args(["pipeline", "run", "--once", "--data-dir"])
        .arg(data_dir)
        .env("DNMA_LOG", std::env::var("DNMA_INCREMENTAL_LOG").unwrap_or_else(|_| "warn".into()))
        .status()
        .expect("dnma runs");
    assert!(status.success(), "dnma pipeline run --once failed");
    started.elapsed().as_secs_f64()
}

fn main() {
    if !measuring("cargo bench --bench incremental") {
        return;
    }
    let hits = usize::try_from(env_or("DNMA_INCREMENTAL_HITS", 1_500_000)).unwrap();
    let permille = usize::try_from(env_or("DNMA_INCREMENTAL_MORE_PERMILLE", 10)).unwrap();
    let temp = tempfile::tempdir().unwrap();
    let data_dir = std::env::var_os("DNMA_INCREMENTAL_DIR").map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    let plan = Plan::shipped();
    let spec = TrafficSpec { schools: 2000, visitors_per_school: 300, ..TrafficSpec::default() };
    let population = Population::new(&spec, &plan, Referential::shipped());

    let first_hits = append_hits(&data_dir, &population, 1, hits);
    let profile = std::env::var_os("DNMA_INCREMENTAL_PROFILE");
    let first = step(&data_dir, None);
    let more_hits = append_hits(&data_dir, &population, 2, hits * permille / 1_000);
    let second = step(&data_dir, profile.as_deref());
    let third = step(&data_dir, None);
    println!("| hits of the day | step | wall time | share of the first |");
    println!("|---|---|---|---|");
    println!("| {first_hits} | first: stage and compute the day | {first:.2} s | 100 % |");
    println!("| +{more_hits} | second: the new hits | {second:.2} s | {:.1} % |", second / first * 100.0);
    println!("| +0 | third: nothing new | {third:.2} s | {:.1} % |", third / first * 100.0);
}
