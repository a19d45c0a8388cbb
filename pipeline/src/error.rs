//! [`PipelineError`]: what can stop the pipeline, the store or a query.

use collector::log::LogError;
use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;

/// Why the pipeline, the store or a query failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Reading the hit log or committing its offset.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A log record that is not a stored hit.
    #[error("hit log record at offset {offset} cannot be decoded: {message}")]
    Decode {
        /// Its offset.
        offset: u64,
        /// Why.
        message: String,
    },
    /// A hit that cannot be placed in a territory.
    #[error(transparent)]
    Place(#[from] crate::hit_row::PlaceError),
    /// Building or converting Arrow data.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// Planning or running a DataFusion query.
    #[error("datafusion: {0}")]
    DataFusion(#[from] DataFusionError),
    /// Reading or writing Parquet.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// File system.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The store holds something it did not write (a foreign file, a broken layout).
    #[error("rollup store: {0}")]
    Store(String),
    /// A query that cannot be answered as asked.
    #[error("{0}")]
    Query(String),
}

impl PipelineError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PipelineError::Io { context: context.into(), source }
    }
}
