//! The command line: global options (which plan, which referential) and the subcommands.

mod plan_show;
mod plan_validate;
mod referential_lookup;
mod sample;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tagging_plan::{Plan, Referential, WireFormat};

/// Audience measurement for French school digital workspaces (ENT).
#[derive(Debug, Parser)]
#[command(name = "dnma", version, about)]
pub struct Cli {
    /// Tagging plan file to apply instead of the shipped one (dnma-v1.toml).
    #[arg(long, global = true, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Directory of open-data CSV files (annuaire, collèges, effectifs) to use as the school
    /// referential instead of the shipped extracts.
    #[arg(long, global = true, value_name = "DIR")]
    referential_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The tagging plan: validate captured hits, show the plan.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// The school referential.
    #[command(subcommand)]
    Referential(ReferentialCommand),
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
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
enum ReferentialCommand {
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
enum FormatArg {
    /// Tell each line's format from its URL.
    Auto,
    /// Piano Analytics SDK.
    Piano,
    /// AT Internet `SmartTag`.
    Xiti,
}

impl FormatArg {
    fn forced(self) -> Option<WireFormat> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Piano => Some(WireFormat::Piano),
            FormatArg::Xiti => Some(WireFormat::Xiti),
        }
    }
}

impl Cli {
    fn plan(&self) -> anyhow::Result<Plan> {
        match &self.plan {
            Some(path) => Plan::from_file(path).with_context(|| format!("loading plan {}", path.display())),
            None => Ok(Plan::shipped()),
        }
    }

    fn referential(&self) -> anyhow::Result<std::borrow::Cow<'static, Referential>> {
        match &self.referential_dir {
            Some(dir) => Ok(std::borrow::Cow::Owned(
                Referential::load_dir(dir).with_context(|| format!("loading referential {}", dir.display()))?,
            )),
            None => Ok(std::borrow::Cow::Borrowed(Referential::shipped())),
        }
    }
}

/// Runs a parsed command line; the exit code is the command's.
pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let plan = cli.plan()?;
    match &cli.command {
        Command::Plan(PlanCommand::Validate { format, input }) => {
            let referential = cli.referential()?;
            plan_validate::run(&plan, &referential, format.forced(), input)
        }
        Command::Plan(PlanCommand::Show { json }) => plan_show::run(&plan, *json),
        Command::Plan(PlanCommand::Sample { count, seed }) => sample::run(*count, *seed),
        Command::Referential(ReferentialCommand::Lookup { uai }) => {
            let referential = cli.referential()?;
            referential_lookup::run(&plan, &referential, uai)
        }
    }
}
