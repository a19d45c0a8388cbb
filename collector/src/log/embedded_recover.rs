//! Opening a topic of the embedded log: every segment scanned ([`recover`]), a run of them per
//! core ([`scan_all`]); a torn tail of the last one truncated, a bad record in an older one
//! reported as [`Damage`] with the records it cost.

use std::fs::{self, File, OpenOptions};
use std::io::BufReader;
use std::path::Path;

use tracing::{info, warn};

use super::super::frame::{self, Next};
use super::super::offsets::sync_dir;
use super::{follow, segment_path, Damage, LogError, Segment, Topic, INDEX_EVERY};

/// Scans the segments of a topic directory, truncating a torn tail of the last one (unless
/// `read_only`: then the tail is only left out). A segment being rewritten by an erasure when
/// the process died (`*.erasing`) is dropped: the segment it was to replace is still whole.
pub(super) fn recover(dir: &Path, topic: Topic, read_only: bool) -> Result<(Vec<Segment>, Vec<Damage>), LogError> {
    if !read_only {
        for entry in fs::read_dir(dir).map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?.filter_map(Result::ok) {
            if entry.path().extension().is_some_and(|x| x == "erasing") {
                fs::remove_file(entry.path()).map_err(|e| LogError::io(format!("removing {}", entry.path().display()), e))?;
            }
        }
    }
    let mut bases = follow::segment_bases(dir)?;
    if bases.is_empty() && read_only {
        return Ok((vec![Segment::empty(dir, 0)], Vec::new()));
    }
    if bases.is_empty() {
        File::create(segment_path(dir, 0)).map_err(|e| LogError::io(format!("creating a segment in {}", dir.display()), e))?;
        sync_dir(dir)?;
        bases.push(0);
    }
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    let mut damage = Vec::new();
    let mut damaged_before: Option<(u64, String)> = None;
    for (base, scanned) in bases.iter().zip(scan_all(dir, &bases, read_only)) {
        let (base, (segment, bad)) = (*base, scanned?);
        if let Some(previous) = segments.last() {
            match damaged_before.take() {
                // The records after the bad one are lost; the next segment is whole.
                Some((position, reason)) if base >= previous.end() => {
                    damage.push(Damage::found(topic, previous, position, reason, base - previous.end()));
                }
                _ if previous.end() != base => {
                    return Err(LogError::Corrupt {
                        segment: segment.path.display().to_string(),
                        position: 0,
                        reason: format!("starts at offset {base} but the previous segment ends at {}", previous.end()),
                    });
                }
                _ => {}
            }
        }
        damaged_before = bad;
        segments.push(segment);
    }
    Ok((segments, damage))
}

/// Scans one segment: what is readable in it and, for a sealed one, where a bad record stops it.
/// A segment as its scan found it, and where and why its first bad record was, if any.
pub(super) type Scanned = (Segment, Option<(u64, String)>);

pub(super) fn scan(path: &Path, base: u64, is_last: bool, read_only: bool) -> Result<Scanned, LogError> {
    let io = |e| LogError::io(format!("reading {}", path.display()), e);
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let (mut count, mut position, mut index, mut payload) = (0u64, 0u64, Vec::new(), Vec::new());
    loop {
        match frame::read_into(&mut reader, &mut payload).map_err(io)? {
            Next::Record(_) => {
                if count % INDEX_EVERY == 0 {
                    index.push((base + count, position));
                }
                position += frame::HEADER + payload.len() as u64;
                count += 1;
            }
            Next::End => break,
            Next::Bad(_) if is_last && read_only => break,
            Next::Bad(reason) if is_last => {
                let size = fs::metadata(path).map_err(io)?.len();
                warn!(segment = %path.display(), position, dropped_bytes = size - position, %reason, "truncating the torn tail of the log");
                let file = OpenOptions::new().write(true).open(path).map_err(io)?;
                file.set_len(position).and_then(|()| file.sync_all()).map_err(io)?;
                break;
            }
            Next::Bad(reason) => {
                return Ok((Segment { base, count, bytes: position, path: path.to_owned(), index, checked: true }, Some((position, reason))));
            }
        }
    }
    if count > 0 {
        info!(segment = %path.display(), records = count, "segment recovered");
    }
    Ok((Segment { base, count, bytes: position, path: path.to_owned(), index, checked: true }, None))
}

/// [`scan`]s every segment of a topic directory, in order, a run of consecutive segments per
/// core at once: opening a log checks every record of it, which at a day of national traffic
/// is gigabytes.
fn scan_all(dir: &Path, bases: &[u64], read_only: bool) -> Vec<Result<Scanned, LogError>> {
    let last = bases.len().saturating_sub(1);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(bases.len()).max(1);
    let run = bases.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let runs: Vec<_> = bases
            .chunks(run)
            .enumerate()
            .map(|(r, chunk)| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, &base)| scan(&segment_path(dir, base), base, r * run + i == last, read_only))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter().flat_map(|h| h.join().expect("a segment scan panicked")).collect()
    })
}
