//! Fuzz target of the Piano SDK wire format: the input is a query string, a NUL byte, then a
//! body; every parsed event is validated against the shipped plan. Must never panic.
#![no_main]

use dnma_fuzz::plan;
use libfuzzer_sys::fuzz_target;
use tagging_plan::wire::parse_piano;
use tagging_plan::Validator;

fuzz_target!(|data: &[u8]| {
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
});
