#!/usr/bin/env bash
# Starts a throwaway Kafka-compatible broker (tansu, from crates.io) as a background process with
# its storage in DIR (sqlite: durable across a restart of the broker), listening on
# 127.0.0.1:PORT, and waits until it accepts connections. Prints the bootstrap address. Stop it
# with `kill $(cat DIR/pid)`. Installs tansu into $HOME/.cache/dnma-tools when it is missing
# (about 10 minutes of build, once).
#
#   scripts/kafka.sh DIR PORT
set -euo pipefail
dir="${1:?usage: kafka.sh DIR PORT}"
port="${2:?usage: kafka.sh DIR PORT}"
tools="${DNMA_TOOLS:-$HOME/.cache/dnma-tools}"
tansu="$(command -v tansu || echo "$tools/bin/tansu")"
if [ ! -x "$tansu" ]; then
  echo "installing tansu into $tools (once)..." >&2
  CARGO_TARGET_DIR="$tools/build" cargo install tansu --locked --features dynostore,libsql --root "$tools" >&2
  rm -rf "$tools/build"
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
# tansu reads the sqlite URL's path relative to its working directory: start it in DIR.
cd "$dir"
"$tansu" broker \
  --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine "sqlite://tansu.db" \
  >>"$dir/broker.log" 2>&1 &
echo $! > "$dir/pid"
for _ in $(seq 1 150); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "tansu exited; see $dir/broker.log" >&2; tail -20 "$dir/broker.log" >&2 || true; exit 1; }
  sleep 0.2
done
echo "tansu did not listen on port $port; see $dir/broker.log" >&2
exit 1
