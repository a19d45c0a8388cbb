//! The configuration: a TOML file, then `DNMA_<TABLE>__<KEY>` environment variables over it
//! (e.g. `DNMA_COLLECTOR__MAX_BODY_BYTES=1048576`, `DNMA_STORE__PASSWORD=…`; nested keys take
//! more `__`), parsed into one validated [`ConfigFile`] before anything starts. Unknown keys,
//! from the file or the environment, are refused with their name; an environment value is read
//! as a TOML value when it parses as one (`31`, `true`, `["a", "b"]`), else as a string.
//! Secrets (tokens, passwords) are `secrecy` strings: `Debug` prints them redacted and
//! `dnma config check` never shows them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;

use super::collector_cmd::CollectorFile;

/// Prefix of the environment variables that override the file.
const ENV_PREFIX: &str = "DNMA_";

/// Separator of the table and key names in an override's name.
const ENV_SEPARATOR: &str = "__";

/// The configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Collector settings.
    #[serde(default)]
    pub collector: CollectorFile,
    /// Pipeline settings.
    #[serde(default)]
    pub pipeline: super::pipeline_cmd::PipelineFile,
    /// Dashboard settings (k, readers' and editors' tokens).
    #[serde(default)]
    pub dashboards: dashboards::DashboardConfig,
    /// Which hit log (`kind = "embedded"` or `"kafka"`).
    #[serde(default)]
    pub log: super::log_file::LogFile,
    /// Where the pipeline keeps its facts (`kind = "parquet"` or `"clickhouse"`).
    #[serde(default)]
    pub store: super::pipeline_cmd::StoreFile,
    /// How long raw data is kept.
    #[serde(default)]
    pub retention: super::retention_cmd::RetentionFile,
    /// Limits of the HTTP server (collector and dashboards).
    #[serde(default)]
    pub server: ServerFile,
}

/// The `[server]` table: timeouts and the concurrency limit of the HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerFile {
    /// Longest wait for a request's headers, and for the next request on an idle connection
    /// (default "10s").
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: std::time::Duration,
    /// Longest time to read a request's body and answer it (default "30s").
    #[serde(with = "humantime_serde")]
    pub request_timeout: std::time::Duration,
    /// Requests handled at once; more get 503 with `Retry-After` (default 4096).
    pub max_in_flight: usize,
    /// Longest wait for requests in flight at shutdown (default "30s").
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: std::time::Duration,
}

impl Default for ServerFile {
    fn default() -> Self {
        let limits = collector::http::ServerLimits::default();
        ServerFile {
            header_read_timeout: limits.header_read_timeout,
            request_timeout: limits.request_timeout,
            max_in_flight: limits.max_in_flight,
            shutdown_grace: limits.shutdown_grace,
        }
    }
}

impl ServerFile {
    /// The server's limits, checked; the error names the key.
    pub fn limits(&self) -> anyhow::Result<collector::http::ServerLimits> {
        for (key, value) in [("header_read_timeout", self.header_read_timeout), ("request_timeout", self.request_timeout)] {
            anyhow::ensure!(value >= std::time::Duration::from_millis(100), "[server] {key} must be at least 100ms");
        }
        anyhow::ensure!(self.max_in_flight > 0, "[server] max_in_flight must be positive");
        Ok(collector::http::ServerLimits {
            header_read_timeout: self.header_read_timeout,
            request_timeout: self.request_timeout,
            max_in_flight: self.max_in_flight,
            shutdown_grace: self.shutdown_grace,
        })
    }
}

/// How a running collector serves and what it does in the background.
#[derive(Debug, Clone)]
pub struct Upkeep {
    /// Retention of the raw log.
    pub retention: super::retention_cmd::RetentionFile,
    /// The pipeline consumer whose committed offsets say what was counted.
    pub consumer: String,
    /// Limits of the HTTP server.
    pub server: collector::http::ServerLimits,
    /// The data directory (where erasure requests are handed to the running server).
    pub data_dir: PathBuf,
}

impl ConfigFile {
    /// Reads the config file (none: every default) with the process's environment over it,
    /// and validates it.
    pub fn load(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
        Self::load_with(path, std::env::vars())
    }

    /// [`Self::load`] with the given environment.
    pub fn load_with(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<ConfigFile> {
        let (mut table, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
                (text.parse::<toml::Table>().with_context(|| format!("config {}", path.display()))?, format!("config {}", path.display()))
            }
            None => (toml::Table::new(), "config".to_owned()),
        };
        let overrides = apply_env(&mut table, env)?;
        let origin = if overrides.is_empty() { origin } else { format!("{origin} (with {})", overrides.join(", ")) };
        let file: ConfigFile = table.try_into().with_context(|| origin.clone())?;
        file.validate().with_context(|| origin)?;
        Ok(file)
    }

    /// Checks every table's values; the error names the key.
    /// The pipeline's settings, with the retention of per-visitor facts from `[retention]`.
    pub fn pipeline_config(&self) -> anyhow::Result<pipeline::PipelineConfig> {
        Ok(pipeline::PipelineConfig { facts_months: self.retention.facts_months, retention_every: self.retention.every, ..self.pipeline.config()? })
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.collector.validate()?;
        self.log.validate()?;
        self.pipeline.config()?;
        self.retention.validate()?;
        self.server.limits()?;
        anyhow::ensure!(self.dashboards.k >= 1, "[dashboards] k must be at least 1");
        self.dashboards.check().map_err(anyhow::Error::msg)?;
        for editor in &self.dashboards.editors {
            anyhow::ensure!(
                !secrecy::ExposeSecret::expose_secret(&editor.token).is_empty(),
                "[dashboards] editor {:?} has an empty token",
                editor.name
            );
        }
        Ok(())
    }

    /// The `[collector] key_file`, if set.
    pub fn collector_key_file(&self) -> Option<&Path> {
        self.collector.key_file()
    }

    /// What a running collector does in the background: retention of its log, on the offsets
    /// of the pipeline's consumer.
    pub fn upkeep(&self, data_dir: &Path) -> anyhow::Result<Upkeep> {
        Ok(Upkeep {
            retention: self.retention.clone(),
            consumer: self.pipeline.config()?.consumer,
            server: self.server.limits()?,
            data_dir: data_dir.to_owned(),
        })
    }
}

/// Sets each `DNMA_<TABLE>__<KEY>` variable in the table; returns the names applied.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Vec<String>> {
    let mut applied = Vec::new();
    let mut env: Vec<(String, String)> = env.into_iter().collect();
    env.sort();
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX).filter(|rest| rest.contains(ENV_SEPARATOR)) else { continue };
        let keys: Vec<String> = path.split(ENV_SEPARATOR).map(str::to_ascii_lowercase).collect();
        anyhow::ensure!(keys.iter().all(|k| !k.is_empty()), "environment variable {name}: empty table or key name");
        let value = format!("v = {raw}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v")).unwrap_or(toml::Value::String(raw));
        let (last, tables) = keys.split_last().expect("at least two names");
        let mut here = &mut *table;
        for key in tables {
            let entry = here.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            here = entry.as_table_mut().with_context(|| format!("environment variable {name}: `{key}` is not a table"))?;
        }
        here.insert(last.clone(), value);
        applied.push(name);
    }
    Ok(applied)
}

/// The projects' perimeters resolved against the plan and the referential; the error names the
/// key of the first that names an unknown territory or matches no school.
pub fn perimeters(
    file: &ConfigFile,
    plan: &tagging_plan::Plan,
    referential: &tagging_plan::Referential,
) -> anyhow::Result<std::collections::BTreeMap<String, dashboards::perimeter::Perimeter>> {
    Ok(dashboards::perimeter::resolve_all(&file.dashboards.perimeters, &file.dashboards.project_schools, plan, referential)?)
}

/// `dnma config check`: loads and validates a config file with the environment, then prints a
/// summary of what it sets (secrets are counted, never shown) and, per project, the schools its
/// perimeter matched in the referential.
pub fn check(path: &Path, plan: &tagging_plan::Plan, referential: &tagging_plan::Referential) -> anyhow::Result<ExitCode> {
    let file = ConfigFile::load(Some(path))?;
    let perimeters = perimeters(&file, plan, referential).with_context(|| format!("config {}", path.display()))?;
    let store = match &file.store {
        super::pipeline_cmd::StoreFile::Parquet => "parquet (DATA_DIR/rollups)".to_owned(),
        super::pipeline_cmd::StoreFile::Clickhouse(c) => {
            format!("clickhouse {} database {} user {}{}", c.url, c.database, c.user, if c.password.is_some() { " (password set)" } else { "" })
        }
    };
    let pipeline = file.pipeline.config()?;
    let log = match &file.log {
        super::log_file::LogFile::Embedded => "embedded (DATA_DIR/log)".to_owned(),
        super::log_file::LogFile::Kafka(k) => format!(
            "kafka {} topics {}hits and {}dead-letters ({} partitions when created, {} compression, broker wait {:?})",
            k.brokers, k.topic_prefix, k.topic_prefix, k.partitions, k.compression, k.send_timeout
        ),
    };
    println!("{}: OK", path.display());
    println!("  log: {log}");
    println!("  store: {store}");
    println!("  pipeline: consumer {}, visit timeout {:?}", pipeline.consumer, pipeline.sessionizer.timeout);
    println!("  retention: raw log {} days, applied every {:?}", file.retention.log_days, file.retention.every);
    let limits = file.server.limits()?;
    println!(
        "  server: header read timeout {:?}, request timeout {:?}, at most {} requests at once",
        limits.header_read_timeout, limits.request_timeout, limits.max_in_flight
    );
    println!(
        "  dashboards: k = {}, {} reader token(s), {} editor(s), {} project owner(s), {} administrator token(s){}",
        file.dashboards.k,
        file.dashboards.readers.len(),
        file.dashboards.editors.len(),
        file.dashboards.owners.len(),
        file.dashboards.admins.len(),
        if file.dashboards.open_views { ", analyst and project views open to anyone" } else { "" }
    );
    for (projet, p) in &perimeters {
        let c = &p.counts;
        println!(
            "  perimeter {projet}: {} schools matched: {} ({} premier degré, {} second degré, {} other; {} public, {} private{}){}",
            p.len(),
            p.description,
            c.premier,
            c.second,
            c.autre,
            c.public,
            c.prive,
            if c.unknown > 0 { format!("; {} listed UAI(s) not in the referential", c.unknown) } else { String::new() },
            p.target.map_or_else(String::new, |t| format!(", target {} % by {}", t.rate * 100.0, t.by)),
        );
    }
    if perimeters.is_empty() {
        println!("  perimeters: none (project pages count the schools seen in their traffic)");
    }
    if !file.dashboards.annotations.is_empty() {
        println!("  annotations: {}", file.dashboards.annotations.len());
    }
    println!(
        "  pseudonymization keys: {}",
        file.collector_key_file().map_or_else(|| "generated in DATA_DIR/keys".to_owned(), |p| format!("key file {}", p.display()))
    );
    Ok(ExitCode::SUCCESS)
}

/// `dnma config perimeter`: the schools of a project's perimeter, one CSV line each (`;`),
/// sorted by UAI: what the project page's deployment rate is measured against.
pub fn list_perimeter(path: &Path, projet: &str, plan: &tagging_plan::Plan, referential: &tagging_plan::Referential) -> anyhow::Result<ExitCode> {
    let file = ConfigFile::load(Some(path))?;
    let perimeters = perimeters(&file, plan, referential).with_context(|| format!("config {}", path.display()))?;
    let Some(perimeter) = perimeters.get(projet) else {
        let known: Vec<&str> = perimeters.keys().map(String::as_str).collect();
        anyhow::bail!(
            "config {}: no [dashboards.perimeters.{projet}] (perimeters: {})",
            path.display(),
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        );
    };
    eprintln!("perimeter {projet}: {} ({} schools)", perimeter.description, perimeter.len());
    let mut out = csv::WriterBuilder::new().delimiter(b';').from_writer(std::io::stdout().lock());
    out.write_record(["uai", "nom", "commune", "departement", "degre", "secteur", "nature"])?;
    for uai in perimeter.sorted() {
        match referential.school(uai) {
            Some(s) => {
                let degre = match s.degre {
                    tagging_plan::referential::Degree::Premier => "premier",
                    tagging_plan::referential::Degree::Second => "second",
                    tagging_plan::referential::Degree::Autre => "autre",
                };
                let secteur = match s.secteur {
                    Some(tagging_plan::referential::Secteur::Public) => "public",
                    Some(tagging_plan::referential::Secteur::Prive) => "prive",
                    None => "",
                };
                out.write_record([uai, &s.nom, &s.commune, &s.departement_code, degre, secteur, &s.nature])?;
            }
            None => out.write_record([uai, "(absent du référentiel)", "", "", "", "", ""])?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn the_environment_overrides_the_file_with_typed_values() {
        let config = file("[retention]\nlog_days = 20\n\n[dashboards]\nk = 5\n");
        let loaded = ConfigFile::load_with(
            Some(config.path()),
            env(&[
                ("DNMA_RETENTION__LOG_DAYS", "10"),
                ("DNMA_DASHBOARDS__READERS", r#"["lecteur"]"#),
                ("DNMA_STORE__KIND", "clickhouse"),
                ("DNMA_STORE__URL", "http://ch:8123"),
                ("DNMA_STORE__PASSWORD", "s3cret"),
                ("DNMA_CLICKHOUSE_URL", "not an override: no double underscore"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.retention.log_days, 10);
        assert_eq!(loaded.dashboards.k, 5, "the file's value stays where the environment says nothing");
        assert_eq!(loaded.dashboards.readers.len(), 1);
        let super::super::pipeline_cmd::StoreFile::Clickhouse(store) = &loaded.store else { panic!("{:?}", loaded.store) };
        assert_eq!(store.url, "http://ch:8123");
        assert!(!format!("{loaded:?}").contains("s3cret"), "secrets are redacted in Debug");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named_with_where_they_came_from() {
        let err = ConfigFile::load_with(None, env(&[("DNMA_COLLECTOR__MAX_BODI_BYTES", "10")])).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("max_bodi_bytes") && text.contains("DNMA_COLLECTOR__MAX_BODI_BYTES"), "{text}");
        let config = file("[collector]\nmax_body_bytes = 0\n");
        let text = format!("{:#}", ConfigFile::load_with(Some(config.path()), env(&[])).unwrap_err());
        assert!(text.contains("[collector] max_body_bytes must be positive"), "{text}");
        let text = format!("{:#}", ConfigFile::load_with(None, env(&[("DNMA_DASHBOARDS__K", "0")])).unwrap_err());
        assert!(text.contains("[dashboards] k must be at least 1"), "{text}");
        let text = format!("{:#}", ConfigFile::load_with(None, env(&[("DNMA_RETENTION__LOG_DAYS", "forever")])).unwrap_err());
        assert!(text.contains("log_days"), "{text}");
        let text = format!("{:#}", ConfigFile::load_with(None, env(&[("DNMA_RETENTION__LOG_DAYS__X", "1")])).unwrap_err());
        assert!(text.contains("is not a table") || text.contains("log_days"), "{text}");
    }

    #[test]
    fn parts_computed_at_once_are_set_in_the_pipeline_table_and_zero_is_refused_at_load() {
        let config = file("[pipeline]\nparallel_parts = 6\n");
        let loaded = ConfigFile::load_with(Some(config.path()), env(&[])).unwrap();
        assert_eq!(loaded.pipeline_config().unwrap().parallelism, 6);
        let loaded = ConfigFile::load_with(None, env(&[])).unwrap();
        assert_eq!(loaded.pipeline_config().unwrap().parallelism, pipeline::PipelineConfig::default().parallelism, "the cores by default");
        let text = format!("{:#}", ConfigFile::load_with(None, env(&[("DNMA_PIPELINE__PARALLEL_PARTS", "0")])).unwrap_err());
        assert!(text.contains("[pipeline] parallel_parts must be positive"), "{text}");
    }

    #[test]
    fn a_missing_key_file_is_refused_before_anything_starts() {
        let config = file("[collector]\nkey_file = \"/nonexistent/keys\"\n");
        let text = format!("{:#}", ConfigFile::load_with(Some(config.path()), env(&[])).unwrap_err());
        assert!(text.contains("[collector] key_file") && text.contains("/nonexistent/keys"), "{text}");
    }
}
