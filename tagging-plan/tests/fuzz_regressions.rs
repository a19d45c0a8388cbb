//! Every committed fuzz input (`fuzz/regressions/<target>/*`: crashes once found and fixed, and
//! a few of the most covering corpus entries of each long run) goes through the very code its
//! fuzz target runs, in every `cargo test`: none may panic.

use std::path::Path;

/// What one fuzz target runs on an input.
type Target = fn(&[u8]);

#[test]
fn committed_fuzz_inputs_run_without_panicking() {
    // Where cargo runs the test from (a test binary reused from a checkout elsewhere still
    // reads this checkout's inputs); the build-time directory otherwise.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let root = Path::new(&manifest_dir).join("../fuzz/regressions");
    let targets: [(&str, Target); 4] = [
        ("piano", tagging_plan::fuzzing::piano),
        ("xiti", tagging_plan::fuzzing::xiti),
        ("request_line", tagging_plan::fuzzing::request_line),
        ("plan_loader", tagging_plan::fuzzing::plan_loader),
    ];
    for (target, run) in targets {
        let dir = root.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} holds no input", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            assert!(std::panic::catch_unwind(|| run(&data)).is_ok(), "{} panics", input.display());
        }
    }
}
