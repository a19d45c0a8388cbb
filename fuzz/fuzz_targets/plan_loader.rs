//! Fuzz target of the plan loader: any bytes as a plan file. `Plan::from_toml` must answer a
//! plan or an error, never panic; a plan it accepts must validate a hit without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagging_plan::{Plan, Validator};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(plan) = Plan::from_toml(text) {
        let validator = Validator::new(&plan);
        let hit = tagging_plan::wire::parse_xiti("s=1&p=x&at=u&service=NOTES&type=NATIF&uai=0350122T&projet=P&exploitant=E&plateforme=ONE");
        let _ = validator.validate(&hit);
    }
});
