//! Errors of loading the plan and the referential. Validation outcomes are not errors: they are
//! [`crate::Rejection`]s and [`crate::Warning`]s.

use std::path::PathBuf;

/// A plan file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error("cannot read plan file {path}: {source}")]
    Io {
        /// The file asked for.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not TOML of the plan's layout (the message names the key and line).
    #[error("plan file is not a valid plan: {0}")]
    Syntax(#[from] toml::de::Error),
    /// The file parses but contradicts itself (e.g. a variable names a missing nomenclature).
    #[error("invalid plan: {0}")]
    Invalid(String),
}

/// A referential file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReferentialError {
    /// The file or directory could not be read.
    #[error("cannot read referential file {path}: {source}")]
    Io {
        /// The file asked for.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A CSV record could not be read.
    #[error("{file}: line {line}: {message}")]
    Csv {
        /// The file name.
        file: String,
        /// The line of the bad record (1-based, header included).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The header matches none of the known open-data layouts.
    #[error("{file}: unknown layout (header starts with {header:?}); expected the Annuaire de l'éducation, the collèges file or an effectifs file")]
    UnknownLayout {
        /// The file name.
        file: String,
        /// The first columns of its header.
        header: String,
    },
    /// A gzip-compressed file could not be decompressed, or a file is not UTF-8.
    #[error("{file}: {message}")]
    Encoding {
        /// The file name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A column the layout needs is missing.
    #[error("{file}: missing column {column:?}")]
    MissingColumn {
        /// The file name.
        file: String,
        /// The missing column.
        column: String,
    },
}
