//! The `[log]` table of the configuration: which hit log the collector writes and the pipeline
//! reads. `kind = "embedded"` (the default: segment files in `DATA_DIR/log`) or
//! `kind = "kafka"` with the `[log]` keys of [`KafkaLogConfig`] (`brokers`, `topic_prefix`,
//! `partitions`, …). [`OpenLog`] is what either gives a command.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, KafkaHitLog, KafkaLogConfig};
use serde::Deserialize;

/// The `[log]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LogFile {
    /// Segment files in `DATA_DIR/log` (the default).
    #[default]
    Embedded,
    /// Kafka topics (any Kafka-compatible broker).
    Kafka(KafkaLogConfig),
}

impl LogFile {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        match self {
            LogFile::Embedded => Ok(()),
            LogFile::Kafka(config) => config.validate().map_err(|e| anyhow::anyhow!("[log] {}", e.trim_start_matches("log.kafka."))),
        }
    }

    /// Opens the log for the collector (embedded: takes the directory's write lock).
    pub async fn open_for_writing(&self, data_dir: &Path, segment_bytes: Option<u64>) -> anyhow::Result<OpenLog> {
        match self {
            LogFile::Embedded => {
                let config = EmbeddedLogConfig {
                    segment_bytes: segment_bytes.unwrap_or(EmbeddedLogConfig::default().segment_bytes),
                    ..EmbeddedLogConfig::default()
                };
                let log =
                    EmbeddedHitLog::open(&data_dir.join("log"), config).with_context(|| format!("opening the log in {}", data_dir.display()))?;
                Ok(OpenLog::Embedded(Arc::new(log)))
            }
            LogFile::Kafka(config) => Ok(OpenLog::Kafka(Arc::new(open_kafka(config).await?))),
        }
    }

    /// Opens the log for a pipeline beside a running collector (embedded: read-only, each
    /// sealed segment checked when first read: a pipeline reads what is new, and opening a
    /// day's log no longer reads all of it).
    pub async fn open_for_reading(&self, data_dir: &Path) -> anyhow::Result<OpenLog> {
        match self {
            LogFile::Embedded => {
                let dir = data_dir.join("log");
                let config = EmbeddedLogConfig { read_only: true, check_sealed_at_open: false, ..EmbeddedLogConfig::default() };
                let log = EmbeddedHitLog::open(&dir, config)
                    .with_context(|| format!("opening the log in {} (run the collector or `dnma import` first)", dir.display()))?;
                Ok(OpenLog::Embedded(Arc::new(log)))
            }
            LogFile::Kafka(config) => Ok(OpenLog::Kafka(Arc::new(open_kafka(config).await?))),
        }
    }

    /// Refuses a command that only knows the embedded log's files.
    pub fn require_embedded(&self, command: &str) -> anyhow::Result<()> {
        match self {
            LogFile::Embedded => Ok(()),
            LogFile::Kafka(_) => anyhow::bail!(
                "`dnma {command}` works on the embedded log's files; this configuration's [log] is kind = \"kafka\" (use the broker's tools and topic retention)"
            ),
        }
    }
}

async fn open_kafka(config: &KafkaLogConfig) -> anyhow::Result<KafkaHitLog> {
    KafkaHitLog::open(config.clone()).await.with_context(|| format!("opening the Kafka log at {}", config.brokers))
}

/// An open hit log of either kind.
#[derive(Clone)]
pub enum OpenLog {
    /// The embedded log.
    Embedded(Arc<EmbeddedHitLog>),
    /// The Kafka log.
    Kafka(Arc<KafkaHitLog>),
}

impl OpenLog {
    /// The log behind the common trait.
    pub fn shared(&self) -> Arc<dyn HitLog> {
        match self {
            OpenLog::Embedded(log) => Arc::clone(log) as Arc<dyn HitLog>,
            OpenLog::Kafka(log) => Arc::clone(log) as Arc<dyn HitLog>,
        }
    }

    /// The embedded log, for what only it does (retention of its segments).
    pub fn embedded(&self) -> Option<&Arc<EmbeddedHitLog>> {
        match self {
            OpenLog::Embedded(log) => Some(log),
            OpenLog::Kafka(_) => None,
        }
    }

    /// Stops appends after those queued (embedded: flushes and stops its writers; Kafka:
    /// every append already waited for the broker's acknowledgement).
    pub fn close(&self) {
        if let OpenLog::Embedded(log) = self {
            log.close();
        }
    }
}
