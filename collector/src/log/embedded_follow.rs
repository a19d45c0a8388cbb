//! A read-only embedded log following the process that writes it: [`catch_up`] adds what the
//! writer appended since the topic was scanned (the new frames of the last segment, the segments
//! it rolled to) and forgets the segments retention deleted, without scanning again what was
//! scanned (opening the log again would read every segment). A frame still being written is left
//! for the next catch-up, as a torn tail is left out when a read-only log opens.

use std::fs::{self, File};
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use super::frame::{self, Next};
use super::{LogError, Segment, Segments, INDEX_EVERY};

/// Reads the frames of `segment`'s file past what it holds, adding them to it; stops at the end
/// of the data or at a frame not yet whole. A file gone (deleted by retention) adds nothing.
fn scan_more(segment: &mut Segment) -> Result<(), LogError> {
    let io = |e| LogError::io(format!("reading {}", segment.path.display()), e);
    let mut file = match File::open(&segment.path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if file.metadata().map_err(io)?.len() <= segment.bytes {
        return Ok(());
    }
    file.seek(SeekFrom::Start(segment.bytes)).map_err(io)?;
    let mut reader = BufReader::with_capacity(256 << 10, file);
    while let Next::Record(payload) = frame::read_next(&mut reader).map_err(io)? {
        if segment.count.is_multiple_of(INDEX_EVERY) {
            segment.index.push((segment.base + segment.count, segment.bytes));
        }
        segment.bytes += frame::HEADER + payload.len() as u64;
        segment.count += 1;
    }
    Ok(())
}

/// The bases of the segment files of a topic directory, in order.
pub(super) fn segment_bases(dir: &Path) -> Result<Vec<u64>, LogError> {
    let mut bases: Vec<u64> = fs::read_dir(dir)
        .map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".seg")).and_then(|b| b.parse().ok()))
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

/// Catches a read-only topic (`dir`, its `segments`) up with its writer. Blocks (file reads).
pub(super) fn catch_up(dir: &Path, segments: &Segments) -> Result<(), LogError> {
    // Listed before the last segment is read again: a segment listed here was rolled to after
    // the previous one was complete, so that one is read whole below.
    let bases = segment_bases(dir)?;
    let Some(mut last) = segments.read().expect("segment lock").last().cloned() else { return Ok(()) };
    let known = last.clone();
    scan_more(&mut last)?;
    let mut added: Vec<Segment> = Vec::new();
    for base in bases.iter().copied().filter(|b| *b > last.base) {
        let end = added.last().unwrap_or(&last).end();
        if base != end {
            // The previous segment is not whole yet as this process sees it: next time.
            break;
        }
        let mut segment = Segment::empty(dir, base);
        scan_more(&mut segment)?;
        added.push(segment);
    }
    let mut segments = segments.write().expect("segment lock");
    match segments.last_mut() {
        Some(held) if held.base == known.base && held.count == known.count => *held = last,
        // Another catch-up got there first.
        _ => return Ok(()),
    }
    segments.extend(added);
    // Retention deletes whole sealed segments from the front.
    let sealed = segments.len().saturating_sub(1);
    let deleted = segments[..sealed].iter().take_while(|s| bases.binary_search(&s.base).is_err()).count();
    segments.drain(..deleted);
    Ok(())
}
