//! The bytes of a referential data file as text: a name ending in `.gz` is gzip-compressed
//! (the shipped regional annuaire, or a national file kept compressed), any other is read as it
//! is; either way the text must be UTF-8, as the open-data files are published.

use std::io::Read;

use flate2::read::GzDecoder;

use crate::error::ReferentialError;

/// Whether a file name is one of a data file: `*.csv` or `*.csv.gz`, in any case.
pub(super) fn is_data_file(name: &str) -> bool {
    ends_with_ignoring_case(name, ".csv") || ends_with_ignoring_case(name, ".csv.gz")
}

/// Whether `name` ends with the ASCII `suffix`, in any case.
fn ends_with_ignoring_case(name: &str, suffix: &str) -> bool {
    let (name, suffix) = (name.as_bytes(), suffix.as_bytes());
    name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The text of a data file named `name`, decompressed when the name ends in `.gz`.
pub(super) fn text(name: &str, bytes: Vec<u8>) -> Result<String, ReferentialError> {
    let error = |message: String| ReferentialError::Encoding { file: name.to_owned(), message };
    let bytes = if ends_with_ignoring_case(name, ".gz") {
        let mut plain = Vec::with_capacity(bytes.len() * 5);
        GzDecoder::new(bytes.as_slice()).read_to_end(&mut plain).map_err(|e| error(format!("cannot decompress (gzip): {e}")))?;
        plain
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| error(format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to())))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    #[test]
    fn gzip_files_are_decompressed_and_others_read_as_they_are() {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all("UAI;é\n".as_bytes()).unwrap();
        let compressed = encoder.finish().unwrap();
        assert_eq!(text("a.csv.gz", compressed.clone()).unwrap(), "UAI;é\n");
        assert_eq!(text("A.CSV.GZ", compressed).unwrap(), "UAI;é\n");
        assert_eq!(text("a.csv", "UAI;é\n".as_bytes().to_vec()).unwrap(), "UAI;é\n");
    }

    #[test]
    fn broken_archives_and_other_encodings_name_the_file() {
        let err = text("national.csv.gz", b"not gzip".to_vec()).unwrap_err().to_string();
        assert!(err.starts_with("national.csv.gz: cannot decompress (gzip)"), "{err}");
        let latin1 = b"UAI;\xe9cole\n".to_vec();
        assert_eq!(text("latin1.csv", latin1).unwrap_err().to_string(), "latin1.csv: not UTF-8 (byte 4)");
    }

    #[test]
    fn data_files_are_csv_plain_or_gzip() {
        assert!(is_data_file("a.csv") && is_data_file("B.CSV") && is_data_file("c.csv.gz") && is_data_file("d.CSV.GZ"));
        assert!(!is_data_file("SOURCES.md") && !is_data_file("e.gz") && !is_data_file("f.csv.zip"));
    }
}
