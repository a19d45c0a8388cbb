//! Fuzz target of the SmartTag wire format: the input is a query string (possibly a part of a
//! split hit); it goes through the multi-part assembler and the validator. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tagging_plan::fuzzing::xiti(data));
