//! `dnma referential lookup UAI…`: one JSON line per UAI with its school and territories.

use std::io::Write;
use std::process::ExitCode;

use tagging_plan::{Plan, Referential};

pub fn run(plan: &Plan, referential: &Referential, uais: &[String]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for uai in uais {
        match referential.locate(plan, uai) {
            Ok(location) => writeln!(out, "{}", serde_json::to_string(&location)?)?,
            Err(error) => {
                failed = true;
                eprintln!("dnma: {uai}: {error}");
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
