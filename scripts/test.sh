#!/usr/bin/env bash
# Runs every test of dnma: unit, property, golden and end-to-end tests, benches built and run once
# in test mode, and clippy with warnings as errors. CI (.ci/run) calls exactly this script.
# Builds are cached outside the clone so repeated runs are fast.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dnma-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
# The fuzz targets (one per wire format) must keep building; running them is `cargo fuzz run`.
CARGO_TARGET_DIR="$CARGO_TARGET_DIR-fuzz" cargo build --manifest-path fuzz/Cargo.toml --locked
