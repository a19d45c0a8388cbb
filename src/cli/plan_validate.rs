//! `dnma plan validate`: request lines in, one JSON outcome per hit out, a summary on stderr.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use tagging_plan::batch::{LineValidator, Outcome};
use tagging_plan::{Plan, Referential, Validator, WireFormat};

/// Counts for the summary.
#[derive(Default)]
struct Summary {
    lines: usize,
    valid: usize,
    invalid: usize,
    with_warnings: usize,
    reasons: BTreeMap<String, usize>,
}

impl Summary {
    fn add(&mut self, outcome: &Outcome) {
        if outcome.ok {
            self.valid += 1;
            if outcome.hit.as_ref().is_some_and(|h| !h.warnings.is_empty()) {
                self.with_warnings += 1;
            }
        } else {
            self.invalid += 1;
            for reason in outcome.reasons.iter().flatten() {
                *self.reasons.entry(reason.code.clone()).or_default() += 1;
            }
        }
    }

    fn print(&self) {
        eprintln!(
            "{} lines, {} hits: {} valid ({} with warnings), {} invalid",
            self.lines,
            self.valid + self.invalid,
            self.valid,
            self.with_warnings,
            self.invalid
        );
        let mut reasons: Vec<_> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (code, count) in reasons {
            eprintln!("  {count:>7}  {code}");
        }
    }
}

pub fn run(plan: &Plan, referential: &Referential, format: Option<WireFormat>, input: &Path) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if input == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        Box::new(BufReader::new(File::open(input).with_context(|| format!("cannot read {}", input.display()))?))
    };
    let mut lines = LineValidator::new(Validator::new(plan).with_referential(referential), format);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut summary = Summary::default();
    let mut reader = reader;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer).with_context(|| format!("reading {} after line {}", input.display(), summary.lines))?;
        if read == 0 {
            break;
        }
        summary.lines += 1;
        let number = summary.lines;
        let outcomes = match std::str::from_utf8(&buffer) {
            Ok(line) => lines.line(number, line),
            Err(_) => vec![not_utf8(number)],
        };
        emit(outcomes, &mut summary, &mut out)?;
    }
    emit(lines.finish(summary.lines), &mut summary, &mut out)?;
    out.flush()?;
    summary.print();
    Ok(if summary.invalid == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn emit(outcomes: Vec<Outcome>, summary: &mut Summary, out: &mut impl Write) -> anyhow::Result<()> {
    for outcome in outcomes {
        summary.add(&outcome);
        serde_json::to_writer(&mut *out, &outcome)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn not_utf8(line: usize) -> Outcome {
    Outcome {
        line,
        event: 0,
        ok: false,
        hit: None,
        reasons: Some(vec![tagging_plan::Rejection::new("line_not_utf8", "request", None, "the line is not UTF-8")]),
    }
}
