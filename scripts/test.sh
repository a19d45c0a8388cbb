#!/usr/bin/env bash
# Runs every test of dnma: unit, property, golden and end-to-end tests, benches built and run once
# in test mode, and clippy with warnings as errors. CI (.ci/run) calls exactly this script.
# Builds are cached outside the clone so repeated runs are fast.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dnma-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Incremental caches double the size of the target directory and do not help a clean CI run.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
df -h "$(dirname "$CARGO_TARGET_DIR")" 2>/dev/null | tail -1 | awk '{print "disk free for builds: " $4}' >&2 || true
# The browser test (tests/e2e/dashboards.rs) drives Debian's headless Chromium; CI installs it.
if [ "${CI:-}" = true ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; } && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
fi
# The ClickHouse store's tests run against a real server (Debian's clickhouse-server, 18.16),
# started here in a temp directory and stopped on exit.
if [ -z "${DNMA_CLICKHOUSE_URL:-}" ]; then
  if [ "${CI:-}" = true ] && ! command -v clickhouse-server >/dev/null 2>&1 && [ ! -x /usr/sbin/clickhouse-server ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clickhouse-server >/dev/null
  fi
  if command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]; then
    CLICKHOUSE_DIR="$(mktemp -d)"
    trap 'kill "$(cat "$CLICKHOUSE_DIR/pid")" 2>/dev/null || true; rm -rf "$CLICKHOUSE_DIR"' EXIT
    DNMA_CLICKHOUSE_URL="$(./scripts/clickhouse.sh "$CLICKHOUSE_DIR" "${DNMA_CLICKHOUSE_PORT:-18123}")"
    export DNMA_CLICKHOUSE_URL
  fi
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
# The fuzz targets (one per wire format) must keep building; running them is `cargo fuzz run`.
CARGO_TARGET_DIR="$CARGO_TARGET_DIR-fuzz" cargo build --manifest-path fuzz/Cargo.toml --locked
