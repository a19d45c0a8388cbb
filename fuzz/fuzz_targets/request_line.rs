//! Fuzz target of the request-line format read by `dnma plan validate` and `dnma import`
//! (URL, tab, body), through the line driver. Must never panic.
#![no_main]

use dnma_fuzz::plan;
use libfuzzer_sys::fuzz_target;
use tagging_plan::batch::LineValidator;
use tagging_plan::Validator;

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
