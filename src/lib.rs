//! The `dnma` package: the one binary (`src/main.rs`) and what it shares with the end-to-end
//! tests and benches: [`sample`], the deterministic generator of realistic request lines, and
//! [`sessions`], which paces them into visits for the demo traffic.

pub mod sample;
pub mod sessions;
