//! Fuzz target of the request-line format read by `dnma plan validate` and `dnma import`
//! (URL, tab, body), through the line driver. Must never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tagging_plan::batch::LineValidator;
use tagging_plan::{Plan, Validator};

/// The shipped plan, parsed once.
fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(Plan::shipped)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = LineValidator::new(Validator::new(plan()), None);
    let mut last = 0;
    for (i, line) in text.lines().enumerate() {
        last = i + 1;
        let _ = lines.line(last, line);
    }
    let _ = lines.finish(last);
});
