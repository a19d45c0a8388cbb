//! Fuzz target of the plan loader: any bytes as a plan file. `Plan::from_toml` must answer a
//! plan or an error, never panic; a plan it accepts must validate a hit without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tagging_plan::fuzzing::plan_loader(data));
