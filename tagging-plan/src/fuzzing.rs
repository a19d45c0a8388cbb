//! What each fuzz target (`fuzz/`) runs on its input, here so that the committed regression
//! inputs (`fuzz/regressions/<target>/`) run through the very same code in `cargo test`
//! (`tests/fuzz_regressions.rs`). Every function must return for any input, never panic.

use std::sync::OnceLock;

use crate::batch::LineValidator;
use crate::wire::{parse_piano, parse_xiti, Assembled, MultiHitAssembler};
use crate::{Plan, Validator};

/// The shipped plan, parsed once per process.
fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(Plan::shipped)
}

/// Piano SDK: a query string, a NUL byte, then a body; every parsed event is validated.
pub fn piano(data: &[u8]) {
    let (query, body) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let Ok(query) = std::str::from_utf8(query) else { return };
    if let Ok(hits) = parse_piano(query, body) {
        let validator = Validator::new(plan());
        for hit in &hits {
            let _ = validator.validate(hit);
        }
    }
}

/// SmartTag: query strings, one per line, as successive parts from one sender, through the
/// split-hit assembler and the validator.
pub fn xiti(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let validator = Validator::new(plan());
    let mut assembler = MultiHitAssembler::default();
    for query in text.split('\n') {
        let whole = match assembler.push("k", query, 0) {
            Assembled::Single => query.to_owned(),
            Assembled::Complete(q) => q,
            Assembled::Waiting | Assembled::Invalid(_) => continue,
        };
        let _ = validator.validate(&parse_xiti(&whole));
    }
    let _ = assembler.expire(u64::MAX);
}

/// The request-line format of `dnma plan validate` and `dnma import`, through the line driver.
pub fn request_line(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = LineValidator::new(Validator::new(plan()), None);
    let mut last = 0;
    for (i, line) in text.lines().enumerate() {
        last = i + 1;
        let _ = lines.line(last, line);
    }
    let _ = lines.finish(last);
}

/// The plan loader: any bytes as a plan file; a plan it accepts validates a hit.
pub fn plan_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(plan) = Plan::from_toml(text) {
        let validator = Validator::new(&plan);
        let hit = parse_xiti("s=1&p=x&at=u&service=NOTES&type=NATIF&uai=0350122T&projet=P&exploitant=E&plateforme=ONE");
        let _ = validator.validate(&hit);
    }
}
