//! Sealed segments checked when first read instead of at open
//! ([`super::EmbeddedLogConfig::check_sealed_at_open`] off): [`list_unchecked`] takes a topic's
//! sealed segments from their file names (a segment ends where the next begins) and sizes, and
//! scans only the last one, which may end in a frame still being written; [`check_reached`]
//! scans a sealed segment the first time a read reaches it, which checks every record of it and
//! builds its sparse index, as the open would have. A bad record found so is reported as at open:
//! the records from it to the end of its segment are lost, the rest stays readable.

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use super::follow::segment_bases;
use super::{scan, segment_path, Damage, LogError, Segment, Segments, Topic};

/// The segments of a topic directory, the sealed ones unchecked, the last one scanned (a torn
/// tail left out, as a read-only open leaves it).
pub(super) fn list_unchecked(dir: &Path) -> Result<Vec<Segment>, LogError> {
    let bases = segment_bases(dir)?;
    let Some((&last, sealed)) = bases.split_last() else { return Ok(vec![Segment::empty(dir, 0)]) };
    let mut segments = Vec::with_capacity(bases.len());
    for (i, &base) in sealed.iter().enumerate() {
        let path = segment_path(dir, base);
        let bytes = fs::metadata(&path).map_err(|e| LogError::io(format!("reading {}", path.display()), e))?.len();
        let count = bases[i + 1] - base;
        segments.push(Segment { base, count, bytes, path, index: Vec::new(), checked: false });
    }
    let (mut active, _torn) = scan(&segment_path(dir, last), last, true, true)?;
    active.checked = true;
    segments.push(active);
    Ok(segments)
}

/// Checks every unchecked segment a read from `from` may reach (those ending after it), so
/// that the read finds their records indexed and the damage in them reported.
pub(super) fn check_reached(segments: &Segments, damage: &Mutex<Vec<Damage>>, topic: Topic, from: u64) -> Result<(), LogError> {
    loop {
        let unchecked = segments.read().expect("segment lock").iter().find(|s| !s.checked && s.end() > from).cloned();
        let Some(listed) = unchecked else { return Ok(()) };
        let (scanned, bad) = scan(&listed.path, listed.base, false, true)?;
        let mut segments = segments.write().expect("segment lock");
        // Retention may have deleted it meanwhile, or another read checked it.
        let Some(held) = segments.iter_mut().find(|s| s.base == listed.base && !s.checked) else { continue };
        match (bad, listed.end().checked_sub(scanned.end())) {
            (None, Some(0)) => {}
            (Some((position, reason)), Some(lost)) => {
                damage.lock().expect("damage lock").push(Damage::found(topic, &scanned, position, reason, lost));
            }
            _ => {
                return Err(LogError::Corrupt {
                    segment: listed.path.display().to_string(),
                    position: scanned.bytes,
                    reason: format!("holds records up to offset {} but the next segment starts at {}", scanned.end(), listed.end()),
                })
            }
        }
        *held = scanned;
    }
}
