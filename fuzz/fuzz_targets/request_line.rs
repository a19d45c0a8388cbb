//! Fuzz target of the request-line format read by `dnma plan validate` and `dnma import`
//! (URL, tab, body), through the line driver. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tagging_plan::fuzzing::request_line(data));
