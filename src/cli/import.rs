//! `dnma import`: bulk import of recorded hits with their original times, through the same
//! validation and pseudonymization as live traffic. One request a line: an RFC 3339 timestamp, a
//! tab, then the line format of `dnma plan validate` (a URL, and for the SDK a tab and its JSON
//! body). Valid hits go to the hit log, refused ones to the dead letters; a line that cannot be
//! read is reported with its number and skipped. Split SmartTag hits are reassembled across
//! lines.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use collector::http::{store_refused_request, store_timed, CollectorState};
use collector::useragent::ClientClass;
use tagging_plan::wire::{parse_xiti, sender_key, Assembled, MultiHitAssembler, Request};
use tagging_plan::{RawHit, Rejection, WireFormat};

/// Lines appended together.
const BATCH: usize = 2000;

/// Counts for the summary.
#[derive(Default)]
struct Counts {
    lines: usize,
    accepted: usize,
    rejected: usize,
    unreadable: usize,
}

pub async fn run(state: &CollectorState, input: &Path) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        Box::new(BufReader::new(File::open(input).with_context(|| format!("cannot read {}", input.display()))?))
    };
    // Imported lines carry no User-Agent.
    let client = ClientClass::unknown();
    let mut counts = Counts::default();
    let mut batch: Vec<(RawHit<'static>, DateTime<Utc>)> = Vec::with_capacity(BATCH);
    let mut multihits = MultiHitAssembler::default();
    for line in reader.lines() {
        let line = line.with_context(|| format!("reading {} after line {}", input.display(), counts.lines))?;
        counts.lines += 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match read_line(&line, &mut multihits) {
            Ok((raws, at)) => batch.extend(raws.into_iter().map(|raw| (raw, at))),
            Err(LineError::Unreadable(message)) => {
                counts.unreadable += 1;
                eprintln!("dnma: {}:{}: {message}", input.display(), counts.lines);
            }
            Err(LineError::Refused(at, format, reason)) => {
                store_refused_request(state, format, None, reason, at).await.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
                counts.rejected += 1;
            }
        }
        if batch.len() >= BATCH {
            flush(state, &mut batch, &client, &mut counts).await?;
        }
    }
    flush(state, &mut batch, &client, &mut counts).await?;
    let incomplete = multihits.expire(u64::MAX).len();
    if incomplete > 0 {
        eprintln!("dnma: {}: {incomplete} split SmartTag hit(s) incomplete at end of input, not imported", input.display());
        counts.unreadable += incomplete;
    }
    eprintln!(
        "{} lines: {} hits accepted, {} refused (dead letters), {} unreadable",
        counts.lines, counts.accepted, counts.rejected, counts.unreadable
    );
    Ok(if counts.unreadable == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn flush(
    state: &CollectorState,
    batch: &mut Vec<(RawHit<'static>, DateTime<Utc>)>,
    client: &ClientClass,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let stored =
        store_timed(state, batch.iter().map(|(raw, at)| (raw, *at)), client).await.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    counts.accepted += stored.accepted;
    counts.rejected += stored.rejected;
    batch.clear();
    Ok(())
}

enum LineError {
    /// Not a request line at all (bad timestamp, unknown URL).
    Unreadable(String),
    /// A request whose body cannot be read: a dead letter, as live.
    Refused(DateTime<Utc>, WireFormat, Rejection),
}

fn read_line(line: &str, multihits: &mut MultiHitAssembler) -> Result<(Vec<RawHit<'static>>, DateTime<Utc>), LineError> {
    let (time, request) = line.split_once('\t').ok_or_else(|| LineError::Unreadable("expected TIMESTAMP<TAB>URL".into()))?;
    let at = DateTime::parse_from_rfc3339(time.trim())
        .map_err(|e| LineError::Unreadable(format!("timestamp {time:?} is not RFC 3339 ({e})")))?
        .with_timezone(&Utc);
    let request = Request::parse(request, None).map_err(|e| LineError::Unreadable(e.to_string()))?;
    if request.format == WireFormat::Xiti {
        let now_ms = u64::try_from(at.timestamp_millis()).unwrap_or_default();
        return match multihits.push(&sender_key(request.query), request.query, now_ms) {
            Assembled::Single => Ok((vec![parse_xiti(request.query).into_owned()], at)),
            Assembled::Complete(query) => Ok((vec![parse_xiti(&query).into_owned()], at)),
            Assembled::Waiting => Ok((Vec::new(), at)),
            Assembled::Invalid(message) => Err(LineError::Refused(at, WireFormat::Xiti, Rejection::new("invalid_multihit", "mh", None, message))),
        };
    }
    request
        .hits()
        .map(|raws| (raws.into_iter().map(RawHit::into_owned).collect(), at))
        .map_err(|e| LineError::Refused(at, request.format, Rejection::new(e.code(), "body", None, e.to_string())))
}
