//! Golden files for the wire formats: every `cases/NAME.txt` (request lines, as read by
//! `dnma plan validate`) is validated with the shipped plan and referential, and the JSON
//! outcomes must equal `cases/NAME.out` byte for byte. Regenerate after an intended change with
//! `DNMA_BLESS=1 cargo test -p tagging-plan --test golden`, then review the diff.

use std::fmt::Write as _;
use std::path::Path;

use tagging_plan::batch::LineValidator;
use tagging_plan::{Plan, Referential, Validator};

fn outcomes(input: &str) -> String {
    let plan = Plan::shipped();
    let mut lines = LineValidator::new(Validator::new(&plan).with_referential(Referential::shipped()), None);
    let mut out = String::new();
    let mut last = 0;
    for (i, line) in input.lines().enumerate() {
        last = i + 1;
        for outcome in lines.line(last, line) {
            let _ = writeln!(out, "{}", serde_json::to_string(&outcome).unwrap());
        }
    }
    for outcome in lines.finish(last) {
        let _ = writeln!(out, "{}", serde_json::to_string(&outcome).unwrap());
    }
    out
}

#[test]
fn golden_cases() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())).join("tests/cases");
    let bless = std::env::var_os("DNMA_BLESS").is_some();
    let mut cases: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "txt")).collect();
    cases.sort();
    assert!(cases.len() >= 6, "expected the golden cases in {}", dir.display());
    let mut failures = Vec::new();
    for case in cases {
        let actual = outcomes(&std::fs::read_to_string(&case).unwrap());
        let expected_path = case.with_extension("out");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!("{}:\n--- expected\n{expected}\n+++ actual\n{actual}", case.display()));
        }
    }
    assert!(failures.is_empty(), "golden files differ (DNMA_BLESS=1 to regenerate):\n{}", failures.join("\n"));
}
