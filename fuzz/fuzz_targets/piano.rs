//! Fuzz target of the Piano SDK wire format: the input is a query string, a NUL byte, then a
//! body; every parsed event is validated against the shipped plan. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tagging_plan::fuzzing::piano(data));
