//! The `dnma` package: the one binary (`src/main.rs`) and what it shares with the end-to-end
//! tests and benches: [`sample`], the deterministic generator of realistic request lines.

pub mod sample;
