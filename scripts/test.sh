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
# Servers started here are stopped on exit.
SERVER_DIRS=()
stop_servers() {
  for dir in "${SERVER_DIRS[@]}"; do
    kill "$(cat "$dir/pid" 2>/dev/null)" 2>/dev/null || true
    rm -rf "$dir"
  done
}
trap stop_servers EXIT
# The ClickHouse store's tests run against a real server (Debian's clickhouse-server, 18.16),
# started here in a temp directory.
if [ -z "${DNMA_CLICKHOUSE_URL:-}" ]; then
  if [ "${CI:-}" = true ] && ! command -v clickhouse-server >/dev/null 2>&1 && [ ! -x /usr/sbin/clickhouse-server ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clickhouse-server >/dev/null
  fi
  if command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]; then
    CLICKHOUSE_DIR="$(mktemp -d)"
    SERVER_DIRS+=("$CLICKHOUSE_DIR")
    DNMA_CLICKHOUSE_URL="$(./scripts/clickhouse.sh "$CLICKHOUSE_DIR" "${DNMA_CLICKHOUSE_PORT:-18123}")"
    export DNMA_CLICKHOUSE_URL
  fi
fi
# The ClickHouse store is also tested against the current engine (ClickHouse 26.x): chdb from PyPI
# (`chdb-core`, installed once into a venv under $HOME/.cache/dnma-tools) behind a test-only HTTP
# adapter, scripts/chdb.sh, started here in a temp directory. CI requires it
# (DNMA_CHDB_REQUIRED=1); elsewhere a failed install only skips those tests.
if [ "${CI:-}" = true ]; then export DNMA_CHDB_REQUIRED=1; fi
if [ -z "${DNMA_CHDB_URL:-}" ]; then
  CHDB_DIR="$(mktemp -d)"
  SERVER_DIRS+=("$CHDB_DIR")
  if DNMA_CHDB_URL="$(./scripts/chdb.sh "$CHDB_DIR" "${DNMA_CHDB_PORT:-18133}")"; then
    export DNMA_CHDB_URL
  elif [ "${CI:-}" = true ]; then
    echo "error: the chdb adapter (ClickHouse 26.x) could not be started" >&2
    exit 1
  else
    echo "warning: the chdb adapter (ClickHouse 26.x) could not be started; its tests are skipped" >&2
    unset DNMA_CHDB_URL
  fi
fi
# The Kafka log's tests run against a real Apache Kafka broker (4.x, KRaft mode) from Maven
# Central, fetched once into $HOME/.cache/dnma-tools (about 15 s), started here in a temp
# directory.
if [ -z "${DNMA_KAFKA_BROKERS:-}" ]; then
  KAFKA_DIR="$(mktemp -d)"
  SERVER_DIRS+=("$KAFKA_DIR")
  DNMA_KAFKA_BROKERS="$(./scripts/kafka.sh "$KAFKA_DIR" "${DNMA_KAFKA_PORT:-19092}")"
  export DNMA_KAFKA_BROKERS
fi
# docker-compose.yml is for users (no Docker engine runs here): check it with `docker compose
# config` where the plugin is, else parse it as YAML.
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  docker compose config -q
elif command -v python3 >/dev/null 2>&1 && python3 -c "import yaml" 2>/dev/null; then
  python3 -c "import yaml, sys; d = yaml.safe_load(open('docker-compose.yml')); sys.exit(0 if {'kafka', 'clickhouse', 'collector-1', 'collector-2', 'pipeline-1', 'pipeline-2', 'dashboards', 'lb'} <= set(d['services']) else 'docker-compose.yml lacks a service')"
fi
# The adapter's own tests, against the adapter started above.
chdb_python="${DNMA_CHDB_VENV:-$HOME/.cache/dnma-tools/chdb-venv}/bin/python"
if [ -n "${DNMA_CHDB_URL:-}" ] && "$chdb_python" -c "import pytest, lz4, clickhouse_cityhash" 2>/dev/null; then
  "$chdb_python" -m pytest -q -p no:cacheprovider scripts/test_chdb_http.py
elif [ "${CI:-}" = true ]; then
  echo "error: the chdb adapter's tests cannot run (no adapter or no venv)" >&2
  exit 1
fi
# A toolchain without rustfmt or clippy skips that step and says so (the tests still run).
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check
else
  echo "warning: rustfmt is not installed (rustup component add rustfmt): formatting not checked" >&2
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  echo "warning: clippy is not installed (rustup component add clippy): lints not checked" >&2
fi
cargo test --workspace --all-targets --locked
# The fuzz targets (one per wire format) must keep building; running them is `cargo fuzz run`.
CARGO_TARGET_DIR="$CARGO_TARGET_DIR-fuzz" cargo build --manifest-path fuzz/Cargo.toml --locked
