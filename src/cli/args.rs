//! The command line's shape: global options and every subcommand with its arguments (clap
//! derive); the doc comments here are the `--help` texts. What each command does is in `mod.rs`
//! and the `*_cmd` modules.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tagging_plan::{Plan, Referential, WireFormat};

/// Audience measurement for French school digital workspaces (ENT).
#[derive(Debug, Parser)]
#[command(name = "dnma", version, about)]
pub struct Cli {
    /// Tagging plan file to apply instead of the shipped one (dnma-v1.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub(super) plan: Option<PathBuf>,
    /// Directory of open-data CSV files, plain or gzip-compressed (`.csv.gz`): annuaire,
    /// collèges, effectifs; the school referential instead of the shipped extracts.
    #[arg(long, global = true, value_name = "DIR")]
    pub(super) referential_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// The tagging plan: validate captured hits, show the plan.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// The school referential.
    #[command(subcommand)]
    Referential(ReferentialCommand),
    /// Runs the collector alone on the configured log (embedded by default, or Kafka); prints its
    /// address on the first line.
    Collector(ServeArgs),
    /// Runs every embedded part in one process: the collector and the pipeline following its log.
    Serve(ServeArgs),
    /// Serves the dashboards alone over the configured store (distributed deployments); prints
    /// its address on the first line.
    Dashboards {
        /// Address to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// Data directory holding the Parquet rollups (unused with a ClickHouse store).
        #[arg(long, default_value = "dnma-data")]
        data_dir: PathBuf,
        /// TOML config file (`[store]`, `[dashboards]`, `[server]`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Runs the embedded system with demo traffic (the README's first command).
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Requests per second of demo traffic.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// How long to run, e.g. 60s (default: until Ctrl-C).
        #[arg(long, value_parser = humantime_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Sends realistic ENT traffic (both wire formats) to a collector: the demo's live traffic,
    /// from the schools where its projects are deployed today, on their platforms.
    DemoTraffic {
        /// The collector's base URL, e.g. `http://127.0.0.1:8080`.
        #[arg(long)]
        url: String,
        /// Use only this many of those schools (spread over them).
        #[arg(long)]
        schools: Option<usize>,
        /// Requests per second.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        /// How long, e.g. 30s (default: until Ctrl-C).
        #[arg(long, value_parser = humantime_duration)]
        duration: Option<std::time::Duration>,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Imports recorded hits with their original times (`TIMESTAMP<TAB>URL[<TAB>BODY]` lines)
    /// into the embedded log, validated and pseudonymized as live traffic. Exit 1 when a line
    /// could not be read (each is named on stderr).
    Import {
        /// Data directory of the log (not in use by a running collector).
        #[arg(long)]
        data_dir: PathBuf,
        /// Pseudonymization key file; default: the keys of the data directory.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// TOML config file (`[collector]` table: segment size, key file).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Input file, or `-` for stdin.
        input: PathBuf,
    },
    /// Looks inside the embedded log (read-only).
    #[command(subcommand)]
    Log(LogCommand),
    /// The refused hits (dead letters).
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Erases one person's records on request (RGPD art. 17): their hits and dead letters in the
    /// log, their facts in the store, found by their pseudonyms under every key. Works at rest or
    /// beside a running server (the collector, `dnma serve`, a following pipeline): then the
    /// running process erases in what it holds, without stopping. Appends an audit line (no id)
    /// to `DATA_DIR/erasures.jsonl` and prints it.
    Erase {
        /// Data directory.
        #[arg(long, default_value = "dnma-data")]
        data_dir: PathBuf,
        /// The platform the user belongs to (pseudonyms are per platform).
        #[arg(long)]
        plateforme: String,
        /// The user id as the ENT sends it; `-` reads it from stdin (keeps it out of the shell
        /// history and the process list).
        #[arg(long)]
        user_id: String,
        /// Reference of the request (ticket, letter), kept in the audit line.
        #[arg(long)]
        reference: Option<String>,
        /// Pseudonymization key file; default: `[collector] key_file`, else the data directory's keys.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// TOML config file (`[store]`, `[collector] key_file`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// How long to wait for a running server to carry out its part, in seconds.
        #[arg(long, default_value_t = 900)]
        wait_seconds: u64,
    },
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Applies retention to a data directory at rest: deletes the log segments (hits and dead
    /// letters) older than `[retention] log_days` (default 31) that the pipeline has consumed,
    /// then the per-visitor facts older than `[retention] facts_months` (default 13), the
    /// figures of their periods frozen first. Prints one JSON line per sealed segment with its
    /// fate, a summary, then a line for the facts. A running dnma applies it by itself every
    /// `[retention] every`.
    Retention {
        /// Data directory.
        #[arg(long, default_value = "dnma-data")]
        data_dir: PathBuf,
        /// TOML config file (`[retention]` and `[pipeline] consumer`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only say what would go (read-only: safe beside a running collector).
        #[arg(long)]
        dry_run: bool,
    },
    /// The pipeline: hit log -> visits -> rollups in the Parquet store (`DATA_DIR/rollups`).
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Prints the indicators (visits, unique visitors, page views, clicks, visit duration) of
    /// every cell of a level and period. Exact figures, for operators: no small-cell suppression.
    Query {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// ecole, circonscription, departement, academie, region, nation, projet, plateforme or exploitant.
        #[arg(long)]
        level: pipeline::Level,
        /// day, week, month or `school_year`.
        #[arg(long)]
        period: pipeline::Period,
        /// First day (widened to the start of its period), YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day (widened to the end of its period), YYYY-MM-DD.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// profil, service, outil, appareil, os, navigateur, degre (kind of school) or secteur.
        #[arg(long)]
        breakdown: Option<pipeline::Breakdown>,
        /// Only these visits.
        #[command(flatten)]
        filters: super::pipeline_cmd::QueryFilters,
        /// Output format.
        #[arg(long, value_enum, default_value_t = super::pipeline_cmd::QueryFormat::Table)]
        format: super::pipeline_cmd::QueryFormat,
        /// TOML config file whose `[store]` says where the rollups are (default: the Parquet
        /// store of the data directory).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The ClickHouse store of the distributed mode.
    #[command(subcommand)]
    Clickhouse(ClickhouseCommand),
    /// Exports for publication.
    #[command(subcommand)]
    Export(ExportCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum PipelineCommand {
    /// Follows the log of a data directory (beside a running collector if need be) and keeps
    /// the rollups up to date; `--once` catches up and exits.
    Run {
        /// Data directory (its `log/` is read, its `rollups/` written).
        #[arg(long, default_value = "dnma-data")]
        data_dir: PathBuf,
        /// TOML config file (`[pipeline]` table).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Catch up with the log, compute, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Catches up with the log, then recomputes every day of a range (after a change of
    /// definitions, e.g. the visit timeout), with progress bars.
    Backfill {
        /// Data directory.
        #[arg(long, default_value = "dnma-data")]
        data_dir: PathBuf,
        /// TOML config file (`[pipeline]` table).
        #[arg(long)]
        config: Option<PathBuf>,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day, YYYY-MM-DD.
        #[arg(long)]
        to: chrono::NaiveDate,
    },
    /// Keeps now the cells of every closed week, month and school year whose days are all
    /// computed and whose cells are not kept yet (what a following pipeline does one period per
    /// step), newest first: one JSON line per period. Dashboards then read those periods from
    /// their cells instead of counting their visitors again.
    Materialize {
        /// Data directory (its `rollups/` written; refused while a pipeline holds it).
        #[arg(long, default_value = "dnma-data")]
        data_dir: PathBuf,
        /// TOML config file (`[store]` table).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The day periods must have ended before (default: today), YYYY-MM-DD.
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Loads a config file with the `DNMA_<TABLE>__<KEY>` environment variables over it,
    /// validates every value (unknown keys are named), and prints a summary without secrets.
    /// Exit 0 when valid, 2 otherwise.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
    /// Lists the schools a project's perimeter (`[dashboards.perimeters.PROJET]`) matches in
    /// the referential, as CSV (`;`) on stdout: UAI, name, commune, département, degree,
    /// sector, nature; the perimeter's description and count go to stderr.
    Perimeter {
        /// The TOML file.
        file: PathBuf,
        /// The project code (`ONE`, `TOUTATICE`…).
        #[arg(long)]
        projet: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ClickhouseCommand {
    /// Creates the database and tables of the `[store]` of a config file (`kind = "clickhouse"`)
    /// where they are missing; running it again changes nothing.
    Migrate {
        /// TOML config file with a `[store]` table of kind "clickhouse".
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ExportCommand {
    /// The weekly open-data file: one row per school, `;`-separated, `visites_X;utilisateurs_X;duree_X`
    /// per value of the breakdown, as the ministry publishes it. Cells under k visitors, and the
    /// cells hidden with them so that no subtraction gives them back, read "secret".
    Opendata {
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The Monday of the week (debutSemaine), YYYY-MM-DD.
        #[arg(long)]
        week: chrono::NaiveDate,
        /// profil, service, appareil, os or navigateur.
        #[arg(long)]
        by: pipeline::Breakdown,
        /// Output CSV file.
        #[arg(long)]
        out: PathBuf,
        /// Smallest number of unique visitors a published figure may rest on.
        #[arg(long, default_value_t = 5)]
        k: u64,
    },
}

/// Where and how the collector runs.
#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(super) listen: std::net::SocketAddr,
    /// Directory of the log and the keys.
    #[arg(long, default_value = "dnma-data")]
    pub(super) data_dir: PathBuf,
    /// TOML config file (`[collector]`, `[log]`, `[pipeline]`, `[store]`… tables; unknown keys are
    /// refused).
    #[arg(long)]
    pub(super) config: Option<PathBuf>,
    /// Pseudonymization key file (`YYYY-YYYY=<hex>` lines); default: keys generated in the
    /// data directory.
    #[arg(long)]
    pub(super) key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum LogCommand {
    /// Counts as JSON: `{"hits", "dead_letters", "segments", "bytes", "pipeline"}`; `pipeline`
    /// says how far the pipeline is behind: records not staged yet, the receive times of the
    /// newest hit acknowledged, staged and counted, and the counting lag in seconds.
    Stats {
        /// Data directory of the collector.
        #[arg(long)]
        data_dir: PathBuf,
        /// The pipeline's consumer name (`[pipeline] consumer`).
        #[arg(long, default_value = "pipeline")]
        consumer: String,
    },
    /// The last records as JSON lines (pseudonymized, as stored).
    Tail {
        /// Data directory of the collector.
        #[arg(long)]
        data_dir: PathBuf,
        /// Show dead letters instead of hits.
        #[arg(long)]
        dead_letters: bool,
        /// How many records.
        #[arg(short = 'n', default_value_t = 10)]
        count: usize,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum DeadLettersCommand {
    /// Validates again the dead letters of a platform received between two days (Europe/Paris),
    /// against the plan: the shipped one, or a new one with `--plan FILE`. Those now valid go
    /// into the hit log with their original receive time (the pipeline counts them on their
    /// day), once: a replay run again adds nothing. Prints a summary per reason code: how many
    /// were replayed, how many are still refused and why. Works at rest, beside a running
    /// collector or `dnma serve` (it then replays in the log it holds), and on a Kafka log.
    Replay {
        /// Data directory (its embedded log).
        #[arg(long, default_value = "dnma-data")]
        data_dir: PathBuf,
        /// TOML config file (`[log]`: embedded or Kafka).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The platform whose dead letters are replayed (`ONE`, `MBN`…).
        #[arg(long)]
        plateforme: String,
        /// First day of receipt, YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day of receipt, included, YYYY-MM-DD.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// How long to wait for a running server to replay, in seconds.
        #[arg(long, default_value_t = 900)]
        wait_seconds: u64,
    },
}

fn humantime_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime_serde::re::humantime::parse_duration(text).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub(super) enum PlanCommand {
    /// Validates request lines (a URL, and for the SDK a tab and its JSON body), one JSON
    /// outcome per hit on stdout and a summary on stderr. Exit 0 when every hit is valid, 1
    /// otherwise, 2 when the input cannot be read.
    Validate {
        /// Wire format of every line; `auto` tells it from each URL.
        #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
        format: FormatArg,
        /// Input file, or `-` for stdin.
        input: PathBuf,
    },
    /// Prints the plan: variables with their rules, and nomenclatures.
    Show {
        /// Print the plan as JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Prints realistic request lines (valid, with legacy codes, and broken in the usual ways),
    /// for trying `plan validate` or feeding a collector.
    Sample {
        /// How many request lines.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Seed: the same seed gives the same lines.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ReferentialCommand {
    /// Prints, for each UAI, a JSON line with the school and its territories. Exit 1 when a UAI
    /// cannot be located (bad check letter, unknown département).
    Lookup {
        /// UAIs, e.g. 0350122T.
        #[arg(required = true)]
        uai: Vec<String>,
    },
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum FormatArg {
    /// Tell each line's format from its URL.
    Auto,
    /// Piano Analytics SDK.
    Piano,
    /// AT Internet `SmartTag`.
    Xiti,
}

impl FormatArg {
    /// The format to force, `None` to tell it from each line.
    pub(super) fn forced(self) -> Option<WireFormat> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Piano => Some(WireFormat::Piano),
            FormatArg::Xiti => Some(WireFormat::Xiti),
        }
    }
}

impl Cli {
    /// The plan: `--plan` or the shipped one.
    pub(super) fn plan(&self) -> anyhow::Result<Plan> {
        match &self.plan {
            Some(path) => Plan::from_file(path).with_context(|| format!("loading plan {}", path.display())),
            None => Ok(Plan::shipped()),
        }
    }

    /// The school referential: `--referential-dir` or the shipped one.
    pub(super) fn referential(&self) -> anyhow::Result<std::borrow::Cow<'static, Referential>> {
        match &self.referential_dir {
            Some(dir) => Ok(std::borrow::Cow::Owned(Referential::load_dir(dir).with_context(|| format!("loading referential {}", dir.display()))?)),
            None => Ok(std::borrow::Cow::Borrowed(Referential::shipped())),
        }
    }
}
