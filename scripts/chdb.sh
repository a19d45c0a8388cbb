#!/usr/bin/env bash
# Starts the test-only ClickHouse HTTP adapter over chdb (scripts/chdb_http.py: the current
# ClickHouse engine, in-process, from PyPI's `chdb-core`) as a background process with its data in
# DIR, listening on 127.0.0.1:PORT, and waits until it answers. Prints the HTTP URL. Stop it with
# `kill $(cat DIR/pid)`. The packages are installed once into a venv cached under
# $HOME/.cache/dnma-tools/chdb-venv (about 200 MB; set DNMA_CHDB_VENV to use another).
#
#   scripts/chdb.sh DIR PORT
#
# Check that the official Rust `clickhouse` crate works against it (RowBinary, LZ4, validation):
#   url=$(scripts/chdb.sh /tmp/chdb 18300) && CARGO_TARGET_DIR=$HOME/.cache/dnma-target-chdbcheck \
#     cargo run --release --manifest-path scripts/chdb-check/Cargo.toml -- "$url"
# Its own tests: "$HOME/.cache/dnma-tools/chdb-venv/bin/python" -m pytest scripts/test_chdb_http.py
set -euo pipefail
dir="${1:?usage: chdb.sh DIR PORT}"
port="${2:?usage: chdb.sh DIR PORT}"
here="$(cd "$(dirname "$0")" && pwd)"
venv="${DNMA_CHDB_VENV:-$HOME/.cache/dnma-tools/chdb-venv}"
# Versions known to work together; chdb-core 26.9 is ClickHouse 26.9.
packages=(chdb-core==26.9.0 lz4==4.4.5 clickhouse-cityhash==1.0.2.6 pytest)
python="$(command -v python3.11 || command -v python3)"
# (Re)built when the list of packages changed; a lock keeps two concurrent runs from both building.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
command -v flock >/dev/null 2>&1 && flock 9
if [ "$(cat "$venv/dnma-packages.txt" 2>/dev/null)" != "${packages[*]}" ] \
  || ! "$venv/bin/python" -c "import chdb, lz4.block, clickhouse_cityhash.cityhash, pytest" 2>/dev/null; then
  echo "installing ${packages[*]} into $venv (once)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}" >&2
  echo "${packages[*]}" > "$venv/dnma-packages.txt"
fi
exec 9>&-
mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"
"$venv/bin/python" "$here/chdb_http.py" --path "$dir/data" --port "$port" >"$dir/stdout.log" 2>"$dir/stderr.log" &
echo $! > "$dir/pid"
ping_server() {
  if command -v curl >/dev/null 2>&1; then
    [ "$(curl -sf "http://127.0.0.1:$port/ping" 2>/dev/null)" = "Ok." ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /ping HTTP/1.0\r\n\r\n' >&3 && grep -q "Ok." <&3) 2>/dev/null
  fi
}
for _ in $(seq 1 300); do
  if ping_server; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "the chdb adapter exited; see $dir/stderr.log" >&2; tail -20 "$dir/stderr.log" >&2 || true; exit 1; }
  sleep 0.2
done
echo "the chdb adapter did not answer on port $port; see $dir/stderr.log" >&2
exit 1
