//! Durable consumer offsets of the embedded log: one small file per consumer and topic, written
//! to a temporary file of its own, fsynced, then renamed over the old one (atomic on POSIX file
//! systems). A consumer commits its two topics at once (the pipeline stages hits and dead
//! letters together), so the temporary file is named after both.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{LogError, Topic};

/// The offsets directory.
#[derive(Debug, Clone)]
pub struct OffsetStore {
    dir: PathBuf,
}

impl OffsetStore {
    /// The offsets kept under `dir`, created if needed.
    pub fn open(dir: PathBuf) -> Result<Self, LogError> {
        fs::create_dir_all(&dir).map_err(|e| LogError::io(format!("creating {}", dir.display()), e))?;
        Ok(OffsetStore { dir })
    }

    fn path(&self, consumer: &str, topic: Topic) -> Result<PathBuf, LogError> {
        let valid = !consumer.is_empty() && consumer.len() <= 64 && consumer.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(LogError::InvalidConsumer(consumer.to_owned()));
        }
        Ok(self.dir.join(format!("{consumer}.{}", topic.name())))
    }

    /// Durably records the offset `consumer` reads next in `topic`.
    pub fn commit(&self, consumer: &str, topic: Topic, offset: u64) -> Result<(), LogError> {
        let path = self.path(consumer, topic)?;
        let tmp = self.dir.join(format!("{consumer}.{}.tmp", topic.name()));
        let io = |what: &str, e| LogError::io(format!("{what} {}", tmp.display()), e);
        let mut file = fs::File::create(&tmp).map_err(|e| io("creating", e))?;
        file.write_all(offset.to_string().as_bytes()).map_err(|e| io("writing", e))?;
        file.sync_all().map_err(|e| io("syncing", e))?;
        fs::rename(&tmp, &path).map_err(|e| io("renaming", e))?;
        sync_dir(&self.dir)
    }

    /// The offset `consumer` reads next in `topic` (0 before its first commit).
    pub fn committed(&self, consumer: &str, topic: Topic) -> Result<u64, LogError> {
        let path = self.path(consumer, topic)?;
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| LogError::Corrupt {
                segment: path.display().to_string(),
                position: 0,
                reason: format!("offset file holds {text:?}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(LogError::io(format!("reading {}", path.display()), e)),
        }
    }
}

/// Fsyncs a directory so that a file created or renamed in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| LogError::io(format!("syncing directory {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_consumer_commits_its_two_topics_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = OffsetStore::open(dir.path().join("offsets")).unwrap();
        std::thread::scope(|scope| {
            for topic in [Topic::Hits, Topic::DeadLetters] {
                let store = &store;
                scope.spawn(move || {
                    for offset in 1..=200 {
                        store.commit("pipeline", topic, offset).unwrap();
                    }
                });
            }
        });
        assert_eq!(store.committed("pipeline", Topic::Hits).unwrap(), 200);
        assert_eq!(store.committed("pipeline", Topic::DeadLetters).unwrap(), 200);
        let left: Vec<_> = fs::read_dir(dir.path().join("offsets")).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
    }
}
