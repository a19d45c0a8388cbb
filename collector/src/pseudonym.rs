//! Pseudonymization at the door: the user id (`user_id`, `idclient`, SmartTag `at`) becomes
//! `HMAC-SHA256(key, plateforme ‖ 0x1F ‖ user id)`, truncated to 128 bits, before anything is
//! written. The key belongs to a school year (1 September – 31 August, Europe/Paris), so unique
//! visitors merge over a whole school year and cannot be linked across years; it rotates at la
//! rentrée. Keys are secrets: held in `secrecy` boxes, never logged, printed or serialized.
//!
//! Keys come from a [`KeyRing`]: a file of `YYYY-YYYY=<hex>` lines (`--key-file`), or, for the
//! embedded default, keys generated on first use and kept under the data directory with
//! owner-only permissions.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

/// Bytes of a pseudonym (128 bits: collisions are negligible at a few million users).
pub const PSEUDONYM_BYTES: usize = 16;

/// A pseudonymous visitor id: 16 raw bytes in binary encodings, 32 hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym(pub [u8; PSEUDONYM_BYTES]);

impl serde::Serialize for Pseudonym {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_string())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Pseudonym {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let mut out = [0u8; PSEUDONYM_BYTES];
            hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
            Ok(Pseudonym(out))
        } else {
            <[u8; PSEUDONYM_BYTES]>::deserialize(deserializer).map(Pseudonym)
        }
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({self})")
    }
}

/// The school year starting in `year`'s September, e.g. 2026 for 2026-2027.
pub fn school_year_of(at: DateTime<Utc>) -> i32 {
    let local = at.with_timezone(&chrono_tz::Europe::Paris);
    if local.month() >= 9 {
        local.year()
    } else {
        local.year() - 1
    }
}

/// Why the key ring cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file or directory could not be read or written.
    #[error("key store {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line of the key file is malformed (the key itself is never quoted).
    #[error("key file {path}, line {line}: expected YYYY-YYYY=<at least 32 hex bytes>")]
    Format {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
    },
    /// No key for the school year, and the ring may not create one.
    #[error("no pseudonymization key for school year {0}-{next}", next = .0 + 1)]
    Missing(i32),
}

/// Shortest time between two readings of a key file for a missing year.
const KEY_FILE_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Where keys come from.
enum Source {
    /// A file given by the operator: a missing year's key is looked for again in the file (at
    /// most every [`KEY_FILE_RELOAD_EVERY`]), so next year's key can be added before la rentrée
    /// without a restart; a year still missing is an error.
    File(PathBuf, std::sync::Mutex<Option<std::time::Instant>>),
    /// A directory where a missing year's key is generated and kept (embedded default).
    Generated(PathBuf),
}

/// The pseudonymization keys, by school year.
pub struct KeyRing {
    keys: std::sync::RwLock<BTreeMap<i32, SecretBox<Vec<u8>>>>,
    source: Source,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let years: Vec<i32> = self.keys.read().map(|k| k.keys().copied().collect()).unwrap_or_default();
        f.debug_struct("KeyRing").field("school_years", &years).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Reads a key file: lines `2026-2027=<hex>`, `#` comments.
    pub fn from_file(path: &Path) -> Result<KeyRing, KeyError> {
        let keys = read_key_file(path)?;
        Ok(KeyRing { keys: std::sync::RwLock::new(keys), source: Source::File(path.to_owned(), std::sync::Mutex::new(None)) })
    }

    /// Keys kept in a directory (`<dir>/2026-2027.key`), generated on first use.
    pub fn generated_in(dir: &Path) -> Result<KeyRing, KeyError> {
        let io = |source| KeyError::Io { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut keys = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)?.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(year) = name.strip_suffix(".key") else { continue };
            let text = std::fs::read_to_string(entry.path()).map_err(|source| KeyError::Io { path: entry.path(), source })?;
            let (year, key) = parse_key_line(&format!("{year}={}", text.trim())).ok_or(KeyError::Format { path: entry.path(), line: 1 })?;
            keys.insert(year, key);
        }
        Ok(KeyRing { keys: std::sync::RwLock::new(keys), source: Source::Generated(dir.to_owned()) })
    }

    /// The pseudonym of a user of a platform, with the key of the school year of `at`.
    pub fn pseudonym(&self, plateforme: &str, user_id: &str, at: DateTime<Utc>) -> Result<Pseudonym, KeyError> {
        let year = school_year_of(at);
        if let Some(key) = self.keys.read().expect("key lock").get(&year) {
            return Ok(hash(key.expose_secret(), plateforme, user_id));
        }
        let dir = match &self.source {
            Source::Generated(dir) => dir,
            Source::File(path, last_read) => {
                self.reload_key_file(path, last_read)?;
                let keys = self.keys.read().expect("key lock");
                return keys.get(&year).map(|key| hash(key.expose_secret(), plateforme, user_id)).ok_or(KeyError::Missing(year));
            }
        };
        let mut keys = self.keys.write().expect("key lock");
        let key = match keys.entry(year) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(generate_key(dir, year)?),
        };
        Ok(hash(key.expose_secret(), plateforme, user_id))
    }

    /// Reads the key file again for years it did not have (at most every
    /// [`KEY_FILE_RELOAD_EVERY`]); keys already loaded are never replaced.
    fn reload_key_file(&self, path: &Path, last_read: &std::sync::Mutex<Option<std::time::Instant>>) -> Result<(), KeyError> {
        {
            let mut last = last_read.lock().expect("reload lock");
            if last.is_some_and(|t| t.elapsed() < KEY_FILE_RELOAD_EVERY) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        let fresh = read_key_file(path)?;
        let mut keys = self.keys.write().expect("key lock");
        for (year, key) in fresh {
            if let std::collections::btree_map::Entry::Vacant(slot) = keys.entry(year) {
                tracing::info!(school_year = year, "a new pseudonymization key was read from the key file");
                slot.insert(key);
            }
        }
        Ok(())
    }

    /// The pseudonyms a user of a platform has had under every key of the ring, by school year
    /// (what an erasure request must look for).
    pub fn pseudonyms_of(&self, plateforme: &str, user_id: &str) -> Vec<(i32, Pseudonym)> {
        self.keys.read().expect("key lock").iter().map(|(year, key)| (*year, hash(key.expose_secret(), plateforme, user_id))).collect()
    }

    /// The school years with a key.
    pub fn school_years(&self) -> Vec<i32> {
        self.keys.read().expect("key lock").keys().copied().collect()
    }
}

fn hash(key: &[u8], plateforme: &str, user_id: &str) -> Pseudonym {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(plateforme.as_bytes());
    mac.update(&[0x1f]);
    mac.update(user_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = [0u8; PSEUDONYM_BYTES];
    out.copy_from_slice(&digest[..PSEUDONYM_BYTES]);
    Pseudonym(out)
}

/// The keys of a key file, by school year.
fn read_key_file(path: &Path) -> Result<BTreeMap<i32, SecretBox<Vec<u8>>>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
    let mut keys = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (year, key) = parse_key_line(line).ok_or(KeyError::Format { path: path.to_owned(), line: i + 1 })?;
        keys.insert(year, key);
    }
    Ok(keys)
}

fn parse_key_line(line: &str) -> Option<(i32, SecretBox<Vec<u8>>)> {
    let (years, key) = line.split_once('=')?;
    let (start, end) = years.trim().split_once('-')?;
    let (start, end): (i32, i32) = (start.parse().ok()?, end.parse().ok()?);
    let key = hex::decode(key.trim()).ok()?;
    (end == start + 1 && key.len() >= 32).then(|| (start, SecretBox::new(Box::new(key))))
}

fn generate_key(dir: &Path, year: i32) -> Result<SecretBox<Vec<u8>>, KeyError> {
    let mut key = vec![0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut key).map_err(|e| KeyError::Io { path: dir.to_owned(), source: std::io::Error::other(e.to_string()) })?;
    let path = dir.join(format!("{year}-{}.key", year + 1));
    let io = |source| KeyError::Io { path: path.clone(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    std::io::Write::write_all(&mut file, hex::encode(&key).as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    tracing::info!(school_year = year, "generated a new pseudonymization key");
    Ok(SecretBox::new(Box::new(key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn school_years_turn_at_la_rentree_in_paris() {
        assert_eq!(school_year_of(at(2026, 8, 31)), 2025);
        assert_eq!(school_year_of(at(2026, 9, 1)), 2026);
        // 31 August 22:30 UTC is already 1 September in Paris.
        assert_eq!(school_year_of(Utc.with_ymd_and_hms(2026, 8, 31, 22, 30, 0).unwrap()), 2026);
    }

    #[test]
    fn pseudonyms_are_stable_per_year_and_platform_and_change_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::generated_in(dir.path()).unwrap();
        let a = ring.pseudonym("ONE", "user-1", at(2026, 10, 1)).unwrap();
        assert_eq!(a, ring.pseudonym("ONE", "user-1", at(2027, 6, 30)).unwrap(), "one key all school year");
        assert_ne!(a, ring.pseudonym("NEO", "user-1", at(2026, 10, 1)).unwrap(), "per platform");
        assert_ne!(a, ring.pseudonym("ONE", "user-1", at(2027, 9, 2)).unwrap(), "rotates at la rentrée");
        let reopened = KeyRing::generated_in(dir.path()).unwrap();
        assert_eq!(reopened.school_years(), [2026, 2027]);
        assert_eq!(a, reopened.pseudonym("ONE", "user-1", at(2026, 10, 1)).unwrap(), "keys are kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("2026-2027.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only key file");
        }
    }

    #[test]
    fn key_files_never_quote_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "# keys\n2026-2027=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n2027-2028=deadbeef\n").unwrap();
        let err = KeyRing::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 3") && !err.contains("deadbeef"), "{err}");
        std::fs::write(&path, "2026-2027=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n").unwrap();
        let ring = KeyRing::from_file(&path).unwrap();
        assert!(ring.pseudonym("ONE", "u", at(2026, 12, 1)).is_ok());
        assert!(matches!(ring.pseudonym("ONE", "u", at(2028, 12, 1)), Err(KeyError::Missing(2028))));
        assert!(!format!("{ring:?}").contains("0011"));
    }

    #[test]
    fn next_years_key_is_picked_up_from_the_file_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let this_year = "2026-2027=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
        std::fs::write(&path, this_year).unwrap();
        let ring = KeyRing::from_file(&path).unwrap();
        let before = ring.pseudonym("ONE", "u", at(2027, 6, 1)).unwrap();
        assert!(matches!(ring.pseudonym("ONE", "u", at(2027, 9, 2)), Err(KeyError::Missing(2027))));
        // The operator adds next year's key (and, by mistake, changes this year's): only the new
        // year is taken, once the reload delay has passed.
        std::fs::write(&path, format!("2026-2027={}\n2027-2028={}\n", "ff".repeat(32), "ab".repeat(32))).unwrap();
        assert!(matches!(ring.pseudonym("ONE", "u", at(2027, 9, 2)), Err(KeyError::Missing(2027))), "not read again at once");
        if let Source::File(_, last) = &ring.source {
            *last.lock().unwrap() = std::time::Instant::now().checked_sub(KEY_FILE_RELOAD_EVERY);
        }
        let next = ring.pseudonym("ONE", "u", at(2027, 9, 2)).unwrap();
        assert_ne!(next, before);
        assert_eq!(ring.pseudonym("ONE", "u", at(2027, 6, 1)).unwrap(), before, "a loaded key is never replaced");
        assert_eq!(ring.school_years(), [2026, 2027]);
    }

    #[test]
    fn an_erasure_gets_the_pseudonyms_of_every_year() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::generated_in(dir.path()).unwrap();
        let last_year = ring.pseudonym("ONE", "user-1", at(2026, 3, 1)).unwrap();
        let this_year = ring.pseudonym("ONE", "user-1", at(2026, 10, 1)).unwrap();
        assert_eq!(ring.pseudonyms_of("ONE", "user-1"), [(2025, last_year), (2026, this_year)]);
        assert_ne!(ring.pseudonyms_of("NEO", "user-1")[0].1, last_year);
    }
}
