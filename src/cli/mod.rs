//! The command line: global options (which plan, which referential) and the subcommands.

mod args;
mod collector_cmd;
mod config_file;
mod dashboards_cmd;
mod demo_history;
mod demo_traffic;
mod erase_cmd;
mod erasure_spool;
mod import;
mod log_cmd;
mod log_file;
mod pipeline_cmd;
mod plan_show;
mod plan_validate;
mod referential_lookup;
mod replay_cmd;
mod replay_spool;
mod retention_cmd;
mod sample;

use std::process::ExitCode;

use anyhow::Context;
use tagging_plan::{Plan, Referential};

pub use args::Cli;
use args::{
    ClickhouseCommand, Command, ConfigCommand, DeadLettersCommand, ExportCommand, LogCommand, PipelineCommand, PlanCommand, ReferentialCommand,
    ServeArgs,
};

/// Runs a parsed command line; the exit code is the command's.
#[allow(clippy::too_many_lines)] // one arm per command
pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let plan = cli.plan()?;
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime");
    match &cli.command {
        Command::Collector(args) | Command::Serve(args) => {
            let with_pipeline = matches!(cli.command, Command::Serve(_));
            let referential = std::sync::Arc::new(cli.referential()?.into_owned());
            let file = config_file::ConfigFile::load(args.config.as_deref())?;
            config_file::perimeters(&file, &plan, &referential)?;
            runtime()?.block_on(async {
                let (state, log) =
                    collector_cmd::build_state(plan.clone(), referential.clone(), &args.data_dir, &file, args.key_file.as_deref()).await?;
                let pipeline = if with_pipeline {
                    Some(in_process_pipeline(plan.clone(), referential.clone(), &args.data_dir, &file, &log, &state).await?)
                } else {
                    None
                };
                let pages = match pipeline.as_ref() {
                    Some(p) => Some(dashboards_router(p, &log, plan, referential, file.dashboards.clone(), &args.data_dir)?),
                    None => None,
                };
                let upkeep = file.upkeep(&args.data_dir)?;
                collector_cmd::serve(state, log, args.listen, pipeline, pages, upkeep).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Dashboards { listen, data_dir, config } => {
            let file = config_file::ConfigFile::load(config.as_deref())?;
            let referential = std::sync::Arc::new(cli.referential()?.into_owned());
            runtime()?.block_on(dashboards_cmd::run(plan, referential, data_dir, &file, *listen))
        }
        Command::Demo { serve, rate, duration } => {
            let referential = std::sync::Arc::new(cli.referential()?.into_owned());
            runtime()?.block_on(demo(plan, referential, serve, *rate, *duration))
        }
        Command::DemoTraffic { url, schools, rate, duration, seed } => runtime()?.block_on(async {
            let referential = std::sync::Arc::new(cli.referential()?.into_owned());
            let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive();
            let live = demo_traffic::LiveSchools::on(&plan, referential, today, *schools)?;
            let counts = std::sync::Arc::new(demo_traffic::TrafficCounts::default());
            demo_traffic::run(url, &live, *rate, *duration, *seed, std::sync::Arc::clone(&counts)).await?;
            report(&counts);
            Ok(ExitCode::SUCCESS)
        }),
        Command::Import { data_dir, key_file, config, input } => {
            let referential = std::sync::Arc::new(cli.referential()?.into_owned());
            let file = config_file::ConfigFile::load(config.as_deref())?;
            runtime()?.block_on(async {
                let (state, log) = collector_cmd::build_state(plan, referential, data_dir, &file, key_file.as_deref()).await?;
                let code = import::run(&state, input).await;
                log.close();
                code
            })
        }
        Command::Pipeline(PipelineCommand::Run { data_dir, config, once }) => {
            let file = config_file::ConfigFile::load(config.as_deref())?;
            let config = file.pipeline_config()?;
            let referential = std::sync::Arc::new(cli.referential()?.into_owned());
            runtime()?.block_on(pipeline_cmd::run(std::sync::Arc::new(plan), referential, data_dir, config, &file, *once))
        }
        Command::Pipeline(PipelineCommand::Backfill { data_dir, config, from, to }) => {
            let file = config_file::ConfigFile::load(config.as_deref())?;
            let config = file.pipeline_config()?;
            let referential = std::sync::Arc::new(cli.referential()?.into_owned());
            runtime()?.block_on(pipeline_cmd::backfill(std::sync::Arc::new(plan), referential, data_dir, config, &file, *from, *to))
        }
        Command::Pipeline(PipelineCommand::Materialize { data_dir, config, today }) => {
            let file = config_file::ConfigFile::load(config.as_deref())?;
            runtime()?.block_on(pipeline_cmd::materialize(data_dir, &file, *today))
        }
        Command::Query { data_dir, level, period, from, to, breakdown, filters, format, config } => {
            let referential = cli.referential()?;
            let query = pipeline_cmd::indicator_query(*level, *period, *from, *to, *breakdown, filters)?;
            let store = config_file::ConfigFile::load(config.as_deref())?.store;
            runtime()?.block_on(pipeline_cmd::query(&plan, &referential, pipeline_cmd::QueryArgs { data_dir, query, format: *format, store: &store }))
        }
        Command::Export(ExportCommand::Opendata { data_dir, week, by, out, k }) => {
            let referential = cli.referential()?;
            runtime()?.block_on(pipeline_cmd::export_opendata(&plan, &referential, data_dir, *week, *by, *k, out))
        }
        Command::Clickhouse(ClickhouseCommand::Migrate { config }) => {
            let file = config_file::ConfigFile::load(Some(config))?;
            runtime()?.block_on(pipeline_cmd::clickhouse_migrate(&file.store))
        }
        Command::Erase { data_dir, plateforme, user_id, reference, key_file, config, wait_seconds } => {
            let file = config_file::ConfigFile::load(config.as_deref())?;
            let (key_file, reference) = (key_file.as_deref(), reference.as_deref());
            let args = erase_cmd::EraseArgs { data_dir, plateforme, user_id, key_file, reference, wait_seconds: *wait_seconds };
            runtime()?.block_on(erase_cmd::run(&args, &file))
        }
        Command::Config(ConfigCommand::Check { file }) => config_file::check(file, &plan, &*cli.referential()?),
        Command::Config(ConfigCommand::Perimeter { file, projet }) => config_file::list_perimeter(file, projet, &plan, &*cli.referential()?),
        Command::Retention { data_dir, config, dry_run } => {
            let file = config_file::ConfigFile::load(config.as_deref())?;
            runtime()?.block_on(retention_cmd::run_all(data_dir, &file, *dry_run))
        }
        Command::DeadLetters(DeadLettersCommand::Replay { data_dir, config, plateforme, from, to, json, wait_seconds }) => {
            let file = config_file::ConfigFile::load(config.as_deref())?;
            let referential = cli.referential()?;
            let args = replay_cmd::ReplayArgs {
                data_dir,
                plateforme,
                from: *from,
                to: *to,
                plan_file: cli.plan.as_deref(),
                json: *json,
                wait_seconds: *wait_seconds,
            };
            runtime()?.block_on(replay_cmd::run(&args, &plan, &referential, &file))
        }
        Command::Log(LogCommand::Stats { data_dir, consumer }) => runtime()?.block_on(log_cmd::stats(data_dir, consumer)),
        Command::Log(LogCommand::Tail { data_dir, dead_letters, count }) => runtime()?.block_on(log_cmd::tail(data_dir, *dead_letters, *count)),
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

/// The collector and demo traffic against it, with a progress line every 5 seconds.
async fn demo(
    plan: Plan,
    referential: std::sync::Arc<Referential>,
    args: &ServeArgs,
    rate: u64,
    duration: Option<std::time::Duration>,
) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::Ordering;
    let file = config_file::ConfigFile::load(args.config.as_deref())?;
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive();
    let live = demo_traffic::LiveSchools::on(&plan, referential.clone(), today, None)?;
    let (state, log) = collector_cmd::build_state(plan.clone(), referential.clone(), &args.data_dir, &file, args.key_file.as_deref()).await?;
    let history = demo_history::backfill(&plan, &referential, &log.shared()).await?;
    let pipeline = in_process_pipeline(plan.clone(), referential.clone(), &args.data_dir, &file, &log, &state).await?;
    let mut config = file.dashboards.clone();
    config.open_views = true;
    if config.editors.is_empty() {
        config.editors = demo_history::demo_editors();
    }
    if config.perimeters.is_empty() {
        config.perimeters = demo_history::demo_perimeters();
    }
    if config.annotations.is_empty() {
        config.annotations = demo_history::demo_annotations(today);
    }
    dashboards::perimeter::resolve_all(&config.perimeters, &config.project_schools, &plan, &referential)?;
    let pages = dashboards_router(&pipeline, &log, plan, referential, config, &args.data_dir)?;
    let (listener, url) = collector_cmd::bind(args.listen).await?;
    eprintln!("dnma demo: collector on {url}, data in {}, {rate} requests/s of demo traffic; Ctrl-C stops", args.data_dir.display());
    if history > 0 {
        eprintln!("dnma demo: {history} hits of history since the start of the school year were loaded into the log");
    }
    eprintln!(
        "dnma demo: dashboards at {url}/territoires, {url}/projets/ONE; editors' conformance at {url}/connexion with the token `{}`",
        demo_history::DEMO_EDITOR_TOKEN
    );
    let counts = std::sync::Arc::new(demo_traffic::TrafficCounts::default());
    let traffic = {
        let counts = std::sync::Arc::clone(&counts);
        tokio::spawn(async move { demo_traffic::run(&url, &live, rate, duration, 1, counts).await })
    };
    let progress = {
        let (state, counts) = (std::sync::Arc::clone(&state), std::sync::Arc::clone(&counts));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                let accepted = state.metrics.accepted.load(Ordering::Relaxed);
                eprintln!(
                    "  sent {} ok / {} refused / {} failed; hits in the log: {accepted}, dead letters: {}",
                    counts.ok.load(Ordering::Relaxed),
                    counts.refused.load(Ordering::Relaxed),
                    counts.failed.load(Ordering::Relaxed),
                    state.metrics.rejected_total()
                );
            }
        })
    };
    let traffic_abort = traffic.abort_handle();
    // Stop on Ctrl-C/SIGTERM or when the traffic's duration is over; in-flight requests finish.
    let stop = async move {
        tokio::select! {
            () = collector_cmd::shutdown_signal() => {}
            _ = traffic => {}
        }
    };
    let upkeep = file.upkeep(&args.data_dir)?;
    collector_cmd::run_until(state, log, listener, stop, Some(pipeline), Some(pages), upkeep).await?;
    traffic_abort.abort();
    progress.abort();
    report(&counts);
    Ok(ExitCode::SUCCESS)
}

/// The dashboards over the in-process pipeline's store, their live view on the collector's log,
/// the notes added through their API kept in the data directory.
fn dashboards_router(
    pipeline: &pipeline_cmd::InProcessPipeline,
    log: &log_file::OpenLog,
    plan: Plan,
    referential: std::sync::Arc<Referential>,
    config: dashboards::DashboardConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<axum::Router> {
    let notes = dashboards::annotations::NoteBook::open(data_dir)?;
    let pages =
        dashboards::Dashboards::new(pipeline.store(), std::sync::Arc::new(plan), referential, config).with_notes(notes).with_live(log.shared());
    Ok(dashboards::router(std::sync::Arc::new(pages)))
}

/// The pipeline following the collector's log inside the same process.
async fn in_process_pipeline(
    plan: Plan,
    referential: std::sync::Arc<Referential>,
    data_dir: &std::path::Path,
    file: &config_file::ConfigFile,
    log: &log_file::OpenLog,
    collector: &collector::http::CollectorState,
) -> anyhow::Result<pipeline_cmd::InProcessPipeline> {
    let config = file.pipeline_config()?;
    let freshness = std::sync::Arc::clone(&collector.freshness);
    pipeline_cmd::InProcessPipeline::spawn(std::sync::Arc::new(plan), referential, data_dir, log.shared(), config, &file.store, freshness).await
}

fn report(counts: &demo_traffic::TrafficCounts) {
    use std::sync::atomic::Ordering;
    eprintln!(
        "demo traffic: {} requests accepted, {} refused (4xx, broken on purpose), {} failed",
        counts.ok.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed)
    );
}
