#!/usr/bin/env bash
# Starts a throwaway ClickHouse server (Debian's `clickhouse-server` package) as a background
# process with its data and config in DIR, listening on 127.0.0.1:HTTP_PORT, and waits until it
# answers. Prints the HTTP URL. Stop it with `kill $(cat DIR/pid)`.
#
#   scripts/clickhouse.sh DIR HTTP_PORT
set -euo pipefail
dir="${1:?usage: clickhouse.sh DIR HTTP_PORT}"
port="${2:?usage: clickhouse.sh DIR HTTP_PORT}"
server="$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)"
[ -x "$server" ] || { echo "clickhouse-server is not installed (apt-get install clickhouse-server)" >&2; exit 1; }
mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
dir="$(cd "$dir" && pwd)"
cat > "$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$dir/server.log</log><errorlog>$dir/server.err.log</errorlog><size>10M</size><count>2</count></logger>
    <http_port>$port</http_port>
    <tcp_port>$((port + 1))</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
EOF
cat > "$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
"$server" --config-file="$dir/config.xml" >"$dir/stdout.log" 2>&1 &
echo $! > "$dir/pid"
# Answers "Ok." on /ping once it serves (curl where installed, else bash's /dev/tcp).
ping_server() {
  if command -v curl >/dev/null 2>&1; then
    curl -sf "http://127.0.0.1:$port/ping" >/dev/null 2>&1
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /ping HTTP/1.0\r\n\r\n' >&3 && grep -q "Ok." <&3) 2>/dev/null
  fi
}
for _ in $(seq 1 100); do
  if ping_server; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "clickhouse-server exited; see $dir/server.err.log" >&2; tail -20 "$dir/server.err.log" "$dir/stdout.log" >&2 || true; exit 1; }
  sleep 0.2
done
echo "clickhouse-server did not answer on port $port; see $dir/server.err.log" >&2
exit 1
