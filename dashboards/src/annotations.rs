//! Dated notes added through the API (`POST /api/v1/annotations`), beside the read-only ones
//! of the configuration ([`crate::perimeter::Annotation`]), and the one file that keeps them.
//!
//! The file is a JSON-lines log in the data directory of the process serving the dashboards
//! (`annotations.jsonl`): one record per line, `{"op":"add",…}` or `{"op":"delete","id":…}`,
//! only ever appended, each line written with one `write` and flushed to disk (`fsync`) before
//! the request is answered. At start the log is replayed; a last line cut short by a crash (no
//! final newline) is dropped and the file truncated to its last whole line, any other bad line
//! refuses to start (with its number). Identifiers are never reused: the next one follows the
//! largest ever added, deleted or not. Why this file exists at all: docs/ARCHITECTURE.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest note, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// The name of the log in the data directory.
pub const FILE_NAME: &str = "annotations.jsonl";

/// A note added through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredNote {
    /// Its identifier (for `DELETE /api/v1/annotations/{id}`).
    pub id: u64,
    /// Its day.
    pub date: NaiveDate,
    /// The note.
    pub text: String,
    /// The project it belongs to; none: every project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projet: Option<String>,
    /// Who added it: the name of the project owner's token, or `administrateur`.
    pub author: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Add(StoredNote),
    Delete { id: u64 },
}

/// Why a note is refused; each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The body is not the JSON expected.
    #[error("corps JSON attendu {{\"date\": \"AAAA-MM-JJ\", \"text\": \"…\", \"projet\": \"…\"}} : {0}")]
    BadJson(String),
    /// The text is empty.
    #[error("la note est vide")]
    EmptyText,
    /// The text is too long.
    #[error("la note fait {0} caractères (200 au plus)")]
    TextTooLong(usize),
    /// The date is not a day.
    #[error("date « {0} » : AAAA-MM-JJ attendu")]
    BadDate(String),
    /// No such project.
    #[error("projet inconnu : « {0} »")]
    UnknownProject(String),
}

impl NoteError {
    /// Its stable code.
    pub fn code(&self) -> &'static str {
        match self {
            NoteError::BadJson(_) => "bad_json",
            NoteError::EmptyText => "empty_text",
            NoteError::TextTooLong(_) => "text_too_long",
            NoteError::BadDate(_) => "bad_date",
            NoteError::UnknownProject(_) => "unknown_project",
        }
    }
}

/// The body of `POST /api/v1/annotations`, before validation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// Its day (`YYYY-MM-DD`).
    pub date: String,
    /// The note (1 to 200 characters).
    pub text: String,
    /// The project it belongs to; none: every project (administrators only).
    #[serde(default)]
    pub projet: Option<String>,
}

/// A note that passed validation (project not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidNote {
    /// Its day.
    pub date: NaiveDate,
    /// The note, trimmed.
    pub text: String,
    /// Its project, trimmed (none: every project).
    pub projet: Option<String>,
}

impl NewNote {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<NewNote, NoteError> {
        serde_json::from_slice(body).map_err(|e| NoteError::BadJson(e.to_string()))
    }

    /// Checks the text and the date.
    pub fn validate(&self) -> Result<ValidNote, NoteError> {
        let text = self.text.trim();
        if text.is_empty() {
            return Err(NoteError::EmptyText);
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(NoteError::TextTooLong(chars));
        }
        let date = self.date.trim().parse::<NaiveDate>().map_err(|_| NoteError::BadDate(self.date.clone()))?;
        let projet = self.projet.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned);
        Ok(ValidNote { date, text: text.to_owned(), projet })
    }
}

/// Why the log cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NoteBookError {
    /// Reading or writing the file failed.
    #[error("annotations file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("annotations file {path}, line {line}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Its number (from 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Notes {
    notes: Vec<StoredNote>,
    next_id: u64,
}

impl Notes {
    fn apply(&mut self, record: Record) {
        match record {
            Record::Add(note) => {
                self.next_id = self.next_id.max(note.id + 1);
                self.notes.retain(|n| n.id != note.id);
                self.notes.push(note);
            }
            Record::Delete { id } => self.notes.retain(|n| n.id != id),
        }
    }
}

/// The notes added through the API, kept in their log (or in memory only, for a library user
/// that gives no file).
#[derive(Debug, Default)]
pub struct NoteBook {
    file: Option<PathBuf>,
    notes: Mutex<Notes>,
}

impl NoteBook {
    /// A note book kept in memory only (lost at exit).
    pub fn in_memory() -> NoteBook {
        NoteBook::default()
    }

    /// The note book of a data directory: its log replayed (none yet: empty).
    pub fn open(data_dir: &Path) -> Result<NoteBook, NoteBookError> {
        let path = data_dir.join(FILE_NAME);
        let io = |source| NoteBookError::Io { path: path.clone(), source };
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            tracing::warn!(path = %path.display(), dropped_bytes = text.len() - whole, "annotations file: a last line cut short is dropped");
            let file = std::fs::OpenOptions::new().write(true).open(&path).map_err(io)?;
            file.set_len(whole as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let mut notes = Notes::default();
        for (i, line) in text[..whole].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record: Record =
                serde_json::from_slice(line).map_err(|e| NoteBookError::Corrupt { path: path.clone(), line: i + 1, message: e.to_string() })?;
            notes.apply(record);
        }
        Ok(NoteBook { file: Some(path), notes: Mutex::new(notes) })
    }

    /// Every note, by date then identifier.
    pub fn all(&self) -> Vec<StoredNote> {
        let mut notes = self.lock().notes.clone();
        notes.sort_by_key(|n| (n.date, n.id));
        notes
    }

    /// One note.
    pub fn get(&self, id: u64) -> Option<StoredNote> {
        self.lock().notes.iter().find(|n| n.id == id).cloned()
    }

    /// Adds a note (written to the log before it is returned).
    pub fn add(&self, note: ValidNote, author: &str) -> Result<StoredNote, NoteBookError> {
        let mut notes = self.lock();
        let stored = StoredNote {
            id: notes.next_id.max(1),
            date: note.date,
            text: note.text,
            projet: note.projet,
            author: author.to_owned(),
            created_at: Utc::now(),
        };
        let record = Record::Add(stored.clone());
        self.append(&record)?;
        notes.apply(record);
        Ok(stored)
    }

    /// Deletes a note; false when there is none of that identifier.
    pub fn delete(&self, id: u64) -> Result<bool, NoteBookError> {
        let mut notes = self.lock();
        if !notes.notes.iter().any(|n| n.id == id) {
            return Ok(false);
        }
        let record = Record::Delete { id };
        self.append(&record)?;
        notes.apply(record);
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Notes> {
        // A panic while holding the lock leaves the notes as they were (apply comes last).
        self.notes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one record as one line and flushes it to disk.
    fn append(&self, record: &Record) -> Result<(), NoteBookError> {
        let Some(path) = &self.file else { return Ok(()) };
        let io = |source| NoteBookError::Io { path: path.clone(), source };
        let mut line = serde_json::to_vec(record).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let created = !path.exists();
        if let Some(dir) = path.parent().filter(|_| created) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)?;
        if created {
            // The new file's name is durable too.
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(date: &str, text: &str, projet: Option<&str>) -> NewNote {
        NewNote { date: date.into(), text: text.into(), projet: projet.map(str::to_owned) }
    }

    #[test]
    fn notes_are_validated_with_stable_codes() {
        let ok = note("2026-09-14", "  Formation des enseignants  ", Some(" ENT-BZH ")).validate().unwrap();
        assert_eq!(ok.text, "Formation des enseignants");
        assert_eq!(ok.projet.as_deref(), Some("ENT-BZH"));
        assert_eq!(note("2026-09-14", " ", None).validate().unwrap_err().code(), "empty_text");
        assert_eq!(note("2026-09-14", &"é".repeat(201), None).validate().unwrap_err().code(), "text_too_long");
        assert!(note("2026-09-14", &"é".repeat(200), None).validate().is_ok(), "200 characters, not bytes");
        assert_eq!(note("2026-02-30", "x", None).validate().unwrap_err().code(), "bad_date");
        assert_eq!(NewNote::parse(b"{\"date\": 3}").unwrap_err().code(), "bad_json");
        assert_eq!(NewNote::parse(b"{\"date\": \"2026-09-14\", \"text\": \"a\", \"autre\": 1}").unwrap_err().code(), "bad_json");
    }

    #[test]
    fn the_log_is_replayed_and_ids_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let book = NoteBook::open(dir.path()).unwrap();
        let a = book.add(note("2026-09-14", "lancement", Some("P")).validate().unwrap(), "Porteur P").unwrap();
        let b = book.add(note("2026-09-01", "rentrée", None).validate().unwrap(), "administrateur").unwrap();
        assert!(book.delete(b.id).unwrap());
        assert!(!book.delete(b.id).unwrap());
        let again = NoteBook::open(dir.path()).unwrap();
        assert_eq!(again.all(), vec![a.clone()]);
        let c = again.add(note("2026-09-02", "formation", None).validate().unwrap(), "administrateur").unwrap();
        assert!(c.id > b.id, "{} after {}", c.id, b.id);
        assert_eq!(NoteBook::open(dir.path()).unwrap().all(), vec![c, a]);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_corrupt_line_refused() {
        let dir = tempfile::tempdir().unwrap();
        let book = NoteBook::open(dir.path()).unwrap();
        let a = book.add(note("2026-09-14", "lancement", None).validate().unwrap(), "administrateur").unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"op\":\"add\",\"id\":7,\"da").unwrap();
        drop(file);
        assert_eq!(NoteBook::open(dir.path()).unwrap().all(), vec![a]);
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("}\n"), "truncated to its last whole line");
        std::fs::write(&path, "pas du json\n").unwrap();
        let e = NoteBook::open(dir.path()).unwrap_err();
        assert!(matches!(e, NoteBookError::Corrupt { line: 1, .. }), "{e}");
    }
}
