//! `dnma plan sample`: realistic request lines on stdout.

use std::io::Write;
use std::process::ExitCode;

use dnma::sample::SampleGenerator;

pub fn run(count: usize, seed: u64) -> anyhow::Result<ExitCode> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in SampleGenerator::new(seed).take(count) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
