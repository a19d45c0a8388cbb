//! The writer thread of one topic of the [`EmbeddedHitLog`](super::EmbeddedHitLog): it owns
//! the active segment, appends in group commits (every append request waiting in its queue
//! written with one `write` and made durable with one `fdatasync`), rolls segments, and erases
//! in its own segments between two group commits.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;

use tokio::sync::oneshot;
use tracing::warn;

use super::super::frame::{self, Next};
use super::super::offsets::sync_dir;
use super::super::{LogError, LogRecord};
use super::{segment_path, EmbeddedLogConfig, RecordFilter, Segment, Segments, INDEX_EVERY};

/// Most requests written in one group commit.
const MAX_GROUP: usize = 4096;

/// Records to append, and where to say at which offset they begin.
pub(super) struct AppendRequest {
    pub(super) records: Vec<LogRecord>,
    pub(super) reply: oneshot::Sender<Result<u64, LogError>>,
}

/// Asks the writer to erase in its own segments (the active one and any it sealed since the
/// erasure began), between two group commits.
pub(super) struct EraseRequest {
    /// Segments from this base offset on.
    pub(super) from_base: u64,
    pub(super) doomed: RecordFilter,
    pub(super) reply: mpsc::Sender<Result<u64, LogError>>,
}

/// What the writer thread is asked.
pub(super) enum WriterRequest {
    Append(AppendRequest),
    Erase(EraseRequest),
}

/// The thread that owns the active segment.
pub(super) struct Writer {
    pub(super) dir: PathBuf,
    pub(super) segments: Segments,
    pub(super) file: File,
    pub(super) config: EmbeddedLogConfig,
    /// Set when a failed write could not be undone: every later append fails.
    pub(super) broken: Option<String>,
}

impl Writer {
    /// Serves requests until every sender is dropped.
    pub(super) fn run(mut self, receiver: &mpsc::Receiver<WriterRequest>) {
        let mut buffer = Vec::with_capacity(1 << 20);
        while let Ok(first) = receiver.recv() {
            let first = match first {
                WriterRequest::Append(append) => append,
                WriterRequest::Erase(erase) => {
                    let _ = erase.reply.send(self.erase(erase.from_base, erase.doomed.as_ref()));
                    continue;
                }
            };
            let (mut group, mut erase_after) = (vec![first], None);
            while group.len() < MAX_GROUP {
                match receiver.try_recv() {
                    Ok(WriterRequest::Append(more)) => group.push(more),
                    Ok(WriterRequest::Erase(erase)) => {
                        erase_after = Some(erase);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let result = self.write_group(&group, &mut buffer);
            for (request, outcome) in group.into_iter().zip(result) {
                let _ = request.reply.send(outcome);
            }
            if let Some(erase) = erase_after {
                let _ = erase.reply.send(self.erase(erase.from_base, erase.doomed.as_ref()));
            }
        }
    }

    /// Erases in the segments from `from_base` on, the active one included: nothing is being
    /// appended meanwhile (this thread is the one that appends). The active segment's file is
    /// reopened if it was replaced.
    fn erase(&mut self, from_base: u64, doomed: &dyn Fn(&[u8]) -> bool) -> Result<u64, LogError> {
        let segments: Vec<Segment> = self.segments.read().expect("segment lock").iter().filter(|s| s.base >= from_base).cloned().collect();
        let mut erased = 0;
        for (i, segment) in segments.iter().enumerate() {
            let here = erase_in_segment(segment, doomed)?;
            if here > 0 && i == segments.len() - 1 {
                match OpenOptions::new().append(true).open(&segment.path) {
                    Ok(file) => self.file = file,
                    Err(e) => {
                        // Appending to the replaced file would write where no reader looks.
                        self.broken = Some(format!("the active segment could not be reopened after an erasure ({e}); restart to recover"));
                        return Err(LogError::io(format!("reopening {}", segment.path.display()), e));
                    }
                }
            }
            erased += here;
        }
        Ok(erased)
    }

    /// Writes a group with one write and one fdatasync; one outcome per request.
    fn write_group(&mut self, group: &[AppendRequest], buffer: &mut Vec<u8>) -> Vec<Result<u64, LogError>> {
        let fail = |message: &str| group.iter().map(|_| Err(LogError::io(message.to_owned(), std::io::Error::other(message.to_owned())))).collect();
        if let Some(reason) = &self.broken {
            return fail(reason);
        }
        let (base, start_offset, start_bytes) = {
            let segments = self.segments.read().expect("segment lock");
            let active = segments.last().expect("active segment");
            (active.base, active.end(), active.bytes)
        };
        buffer.clear();
        let mut offset = start_offset;
        let mut firsts = Vec::with_capacity(group.len());
        let mut index = Vec::new();
        for request in group {
            firsts.push(offset);
            for record in &request.records {
                if (offset - base) % INDEX_EVERY == 0 {
                    index.push((offset, start_bytes + buffer.len() as u64));
                }
                frame::encode(&record.payload, buffer);
                offset += 1;
            }
        }
        if let Err(error) = self.file.write_all(buffer).and_then(|()| self.file.sync_data()) {
            warn!(%error, "log append failed; undoing the partial write");
            if let Err(undo) = self.file.set_len(start_bytes).and_then(|()| self.file.sync_data()) {
                self.broken = Some(format!("the log could not undo a failed write ({undo}); restart to recover"));
            }
            return group.iter().map(|_| Err(LogError::io("appending to the log", std::io::Error::new(error.kind(), error.to_string())))).collect();
        }
        let rolled = {
            let mut segments = self.segments.write().expect("segment lock");
            let active = segments.last_mut().expect("active segment");
            active.count = offset - active.base;
            active.bytes = start_bytes + buffer.len() as u64;
            active.index.extend(index);
            active.bytes >= self.config.segment_bytes
        };
        if rolled {
            if let Err(error) = self.roll(offset) {
                warn!(%error, "segment roll failed; the active segment keeps growing");
            }
        }
        firsts.into_iter().map(Ok).collect()
    }

    fn roll(&mut self, base: u64) -> Result<(), LogError> {
        let path = segment_path(&self.dir, base);
        let file =
            OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.segments.write().expect("segment lock").push(Segment { base, count: 0, bytes: 0, path, index: Vec::new(), checked: true });
        Ok(())
    }
}

/// Tombstones the records of one segment that `doomed` selects; rewrites it only if any.
pub(super) fn erase_in_segment(segment: &Segment, doomed: &dyn Fn(&[u8]) -> bool) -> Result<u64, LogError> {
    let io = |e| LogError::io(format!("erasing in {}", segment.path.display()), e);
    // The whole file is rewritten, but only its readable records are looked at: bytes past a
    // corruption are kept as they are.
    let mut bytes = fs::read(&segment.path).map_err(io)?;
    let readable = usize::try_from(segment.bytes).expect("segment size fits memory").min(bytes.len());
    let (mut position, mut erased) = (0usize, 0u64);
    while position < readable {
        let length = match frame::read_next(&mut &bytes[position..readable]).map_err(io)? {
            Next::Record(payload) => {
                let length = usize::try_from(frame::HEADER).expect("8 bytes") + payload.len();
                if !frame::is_tombstone(&payload) && doomed(&payload) {
                    if !frame::entomb(&mut bytes[position..position + length]) {
                        return Err(LogError::Corrupt {
                            segment: segment.path.display().to_string(),
                            position: position as u64,
                            reason: "a record too short to erase".into(),
                        });
                    }
                    erased += 1;
                }
                length
            }
            Next::End => break,
            Next::Bad(reason) => return Err(LogError::Corrupt { segment: segment.path.display().to_string(), position: position as u64, reason }),
        };
        position += length;
    }
    if erased > 0 {
        let fresh = segment.path.with_extension("erasing");
        let mut file = File::create(&fresh).map_err(io)?;
        file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(io)?;
        fs::rename(&fresh, &segment.path).map_err(io)?;
        sync_dir(segment.path.parent().expect("a segment lies in its topic directory"))?;
    }
    Ok(erased)
}
