//! Fuzz target of the SmartTag wire format: the input is a query string (possibly a part of a
//! split hit); it goes through the multi-part assembler and the validator. Must never panic.
#![no_main]

use dnma_fuzz::plan;
use libfuzzer_sys::fuzz_target;
use tagging_plan::wire::{parse_xiti, Assembled, MultiHitAssembler};
use tagging_plan::Validator;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let validator = Validator::new(plan());
    let mut assembler = MultiHitAssembler::default();
    // Lines are successive parts from one sender.
    for query in text.split('\n') {
        let whole = match assembler.push("k", query, 0) {
            Assembled::Single => query.to_owned(),
            Assembled::Complete(q) => q,
            Assembled::Waiting | Assembled::Invalid(_) => continue,
        };
        let _ = validator.validate(&parse_xiti(&whole));
    }
    let _ = assembler.expire(u64::MAX);
});
