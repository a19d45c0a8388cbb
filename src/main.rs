//! `dnma`: the one binary. Subcommands are defined in [`cli`]; each lives in its own module.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the collector allocates many small strings per hit; glibc's malloc cost a quarter
/// of the validation profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("DNMA_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dnma: {error:#}");
            ExitCode::from(2)
        }
    }
}
